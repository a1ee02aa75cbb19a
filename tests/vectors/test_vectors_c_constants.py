"""The C SDK's protocol constants (sdks/c/include/authex/wire.h) are the protocol's: error codes,
call statuses and reject reasons equal the Python enums (spec/protocol.md §8), and every message
type the C module side names has the same code as the Python message class."""

from __future__ import annotations

import re
from pathlib import Path

from authex.wire import messages, platform
from authex.wire.messages import CallStatus, ErrorCode, RejectReason

HEADER = Path(__file__).resolve().parents[2] / "sdks" / "c" / "include" / "authex" / "wire.h"


def constants() -> dict[str, int]:
    text = HEADER.read_text()
    return {
        name: int(value, 0) for name, value in re.findall(r"\b(AX_\w+) = (0x[0-9a-f]+|\d+)", text)
    }


def test_codes_statuses_and_reasons_match() -> None:
    c = constants()
    assert c["AX_ERROR_BAD_REQUEST"] == ErrorCode.BAD_REQUEST
    assert c["AX_ERROR_REJECTED"] == ErrorCode.REJECTED
    for status in CallStatus:
        assert c[f"AX_STATUS_{status.name}"] == status
    for reason in (RejectReason.UNKNOWN_CONNECTION, RejectReason.REPLAY, RejectReason.FORGED):
        assert c[f"AX_REJECT_{reason.name}"] == reason


def test_message_types_match() -> None:
    c = constants()
    classes = {
        cls.__name__: cls.TYPE
        for module in (messages, platform)
        for cls in vars(module).values()
        if isinstance(cls, type) and hasattr(cls, "TYPE") and cls.__module__ == module.__name__
    }
    named = {k[len("AX_MSG_") :]: v for k, v in c.items() if k.startswith("AX_MSG_")}
    assert len(named) >= 15
    for name, code in named.items():
        python = "".join(part.capitalize() for part in name.split("_"))
        assert classes[python] == code, name
