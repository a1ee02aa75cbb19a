"""spec/protocol.md and authex.wire agree: every message table row and every code table."""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path

import pytest

from authex.wire import messages as m
from authex.wire.codec import Message

SPEC = (Path(__file__).resolve().parents[3] / "spec" / "protocol.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| (0x[0-9a-f]{2}) \| (\w+) \| [^|]+ \| ([^|]+) \| [^|]+ \|$", re.MULTILINE)
CLASSES: dict[str, type[Message]] = {
    name: obj
    for name, obj in vars(m).items()
    if isinstance(obj, type) and issubclass(obj, Message) and obj is not Message
}


def spec_rows() -> dict[str, tuple[int, list[tuple[str, str]]]]:
    rows: dict[str, tuple[int, list[tuple[str, str]]]] = {}
    for code, name, fields in ROW.findall(SPEC):
        assert name not in rows, f"{name} listed twice in spec/protocol.md"
        text = fields.strip()
        parsed = [] if text == "—" else [tuple(f.split()) for f in text.split(", ")]
        rows[name] = (int(code, 16), [(p[0], p[1]) for p in parsed])
    return rows


def test_spec_lists_every_message_once() -> None:
    assert sorted(spec_rows()) == sorted(CLASSES)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_spec_row_matches_schema(name: str) -> None:
    code, fields = spec_rows()[name]
    cls = CLASSES[name]
    assert code == cls.TYPE
    assert fields == [(field, kind.value) for field, kind in cls.schema()]


def code_table(heading: str) -> dict[str, int]:
    section = SPEC.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return {name: int(code) for code, name in re.findall(r"^\| (\d+) \| (\w+) \|", section, re.M)}


@pytest.mark.parametrize(
    ("heading", "enum"),
    [
        ("### 8.1 Error codes", m.ErrorCode),
        ("### 8.2 Call status codes", m.CallStatus),
        ("### 8.3 Reject reasons", m.RejectReason),
    ],
)
def test_code_tables_match_enums(heading: str, enum: type[IntEnum]) -> None:
    assert code_table(heading) == {e.name: e.value for e in enum}


def test_limits_stated() -> None:
    assert "64 MiB = 67 108 864 bytes" in SPEC
    assert SPEC.count("1 MiB = 1 048 576 bytes") == 2
