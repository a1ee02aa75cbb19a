"""The developer-facing API of the Python module SDK: ``Module`` declarations and ``Context``.

A module's ``main.py`` creates exactly one ``Module`` at module level and declares its interface
with it: ``outputs(...)`` and ``requests(...)`` name what the module sends, and the ``input``,
``entry`` and ``handler`` decorators register the callbacks that receive.  Declaring is pure
bookkeeping: the decorators validate names and signatures (raising ``ManifestError`` that names
the function) and return the function unchanged, so module code stays ordinary Python.

Callbacks receive a ``Context`` that is the module's only way to talk to the world: ``emit`` on an
output, ``request`` a handler's reply, ``log`` to stderr.  The context checks names, types and size
limits itself and delegates the actual sending to whatever runs the module (the runtime inside the
module process, or ``authex.sdk.testing.LocalHarness`` in a unit test).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar, overload

from authex.crypto.suites import TAG_SIZE
from authex.errors import AuthexError, ManifestError
from authex.manifest import Endpoint, IoKind, Manifest, assign_ids
from authex.wire.codec import DEFAULT_MAX_FRAME

F = TypeVar("F", bound=Callable[..., Any])

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
# A sealed event travels as HostEmit/HostDeliver/Event: conn u32, direction u8, counter u64 and
# a u32 length prefix before the ciphertext, which carries a 16-byte tag.
MAX_EVENT_PAYLOAD = DEFAULT_MAX_FRAME - (4 + 1 + 8 + 4) - TAG_SIZE
# An entry's result travels as HostCallResult: status u8 and a u32 length, possibly sealed.
MAX_RESULT_PAYLOAD = DEFAULT_MAX_FRAME - (1 + 4) - TAG_SIZE
# ctx.seal data travels hex-encoded with the keys in one SealRequest of at most 1 MiB.
MAX_SEALED_DATA = 256 << 10


class RequestError(AuthexError):
    """``ctx.request`` could not get a reply: the request is not connected or the reply is bad."""


Callback = Callable[["Context", bytes], object]


@dataclass(frozen=True)
class Registered:
    """A callback registered for an input, entry or handler."""

    kind: IoKind
    name: str
    function: Callback
    public: bool = False


def _describe(fn: object) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return f"function {name}" if isinstance(name, str) else repr(fn)


def check_name(kind: IoKind, name: object, where: str) -> str:
    """Return ``name`` if it is a valid interface name; else ManifestError naming ``where``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ManifestError(
            f"{kind.value} name {name!r} is invalid: use letters, digits, '_' or '-', "
            "starting with a letter or '_', at most 64 characters",
            where=where,
        )
    return name


def _check_callback(kind: IoKind, fn: object) -> None:
    if not callable(fn):
        raise ManifestError(f"@{kind.value} must decorate a function, got {type(fn).__name__}")
    where = _describe(fn)
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise ManifestError(
            f"{kind.value} callbacks must be plain functions, not async", where=where
        )
    if inspect.isgeneratorfunction(fn):
        raise ManifestError(f"{kind.value} callbacks must return, not yield", where=where)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"cannot read the signature: {exc}", where=where) from exc
    try:
        signature.bind(None, b"")
    except TypeError as exc:
        raise ManifestError(
            f"a {kind.value} is called as fn(ctx, data) but its signature is {signature}",
            where=where,
        ) from exc


def as_reply(value: object, what: str) -> bytes:
    """Normalise a callback's return value to bytes (None means empty); TypeError otherwise."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{what} returned {type(value).__name__}, expected bytes")


class Module:
    """The interface of one module: declare it once, at module level of ``main.py``."""

    def __init__(self, *, persistent: bool = False) -> None:
        self._declared: dict[IoKind, dict[str, Registered | None]] = {kind: {} for kind in IoKind}
        # Persistent: the platform seals the module's keys, counters and ctx.seal() data before
        # anything the module produces leaves it, and a restarted module resumes from them.
        self.persistent = persistent

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(v)} {k.value}s" for k, v in self._declared.items() if v)
        return f"Module({counts or 'empty'})"

    # --- declarations ---------------------------------------------------------------------

    def outputs(self, *names: str) -> None:
        """Declare outputs: ``ctx.emit(name, data)`` sends on every connection from them."""
        for name in names:
            self._add(IoKind.OUTPUT, name, None, where=f"output {name!r}")

    def requests(self, *names: str) -> None:
        """Declare requests: ``ctx.request(name, data)`` returns the connected handler's reply."""
        for name in names:
            self._add(IoKind.REQUEST, name, None, where=f"request {name!r}")

    @overload
    def input(self, name: F) -> F: ...
    @overload
    def input(self, name: str | None = None) -> Callable[[F], F]: ...
    def input(self, name: str | Callable[..., Any] | None = None) -> Any:
        """Register ``fn(ctx, data) -> None`` to run for every event arriving on this input."""
        return self._decorator(IoKind.INPUT, name, public=False)

    @overload
    def entry(self, name: F) -> F: ...
    @overload
    def entry(self, name: str | None = None, *, public: bool = False) -> Callable[[F], F]: ...
    def entry(self, name: str | Callable[..., Any] | None = None, *, public: bool = False) -> Any:
        """Register ``fn(ctx, arg) -> bytes``, called by the operator (or a timer if public)."""
        return self._decorator(IoKind.ENTRY, name, public=public)

    @overload
    def handler(self, name: F) -> F: ...
    @overload
    def handler(self, name: str | None = None) -> Callable[[F], F]: ...
    def handler(self, name: str | Callable[..., Any] | None = None) -> Any:
        """Register ``fn(ctx, data) -> bytes`` answering requests connected to this handler."""
        return self._decorator(IoKind.HANDLER, name, public=False)

    def _decorator(self, kind: IoKind, name: object, *, public: bool) -> Any:
        if callable(name):  # used bare, without parentheses
            return self._register(kind, None, public, name)
        if name is not None and not isinstance(name, str):
            raise ManifestError(f"@{kind.value} name must be a string, got {type(name).__name__}")
        if not isinstance(public, bool):
            raise ManifestError(f"@{kind.value}(public=...) must be True or False")

        def decorate(fn: F) -> F:
            return self._register(kind, name, public, fn)

        return decorate

    def _register(self, kind: IoKind, name: str | None, public: bool, fn: F) -> F:
        _check_callback(kind, fn)
        where = _describe(fn)
        if name is None:
            name = getattr(fn, "__name__", None)
        self._add(kind, name, Registered(kind, str(name), fn, public), where=where)
        return fn

    def _add(self, kind: IoKind, name: object, registered: Registered | None, where: str) -> None:
        checked = check_name(kind, name, where)
        existing = self._declared[kind]
        if checked in existing:
            previous = existing[checked]
            also = f" (already used by {_describe(previous.function)})" if previous else ""
            raise ManifestError(f"{kind.value} {checked!r} is declared twice{also}", where=where)
        existing[checked] = registered

    # --- queries used by the build, the runtime and the harness ----------------------------

    def names(self, kind: IoKind) -> list[str]:
        return sorted(self._declared[kind])

    def declared(self) -> dict[IoKind, dict[str, bool]]:
        """``declared[kind][name]`` = is-public, the input of ``manifest.assign_ids``."""
        return {
            kind: {name: bool(reg and reg.public) for name, reg in names.items()}
            for kind, names in self._declared.items()
        }

    def endpoints(self) -> tuple[Endpoint, ...]:
        return assign_ids(self.declared())

    def manifest(self, name: str, operator_key: str, suites: tuple[str, ...]) -> Manifest:
        return Manifest(
            name=name,
            language="python",
            suites=suites,
            endpoints=self.endpoints(),
            operator_key=operator_key,
        )

    def callback(self, kind: IoKind, name: str) -> Registered | None:
        """The registered callback for an input, entry or handler, or None."""
        return self._declared[kind].get(name)

    def wrap_callbacks(self, wrap: Callable[[Callback], Callback]) -> None:
        """Replace every registered callback ``fn`` by ``wrap(fn)`` (the module runner's guards,
        such as ending the process on ``MemoryError``)."""
        for names in self._declared.values():
            for name, registered in names.items():
                if registered is not None:
                    names[name] = replace(registered, function=wrap(registered.function))

    def is_declared(self, kind: IoKind, name: str) -> bool:
        return name in self._declared[kind]


def _payload(data: object, what: str, limit: int) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what}: data must be bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) > limit:
        raise ValueError(f"{what}: {len(raw)} bytes exceed the limit of {limit}")
    return raw


class Context:
    """What a callback may do: emit on outputs, make requests, log.  Passed as ``ctx``."""

    __slots__ = ("_emit", "_log_stream", "_module", "_name", "_request", "_seal", "_unseal")

    def __init__(
        self,
        name: str,
        module: Module,
        *,
        emit: Callable[[str, bytes], int],
        request: Callable[[str, bytes, float], bytes],
        log_stream: Callable[[], Any] | None = None,
        seal: Callable[[bytes], None] | None = None,
        unseal: Callable[[], bytes | None] | None = None,
    ) -> None:
        self._name = name
        self._module = module
        self._emit = emit
        self._request = request
        self._log_stream = log_stream
        self._seal = seal
        self._unseal = unseal

    def __repr__(self) -> str:
        return f"Context(name={self._name!r})"

    @property
    def name(self) -> str:
        """The name this module was deployed under."""
        return self._name

    def emit(self, output: str, data: bytes) -> int:
        """Send ``data`` on every connection from ``output``; returns how many were sent."""
        if not self._module.is_declared(IoKind.OUTPUT, output):
            raise ValueError(f"module {self._name!r} has no output named {output!r}")
        return self._emit(output, _payload(data, f"emit on {output!r}", MAX_EVENT_PAYLOAD))

    def request(self, request: str, data: bytes, timeout: float = 10.0) -> bytes:
        """Send ``data`` on ``request`` and block until the handler's reply (or RequestError)."""
        if not self._module.is_declared(IoKind.REQUEST, request):
            raise ValueError(f"module {self._name!r} has no request named {request!r}")
        if not timeout > 0:
            raise ValueError(f"request {request!r}: timeout must be positive, got {timeout!r}")
        raw = _payload(data, f"request {request!r}", MAX_EVENT_PAYLOAD)
        return self._request(request, raw, float(timeout))

    def seal(self, data: bytes) -> None:
        """Keep ``data`` as this module's own sealed state (``Module(persistent=True)``): it is
        sealed with the module's keys and counters before anything the module produces next
        leaves it, and ``unseal()`` returns it after a restart."""
        if self._seal is None or not self._module.persistent:
            raise ValueError(
                f"module {self._name!r} is not persistent: use Module(persistent=True)"
            )
        self._seal(_payload(data, "seal", MAX_SEALED_DATA))

    def unseal(self) -> bytes | None:
        """The data last given to ``seal`` (restored after a restart); None if none."""
        if self._unseal is None or not self._module.persistent:
            raise ValueError(
                f"module {self._name!r} is not persistent: use Module(persistent=True)"
            )
        return self._unseal()

    def log(self, msg: str) -> None:
        """Write one line to stderr, prefixed with the module name (never to stdout)."""
        stream = self._log_stream() if self._log_stream is not None else sys.stderr
        stream.write(f"[{self._name}] {msg}\n")
        stream.flush()
