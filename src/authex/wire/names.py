"""Module names on the control and platform links (spec/protocol.md §5.2): ``NAME`` (letters,
digits, '-' and '_'), or ``NAME~TAG`` (TAG: letters and digits) for the new version of an
update, staged beside the running ``NAME``.  A staged module runs as ``NAME`` (its --name,
sealing identity and log folder); only the agent and the deployer tell the two apart.

On a node, modules belong to deployments (spec/protocol.md §5.2, ``Bind``): the agent names a
module ``DEPLOYMENT/NAME`` (or ``DEPLOYMENT/NAME~TAG``) towards its platform, which runs it as
``NAME`` in the folder ``modules/DEPLOYMENT/NAME``; the deployer only ever sees ``NAME``."""

from __future__ import annotations

import re

STAGED_SEPARATOR = "~"
DEPLOYMENT_SEPARATOR = "/"
# a deployment's name: the descriptor's `name` ([a-z0-9][a-z0-9-_]*), at most 64 characters
_DEPLOYMENT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# what a link's Hello may name as its peer: a node name (the descriptor's identifiers) or
# "deployer"; nothing that could break a log line or a path
_PEER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,254}")


def valid_peer(name: str) -> bool:
    return _PEER.fullmatch(name) is not None


def valid_deployment(name: str) -> bool:
    return _DEPLOYMENT.fullmatch(name) is not None


def qualified(deployment: str, name: str) -> str:
    """The node's name of module ``name`` of ``deployment``."""
    return f"{deployment}{DEPLOYMENT_SEPARATOR}{name}"


def split_qualified(name: str) -> tuple[str, str]:
    """``DEPLOYMENT/NAME`` -> ``(DEPLOYMENT, NAME)``; a name of no deployment -> ``("", name)``."""
    deployment, separator, rest = name.partition(DEPLOYMENT_SEPARATOR)
    return (deployment, rest) if separator else ("", name)


def valid_name(name: str) -> bool:
    """A module name, possibly staged, possibly qualified by its deployment."""
    deployment, separator, rest = name.partition(DEPLOYMENT_SEPARATOR)
    if separator:
        if not valid_deployment(deployment):
            return False
        name = rest
    base, separator, tag = name.partition(STAGED_SEPARATOR)
    plain = base.replace("-", "").replace("_", "")
    return bool(plain) and plain.isalnum() and (tag.isalnum() if separator else True)


def base_name(name: str) -> str:
    """The module a (possibly staged) name stands for: ``NAME~TAG`` -> ``NAME`` (and
    ``DEP/NAME~TAG`` -> ``DEP/NAME``)."""
    return name.partition(STAGED_SEPARATOR)[0]


def run_as(name: str) -> str:
    """The name a module process runs as (its --name): ``DEP/NAME~TAG`` -> ``NAME``."""
    return base_name(split_qualified(name)[1])


def is_staged(name: str) -> bool:
    return STAGED_SEPARATOR in name


def staged_name(name: str, tag: str) -> str:
    return f"{name}{STAGED_SEPARATOR}{tag}"


def staged_tag(name: str) -> str:
    """``NAME~TAG`` -> ``TAG`` ("" for a name that is not staged)."""
    return name.partition(STAGED_SEPARATOR)[2]
