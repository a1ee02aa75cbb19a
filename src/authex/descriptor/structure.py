"""Structural validation: from plain YAML values to a :class:`Descriptor`, or a list of problems.

Checks the shape and meaning of the descriptor on its own (no manifests): required, unknown and
wrongly typed fields, names, supported TEEs/languages/suites, duplicates, port clashes, references
between sections, endpoint syntax, intervals, TEE-specific module fields (allowed only on the
TEEs they apply to) and cipher suites the TEEs of both connection ends can run.  It never stops
at the first mistake: every section is read as far as it can be, and all problems are returned
together.  It is pure — the one filesystem question (does a source folder, or the trust file,
exist?) is asked through a function passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from authex import kinds
from authex.descriptor.model import (
    DEFAULT_MODULE_MEMORY,
    DEFAULT_VENDOR_ID,
    LANGUAGES,
    MAX_MODULE_MEMORY,
    MIN_MODULE_MEMORY,
    NO_MEMORY_FIELD,
    OPERATOR,
    SUITES,
    TEE_SUITES,
    TEES,
    Connection,
    Descriptor,
    Endpoint,
    Location,
    ModuleSpec,
    Node,
    Periodic,
    Policy,
    Problem,
)
from authex.descriptor.suites import common_suites
from authex.descriptor.values import (
    APP_NAME_SYNTAX,
    IDENTIFIER_SYNTAX,
    describe,
    is_app_name,
    is_identifier,
    parse_endpoint,
    parse_interval,
    parse_size,
)
from authex.descriptor.yamltree import FieldPath, Tree, format_path

PathKind = Literal["source", "trust"]  # a module's source folder, or the operator's trust file
# (resolved path, kind) -> None if it exists as that kind needs, else a message
PathCheck = Callable[[Path, PathKind], str | None]

TOP_FIELDS = {"name": True, "policy": False, "trust": False, "nodes": True, "modules": True}
TOP_FIELDS |= {"connections": False, "periodic": False}
POLICY_FIELDS = {"allow_emulated": False, "allow_debug": False, "min_isv_svn": False}
NODE_FIELDS = {"name": True, "tee": True, "host": True, "port": True}
MODULE_FIELDS = {"name": True, "node": True, "language": True, "source": True}
MODULE_FIELDS |= {"vendor_id": False, "isv_prod_id": False, "isv_svn": False, "debug": False}
MODULE_FIELDS |= {"cflags": False, "memory": False}
# C compiler flags the deployer sets itself (the build contract, docs/sdk-c.md).
RESERVED_CFLAGS = (
    "-o",
    "AUTHEX_OPERATOR_KEY",
    "AUTHEX_MODULE_NAME",
    "AUTHEX_NO_OPENSSL",
    "AUTHEX_COMPACT",
)
# The TEE-specific module fields (those some kinds in authex/kinds.py accept), the TEEs each
# applies to, and those TEEs as written in messages ("sancus or trustzone nodes").
MODULE_TEE_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    name: (tees, " or ".join(sorted(tees)) + " nodes")
    for name in MODULE_FIELDS
    if (tees := kinds.accepting(name))
}
CONNECTION_FIELDS = {"from": True, "to": True, "name": False, "suite": False}
PERIODIC_FIELDS = {"module": True, "entry": True, "every": True}


MISSING = object()  # a field that is not written at all (as opposed to written as null)


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


class _Checker:
    def __init__(self, tree: Tree, path: Path, path_check: PathCheck) -> None:
        self.tree = tree
        self.base = path.parent
        self.path_check = path_check
        self.problems: list[Problem] = list(tree.problems)

    # -- reporting ---------------------------------------------------------------------------

    def report(
        self, path: FieldPath, message: str, *, key: bool = False, at: FieldPath | None = None
    ) -> None:
        if path in self.tree.broken:
            return  # already reported by the YAML reader (bad tag, alias loop, ...)
        location = self.tree.location(path if at is None else at, key=key)
        self.problems.append(Problem(location, format_path(path), message))

    def where(self, path: FieldPath) -> Location | None:
        return self.tree.location(path)

    def line(self, path: FieldPath) -> str:
        location = self.where(path)
        return f"line {location.line}" if location is not None else "an earlier entry"

    def sub_locations(self, path: FieldPath, entry: dict[str, object]) -> dict[str, Location]:
        found = {name: self.where((*path, name)) for name in entry}
        return {name: loc for name, loc in found.items() if loc is not None}

    # -- generic field readers ---------------------------------------------------------------

    def mapping(
        self, path: FieldPath, value: object, fields: dict[str, bool], what: str
    ) -> dict[str, object] | None:
        """Check ``value`` is a mapping with no unknown and no missing required fields."""
        if not isinstance(value, dict):
            self.report(path, f"expected {what} (a mapping), got {describe(value)}")
            return None
        expected = ", ".join(fields)
        for name in value:
            if name not in fields:
                self.report(
                    (*path, name),
                    f"unknown field '{name}', expected one of: {expected}",
                    key=True,
                )
        for name, required in fields.items():
            if required and name not in value:
                self.report((*path, name), f"missing required field '{name}'", at=path)
        return {k: v for k, v in value.items() if k in fields}

    def string(self, path: FieldPath, value: object, what: str) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.report(path, f"expected {what}, got {describe(value)}")
        return None

    def boolean(self, path: FieldPath, value: object) -> bool | None:
        if isinstance(value, bool):
            return value
        self.report(path, f"expected true or false, got {describe(value)}")
        return None

    def u16(self, path: FieldPath, value: object) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF:
            return value
        self.report(path, f"expected an integer 0..65535, got {describe(value)}")
        return None

    def identifier(self, path: FieldPath, value: object) -> str | None:
        if isinstance(value, str) and is_identifier(value):
            return value
        self.report(path, f"expected an identifier ({IDENTIFIER_SYNTAX}), got {describe(value)}")
        return None

    def choice(
        self, path: FieldPath, value: object, options: tuple[str, ...], what: str
    ) -> str | None:
        if isinstance(value, str) and value in options:
            return value
        self.report(
            path, f"unknown {what} {describe(value)}, expected one of: {', '.join(options)}"
        )
        return None

    def entries(self, path: FieldPath, value: object, what: str, *, required: bool) -> list[object]:
        """The items of a list section (empty if it is absent or unreadable, which is reported)."""
        if value is MISSING or (value is None and not required):
            return []  # a missing required section is reported by mapping()
        if not isinstance(value, list):
            hint = " (start each entry with '- ')" if isinstance(value, dict) else ""
            self.report(path, f"expected a list of {what}, got {describe(value)}{hint}")
            return []
        if required and not value:
            self.report(path, f"expected a non-empty list of {what}, got an empty list")
        return value

    def reference(
        self, path: FieldPath, value: object, known: set[str] | None, what: str
    ) -> str | None:
        """A name that must be defined elsewhere; ``known`` is None if that section is unusable."""
        if isinstance(value, str) and known is not None and value in known:
            return value
        name = self.identifier(path, value)
        if name is not None and known is not None:
            self.report(path, f"unknown {what} '{name}', expected one of: {_names(known)}")
            return None
        return name

    # -- sections ----------------------------------------------------------------------------

    def policy(self, value: object) -> Policy:
        if value is None:
            return Policy()
        fields = self.mapping(("policy",), value, POLICY_FIELDS, "the policy")
        if fields is None:
            return Policy()
        default = Policy()
        allow_emulated = allow_debug = None
        if "allow_emulated" in fields:
            allow_emulated = self.boolean(("policy", "allow_emulated"), fields["allow_emulated"])
        if "allow_debug" in fields:
            allow_debug = self.boolean(("policy", "allow_debug"), fields["allow_debug"])
        min_isv_svn = None
        if "min_isv_svn" in fields:
            min_isv_svn = self.u16(("policy", "min_isv_svn"), fields["min_isv_svn"])
        return Policy(
            allow_emulated=default.allow_emulated if allow_emulated is None else allow_emulated,
            allow_debug=default.allow_debug if allow_debug is None else allow_debug,
            min_isv_svn=default.min_isv_svn if min_isv_svn is None else min_isv_svn,
        )

    def trust(self, value: object) -> Path | None:
        if value is MISSING:
            return None
        return self.existing(("trust",), value, "trust", "a trust file path (a string)")

    def nodes(self, value: object) -> tuple[list[Node], set[str] | None]:
        nodes: list[Node] = []
        # Every node name written down, valid or not, so that references to a node whose entry
        # has a mistake do not cascade into "unknown node" problems; None: section unreadable.
        mentioned: set[str] | None = set() if isinstance(value, list) else None
        seen: dict[str, FieldPath] = {}
        endpoints: dict[tuple[str, int], tuple[str, FieldPath]] = {}
        for i, raw in enumerate(self.entries(("nodes",), value, "nodes", required=True)):
            path: FieldPath = ("nodes", i)
            entry = self.mapping(path, raw, NODE_FIELDS, "a node")
            if entry is None:
                continue
            if isinstance(entry.get("name"), str) and mentioned is not None:
                mentioned.add(str(entry["name"]))
            name = self.identifier((*path, "name"), entry["name"]) if "name" in entry else None
            tee = self.choice((*path, "tee"), entry["tee"], TEES, "tee") if "tee" in entry else None
            host = None
            if "host" in entry:
                host = self.string((*path, "host"), entry["host"], "a host name or address")
            port = self.port((*path, "port"), entry["port"]) if "port" in entry else None
            if name is not None:
                if name in seen:
                    self.report(
                        (*path, "name"),
                        f"duplicate node name '{name}' (first defined at {self.line(seen[name])})",
                    )
                    name = None
                else:
                    seen[name] = (*path, "name")
            if host is not None and port is not None:
                address = (host.lower(), port)
                if address in endpoints:
                    other, other_path = endpoints[address]
                    self.report(
                        (*path, "port"),
                        f"port clash: {host}:{port} is already used by node '{other}' "
                        f"({self.line(other_path)})",
                    )
                else:
                    endpoints[address] = (str(entry.get("name")), (*path, "port"))
            if name is not None and tee is not None and host is not None and port is not None:
                nodes.append(Node(name, tee, host, port, self.where(path)))
        return nodes, mentioned

    def port(self, path: FieldPath, value: object) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
            return value
        self.report(path, f"expected an integer 1..65535, got {describe(value)}")
        return None

    def modules(
        self, value: object, node_names: set[str] | None, tees: dict[str, str]
    ) -> tuple[list[ModuleSpec], set[str] | None]:
        """The valid modules and every module name written; ``tees``: valid node -> its tee."""
        modules: list[ModuleSpec] = []
        mentioned: set[str] | None = set() if isinstance(value, list) else None
        seen: dict[str, FieldPath] = {}
        for i, raw in enumerate(self.entries(("modules",), value, "modules", required=True)):
            path: FieldPath = ("modules", i)
            entry = self.mapping(path, raw, MODULE_FIELDS, "a module")
            if entry is None:
                continue
            if isinstance(entry.get("name"), str) and mentioned is not None:
                mentioned.add(str(entry["name"]))
            name = self.module_name(path, entry, seen)
            node = None
            if "node" in entry:
                node = self.reference((*path, "node"), entry["node"], node_names, "node")
            language = None
            if "language" in entry:
                language = self.choice(
                    (*path, "language"), entry["language"], LANGUAGES, "language"
                )
            source = None
            if "source" in entry:
                source = self.existing(
                    (*path, "source"), entry["source"], "source", "a source folder path (a string)"
                )
            attributes = self.tee_attributes(path, entry, node, tees.get(node or ""))
            cflags = self.cflags(path, entry, language)
            memory = self.memory(path, entry, node, tees.get(node or ""))
            if (
                name is not None
                and node is not None
                and language is not None
                and source is not None
                and attributes is not None
                and cflags is not None
                and memory is not None
            ):
                numbers, flags = attributes
                spots = self.sub_locations(path, entry)
                modules.append(
                    ModuleSpec(
                        name,
                        node,
                        language,
                        source,
                        self.where(path),
                        spots,
                        vendor_id=numbers.get("vendor_id", DEFAULT_VENDOR_ID),
                        isv_prod_id=numbers.get("isv_prod_id", 0),
                        isv_svn=numbers.get("isv_svn", 0),
                        debug=flags.get("debug", False),
                        cflags=cflags,
                        memory=memory,
                    )
                )
        return modules, mentioned

    def cflags(
        self, path: FieldPath, entry: dict[str, object], language: str | None
    ) -> tuple[str, ...] | None:
        """The extra C compiler flags of a ``language: c`` module; None if they are wrong."""
        if "cflags" not in entry:
            return ()
        field_path = (*path, "cflags")
        value = entry["cflags"]
        if language is not None and language != "c":
            self.report(field_path, f"cflags applies to modules in c; this one is in {language}")
            return None
        if not isinstance(value, list) or not all(isinstance(flag, str) for flag in value):
            self.report(field_path, f"expected a list of strings, got {describe(value)}")
            return None
        for index, flag in enumerate(value):
            reserved = [
                word
                for word in RESERVED_CFLAGS
                if flag.startswith(word) or (word.startswith("AUTHEX") and word in flag)
            ]
            if reserved or not flag.startswith("-"):
                why = (
                    f"{reserved[0]} is set by the deployer"
                    if reserved
                    else "a flag starts with '-' (sources are every .c file of the source folder)"
                )
                self.report((*field_path, index), f"cflags entry {flag!r} is not allowed: {why}")
                return None
        return tuple(value)

    def memory(
        self, path: FieldPath, entry: dict[str, object], node: str | None, tee: str | None
    ) -> int | None:
        """A module's memory limit in bytes (the default if not written); None if it is wrong."""
        if "memory" not in entry:
            return DEFAULT_MODULE_MEMORY
        field_path = (*path, "memory")
        if tee in NO_MEMORY_FIELD:
            self.report(
                field_path,
                f"memory does not apply to modules on {tee} nodes (node {node}): a {tee} "
                "module's memory is the device's (48 KiB for Sancus; its emulation gives the "
                "module process the default limit); remove the field",
            )
            return None
        try:
            return parse_size(entry["memory"], MIN_MODULE_MEMORY, MAX_MODULE_MEMORY)
        except ValueError as exc:
            self.report(field_path, str(exc))
            return None

    def tee_attributes(
        self, path: FieldPath, entry: dict[str, object], node: str | None, tee: str | None
    ) -> tuple[dict[str, int], dict[str, bool]] | None:
        """The TEE-specific fields written in a module ``entry`` (integers, flags); None if one
        of them is wrong.

        A field on a module whose node runs another TEE is reported (and its value is not
        checked); if the node is not known (a mistake reported elsewhere) only the value is.
        """
        numbers: dict[str, int] = {}
        flags: dict[str, bool] = {}
        fine = True
        for name, (applies_to, where) in MODULE_TEE_FIELDS.items():
            if name not in entry:
                continue
            field_path = (*path, name)
            if tee is not None and tee not in applies_to:
                message = f"{name} applies to modules on {where}; node {node} runs {tee}"
                self.report(field_path, message)
                fine = False
            elif name == "debug":
                flag = self.boolean(field_path, entry[name])
                if flag is None:
                    fine = False
                else:
                    flags[name] = flag
            else:
                number = self.u16(field_path, entry[name])
                if number is None:
                    fine = False
                else:
                    numbers[name] = number
        return (numbers, flags) if fine else None

    def module_name(
        self, path: FieldPath, entry: dict[str, object], seen: dict[str, FieldPath]
    ) -> str | None:
        if "name" not in entry:
            return None
        name = self.identifier((*path, "name"), entry["name"])
        if name is None:
            return None
        if name == OPERATOR:
            self.report(
                (*path, "name"),
                "'operator' is reserved (it names the operator in connections); "
                "choose another module name",
            )
            return None
        if name in seen:
            self.report(
                (*path, "name"),
                f"duplicate module name '{name}' (first defined at {self.line(seen[name])})",
            )
            return None
        seen[name] = (*path, "name")
        return name

    def existing(self, path: FieldPath, value: object, kind: PathKind, what: str) -> Path | None:
        """A path relative to the descriptor's folder that must exist; absolute and resolved."""
        text = self.string(path, value, what)
        if text is None:
            return None
        if "\0" in text:
            self.report(path, f"expected {what}, got a path containing a NUL character")
            return None
        try:
            resolved = (self.base / text).resolve()
        except (OSError, ValueError) as exc:
            self.report(path, f"cannot resolve the path {describe(text)}: {exc}")
            return None
        trouble = self.path_check(resolved, kind)
        if trouble is not None:
            self.report(path, trouble)
            return None
        return resolved

    def connections(
        self, value: object, module_names: set[str] | None, placement: dict[str, Node]
    ) -> list[Connection]:
        """The valid connections; ``placement``: each valid module -> the (valid) node it is on."""
        connections: list[Connection] = []
        seen: dict[str, FieldPath] = {}
        for i, raw in enumerate(
            self.entries(("connections",), value, "connections", required=False)
        ):
            path: FieldPath = ("connections", i)
            before = len(self.problems)
            entry = self.mapping(path, raw, CONNECTION_FIELDS, "a connection")
            if entry is None:
                continue
            source = self.endpoint((*path, "from"), entry, module_names)
            target = self.endpoint((*path, "to"), entry, module_names)
            suite = None
            if entry.get("suite") is not None:
                suite = self.choice((*path, "suite"), entry["suite"], SUITES, "suite")
            if source is not None and target is not None:
                if source.is_operator and target.is_operator:
                    self.report(
                        (*path, "to"),
                        "a connection from the operator to the operator is meaningless: "
                        "at least one end must be a module",
                    )
                    source = None
                elif source.module is not None and source.module == target.module:
                    self.report(
                        (*path, "to"),
                        f"self-connection: {source} is wired into the same module "
                        f"'{source.module}'; a module cannot send events to itself",
                    )
                    source = None
            if source is not None and target is not None:
                given = entry.get("suite") is not None
                self.tee_suites(path, (source, target), suite, given, placement)
            name = self.connection_name(path, entry, seen)
            clean = len(self.problems) == before
            if clean and source is not None and target is not None and name is not None:
                spots = self.sub_locations(path, entry)
                connections.append(Connection(name, source, target, suite, self.where(path), spots))
        return connections

    def tee_suites(
        self,
        path: FieldPath,
        ends: tuple[Endpoint, Endpoint],
        suite: str | None,
        given: bool,
        placement: dict[str, Node],
    ) -> None:
        """The connection's suite (if ``given``; None if unknown) or, if none is given, at least
        one suite must be supported by the TEEs of both ends."""
        nodes: list[Node | None] = []
        for endpoint in ends:
            node = None if endpoint.module is None else placement.get(endpoint.module)
            if endpoint.module is not None and (node is None or node.tee not in TEE_SUITES):
                return  # the module's entry, or its node's, has a mistake reported elsewhere
            nodes.append(node)
        if given:  # suite is None if it is unknown, which is reported already
            lacking = {n.name: n for n in nodes if n is not None and suite not in TEE_SUITES[n.tee]}
            for node in lacking.values() if suite is not None else ():
                self.report(
                    (*path, "suite"),
                    f"suite {suite} is not supported by {node.tee} node {node.name} "
                    f"(supports: {', '.join(TEE_SUITES[node.tee]) or 'none'})",
                )
            return
        if common_suites(*(SUITES if n is None else TEE_SUITES[n.tee] for n in nodes)):
            return
        sides = [
            f"{n.tee} node {n.name} supports {', '.join(TEE_SUITES[n.tee]) or 'none'}"
            for n in nodes
            if n is not None
        ]
        self.report(
            path,
            f"{ends[0]} and {ends[1]} share no cipher suite: {'; '.join(sides)}",
        )

    def endpoint(
        self, path: FieldPath, entry: dict[str, object], module_names: set[str] | None
    ) -> Endpoint | None:
        if path[-1] not in entry:
            return None
        value = entry[path[-1]]
        if not isinstance(value, str):
            self.report(path, f"expected MODULE.IO or 'operator', got {describe(value)}")
            return None
        try:
            endpoint = parse_endpoint(value)
        except ValueError as exc:
            self.report(path, str(exc))
            return None
        if module_names is not None and endpoint.module not in (None, *module_names):
            self.report(
                path,
                f"unknown module '{endpoint.module}', expected one of: {_names(module_names)}",
            )
            return None
        return endpoint

    def connection_name(
        self, path: FieldPath, entry: dict[str, object], seen: dict[str, FieldPath]
    ) -> str | None:
        if "name" in entry:
            name = self.string((*path, "name"), entry["name"], "a connection name (a string)")
            at: FieldPath = (*path, "name")
        else:
            source, target = entry.get("from"), entry.get("to")
            if not (isinstance(source, str) and isinstance(target, str)):
                return None
            name, at = f"{source}->{target}", path
        if name is None:
            return None
        if name in seen:
            hint = "" if "name" in entry else "; give one of them a distinct 'name'"
            self.report(
                (*path, "name"),
                f"duplicate connection name '{name}' (first defined at {self.line(seen[name])})"
                + hint,
                at=at,
            )
            return None
        seen[name] = at
        return name

    def periodic(self, value: object, module_names: set[str] | None) -> list[Periodic]:
        timers: list[Periodic] = []
        for i, raw in enumerate(
            self.entries(("periodic",), value, "periodic timers", required=False)
        ):
            path: FieldPath = ("periodic", i)
            entry = self.mapping(path, raw, PERIODIC_FIELDS, "a periodic timer")
            if entry is None:
                continue
            module = None
            if "module" in entry:
                module = self.reference((*path, "module"), entry["module"], module_names, "module")
            entry_name = None
            if "entry" in entry:
                entry_name = self.identifier((*path, "entry"), entry["entry"])
            interval = self.interval((*path, "every"), entry.get("every", MISSING))
            if module is not None and entry_name is not None and interval is not None:
                spots = self.sub_locations(path, entry)
                timers.append(Periodic(module, entry_name, interval, self.where(path), spots))
        return timers

    def interval(self, path: FieldPath, value: object) -> int | None:
        if value is MISSING:
            return None
        if not isinstance(value, str):
            self.report(
                path,
                f"expected an interval such as 500ms, 5s or 2m, got {describe(value)}"
                " (write a whole number followed by a unit: ms, s or m)",
            )
            return None
        try:
            return parse_interval(value)
        except ValueError as exc:
            self.report(path, str(exc))
            return None


def validate(tree: Tree, path: Path, path_check: PathCheck) -> Descriptor | list[Problem]:
    """Build the descriptor from ``tree`` or return every problem found (never both)."""
    checker = _Checker(tree, path, path_check)
    if tree.problems and tree.value is None:
        return checker.problems
    top = checker.mapping((), tree.value, TOP_FIELDS, "a descriptor")
    if top is None:
        return checker.problems
    name = None
    if "name" in top:
        name = top["name"]
        if not (isinstance(name, str) and is_app_name(name)):
            checker.report(
                ("name",),
                f"expected a descriptor name ({APP_NAME_SYNTAX}), got {describe(name)}",
            )
            name = None
    policy = checker.policy(top.get("policy"))
    trust = checker.trust(top.get("trust", MISSING))
    nodes, node_names = checker.nodes(top.get("nodes", MISSING))
    by_name = {node.name: node for node in nodes}
    tees = {node.name: node.tee for node in nodes}
    modules, module_names = checker.modules(top.get("modules", MISSING), node_names, tees)
    if module_names is not None:
        module_names.discard(OPERATOR)
    placement = {m.name: by_name[m.node] for m in modules if m.node in by_name}
    connections = checker.connections(top.get("connections"), module_names, placement)
    periodic = checker.periodic(top.get("periodic"), module_names)
    if checker.problems or not isinstance(name, str):
        return checker.problems
    return Descriptor(
        name=name,
        path=path,
        nodes=tuple(nodes),
        modules=tuple(modules),
        connections=tuple(connections),
        periodic=tuple(periodic),
        policy=policy,
        trust=trust,
    )
