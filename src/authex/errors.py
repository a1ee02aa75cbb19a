"""One exception taxonomy for authex.

Every error carries a message meant for a human and, where it has one, the place it refers to
(a file and line, a node, a module, a link).  The CLI is the only code that turns these into exit
codes and printed text.
"""

from __future__ import annotations


class AuthexError(Exception):
    """Base class of every error authex raises on purpose."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class DescriptorError(AuthexError):
    """The deployment descriptor (or a module manifest it refers to) is invalid."""


class ManifestError(AuthexError):
    """A module manifest or module source is invalid."""


class BuildError(AuthexError):
    """Building a module failed (toolchain error, missing source)."""


class ProtocolError(AuthexError):
    """A peer sent something that violates a wire protocol; the link it came on is closed."""


class RemoteError(AuthexError):
    """A peer answered a request with an error result."""

    def __init__(self, message: str, *, code: int = 0, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.code = code


class CryptoError(AuthexError):
    """Authentication failed, a counter was replayed, or a key is unusable."""


class ReplayError(CryptoError):
    """A counter was not greater than the last accepted one (replay or reorder)."""


class AttestationError(AuthexError):
    """Evidence did not verify, or a module did not prove it holds its module key."""


class BackendError(AuthexError):
    """A TEE backend cannot do what was asked on this node."""


class StateError(AuthexError):
    """The deployment state file is missing, locked, or inconsistent with the descriptor."""


class AuthexTimeoutError(AuthexError):
    """A wait ran past its deadline."""
