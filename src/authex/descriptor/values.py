"""Small, pure parsers for the descriptor's scalar syntaxes: names, intervals, sizes and
endpoints.

Each parser either returns a value or raises ``ValueError`` whose message is written for the
operator (it becomes the text of a :class:`Problem`).
"""

from __future__ import annotations

import re

from authex.descriptor.model import OPERATOR, Endpoint

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
IDENTIFIER_SYNTAX = "[A-Za-z_][A-Za-z0-9_-]*"
APP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
APP_NAME_SYNTAX = "[a-z0-9][a-z0-9-_]*"

UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000}
MIN_INTERVAL_MS = 10
MAX_INTERVAL_MS = 24 * 60 * 60 * 1_000
_INTERVAL = re.compile(r"([0-9]+)(ms|s|m)")
_MAX_DIGITS = 12  # far above 24h in ms; keeps int() away from huge inputs

UNIT_BYTES = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_SIZE = re.compile(r"([0-9]+)(KiB|MiB|GiB)")
SIZE_EXAMPLES = "64MiB, 512MiB or 2GiB"


def is_identifier(text: str) -> bool:
    """A node, module or io name: ``[A-Za-z_][A-Za-z0-9_-]*`` (no dots)."""
    return IDENTIFIER.fullmatch(text) is not None


def is_app_name(text: str) -> bool:
    """The descriptor's own name: ``[a-z0-9][a-z0-9-_]*``."""
    return APP_NAME.fullmatch(text) is not None


def describe(value: object, *, limit: int = 40) -> str:
    """How a wrongly typed value is shown in a message: ``'abc'``, ``42``, ``a list``, ..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        shown = value if len(value) <= limit else value[: limit - 3] + "..."
        return repr(shown)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


def parse_interval(text: str) -> int:
    """Parse ``500ms``, ``5s`` or ``2m`` into milliseconds (10 ms .. 24 h inclusive).

    >>> parse_interval("2m")
    120000
    """
    if not isinstance(text, str):
        raise ValueError(
            f"expected an interval such as 500ms, 5s or 2m, got {describe(text)}"
            " (write a whole number followed by a unit: ms, s or m)"
        )
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid interval {describe(text)}: expected a whole number followed by a unit "
            "ms, s or m, such as 500ms, 5s or 2m"
        )
    digits, unit = match.groups()
    if len(digits.lstrip("0")) > _MAX_DIGITS:
        raise ValueError(f"interval {describe(text)} is longer than the maximum of 24h")
    milliseconds = int(digits) * UNIT_MS[unit]
    if milliseconds < MIN_INTERVAL_MS:
        raise ValueError(f"interval {describe(text)} is shorter than the minimum of 10ms")
    if milliseconds > MAX_INTERVAL_MS:
        raise ValueError(f"interval {describe(text)} is longer than the maximum of 24h (1440m)")
    return milliseconds


def format_interval(milliseconds: int) -> str:
    """The shortest text that :func:`parse_interval` reads back as ``milliseconds``."""
    for unit in ("m", "s"):
        factor = UNIT_MS[unit]
        if milliseconds % factor == 0:
            return f"{milliseconds // factor}{unit}"
    return f"{milliseconds}ms"


def parse_size(text: object, minimum: int, maximum: int) -> int:
    """Parse ``64MiB``, ``512KiB`` or ``2GiB`` into bytes, ``minimum`` .. ``maximum`` inclusive.

    >>> parse_size("64MiB", 1, 1 << 40)
    67108864
    """
    if not isinstance(text, str):
        raise ValueError(
            f"expected a size such as {SIZE_EXAMPLES}, got {describe(text)}"
            " (write a whole number followed by a unit: KiB, MiB or GiB)"
        )
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid size {describe(text)}: expected a whole number followed by a unit "
            f"KiB, MiB or GiB, such as {SIZE_EXAMPLES}"
        )
    digits, unit = match.groups()
    if len(digits.lstrip("0")) > _MAX_DIGITS:
        raise ValueError(
            f"size {describe(text)} is larger than the maximum of {format_size(maximum)}"
        )
    size = int(digits) * UNIT_BYTES[unit]
    if size < minimum:
        raise ValueError(f"size {describe(text)} is below the minimum of {format_size(minimum)}")
    if size > maximum:
        raise ValueError(
            f"size {describe(text)} is larger than the maximum of {format_size(maximum)}"
        )
    return size


def format_size(size: int) -> str:
    """The shortest text that :func:`parse_size` reads back as ``size`` (a multiple of 1 KiB)."""
    for unit in ("GiB", "MiB"):
        if size % UNIT_BYTES[unit] == 0:
            return f"{size // UNIT_BYTES[unit]}{unit}"
    return f"{size // UNIT_BYTES['KiB']}KiB"


def parse_endpoint(text: str) -> Endpoint:
    """``"sensor1.reading"`` -> ``Endpoint("sensor1", "reading")``; ``"operator"`` -> operator."""
    if text == OPERATOR:
        return Endpoint(None, None)
    parts = text.split(".")
    if len(parts) == 2 and parts[0] == OPERATOR:
        raise ValueError(f"the operator has no ios: write just 'operator', not {describe(text)}")
    if len(parts) != 2 or not all(is_identifier(part) for part in parts):
        raise ValueError(
            "expected MODULE.IO (such as sensor1.reading) or the word 'operator', "
            f"got {describe(text)}"
        )
    return Endpoint(parts[0], parts[1])
