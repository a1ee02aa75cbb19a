"""Errors of the agent's control commands."""

from __future__ import annotations

from authex.errors import AuthexError
from authex.wire.messages import ErrorCode


class CommandError(AuthexError):
    """A control command that cannot be carried out; answered with an Error frame."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
