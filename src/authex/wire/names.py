"""Module names on the control and platform links (spec/protocol.md §5.2): ``NAME`` (letters,
digits, '-' and '_'), or ``NAME~TAG`` (TAG: letters and digits) for the new version of an
update, staged beside the running ``NAME``.  A staged module runs as ``NAME`` (its --name,
sealing identity and log folder); only the agent and the deployer tell the two apart."""

from __future__ import annotations

import re

STAGED_SEPARATOR = "~"
# what a link's Hello may name as its peer: a node name (the descriptor's identifiers) or
# "deployer"; nothing that could break a log line or a path
_PEER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,254}")


def valid_peer(name: str) -> bool:
    return _PEER.fullmatch(name) is not None


def valid_name(name: str) -> bool:
    base, separator, tag = name.partition(STAGED_SEPARATOR)
    plain = base.replace("-", "").replace("_", "")
    return bool(plain) and plain.isalnum() and (tag.isalnum() if separator else True)


def base_name(name: str) -> str:
    """The module a (possibly staged) name stands for: ``NAME~TAG`` -> ``NAME``."""
    return name.partition(STAGED_SEPARATOR)[0]


def is_staged(name: str) -> bool:
    return STAGED_SEPARATOR in name


def staged_name(name: str, tag: str) -> str:
    return f"{name}{STAGED_SEPARATOR}{tag}"


def staged_tag(name: str) -> str:
    """``NAME~TAG`` -> ``TAG`` ("" for a name that is not staged)."""
    return name.partition(STAGED_SEPARATOR)[2]
