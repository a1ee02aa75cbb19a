"""Deployments on a node: who owns each, and which connection ids are whose.

Several applications, of one operator or of several, share a node safely: every control link
acts for one deployment (``Bind``), and everything a deployment creates here — modules
(``DEPLOYMENT/NAME``, wire/names.py), their timers, routes and connection ids — is its own.  A
deployment belongs to the operator that bound it first; another operator's ``Bind`` is refused,
except the node's administrator's, who may act for every deployment.  A connection id belongs to
the deployment that first routed or keyed it; another deployment's use of it is refused (connection
ids travel between agents without a deployment, so they must not collide on a node: the deployer
picks them at random).

``Tenancy`` is sans-I/O; ``TenancyStore`` reads and writes ``DIR/deployments.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from authex.agent.errors import CommandError
from authex.errors import AuthexError
from authex.wire.messages import ErrorCode
from authex.wire.names import qualified, split_qualified, valid_deployment
from authex.wire.status import NodeStatus

DEPLOYMENTS = "deployments.json"
MAX_DEPLOYMENTS = 256


@dataclass
class Scope:
    """What one control link acts as: the operator (key id), whether it is the node's
    administrator, and the deployment it bound ("" before ``Bind``)."""

    operator: str
    admin: bool = False
    deployment: str = ""

    def bound(self) -> str:
        if not self.deployment:
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                "this command acts for a deployment: send Bind(DEPLOYMENT) on the link first",
            )
        return self.deployment

    def module(self, name: str) -> str:
        """The node's name of this deployment's module ``name`` ("" stays "": the operator)."""
        return qualified(self.bound(), name) if name else ""

    def sees(self, deployment: str, owners: dict[str, str]) -> bool:
        return self.admin or owners.get(deployment) == self.operator


@dataclass
class Tenancy:
    owners: dict[str, str] = field(default_factory=dict)  # deployment -> operator key id
    connections: dict[int, str] = field(default_factory=dict)  # connection id -> deployment

    def bind(self, scope: Scope, deployment: str, node: str) -> bool:
        """Let ``scope`` act for ``deployment``; whether that made the deployment (to save)."""
        if not valid_deployment(deployment):
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                f"invalid deployment name {deployment[:80]!r}: a descriptor name "
                "([a-z0-9][a-z0-9-_]*, at most 64 characters)",
            )
        owner = self.owners.get(deployment)
        if owner is not None and owner != scope.operator and not scope.admin:
            raise CommandError(
                ErrorCode.REJECTED,
                f"deployment {deployment!r} on node {node} belongs to operator {owner}; this "
                f"link is operator {scope.operator} (rename your descriptor's `name`, or ask "
                "the node's administrator)",
            )
        scope.deployment = deployment
        if owner is not None:
            return False
        if len(self.owners) >= MAX_DEPLOYMENTS:
            raise CommandError(
                ErrorCode.REJECTED,
                f"node {node} holds {MAX_DEPLOYMENTS} deployments already: reset one first",
            )
        self.owners[deployment] = scope.operator
        return True

    def claim(self, deployment: str, conn_id: int, node: str) -> bool:
        """``conn_id`` is used by ``deployment``; refused if another one uses it.  Whether the
        claim is new (to save)."""
        holder = self.connections.get(conn_id)
        if holder == deployment:
            return False
        if holder is not None:
            raise CommandError(
                ErrorCode.REJECTED,
                f"connection id {conn_id} on node {node} is another deployment's: run "
                "`authex reset` and deploy again (a fresh deployment picks other ids)",
            )
        self.connections[conn_id] = deployment
        return True

    def release(self, deployment: str) -> list[int]:
        """Forget ``deployment``'s connection ids (it was reset); which they were."""
        mine = sorted(c for c, d in self.connections.items() if d == deployment)
        for conn_id in mine:
            del self.connections[conn_id]
        return mine

    def forget_connection(self, conn_id: int) -> None:
        self.connections.pop(conn_id, None)


def scoped_status(status: NodeStatus, scope: Scope, tenancy: Tenancy) -> NodeStatus:
    """What ``scope`` sees of the node's status: on a bound link, the modules, timers, routes
    and connection counts of its deployment; on an unbound one, those of every deployment its
    operator owns (all of them for the administrator).  Module names are shown without their
    deployment (which ``ModuleStatus.deployment`` says).  Node-wide figures (unrouted events,
    peers, outbox) stay."""

    def sees(deployment: str) -> bool:
        if scope.deployment:
            return deployment == scope.deployment
        return scope.sees(deployment, tenancy.owners)

    def sees_holder(deployment: str | None) -> bool:
        """Of no deployment (``None`` or ""): only the administrator's unbound link."""
        return sees(deployment) if deployment else scope.admin and not scope.deployment

    def visible_connection(conn_id: int) -> bool:
        return sees_holder(tenancy.connections.get(conn_id))

    modules = []
    for module in status.modules:
        deployment, name = split_qualified(module.name)
        if sees_holder(deployment):
            modules.append(replace(module, name=name, deployment=deployment))
    timers = []
    for timer in status.timers:
        deployment, name = split_qualified(timer.module)
        if sees_holder(deployment):
            timers.append(replace(timer, module=name))
    return replace(
        status,
        modules=tuple(modules),
        timers=tuple(timers),
        routes=tuple(r for r in status.routes if visible_connection(r.conn_id)),
        connections=tuple(c for c in status.connections if visible_connection(c.conn_id)),
    )


class TenancyStore:
    """``DIR/deployments.json``, written atomically after every change."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / DEPLOYMENTS

    def load(self) -> Tenancy:
        if not self.path.exists():
            return Tenancy()
        try:
            raw = json.loads(self.path.read_text())
            owners = {str(k): str(v) for k, v in raw["owners"].items()}
            connections = {int(k): str(v) for k, v in raw["connections"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AuthexError(f"corrupt deployments file: {exc}", where=str(self.path)) from exc
        return Tenancy(owners, connections)

    def save(self, tenancy: Tenancy) -> None:
        raw = {
            "owners": dict(sorted(tenancy.owners.items())),
            "connections": {str(k): v for k, v in sorted(tenancy.connections.items())},
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(raw, indent=1) + "\n")
        os.replace(tmp, self.path)
