"""Running scripts/gen_vectors.py again reproduces spec/vectors/*.json byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTOR_DIR = ROOT / "spec" / "vectors"


def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_vectors.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    generated = sorted(p.name for p in tmp_path.glob("*.json"))
    committed = {p.name for p in VECTOR_DIR.glob("*.json")}
    assert generated == [
        "control.json",
        "event_channel.json",
        "frames.json",
        "native_exchange.json",
        "status.json",
    ]
    assert set(generated) <= committed, "a generated vector file is missing from spec/vectors"
    for name in generated:
        assert (tmp_path / name).read_bytes() == (VECTOR_DIR / name).read_bytes(), (
            f"{name} differs from a fresh run of scripts/gen_vectors.py"
        )
