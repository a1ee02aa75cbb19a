"""Real Intel quotes: full DCAP verification with recorded PCS collateral, through dcap-qvl.

``verify_quote`` (verify.py) checks a quote's structure, signatures and chain; a real Intel quote
also needs Intel's collateral: the TCB info and QE identity (signed by Intel's TCB signing key),
and the PCK and root CA revocation lists.  Evaluating those is what Phala Network's ``dcap-qvl``
(Rust, MIT, Python bindings on PyPI) does, with Intel's SGX root CA built in.  This module is the
one place authex calls it.

The collateral is the JSON that ``dcap_qvl.QuoteCollateralV3.to_json`` writes (keys
``pck_crl_issuer_chain``, ``root_ca_crl``, ``pck_crl``, ``tcb_info_issuer_chain``, ``tcb_info``,
``tcb_info_signature``, ``qe_identity_issuer_chain``, ``qe_identity``, ``qe_identity_signature``);
verification happens at a caller-given time so recorded collateral can be re-checked offline.

dcap-qvl API used: ``QuoteCollateralV3.from_json(str)`` and ``verify(raw_quote: bytes,
collateral, now_secs: int) -> VerifiedReport`` with ``.status: str`` and ``.advisory_ids:
list[str]``; failures are ``ValueError`` with a message such as "Verification failed: TCBInfo
expired".  It verifies SGX (v3) and TDX (v4/v5) quotes.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from authex.errors import AttestationError

# TCB statuses as dcap-qvl (and Intel's TCB info) spell them.
UP_TO_DATE = "UpToDate"
TCB_STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
)

COLLATERAL_KEYS = (
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
)


@dataclass(frozen=True)
class IntelVerdict:
    """dcap-qvl's result for a quote that verified: the platform's TCB status and the Intel
    security advisories that apply to it.  Whether that status is acceptable is policy."""

    status: str
    advisory_ids: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return self.status == UP_TO_DATE


def load_dcap_qvl() -> ModuleType:
    """Import dcap-qvl, or say plainly that it is missing."""
    try:
        return importlib.import_module("dcap_qvl")
    except ImportError as exc:
        raise AttestationError(
            "verifying real Intel quotes needs the dcap-qvl package (pip install dcap-qvl)"
        ) from exc


def dcap_qvl_available() -> bool:
    try:
        load_dcap_qvl()
    except AttestationError:
        return False
    return True


def _check_collateral(collateral_json: bytes) -> str:
    try:
        text = collateral_json.decode("utf-8")
        doc = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AttestationError(f"collateral is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise AttestationError("collateral must be a JSON object")
    missing = [k for k in COLLATERAL_KEYS if k not in doc]
    if missing:
        raise AttestationError(f"collateral lacks {', '.join(missing)}")
    return text


def _one_line(exc: Exception) -> str:
    """dcap-qvl's messages span lines ("Caused by: ..."); fold them into one."""
    return " ".join(str(exc).split())


def verify_intel_quote(quote: bytes, collateral_json: bytes, at: datetime) -> IntelVerdict:
    """Verify a real Intel SGX or TDX quote against recorded collateral, as of ``at`` (a naive
    datetime is taken as UTC).  Raises ``AttestationError`` carrying dcap-qvl's reason."""
    qvl = load_dcap_qvl()
    text = _check_collateral(collateral_json)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    now_secs = int(at.timestamp())
    if now_secs < 0:
        raise AttestationError(f"verification time {at.isoformat()} is before 1970")
    try:
        collateral: Any = qvl.QuoteCollateralV3.from_json(text)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise AttestationError(
            f"collateral is not valid dcap-qvl collateral: {_one_line(exc)}"
        ) from exc
    try:
        report: Any = qvl.verify(bytes(quote), collateral, now_secs)
    except (ValueError, TypeError, RuntimeError) as exc:
        reason = _one_line(exc)
        if "expired" in reason.lower():
            reason += (
                f" (the collateral is not valid at {at.isoformat()}: verify at a time inside its "
                "validity window, or fetch fresh collateral)"
            )
        raise AttestationError(f"Intel quote verification failed: {reason}") from exc
    status = str(report.status)
    advisories = tuple(str(a) for a in report.advisory_ids)
    return IntelVerdict(status=status, advisory_ids=advisories)
