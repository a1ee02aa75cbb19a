"""The module-side protocol core (sans-I/O): host messages in, host messages out, crypto inside.

``ModuleRuntime`` is the trusted part of a Python module process.  It is handed each message the
agent sends (``handle``) and writes its answers through a ``send`` callback; it never touches a
file descriptor, so tests drive it in memory and the runner (``authex.sdk.runner``) is a thin loop
around it.  What it enforces:

- attestation: answer the challenge with the module's attester (per TEE kind, see
  sdk/attesters.py) and keep the control key it yields (K_m, or a session key derived from it);
- set-key: only with K_m, only with a fresh control counter, only for this module's own endpoints
  in the matching role; re-keying a connection replaces it with fresh counters; swap-key keys a
  new connection and forgets the one it replaces in the same step (updates);
- state transfer (persistent modules, updates): keying the reserved state-out end sends the
  ctx.seal data on it at once; an event on the reserved state-in end replaces that data;
- events, requests and responses: open with the connection key, strictly increasing counters;
  failures are reported as HostRejected and never reach user code;
- entries: public ones may be called in plaintext, all others only authenticated under K_m with a
  fresh control counter; authenticated results are sealed back under K_m.

No key material appears in any repr, log line or error message.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from authex.crypto.channel import ChannelEnd, ReceiveWindow, SendCounter
from authex.crypto.control import Role, open_call, seal_result, unwrap_key
from authex.crypto.secret import Secret
from authex.crypto.suites import KEY_SIZE, get_suite
from authex.errors import AuthexError, AuthexTimeoutError, CryptoError, ManifestError, ReplayError
from authex.manifest import STATE_IN_ID, STATE_OUT_ID, Endpoint, IoKind, Manifest
from authex.sdk.attesters import Attester, native_attester
from authex.sdk.module import (
    MAX_EVENT_PAYLOAD,
    MAX_RESULT_PAYLOAD,
    MAX_SEALED_DATA,
    Context,
    Module,
    RequestError,
)
from authex.sdk.module import as_reply as _as_reply
from authex.wire.codec import Message
from authex.wire.messages import (
    CallStatus,
    Direction,
    Error,
    ErrorCode,
    HostAccepted,
    HostAttest,
    HostAttested,
    HostCall,
    HostCallResult,
    HostDeliver,
    HostEmit,
    HostRejected,
    HostSetKey,
    HostStop,
    HostSwapKey,
    Ok,
    RejectReason,
)

Send = Callable[[Message, int], None]
WaitResponse = Callable[[int, int, float], HostDeliver]
CONTROL_SUITE = "aes-gcm-128"
_ROLE_KINDS = {
    Role.SENDER: (IoKind.OUTPUT, IoKind.REQUEST),
    Role.RECEIVER: (IoKind.INPUT, IoKind.HANDLER),
}
# The reserved ends of an update's state transfer (never in a manifest, never in user code).
_STATE_ENDS = {
    STATE_OUT_ID: Endpoint(IoKind.OUTPUT, "~state-out", STATE_OUT_ID),
    STATE_IN_ID: Endpoint(IoKind.INPUT, "~state-in", STATE_IN_ID),
}


@dataclass
class ConnectionStats:
    """Per-connection counts kept for debugging (``ModuleRuntime.stats``)."""

    delivered: int = 0
    rejected: int = 0
    emitted: int = 0
    failed: int = 0  # callbacks that raised


@dataclass
class _Connection:
    end: ChannelEnd
    endpoint: Endpoint
    role: Role
    stats: ConnectionStats

    def __repr__(self) -> str:  # the ChannelEnd holds the key: never show it
        return f"_Connection({self.end.conn_id}, {self.endpoint.kind.value} {self.endpoint.name!r})"


def _stderr_log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class ModuleRuntime:
    """One module's trusted state: K_m, control counter window, connections and their keys."""

    def __init__(
        self,
        manifest: Manifest,
        module: Module,
        send: Send,
        wait_response: WaitResponse,
        *,
        log: Callable[[str], None] = _stderr_log,
        attester: Attester | None = None,
        control_suite: str = CONTROL_SUITE,
    ) -> None:
        for endpoint in manifest.endpoints:
            if endpoint.kind in (IoKind.INPUT, IoKind.ENTRY, IoKind.HANDLER) and (
                module.callback(endpoint.kind, endpoint.name) is None
            ):
                raise ManifestError(
                    f"the module has no function for {endpoint.kind.value} {endpoint.name!r}",
                    where=f"module {manifest.name}",
                )
        self.manifest = manifest
        self.module = module
        self._send = send
        self._wait_response = wait_response
        self._log = log
        self._control = get_suite(control_suite)
        self._attester = attester or native_attester(
            manifest.name, bytes.fromhex(manifest.operator_key)
        )
        self._module_key: Secret | None = None
        self._window = ReceiveWindow()
        self._connections: dict[int, _Connection] = {}
        self.unknown_rejected = 0
        # Persistent modules: the state changed since it was last sealed (see export_state).
        self.persistent = module.persistent
        self.dirty = False
        self._kept: bytes | None = None  # ctx.seal data
        self.context = Context(
            manifest.name,
            module,
            emit=self._emit,
            request=self._request,
            log_stream=lambda: sys.stderr,
            seal=self._keep,
            unseal=lambda: self._kept,
        )

    def __repr__(self) -> str:
        return (
            f"ModuleRuntime({self.manifest.name!r}, attested={self.attested}, "
            f"connections={sorted(self._connections)})"
        )

    @property
    def attested(self) -> bool:
        return self._module_key is not None

    def stats(self) -> dict[int, ConnectionStats]:
        """Counts per connection id (no key material)."""
        return {conn_id: conn.stats for conn_id, conn in self._connections.items()}

    def log(self, message: str) -> None:
        self._log(f"[{self.manifest.name}] {message}")

    # --- dispatch --------------------------------------------------------------------------

    def handle(self, message: Message, request_id: int) -> bool:
        """Process one message from the agent; False when the module should stop."""
        if isinstance(message, HostStop):
            return False
        if isinstance(message, HostAttest):
            self._attest(message, request_id)
        elif isinstance(message, HostSetKey | HostSwapKey):
            self._set_key(message, request_id)
        elif isinstance(message, HostDeliver):
            self._deliver(message)
        elif isinstance(message, HostCall):
            self._call(message, request_id)
        else:
            reply = Error(ErrorCode.BAD_REQUEST, f"unexpected {type(message).__name__}")
            self._send(reply, request_id)
        return True

    def _attest(self, message: HostAttest, request_id: int) -> None:
        try:
            evidence, key = self._attester(message.challenge)
        except (AuthexError, ValueError, OSError) as exc:
            # AttestationError (or, quoting, the platform's ProtocolError or BackendError, or an
            # OSError on its link), or a malformed key or point from the crypto library
            self._send(Error(ErrorCode.REJECTED, f"attestation failed: {exc}"), request_id)
            return
        self._module_key = key
        self._window = ReceiveWindow()
        self.dirty = True
        self._send(HostAttested(evidence), request_id)

    def _set_key(self, message: HostSetKey | HostSwapKey, request_id: int) -> None:
        """Set-key and swap-key: authenticate, check, then change the table in one step."""
        replaces = message.replaces if isinstance(message, HostSwapKey) else None
        swap = replaces is not None
        what = f"{'swap' if swap else 'set'}-key for connection {message.conn_id}"

        def refuse(code: ErrorCode, text: str) -> None:
            self._send(Error(code, f"{what}: {text}"), request_id)

        if self._module_key is None:
            return refuse(ErrorCode.REJECTED, "not attested")
        try:
            self._window.check(message.counter)
        except ReplayError as exc:
            return refuse(ErrorCode.REJECTED, f"stale control counter: {exc}")
        try:
            key = unwrap_key(
                self._control,
                self._module_key,
                message.wrapped,
                conn_id=message.conn_id,
                io_id=message.io_id,
                role=message.role,
                suite=message.suite,
                counter=message.counter,
                replaces=replaces,
            )
        except CryptoError:
            self._window.rejected += 1
            return refuse(ErrorCode.REJECTED, "the wrapped key does not authenticate")
        self._window.accept(message.counter)
        if swap and message.conn_id == 0:  # retire only
            if len(key) or message.io_id or message.role or message.suite:
                return refuse(ErrorCode.BAD_REQUEST, "a retire carries no key, io, role or suite")
            if self._connections.pop(replaces or 0, None) is not None:
                self.dirty = True
            self._send(Ok(), request_id)
            return None
        if message.role not in (Role.SENDER, Role.RECEIVER):
            return refuse(ErrorCode.BAD_REQUEST, f"unknown role {message.role}")
        role = Role(message.role)
        endpoint = self._endpoint(message.io_id)
        if endpoint is None or endpoint.kind not in _ROLE_KINDS[role]:
            return refuse(
                ErrorCode.BAD_REQUEST,
                f"io id 0x{message.io_id:04x} is not a {' or '.join(_ROLE_KINDS[role])} "
                f"of module {self.manifest.name!r}",
            )
        if endpoint.id in _STATE_ENDS and not self.persistent:
            return refuse(
                ErrorCode.BAD_REQUEST,
                f"module {self.manifest.name!r} keeps no sealed state to transfer",
            )
        try:
            suite = get_suite(message.suite)
        except CryptoError as exc:
            return refuse(ErrorCode.BAD_REQUEST, str(exc))
        if len(key) != KEY_SIZE:
            return refuse(ErrorCode.BAD_REQUEST, f"connection key must be {KEY_SIZE} bytes")
        old = self._connections.get(replaces) if replaces else None
        if old is not None and (old.endpoint != endpoint or old.role is not role):
            return refuse(
                ErrorCode.BAD_REQUEST,
                f"connection {replaces} is not a {endpoint.kind.value} {endpoint.name!r} here",
            )
        if swap and old is None:
            again = self._connections.get(message.conn_id)
            if again is not None and again.endpoint == endpoint and again.role is role:
                self._send(Ok(), request_id)  # applied before: the deployer lost our answer
                return None
        if replaces:
            self._connections.pop(replaces, None)
        if endpoint.kind is IoKind.REQUEST:  # a request has one handler: a new key supersedes
            for old_id, conn in list(self._connections.items()):
                if conn.endpoint == endpoint:
                    del self._connections[old_id]
        end = ChannelEnd(message.conn_id, suite, key)
        conn = _Connection(end, endpoint, role, ConnectionStats())
        self._connections[message.conn_id] = conn
        self.dirty = True
        if endpoint.id == STATE_OUT_ID:
            self._send_state(conn)
        self._send(Ok(), request_id)
        return None

    def _endpoint(self, io_id: int) -> Endpoint | None:
        return _STATE_ENDS.get(io_id) or self.manifest.by_id(io_id)

    def _send_state(self, conn: _Connection) -> None:
        """The state-out end was keyed: send the ctx.seal data on it, once, and forget it."""
        blob = b"\x00" if self._kept is None else b"\x01" + self._kept
        counter, sealed = conn.end.seal(Direction.FORWARD, blob)
        self._send(HostEmit(conn.end.conn_id, Direction.FORWARD, counter, sealed), 0)
        del self._connections[conn.end.conn_id]
        self.log(f"sent its sealed data ({len(blob) - 1} bytes) to its new version")

    def _take_state(self, conn: _Connection, message: HostDeliver, blob: bytes) -> None:
        """An event on the state-in end: the old version's ctx.seal data becomes ours."""
        del self._connections[conn.end.conn_id]
        if blob[:1] == b"\x01" and len(blob) - 1 <= MAX_SEALED_DATA:
            self._kept = blob[1:]
        elif blob == b"\x00":
            self._kept = None
        else:
            self.log("refused a malformed state transfer")
            return self._reject(message, RejectReason.FORGED)
        self.dirty = True
        self.log(f"took over the sealed data of its old version ({max(len(blob) - 1, 0)} bytes)")
        return self._accepted(message)

    def _reject(self, message: HostDeliver, reason: RejectReason) -> None:
        conn = self._connections.get(message.conn_id)
        if conn is None:
            self.unknown_rejected += 1
        else:
            conn.stats.rejected += 1
        self._send(HostRejected(message.conn_id, message.direction, message.counter, reason), 0)

    def _open(self, conn: _Connection, message: HostDeliver) -> bytes | None:
        """Open a delivery or report it; None when rejected."""
        try:
            plaintext = conn.end.open(message.direction, message.counter, message.ciphertext)
        except ReplayError:
            self._reject(message, RejectReason.REPLAY)
            return None
        except CryptoError:
            self._reject(message, RejectReason.FORGED)
            return None
        conn.stats.delivered += 1
        self.dirty = True
        return plaintext

    def _deliver(self, message: HostDeliver) -> None:
        conn = self._connections.get(message.conn_id)
        if conn is None:
            return self._reject(message, RejectReason.UNKNOWN_CONNECTION)
        if message.direction == Direction.RESPONSE:  # nobody is waiting for it (late or bogus)
            return self._reject(message, RejectReason.REPLAY)
        if message.direction != Direction.FORWARD or conn.role is not Role.RECEIVER:
            return self._reject(message, RejectReason.FORGED)
        data = self._open(conn, message)
        if data is None:
            return None
        if conn.endpoint.id == STATE_IN_ID:
            return self._take_state(conn, message, data)
        endpoint = conn.endpoint
        registered = self.module.callback(endpoint.kind, endpoint.name)
        if registered is None:  # checked at construction; kept for the type checker
            return self._reject(message, RejectReason.NO_HANDLER)
        what = f"{endpoint.kind.value} {endpoint.name!r}"
        try:
            result = registered.function(self.context, data)
            reply = _as_reply(result, what) if endpoint.kind is IoKind.HANDLER else None
            if reply is not None and len(reply) > MAX_EVENT_PAYLOAD:
                raise ValueError(f"{what}: reply of {len(reply)} bytes exceeds {MAX_EVENT_PAYLOAD}")
        except Exception:  # noqa: BLE001 (the module's own code may raise anything: logged, counted)
            conn.stats.failed += 1
            self.log(f"{what} raised; the event is dropped:\n{traceback.format_exc().rstrip()}")
            self._accepted(message)
            return None
        if reply is not None:
            counter, sealed = conn.end.seal(Direction.RESPONSE, reply, counter=message.counter)
            self._send(HostEmit(conn.end.conn_id, Direction.RESPONSE, counter, sealed), 0)
            conn.stats.emitted += 1
        self._accepted(message)
        return None

    def _accepted(self, message: HostDeliver) -> None:
        """Tell the agent the message was taken, so it can acknowledge it to the sender."""
        self._send(HostAccepted(message.conn_id, message.direction, message.counter), 0)

    def _call(self, message: HostCall, request_id: int) -> None:
        def answer(status: CallStatus, payload: bytes) -> None:
            self._send(HostCallResult(status, payload), request_id)

        endpoint = self.manifest.by_id(message.entry_id)
        registered = (
            self.module.callback(IoKind.ENTRY, endpoint.name)
            if endpoint is not None and endpoint.kind is IoKind.ENTRY
            else None
        )
        if endpoint is None or registered is None:
            text = f"unknown entry id 0x{message.entry_id:04x} in module {self.manifest.name!r}"
            return answer(CallStatus.UNKNOWN_ENTRY, text.encode())
        key: Secret | None = None
        arg = message.payload
        if message.authenticated:
            key = self._module_key
            try:
                if key is None:
                    raise CryptoError("not attested")
                self._window.check(message.counter)
                arg = open_call(self._control, key, message.entry_id, message.counter, arg)
            except CryptoError as exc:
                return answer(CallStatus.AUTH_FAILED, f"entry {endpoint.name!r}: {exc}".encode())
            self._window.accept(message.counter)
            self.dirty = True
        elif not endpoint.public:
            return answer(CallStatus.NOT_PUBLIC, f"entry {endpoint.name!r} is not public".encode())
        try:
            result = _as_reply(registered.function(self.context, arg), f"entry {endpoint.name!r}")
            if len(result) > MAX_RESULT_PAYLOAD:
                raise ValueError(f"result of {len(result)} bytes exceeds {MAX_RESULT_PAYLOAD}")
            status = CallStatus.OK
        except Exception as exc:  # noqa: BLE001 (the module's own code: logged, answered as failed)
            self.log(f"entry {endpoint.name!r} raised:\n{traceback.format_exc().rstrip()}")
            result = f"{type(exc).__name__}: {exc}".encode()[:MAX_RESULT_PAYLOAD]
            status = CallStatus.ENTRY_FAILED
        if key is not None:
            result = seal_result(
                self._control, key, message.entry_id, message.counter, status, result
            )
        return answer(status, result)

    # --- what ctx.emit and ctx.request do ---------------------------------------------------

    def _sender(self, kind: IoKind, name: str) -> list[_Connection]:
        return [
            conn
            for conn in self._connections.values()
            if conn.role is Role.SENDER
            and conn.endpoint.kind is kind
            and conn.endpoint.name == name
        ]

    def _emit(self, output: str, data: bytes) -> int:
        sent = 0
        for conn in sorted(self._sender(IoKind.OUTPUT, output), key=lambda c: c.end.conn_id):
            counter, sealed = conn.end.seal(Direction.FORWARD, data)
            self.dirty = True
            self._send(HostEmit(conn.end.conn_id, Direction.FORWARD, counter, sealed), 0)
            conn.stats.emitted += 1
            sent += 1
        return sent

    def _request(self, request: str, data: bytes, timeout: float) -> bytes:
        connections = self._sender(IoKind.REQUEST, request)
        if not connections:
            raise RequestError(f"request {request!r} is not connected to any handler")
        conn = connections[0]
        conn_id = conn.end.conn_id
        counter, sealed = conn.end.seal(Direction.FORWARD, data)
        self.dirty = True
        self._send(HostEmit(conn_id, Direction.FORWARD, counter, sealed), 0)
        conn.stats.emitted += 1
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise AuthexTimeoutError("deadline passed")
                response = self._wait_response(conn_id, counter, remaining)
            except AuthexTimeoutError as exc:
                raise AuthexTimeoutError(
                    f"request {request!r}: no response within {timeout:g} s",
                    where=f"module {self.manifest.name}",
                ) from exc
            if (
                response.conn_id == conn_id
                and response.direction == Direction.RESPONSE
                and response.counter == counter
                and self._connections.get(conn_id) is conn
            ):
                reply = self._open(conn, response)
                if reply is not None:
                    self._accepted(response)
                    return reply
            else:
                self._reject(response, RejectReason.REPLAY)
            # A forged or mismatched answer is reported; keep waiting for the genuine one.

    # --- sealed state (persistent modules) --------------------------------------------------

    def _keep(self, data: bytes) -> None:
        self._kept = bytes(data)
        self.dirty = True

    def export_state(self) -> bytes:
        """Everything a restarted module needs to carry on: the control key and window, every
        connection's key, suite, role and counters, and the ctx.seal data.  Secret: it goes
        only to the platform, which seals it."""
        connections = [
            {
                "conn_id": conn.end.conn_id,
                "io_id": conn.endpoint.id,
                "role": int(conn.role),
                "suite": conn.end.suite.name,
                "key": conn.end.key.reveal().hex(),
                "sent": conn.end.send.last,
                "received": conn.end.receive.last,
                "gaps": conn.end.receive.gaps,
            }
            for conn in self._connections.values()
        ]
        state = {
            "format": 1,
            "name": self.manifest.name,
            "control_key": self._module_key.reveal().hex() if self._module_key else None,
            "control_last": self._window.last,
            "connections": connections,
            "data": self._kept.hex() if self._kept is not None else None,
        }
        return json.dumps(state, sort_keys=True).encode()

    def restore_state(self, blob: bytes) -> None:
        """Take back a state from export_state (after unsealing); raises ValueError, leaving
        the runtime as it was, if it does not fit this module."""
        try:
            state = json.loads(blob)
            if state.get("format") != 1 or state.get("name") != self.manifest.name:
                raise ValueError(f"it is not a state of module {self.manifest.name!r}")
            connections: dict[int, _Connection] = {}
            for raw in state["connections"]:
                endpoint = self._endpoint(int(raw["io_id"]))
                role = Role(int(raw["role"]))
                if endpoint is None or endpoint.kind not in _ROLE_KINDS[role]:
                    raise ValueError(f"io id {raw['io_id']} is not an end of this module")
                end = ChannelEnd(
                    int(raw["conn_id"]),
                    get_suite(str(raw["suite"])),
                    Secret(bytes.fromhex(raw["key"])),
                    send=SendCounter(int(raw["sent"])),
                    receive=ReceiveWindow(int(raw["received"]), int(raw["gaps"])),
                )
                connections[end.conn_id] = _Connection(end, endpoint, role, ConnectionStats())
            control = state["control_key"]
            module_key = Secret(bytes.fromhex(control)) if control else None
            window = ReceiveWindow(int(state["control_last"]))
            kept = bytes.fromhex(state["data"]) if state["data"] is not None else None
        except (KeyError, TypeError, ValueError, CryptoError) as exc:
            raise ValueError(f"sealed state cannot be restored: {exc}") from exc
        self._module_key, self._window = module_key, window
        self._connections, self._kept = connections, kept
        self.dirty = False
