"""Unit-testing a module without a node: ``LocalHarness`` runs its callbacks in-process.

    from authex.sdk.testing import LocalHarness

    def test_alert() -> None:
        h = LocalHarness("modules/sensor", name="sensor")
        h.on_request("forecast", lambda data: b"rain")
        h.deliver("reading", b"42")
        assert h.emitted == [("alert", b"42")]

The harness inspects the folder exactly as a build does (so declaration errors surface the same
way), then loads ``main.py`` in the test process under a fresh module name, so every harness has
its own module-level state.  No crypto, no agent, no process: events are plain bytes, every output
counts as one connection, and requests are answered by the stubs given to ``on_request``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from authex.manifest import IoKind, Manifest
from authex.sdk.build import OPERATOR_KEY_SIZE, inspect_python_module
from authex.sdk.loader import check_matches, find_module, load_main
from authex.sdk.module import Context, Module, Registered, RequestError, as_reply

RequestStub = Callable[[bytes], bytes]


class LocalHarness:
    """One in-process instance of a module, driven by a test."""

    def __init__(
        self,
        source_folder: Path | str,
        name: str = "m",
        *,
        operator_public: bytes = bytes(OPERATOR_KEY_SIZE),
    ) -> None:
        folder = Path(source_folder).resolve()
        self.manifest: Manifest = inspect_python_module(folder, name, operator_public)
        previous = sys.dont_write_bytecode
        sys.dont_write_bytecode = True  # keep the source folder free of __pycache__
        try:
            self.namespace: ModuleType = load_main(folder)
        finally:
            sys.dont_write_bytecode = previous
        where = f"module {name}"
        self.module: Module = find_module(vars(self.namespace), where)
        check_matches(self.module, self.manifest, where)
        self.emitted: list[tuple[str, bytes]] = []
        self.requested: list[tuple[str, bytes]] = []
        self._stubs: dict[str, RequestStub] = {}
        self.context = Context(name, self.module, emit=self._emit, request=self._request)

    def __repr__(self) -> str:
        return f"LocalHarness({self.manifest.name!r}, emitted={len(self.emitted)})"

    # --- what the test does ----------------------------------------------------------------

    def on_request(self, name: str, fn: RequestStub) -> None:
        """Answer the module's ``ctx.request(name, data)`` with ``fn(data)``."""
        if not self.module.is_declared(IoKind.REQUEST, name):
            raise ValueError(f"module {self.manifest.name!r} declares no request {name!r}")
        self._stubs[name] = fn

    def deliver(self, input_name: str, data: bytes) -> None:
        """Run the input callback as if an event arrived; its exceptions propagate to the test."""
        self._callback(IoKind.INPUT, input_name).function(self.context, bytes(data))

    def call(self, entry_name: str, arg: bytes = b"", *, authenticated: bool = True) -> bytes:
        """Call an entry as the operator would; ``authenticated=False`` acts like a timer."""
        registered = self._callback(IoKind.ENTRY, entry_name)
        if not authenticated and not registered.public:
            raise PermissionError(f"entry {entry_name!r} is not public")
        result = registered.function(self.context, bytes(arg))
        return as_reply(result, f"entry {entry_name!r}")

    def handle_request(self, handler_name: str, data: bytes) -> bytes:
        """Run a handler as if a connected module requested it; returns its reply."""
        result = self._callback(IoKind.HANDLER, handler_name).function(self.context, bytes(data))
        return as_reply(result, f"handler {handler_name!r}")

    def take_emitted(self) -> list[tuple[str, bytes]]:
        """The events emitted so far, clearing the list."""
        taken, self.emitted = self.emitted, []
        return taken

    # --- what the module's context does here -----------------------------------------------

    def _callback(self, kind: IoKind, name: str) -> Registered:
        registered = self.module.callback(kind, name)
        if registered is None:
            raise ValueError(f"module {self.manifest.name!r} has no {kind.value} named {name!r}")
        return registered

    def _emit(self, output: str, data: bytes) -> int:
        self.emitted.append((output, data))
        return 1

    def _request(self, request: str, data: bytes, timeout: float) -> bytes:
        stub = self._stubs.get(request)
        if stub is None:
            raise RequestError(
                f"request {request!r} is not connected: stub it with harness.on_request"
            )
        self.requested.append((request, data))
        return as_reply(stub(data), f"stub for request {request!r}")
