"""Interface checks: does the descriptor's wiring fit the modules' declared interfaces?

Run after the modules are built, with each module's manifest.  The legal connection shapes are:

=================  ==================  ==================
from               to                  kind
=================  ==================  ==================
output             input               ``event``
request            handler             ``request``
operator           input               ``direct-event``
operator           handler             ``direct-request``
output             operator            ``watch``
=================  ==================  ==================

Everything else is a :class:`Problem` that says what was expected.  Timers must call public
entries; a request has exactly one handler; a chosen suite must be supported by both ends'
manifests and TEEs; without a chosen suite, at least one suite must be supported by both
manifests and both TEEs (see :data:`TEE_SUITES`; the operator supports every suite).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from authex.descriptor.model import (
    SUITES,
    TEE_SUITES,
    Connection,
    Descriptor,
    Endpoint,
    Location,
    Node,
    Problem,
)
from authex.descriptor.suites import common_suites
from authex.manifest import Endpoint as Io
from authex.manifest import IoKind, Manifest

ConnectionKind = Literal["event", "request", "direct-event", "direct-request", "watch"]

LEGAL_SHAPES: dict[tuple[IoKind | None, IoKind | None], ConnectionKind] = {
    (IoKind.OUTPUT, IoKind.INPUT): "event",
    (IoKind.REQUEST, IoKind.HANDLER): "request",
    (None, IoKind.INPUT): "direct-event",
    (None, IoKind.HANDLER): "direct-request",
    (IoKind.OUTPUT, None): "watch",
}  # None stands for the operator
SOURCE_KINDS = (IoKind.OUTPUT, IoKind.REQUEST)
TARGET_KINDS = (IoKind.INPUT, IoKind.HANDLER)


def _a(kind: IoKind) -> str:
    article = "an" if kind.value[0] in "aeiou" else "a"
    return f"{article} {kind.value}"


def _resolve(manifest: Manifest, io: str, preferred: tuple[IoKind, ...]) -> Io | None:
    """The declared io called ``io``; if several kinds share the name, one fitting this end."""
    candidates = manifest.named(io)
    for candidate in candidates:
        if candidate.kind in preferred:
            return candidate
    return candidates[0] if candidates else None


def _list(suites: tuple[str, ...]) -> str:
    return ", ".join(suites) or "none"


def _listing(manifest: Manifest) -> str:
    ios = sorted(manifest.endpoints, key=lambda e: (e.name, e.kind.value))
    return ", ".join(f"{e.name} ({e.kind.value})" for e in ios) or "(none)"


class _InterfaceChecker:
    def __init__(self, descriptor: Descriptor, manifests: Mapping[str, Manifest]) -> None:
        self.descriptor = descriptor
        self.manifests = manifests
        self.problems: list[Problem] = []

    def report(self, location: Location | None, field: str, message: str) -> None:
        self.problems.append(Problem(location, field, message))

    def modules(self) -> None:
        for j, module in enumerate(self.descriptor.modules):
            manifest = self.manifests.get(module.name)
            if manifest is None:
                self.report(
                    module.location,
                    f"modules[{j}]",
                    f"no manifest for module '{module.name}' (has it been built?)",
                )
            elif manifest.language != module.language:
                self.report(
                    module.where("language"),
                    f"modules[{j}].language",
                    f"module {module.name} is declared as {module.language!r} but its manifest "
                    f"says it is written in {manifest.language!r}",
                )

    def end(
        self, connection: Connection, i: int, side: Literal["from", "to"]
    ) -> tuple[bool, IoKind | None]:
        """Resolve one end; (usable, kind) where kind None means the operator."""
        endpoint = connection.source if side == "from" else connection.target
        if endpoint.module is None or endpoint.io is None:
            return True, None
        manifest = self.manifests.get(endpoint.module)
        if manifest is None:
            return False, None  # reported once, under modules
        field, location = f"connections[{i}].{side}", connection.where(side)
        wanted = SOURCE_KINDS if side == "from" else TARGET_KINDS
        io = _resolve(manifest, endpoint.io, wanted)
        if io is None:
            self.report(
                location,
                field,
                f"unknown io '{endpoint.io}' of module {endpoint.module}, "
                f"expected one of: {_listing(manifest)}",
            )
            return False, None
        if io.kind not in wanted:
            rule = (
                "a connection out of a module must start at an output or a request"
                if side == "from"
                else "a connection into a module must end at an input or a handler"
            )
            self.report(location, field, f"{endpoint} is {_a(io.kind)}; {rule}")
            return False, None
        return True, io.kind

    def shape(
        self, connection: Connection, i: int, source: IoKind | None, target: IoKind | None
    ) -> bool:
        if (source, target) in LEGAL_SHAPES:
            return True
        src, tgt = connection.source, connection.target
        if source is IoKind.OUTPUT and target is IoKind.HANDLER:
            message = (
                f"{src} is wired to {tgt}, a handler: an output may only feed an input "
                "(a handler answers requests)"
            )
        elif source is IoKind.REQUEST and target is IoKind.INPUT:
            message = (
                f"{src} is a request; a request may only be wired to a handler, not to input {tgt}"
            )
        elif source is IoKind.REQUEST and target is None:
            message = (
                f"{src} is a request; a request may only be wired to a handler of a module, "
                "not to the operator"
            )
        else:  # operator -> operator is rejected structurally; kept for completeness
            message = f"{src} cannot be wired to {tgt}"
        self.report(connection.where("to"), f"connections[{i}].to", message)
        return False

    def connections(self) -> None:
        requests: dict[Endpoint, Connection] = {}
        for i, connection in enumerate(self.descriptor.connections):
            source_ok, source = self.end(connection, i, "from")
            target_ok, target = self.end(connection, i, "to")
            legal = source_ok and target_ok and self.shape(connection, i, source, target)
            if legal and source is IoKind.REQUEST:
                self.single_handler(connection, i, requests)
            self.suite(connection, i)

    def single_handler(
        self, connection: Connection, i: int, requests: dict[Endpoint, Connection]
    ) -> None:
        first = requests.setdefault(connection.source, connection)
        if first is connection:
            return
        line = f", line {first.location.line}" if first.location is not None else ""
        self.report(
            connection.where("from"),
            f"connections[{i}].from",
            f"request {connection.source} is already wired by connection '{first.name}'"
            f"{line}: a request has exactly one handler",
        )

    def node_of(self, module: str) -> Node | None:
        """The node ``module`` runs on, if the descriptor defines both (it does once loaded)."""
        try:
            return self.descriptor.node(self.descriptor.module(module).node)
        except KeyError:
            return None

    def tee_suites(self, module: str) -> tuple[str, ...]:
        node = self.node_of(module)
        return SUITES if node is None else TEE_SUITES.get(node.tee, SUITES)

    def suite(self, connection: Connection, i: int) -> None:
        if connection.suite is None:
            self.common_suite(connection, i)
            return
        field, location = f"connections[{i}].suite", connection.where("suite")
        for endpoint in (connection.source, connection.target):
            if endpoint.module is None:
                continue  # the operator supports every suite
            manifest = self.manifests.get(endpoint.module)
            if manifest is not None and connection.suite not in manifest.suites:
                self.report(
                    location,
                    field,
                    f"suite '{connection.suite}' is not supported by module {endpoint.module} "
                    f"(it supports: {', '.join(manifest.suites) or 'none'})",
                )
            # Caught structurally already for a loaded descriptor; kept for hand-built ones.
            node = self.node_of(endpoint.module)
            supported = self.tee_suites(endpoint.module)
            if node is not None and connection.suite not in supported:
                self.report(
                    location,
                    field,
                    f"suite {connection.suite} is not supported by {node.tee} node {node.name} "
                    f"(supports: {_list(supported)})",
                )

    def common_suite(self, connection: Connection, i: int) -> None:
        """Without a chosen suite, both manifests and both TEEs must share at least one."""
        usable: list[tuple[str, ...]] = []
        sides: list[str] = []
        for endpoint in (connection.source, connection.target):
            if endpoint.module is None:
                continue  # the operator supports every suite
            manifest = self.manifests.get(endpoint.module)
            if manifest is None:
                return  # reported once, under modules
            tee = self.tee_suites(endpoint.module)
            own = common_suites(manifest.suites, tee)
            usable.append(own)
            node = self.node_of(endpoint.module)
            where = "" if node is None else f"; {node.tee} node {node.name} supports {_list(tee)}"
            sides.append(
                f"{endpoint.module} can use {_list(own)} "
                f"(its manifest lists {_list(manifest.suites)}{where})"
            )
        if common_suites(*usable):
            return
        self.report(
            connection.location,
            f"connections[{i}]",
            f"{connection.source} and {connection.target} share no cipher suite: "
            + "; ".join(sides),
        )

    def periodic(self) -> None:
        for k, timer in enumerate(self.descriptor.periodic):
            manifest = self.manifests.get(timer.module)
            if manifest is None:
                continue
            field, location = f"periodic[{k}].entry", timer.where("entry")
            entry = manifest.find(IoKind.ENTRY, timer.entry)
            if entry is None:
                others = manifest.named(timer.entry)
                entries = ", ".join(e.name for e in manifest.of_kind(IoKind.ENTRY)) or "(none)"
                if others:
                    message = (
                        f"{timer.module}.{timer.entry} is {_a(others[0].kind)}, not an entry; "
                        f"periodic timers call entries (entries of {timer.module}: {entries})"
                    )
                else:
                    message = (
                        f"unknown entry '{timer.entry}' of module {timer.module}, "
                        f"expected one of: {entries}"
                    )
                self.report(location, field, message)
            elif not entry.public:
                self.report(
                    location,
                    field,
                    f"entry '{timer.entry}' of {timer.module} is not public: periodic timers "
                    "are run by the untrusted agent and may only call public entries",
                )


def check_interfaces(descriptor: Descriptor, manifests: Mapping[str, Manifest]) -> list[Problem]:
    """Every way the descriptor's wiring and timers disagree with the modules' manifests.

    ``manifests`` is keyed by module name (the descriptor's, not the code's).  An empty list
    means every connection has a legal shape (see :func:`connection_kind`).
    """
    checker = _InterfaceChecker(descriptor, manifests)
    checker.modules()
    checker.connections()
    checker.periodic()
    return checker.problems


def connection_kind(
    descriptor: Descriptor, manifests: Mapping[str, Manifest], connection: Connection
) -> ConnectionKind:
    """``event``, ``request``, ``direct-event``, ``direct-request`` or ``watch``.

    Meant for connections that passed :func:`check_interfaces`; anything else raises
    ``ValueError``.
    """
    kinds: list[IoKind | None] = []
    for endpoint, wanted in ((connection.source, SOURCE_KINDS), (connection.target, TARGET_KINDS)):
        if endpoint.module is None or endpoint.io is None:
            kinds.append(None)
            continue
        descriptor.module(endpoint.module)  # KeyError for a module the descriptor lacks
        manifest = manifests.get(endpoint.module)
        io = None if manifest is None else _resolve(manifest, endpoint.io, wanted)
        if io is None:
            raise ValueError(f"connection '{connection.name}': cannot resolve {endpoint}")
        kinds.append(io.kind)
    kind = LEGAL_SHAPES.get((kinds[0], kinds[1]))
    if kind is None:
        raise ValueError(
            f"connection '{connection.name}' ({connection.source} -> {connection.target}) "
            "has no legal shape; run check_interfaces first"
        )
    return kind
