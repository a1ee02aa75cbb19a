"""spec/crypto.md and authex.crypto agree on suite ids, labels and sizes."""

from __future__ import annotations

import re
from pathlib import Path

from authex.crypto import control
from authex.crypto.native_exchange import CHALLENGE_SIZE, EVIDENCE_SIZE
from authex.crypto.suites import SUITE_NAMES

SPEC = (Path(__file__).resolve().parents[3] / "spec" / "crypto.md").read_text(encoding="utf-8")


def test_suite_table_matches_suite_ids() -> None:
    rows = re.findall(r"^\| (\d) \| `([a-z0-9-]+)` \|", SPEC, re.MULTILINE)
    assert {name: int(ident) for ident, name in rows} == {
        name: int(ident) for name, ident in SUITE_NAMES.items()
    }


def test_control_ad_sizes_stated() -> None:
    assert f"({len(control.set_key_ad(0, 0, 0, 0, 1))} B)" in SPEC
    assert f"({len(control.call_ad(0, 1))} B)" in SPEC
    assert f"({len(control.result_ad(0, 1, 0))} B)" in SPEC


def test_native_sizes_and_labels_stated() -> None:
    assert re.search(rf"challenge = .*= +{CHALLENGE_SIZE} bytes", SPEC)
    assert re.search(rf"evidence  = .*= +{EVIDENCE_SIZE} bytes", SPEC)
    for label in ("authex-native-attest-v1", "authex native module key v1", "attest-confirm"):
        assert f'"{label}"' in SPEC


def test_placeholder_sections_present() -> None:
    assert "## 7. SpongeWrap-128 (Sancus)" in SPEC
    assert "## 8. Ascon-AEAD128" in SPEC
