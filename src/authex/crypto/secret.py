"""A wrapper for key material that never shows its bytes in a repr, str or log line."""

from __future__ import annotations

from authex.crypto.digest import equal


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """The raw bytes: call only where the key is used or stored in deployment state."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret(<{len(self._value)} bytes redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and equal(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))
