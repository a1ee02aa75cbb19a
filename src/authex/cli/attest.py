"""``authex attest``: check attestation evidence offline.

``authex attest verify-quote QUOTE --collateral JSON [--at ISO-TIME]`` verifies a real Intel SGX or
TDX DCAP quote against recorded Intel PCS collateral (dcap-qvl), as of ``--at`` (default: now),
and prints the platform's TCB status and the Intel security advisories that apply::

    TCB status: ConfigurationAndSWHardeningNeeded
    advisories: INTEL-SA-00289, INTEL-SA-00615
    quote: SGX ECDSA v3, MRENCLAVE 33d8..., MRSIGNER 815f..., ISV prod id 0, ISVSVN 0, debug no

Exit status 0 when the quote verifies, 1 (with ``error: ...`` on stderr) when it does not.
``main.py`` adds the parser with ``add_parser`` and calls ``run`` for ``args.command == "attest"``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from authex.attestation.sgx.intel import verify_intel_quote
from authex.attestation.sgx.quote import parse
from authex.errors import AttestationError

COMMAND = "attest"


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2025-07-01 or 2025-07-01T12:00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``attest`` and its sub-commands to the ``authex`` command parser."""
    attest = subparsers.add_parser(COMMAND, help="verify attestation evidence offline")
    actions = attest.add_subparsers(dest="attest_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "verify-quote",
        help="verify a real Intel SGX/TDX DCAP quote with recorded collateral (dcap-qvl)",
        description=(
            "Verify a real Intel DCAP quote (SGX v3, TDX v4/v5) against recorded Intel PCS "
            "collateral and print its TCB status and security advisories."
        ),
    )
    p.add_argument("quote", metavar="QUOTE", help="the raw quote file (binary)")
    p.add_argument(
        "--collateral",
        metavar="JSON",
        required=True,
        help="collateral JSON (dcap-qvl QuoteCollateralV3 format)",
    )
    p.add_argument(
        "--at",
        metavar="ISO-TIME",
        type=parse_time,
        default=None,
        help="verify as of this time (default: now); recorded collateral expires",
    )


def _describe(quote_bytes: bytes) -> str:
    """One line about the quote from authex's own parser (SGX v3 only)."""
    try:
        quote = parse(quote_bytes)
    except AttestationError:
        version = int.from_bytes(quote_bytes[:2], "little") if len(quote_bytes) >= 2 else 0
        return f"quote: version {version} (not an SGX v3 quote; verified by dcap-qvl only)"
    body = quote.body
    return (
        f"quote: SGX ECDSA v3, MRENCLAVE {body.mr_enclave.hex()}, MRSIGNER {body.mr_signer.hex()}, "
        f"ISV prod id {body.isv_prod_id}, ISVSVN {body.isv_svn}, "
        f"debug {'yes' if body.debug else 'no'}"
    )


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AttestationError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def verify_quote_command(args: argparse.Namespace) -> int:
    try:
        quote = _read(args.quote, "quote")
        collateral = _read(args.collateral, "collateral")
        at: datetime = args.at if args.at is not None else datetime.now(UTC)
        verdict = verify_intel_quote(quote, collateral, at)
    except AttestationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"TCB status: {verdict.status}")
    print(f"advisories: {', '.join(verdict.advisory_ids) if verdict.advisory_ids else 'none'}")
    print(_describe(quote))
    print(f"verified at: {at.isoformat()}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run an ``authex attest`` sub-command; returns the exit status."""
    if args.attest_command == "verify-quote":
        return verify_quote_command(args)
    print(f"error: unknown attest action {args.attest_command!r}", file=sys.stderr)
    return 2
