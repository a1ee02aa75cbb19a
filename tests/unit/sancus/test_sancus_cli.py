"""``authex sancus vendor-key`` / ``module-key`` reproduce spongewrap.json; bad input exits 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from authex.cli import sancus

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[3] / "spec/vectors/sancus/spongewrap.json").read_text()
)
S128 = VECTORS["security_128"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="authex")
    sancus.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.command == "sancus"
    code = sancus.run(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.bin"
    path.write_bytes(bytes.fromhex(S128["module_text"]))
    return path


def _layout(style: str = "dec") -> str:
    values = [S128["layout"][k] for k in sancus.LAYOUT_FIELDS]
    return ",".join(str(v) if style == "dec" else hex(v) for v in values)


@pytest.mark.parametrize("level", ["security_128", "security_64"])
def test_vendor_key_reproduces_the_vectors(level: str, capsys: pytest.CaptureFixture[str]) -> None:
    section = VECTORS[level]
    for vendor_id in (str(section["vendor_id"]), hex(section["vendor_id"])):
        argv = ["sancus", "vendor-key", "--node-key", section["node_key"], "--vendor-id", vendor_id]
        assert _run(argv, capsys) == (0, section["vendor_key"] + "\n", "")


@pytest.mark.parametrize("style", ["dec", "hex"])
def test_module_key_reproduces_the_vector(
    style: str, text_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sancus", "module-key", "--vendor-key", S128["vendor_key"]]
    argv += ["--text-file", str(text_file), "--layout", _layout(style)]
    assert _run(argv, capsys) == (0, S128["module_key"] + "\n", "")


def test_keys_chain_from_node_key_to_module_key(
    text_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sancus", "vendor-key", "--node-key", S128["node_key"].upper(), "--vendor-id", "0x1234"]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    argv = ["sancus", "module-key", "--vendor-key", out.strip(), "--text-file", str(text_file)]
    assert _run([*argv, "--layout", _layout()], capsys)[:2] == (0, S128["module_key"] + "\n")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("zz" * 16, "--node-key is not valid hex"),
        ("abc", "--node-key is not valid hex"),
        ("00" * 12, "--node-key must be 16 bytes (128-bit security) or 8 bytes"),
        ("", "not 0 bytes"),
        ("00" * 32, "not 32 bytes"),
    ],
)
def test_vendor_key_rejects_bad_node_keys(
    key: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["sancus", "vendor-key", "--node-key", key, "--vendor-id", "1"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert message in err


@pytest.mark.parametrize(
    ("vendor_id", "message"),
    [("65536", "must be in 0..0xFFFF"), ("-1", "must be in 0..0xFFFF"), ("0xg", "not a decimal")],
)
def test_vendor_key_rejects_bad_vendor_ids(
    vendor_id: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sancus", "vendor-key", "--node-key", "00" * 8, f"--vendor-id={vendor_id}"]
    code, out, err = _run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.startswith("error: --vendor-id ")
    assert message in err


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("1,2,3", "--layout needs 4 comma-separated addresses"),
        ("1,2,3,4,5", "got 5"),
        ("0x5000,0x5020,0x400,0x10000", "--layout secret_end must be in 0..0xFFFF"),
        ("0x5000,-1,0x400,0x420", "--layout public_end must be in 0..0xFFFF"),
        ("0x5000,0x5020,x,0x420", "--layout secret_start is not a decimal or 0x-hex number"),
        ("5000h,0x5020,0x400,0x420", "--layout public_start is not a decimal"),
        ("0x5000,0x5020,0x400,", "--layout secret_end is not a decimal"),
    ],
)
def test_module_key_rejects_bad_layouts(
    layout: str, message: str, text_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sancus", "module-key", "--vendor-key", S128["vendor_key"]]
    argv += ["--text-file", str(text_file), f"--layout={layout}"]
    code, out, err = _run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert message in err


def test_module_key_rejects_bad_vendor_key_and_missing_file(
    tmp_path: Path, text_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["sancus", "module-key", "--layout", _layout()]
    code, _, err = _run([*base, "--vendor-key", "00" * 10, "--text-file", str(text_file)], capsys)
    assert code == 2
    assert "error: --vendor-key must be 16 bytes" in err
    code, _, err = _run([*base, "--vendor-key", "0g" * 16, "--text-file", str(text_file)], capsys)
    assert code == 2
    assert "error: --vendor-key is not valid hex" in err
    missing = tmp_path / "nope.bin"
    argv = [*base, "--vendor-key", S128["vendor_key"], "--text-file", str(missing)]
    code, out, err = _run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot read --text-file {missing}")


def test_64_bit_module_key_matches_the_library(
    text_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from authex.crypto.sancus_keys import module_identity, module_key

    k_vendor = bytes.fromhex(VECTORS["security_64"]["vendor_key"])
    text = text_file.read_bytes()
    expected = module_key(k_vendor, module_identity(text, 0x5000, 0x5020, 0x400, 0x420)).hex()
    argv = ["sancus", "module-key", "--vendor-key", k_vendor.hex(), "--text-file", str(text_file)]
    code, out, _ = _run([*argv, "--layout", "0x5000,0x5020,0x400,0x420"], capsys)
    assert (code, out) == (0, expected + "\n")
    assert len(out.strip()) == 16


def test_subcommand_is_required() -> None:
    parser = argparse.ArgumentParser(prog="authex")
    sancus.add_parser(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        parser.parse_args(["sancus"])
