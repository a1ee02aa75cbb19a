"""``authex sancus``: operator tools for the Sancus key hierarchy (docs/sancus-crypto.md §3).

- ``authex sancus vendor-key --node-key HEX --vendor-id N`` prints ``K_vendor`` in hex;
- ``authex sancus module-key --vendor-key HEX --text-file FILE --layout PS,PE,SS,SE`` prints
  ``K_m`` in hex, for the module whose text section is the raw bytes of FILE and whose public and
  secret sections span PS..PE and SS..SE.

The security level follows the key length (16 bytes: 128-bit, 8 bytes: 64-bit).  Numbers are
decimal or ``0x``-hex.  :func:`run` returns 0 on success and 2 after printing ``error: ...`` to
stderr for bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from authex.crypto.sancus_keys import module_identity, module_key, vendor_key
from authex.crypto.spongent_accel import ACCELERATED

LAYOUT_FIELDS = ("public_start", "public_end", "secret_start", "secret_end")
_KEY_BITS = {16: 128, 8: 64}


class UsageError(ValueError):
    """Bad operator input: printed as ``error: ...``, exit code 2."""


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``sancus`` and its sub-commands to ``subparsers``; returns the ``sancus`` parser."""
    engine = "C accelerator" if ACCELERATED else "pure Python"
    sancus = subparsers.add_parser(
        "sancus",
        help="derive Sancus vendor and module keys",
        description=f"Sancus key derivation (SpongeWrap over SPONGENT, {engine}).",
    )
    sub = sancus.add_subparsers(dest="sancus_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("vendor-key", help="K_vendor = MAC(K_node, LE16(vendor_id))")
    p.add_argument(
        "--node-key", required=True, metavar="HEX", help="node key: 16 bytes (128-bit) or 8 (64)"
    )
    p.add_argument(
        "--vendor-id", required=True, metavar="N", help="vendor id, decimal or 0x-hex, 0..0xFFFF"
    )

    p = sub.add_parser("module-key", help="K_m = MAC(K_vendor, text || layout)")
    p.add_argument(
        "--vendor-key", required=True, metavar="HEX", help="vendor key: 16 bytes or 8 bytes"
    )
    p.add_argument(
        "--text-file", required=True, metavar="FILE", help="the module's text section, raw bytes"
    )
    p.add_argument(
        "--layout",
        required=True,
        metavar="PS,PE,SS,SE",
        help="public start/end and secret start/end addresses, decimal or 0x-hex, 0..0xFFFF",
    )
    return sancus


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``sancus`` sub-command: print the key and return 0, or 2 on bad input."""
    try:
        if args.sancus_command == "vendor-key":
            key = parse_key("--node-key", args.node_key)
            vendor_id = parse_u16("--vendor-id", args.vendor_id)
            print(vendor_key(key, vendor_id).hex())
        elif args.sancus_command == "module-key":
            key = parse_key("--vendor-key", args.vendor_key)
            layout = parse_layout(args.layout)
            text = read_text(args.text_file)
            print(module_key(key, module_identity(text, *layout)).hex())
        else:
            raise UsageError(f"unknown sancus command {args.sancus_command!r}")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def parse_key(option: str, value: str) -> bytes:
    """A 16- or 8-byte key from hex (spaces and a leading ``0x`` allowed)."""
    text = value.strip()
    text = text[2:] if text[:2].lower() == "0x" else text
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise UsageError(f"{option} is not valid hex: {value!r}") from None
    if len(key) not in _KEY_BITS:
        raise UsageError(
            f"{option} must be 16 bytes (128-bit security) or 8 bytes (64-bit security), "
            f"not {len(key)} bytes"
        )
    return key


def parse_u16(name: str, value: str) -> int:
    """A decimal or ``0x``-hex number in 0..0xFFFF."""
    text = value.strip()
    try:
        number = int(text[2:], 16) if text[:2].lower() == "0x" else int(text, 10)
    except ValueError:
        raise UsageError(f"{name} is not a decimal or 0x-hex number: {value!r}") from None
    if not 0 <= number <= 0xFFFF:
        raise UsageError(f"{name} must be in 0..0xFFFF, not {value.strip()}")
    return number


def parse_layout(value: str) -> tuple[int, int, int, int]:
    """``PS,PE,SS,SE`` as four 16-bit addresses; errors name the offending field."""
    parts = value.split(",")
    if len(parts) != len(LAYOUT_FIELDS):
        raise UsageError(
            f"--layout needs {len(LAYOUT_FIELDS)} comma-separated addresses PS,PE,SS,SE "
            f"({', '.join(LAYOUT_FIELDS)}), got {len(parts)}: {value!r}"
        )
    ps, pe, ss, se = (
        parse_u16(f"--layout {field}", part)
        for field, part in zip(LAYOUT_FIELDS, parts, strict=True)
    )
    return ps, pe, ss, se


def read_text(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read --text-file {path}: {exc.strerror or exc}") from None
