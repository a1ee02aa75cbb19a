"""Typed, frozen models of a deployment descriptor, and the problems found while reading one.

Everything here is plain data: the loader (``loader.py``) and the validators (``structure.py``,
``interfaces.py``) build these objects; the deployer and the CLI only read them.  Every model that
comes from the descriptor file remembers where it was written (``location``), so later checks —
for example against module manifests — can still name the exact line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from authex import kinds
from authex.errors import DescriptorError
from authex.wire.platform import DEFAULT_MEMORY

# The TEE kinds, their suites and their module fields come from the registry (authex/kinds.py).
TEES: tuple[str, ...] = kinds.names()
LANGUAGES: tuple[str, ...] = ("python", "rust", "c")
SUITES: tuple[str, ...] = kinds.SUITES  # preference order
# The cipher suites each kind of TEE can run, in preference order.  Sancus hardware has only its
# SpongeWrap engine; the operator (no TEE) supports every suite.
TEE_SUITES: dict[str, tuple[str, ...]] = {k.name: k.suites for k in kinds.KINDS}
DEFAULT_VENDOR_ID = 4660  # 0x1234
OPERATOR = "operator"  # the word for the operator in connection endpoints; a reserved module name
# A module's ``memory``: what its process may allocate (docs/descriptor.md, "Memory").  A Python
# module needs some 16 MiB to start.  Sancus modules take no ``memory``: the device's is fixed.
DEFAULT_MODULE_MEMORY = DEFAULT_MEMORY  # 256 MiB
MIN_MODULE_MEMORY = 16 << 20
MAX_MODULE_MEMORY = 1 << 40
NO_MEMORY_FIELD = ("sancus",)  # kinds whose modules' memory is the device's, not the descriptor's


@dataclass(frozen=True)
class Location:
    """A place in a descriptor file; ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a descriptor: where, which field (``connections[2].to``), and what."""

    location: Location | None
    field: str
    message: str

    def __str__(self) -> str:
        parts = [str(self.location)] if self.location is not None else []
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


def _problem_order(problem: Problem) -> tuple[str, int, int]:
    loc = problem.location
    return ("", 0, 0) if loc is None else (loc.file, loc.line, loc.column)


def sorted_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in reading order (those without a location first); stable for equal places."""
    return sorted(problems, key=_problem_order)


class DescriptorProblems(DescriptorError):
    """Every problem found in a descriptor, reported together; ``str()`` gives one per line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid descriptor")

    def __reduce__(self) -> tuple[type[DescriptorProblems], tuple[tuple[Problem, ...]]]:
        return (DescriptorProblems, (self.problems,))


def _no_locations() -> Mapping[str, Location]:
    return {}


@dataclass(frozen=True)
class Node:
    """A machine (or process) that runs an agent and hosts modules in one kind of TEE."""

    name: str
    tee: str
    host: str
    port: int
    location: Location | None = None

    @property
    def address(self) -> str:
        """``host:port``, as agents route to each other and routes are recorded."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ModuleSpec:
    """A module as the operator placed it: which code (``source``), in which language, where."""

    name: str
    node: str
    language: str
    source: Path  # absolute and resolved
    location: Location | None = None
    # Where each sub-field was written ("language", "source", ...); not part of equality.
    field_locations: Mapping[str, Location] = field(
        default_factory=_no_locations, compare=False, repr=False
    )
    # TEE-specific attributes (after the others, so positional constructors keep working).
    vendor_id: int = DEFAULT_VENDOR_ID  # Sancus / TrustZone module vendor id, 0..65535
    isv_prod_id: int = 0  # SGX enclave product id, 0..65535
    isv_svn: int = 0  # SGX enclave security version number, 0..65535
    debug: bool = False  # SGX: build and launch the enclave in debug mode
    cflags: tuple[str, ...] = ()  # language c: extra compiler flags (docs/sdk-c.md)
    memory: int = DEFAULT_MODULE_MEMORY  # bytes its process may allocate (RLIMIT_DATA)

    def where(self, name: str) -> Location | None:
        """The location of sub-field ``name`` if known, else of the whole entry."""
        return self.field_locations.get(name, self.location)


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: ``module.io``, or the operator (both fields ``None``)."""

    module: str | None
    io: str | None

    @property
    def is_operator(self) -> bool:
        return self.module is None

    def __str__(self) -> str:
        return OPERATOR if self.module is None else f"{self.module}.{self.io}"


@dataclass(frozen=True)
class Connection:
    """A wire from an output or request (or the operator) to an input or handler (or operator)."""

    name: str
    source: Endpoint
    target: Endpoint
    suite: str | None = None
    location: Location | None = None
    # Where each sub-field was written ("from", "to", "suite", "name"); not part of equality.
    field_locations: Mapping[str, Location] = field(
        default_factory=_no_locations, compare=False, repr=False
    )

    def where(self, name: str) -> Location | None:
        """The location of sub-field ``name`` if known, else of the whole entry."""
        return self.field_locations.get(name, self.location)


@dataclass(frozen=True)
class Periodic:
    """A timer, run by the node's agent, that calls a public entry every ``interval_ms``."""

    module: str
    entry: str
    interval_ms: int
    location: Location | None = None
    # Where each sub-field was written ("module", "entry", "every"); not part of equality.
    field_locations: Mapping[str, Location] = field(
        default_factory=_no_locations, compare=False, repr=False
    )

    def where(self, name: str) -> Location | None:
        """The location of sub-field ``name`` if known, else of the whole entry."""
        return self.field_locations.get(name, self.location)


@dataclass(frozen=True)
class Policy:
    """Deployment-wide security choices."""

    allow_emulated: bool = False  # accept evidence from emulated TEE platforms
    allow_debug: bool = False  # accept evidence from SGX enclaves running in debug mode
    min_isv_svn: int = 0  # the lowest SGX enclave security version number accepted, 0..65535


@dataclass(frozen=True)
class Descriptor:
    """A whole, structurally valid deployment descriptor."""

    name: str
    path: Path
    nodes: tuple[Node, ...]
    modules: tuple[ModuleSpec, ...]
    connections: tuple[Connection, ...]
    periodic: tuple[Periodic, ...]
    policy: Policy = Policy()
    trust: Path | None = None  # the operator's trust file, absolute and resolved

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def module(self, name: str) -> ModuleSpec:
        for module in self.modules:
            if module.name == name:
                return module
        raise KeyError(name)

    def modules_on(self, node_name: str) -> list[ModuleSpec]:
        return [m for m in self.modules if m.node == node_name]

    def connection(self, name: str) -> Connection:
        for connection in self.connections:
            if connection.name == name:
                return connection
        raise KeyError(name)
