"""Every entry of the Ascon-AEAD128 and Ascon-Hash256 known-answer tests (NIST SP 800-232)."""

from __future__ import annotations

from pathlib import Path

from authex.crypto.ascon import ascon_decrypt, ascon_encrypt, ascon_hash256

KATS = Path(__file__).resolve().parents[3] / "spec" / "vectors" / "ascon"


def parse_kat(path: Path) -> list[dict[str, str]]:
    """NIST LWC format: blank-line separated blocks of ``Name = hex`` lines."""
    entries: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*path.read_text().splitlines(), ""]:
        if not line.strip():
            if current:
                entries.append(current)
                current = {}
            continue
        name, _, value = line.partition("=")
        current[name.strip()] = value.strip()
    return entries


def test_aead_kat_all_entries_both_ways() -> None:
    entries = parse_kat(KATS / "LWC_AEAD_KAT_128_128.txt")
    assert len(entries) == 1089
    failures = []
    for entry in entries:
        key, nonce, pt, ad, ct = (
            bytes.fromhex(entry[k]) for k in ("Key", "Nonce", "PT", "AD", "CT")
        )
        if ascon_encrypt(key, nonce, ad, pt) != ct or ascon_decrypt(key, nonce, ad, ct) != pt:
            failures.append(entry["Count"])
    assert failures == []


def test_aead_kat_first_entry() -> None:
    key, nonce = bytes(range(16)), bytes(range(16, 32))
    assert ascon_encrypt(key, nonce, b"", b"").hex().upper() == "4F9C278211BEC9316BF68F46EE8B2EC6"


def test_hash_kat_all_entries() -> None:
    entries = parse_kat(KATS / "LWC_HASH_KAT_128_256.txt")
    assert len(entries) == 1025
    failures = [
        e["Count"]
        for e in entries
        if ascon_hash256(bytes.fromhex(e["Msg"])).hex().upper() != e["MD"]
    ]
    assert failures == []
