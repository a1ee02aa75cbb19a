"""Which end of a connection a module is, as the deployer names it (and the deployment state
records it); on the wire a set-key carries the matching :class:`~authex.crypto.control.Role`."""

from __future__ import annotations

from enum import Enum

from authex.crypto.control import Role


class EndRole(Enum):
    SOURCE = "source"  # the output or request side: it sends on the connection
    TARGET = "target"  # the input or handler side: it receives

    @property
    def wire(self) -> Role:
        """The role a set-key or swap-key for this end carries."""
        return Role.SENDER if self is EndRole.SOURCE else Role.RECEIVER
