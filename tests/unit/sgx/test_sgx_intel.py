"""Real Intel quotes with recorded collateral, through dcap-qvl and ``authex attest verify-quote``:
the expected results of spec/vectors/dcap/README.md."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from authex.attestation.sgx.intel import IntelVerdict, verify_intel_quote
from authex.cli import attest
from authex.errors import AttestationError

pytest.importorskip("dcap_qvl", reason="dcap-qvl is not installed (pip install dcap-qvl)")

DCAP = Path(__file__).resolve().parents[3] / "spec/vectors/dcap"
SGX = (DCAP / "sgx_quote").read_bytes()
SGX_COLLATERAL = (DCAP / "sgx_quote_collateral.json").read_bytes()
IN_WINDOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
PRESENT = datetime(2026, 11, 26, tzinfo=UTC)  # after every recorded collateral window


def test_sgx_sample_status_and_advisories() -> None:
    verdict = verify_intel_quote(SGX, SGX_COLLATERAL, IN_WINDOW)
    assert verdict == IntelVerdict(
        status="ConfigurationAndSWHardeningNeeded",
        advisory_ids=("INTEL-SA-00289", "INTEL-SA-00615"),
    )
    assert not verdict.up_to_date


def test_sgx_sample_with_a_flipped_report_bit_has_an_invalid_signature() -> None:
    tampered = bytearray(SGX)
    tampered[48 + 64] ^= 0x01  # first byte of MRENCLAVE
    with pytest.raises(AttestationError, match=r"(?i)signature is invalid"):
        verify_intel_quote(bytes(tampered), SGX_COLLATERAL, IN_WINDOW)


@pytest.mark.parametrize("when", [PRESENT, datetime.now(UTC)])
def test_sgx_sample_at_the_present_date_has_expired_collateral(when: datetime) -> None:
    with pytest.raises(AttestationError, match=r"(?i)expired"):
        verify_intel_quote(SGX, SGX_COLLATERAL, when)


def test_tdx_sample_is_up_to_date() -> None:
    verdict = verify_intel_quote(
        (DCAP / "tdx_quote").read_bytes(),
        (DCAP / "tdx_quote_collateral.json").read_bytes(),
        IN_WINDOW,
    )
    assert verdict == IntelVerdict(status="UpToDate", advisory_ids=())
    assert verdict.up_to_date


def test_outdated_tdx_sample_has_no_matching_tcb_level() -> None:
    with pytest.raises(AttestationError, match=r"(?i)no matching TCB level"):
        verify_intel_quote(
            (DCAP / "tdx_quote_outdated").read_bytes(),
            (DCAP / "tdx_quote_outdated_collateral.json").read_bytes(),
            datetime(2026, 3, 1, tzinfo=UTC),
        )


def test_naive_time_is_utc() -> None:
    assert verify_intel_quote(SGX, SGX_COLLATERAL, datetime(2025, 7, 1)).status


def test_bad_collateral_and_quote_are_reported() -> None:
    with pytest.raises(AttestationError, match="not JSON"):
        verify_intel_quote(SGX, b"{", IN_WINDOW)
    with pytest.raises(AttestationError, match="lacks pck_crl, tcb_info"):
        doc = json.loads(SGX_COLLATERAL)
        del doc["pck_crl"], doc["tcb_info"]
        verify_intel_quote(SGX, json.dumps(doc).encode(), IN_WINDOW)
    with pytest.raises(AttestationError, match=r"Intel quote verification failed: .*decode") as err:
        verify_intel_quote(SGX[:100], SGX_COLLATERAL, IN_WINDOW)
    assert "\n" not in str(err.value)


# --- the CLI ----------------------------------------------------------------------------------


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="authex")
    sub = parser.add_subparsers(dest="command", required=True)
    attest.add_parser(sub)
    args = parser.parse_args(argv)
    assert args.command == "attest"
    return attest.run(args)


def _verify_argv(quote: Path, collateral: Path, *at: str) -> list[str]:
    return ["attest", "verify-quote", str(quote), "--collateral", str(collateral), *at]


def test_cli_verify_quote_prints_status(capsys: pytest.CaptureFixture[str]) -> None:
    argv = _verify_argv(
        DCAP / "sgx_quote", DCAP / "sgx_quote_collateral.json", "--at", "2025-07-01"
    )
    assert _run(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "TCB status: ConfigurationAndSWHardeningNeeded"
    assert out[1] == "advisories: INTEL-SA-00289, INTEL-SA-00615"
    assert out[2].startswith("quote: SGX ECDSA v3, MRENCLAVE 33d8736d")
    assert out[3] == "verified at: 2025-07-01T00:00:00+00:00"


def test_cli_tdx_quote_has_no_advisories(capsys: pytest.CaptureFixture[str]) -> None:
    argv = _verify_argv(
        DCAP / "tdx_quote", DCAP / "tdx_quote_collateral.json", "--at", "2025-07-01T12:00:00Z"
    )
    assert _run(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["TCB status: UpToDate", "advisories: none"]
    assert out[2].startswith("quote: version 4")


def test_cli_default_time_is_now_and_fails_on_expired_collateral(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(_verify_argv(DCAP / "sgx_quote", DCAP / "sgx_quote_collateral.json")) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: Intel quote verification failed:")
    assert "expired" in captured.err.lower()
    assert "fetch fresh collateral" in captured.err


def test_cli_tampered_quote_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = bytearray(SGX)
    tampered[48 + 320] ^= 0x80  # report data
    (tmp_path / "q").write_bytes(bytes(tampered))
    argv = _verify_argv(tmp_path / "q", DCAP / "sgx_quote_collateral.json", "--at", "2025-07-01")
    assert _run(argv) == 1
    assert "signature is invalid" in capsys.readouterr().err
    assert _run(_verify_argv(tmp_path / "none", DCAP / "sgx_quote_collateral.json")) == 1
    assert capsys.readouterr().err.startswith("error: cannot read quote")


def test_cli_rejects_a_bad_time() -> None:
    with pytest.raises(SystemExit):
        _run(_verify_argv(DCAP / "sgx_quote", DCAP / "sgx_quote_collateral.json", "--at", "soon"))
    assert attest.parse_time("2025-07-01T02:00:00+02:00") == datetime(2025, 7, 1, tzinfo=UTC)
