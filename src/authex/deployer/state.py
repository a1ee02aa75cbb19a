"""Edge: the deployment state (what was built, loaded, attested, keyed, routed) and the
operator key, kept under ``.authex/`` beside the descriptor.

One ``.authex/`` folder serves every descriptor in its folder, each deployment in a folder of its
own named by the descriptor's ``name`` (docs/architecture.md §3)::

    .authex/operator.key, operator.pem, operator-key.pem, ta-vendor.pem   the operator (shared)
    .authex/apps/NAME/state.json, state.lock, trust.yaml, cluster.json, nodes/   one deployment

A folder of the earlier layout (everything directly in ``.authex/``) is moved into
``apps/NAME/`` the first time the descriptor it belongs to is used (:func:`migrate_legacy`).

The state holds module and connection keys, so it is written with mode 0600, atomically
(write a temporary file, fsync, rename) after every completed step, under an exclusive lock.
Nothing else in authex writes key material anywhere.  In memory the keys are :class:`Secret`
objects; they become hex only in :meth:`DeploymentState.to_json` (and are read back only in
:meth:`DeploymentState.from_dict`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.crypto.identity import certificate_key, make_certificate, private_key_pem
from authex.crypto.secret import Secret
from authex.deployer.roles import EndRole
from authex.deployer.sealing import ENCRYPTION, PASSPHRASE_ENV, StateSealer, passphrase
from authex.descriptor import Descriptor
from authex.errors import StateError
from authex.wire.names import base_name

STATE_VERSION = 1
CONNECTION_IDS = 1 << 31  # connection ids are picked from 1 .. 2^31 - 1
APPS = "apps"  # .authex/apps/NAME: one deployment
# what a deployment owns in the earlier layout, where it lay directly in .authex/
LEGACY_ENTRIES = ("state.json", "trust.yaml", "cluster.json", "nodes")
LOCK_TIMEOUT = 30.0
LOCK_POLL = 0.05  # seconds between attempts to take the lock
NO_KEY = Secret(b"")  # not attested / not keyed (Secret is immutable: one instance will do)


@dataclass
class ModuleState:
    node: str
    measurement: str = ""
    instance: int = 0  # agent-assigned id of the loaded instance; 0 = not loaded
    module_key: Secret = NO_KEY  # the control key; empty = not attested
    control_counter: int = 0
    evidence: str = ""  # what the attestation rested on, for status
    emulated: bool = False  # attested on an emulated TEE platform
    control_suite: str = "aes-gcm-128"  # AEAD for set-key and calls under the control key
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConnectionState:
    id: int
    suite: str = ""
    key: Secret = NO_KEY  # connection key of the current epoch; empty = not keyed
    epoch: int = 0
    keyed: dict[EndRole, int] = field(default_factory=dict)  # end -> epoch keyed
    keyed_instance: dict[EndRole, int] = field(default_factory=dict)  # end -> instance keyed
    routes: dict[str, str] = field(default_factory=dict)  # node -> route digest installed
    operator_send: int = 0  # the operator's send counter (direct connections)
    operator_receive: int = 0  # last counter the operator accepted


@dataclass
class TimerState:
    module: str
    entry: str
    period_ms: int
    instance: int  # module instance the timer was registered on


class Phase(Enum):
    """How far an update got (spec/protocol.md §7.6); the allowed changes are in
    :data:`authex.deployer.update.TRANSITIONS`.  The values are what the state file holds."""

    STAGING = "staging"  # loading and attesting the new version as NAME~TAG
    STAGED = "staged"  # the new version runs, attested
    KEYED = "keyed"  # its new connections are keyed (nothing flows on them yet)
    SWITCHED = "switched"  # every source sends to the new instance only
    DRAINED = "drained"  # the old instance passed everything on; its sealed data moved
    PROMOTED = "promoted"  # the new instance is the module

    @property
    def committed(self) -> bool:
        """Sources send to the new instance: the update can only go forward from here."""
        return self in (Phase.SWITCHED, Phase.DRAINED, Phase.PROMOTED)


@dataclass
class UpdateState:
    """An `authex update` in progress (spec/protocol.md §7.6), so a rerun resumes it.  The new
    instance is ``modules[staged]``; the new connections are ``connections[NAME~TAG]`` for each
    connection NAME of the module, until the promotion makes them the module's own."""

    module: str
    staged: str  # NAME~TAG
    measurement: str  # hex, of the new version
    phase: Phase = Phase.STAGING
    swapped: list[str] = field(default_factory=list)  # connections whose source switched
    retired: dict[str, int] = field(default_factory=dict)  # connection -> its old id
    transfer: str = ""  # "", "done" or "skipped: why"
    switched_at: float = 0.0  # wall clock when the first source switched
    released_at: float = 0.0  # wall clock when the held deliveries were released
    held: int = 0  # deliveries the new instance had been holding


@dataclass
class DeploymentState:
    descriptor: str = ""
    version: int = STATE_VERSION
    next_connection_id: int = 1
    modules: dict[str, ModuleState] = field(default_factory=dict)
    connections: dict[str, ConnectionState] = field(default_factory=dict)
    timers: dict[str, TimerState] = field(default_factory=dict)
    updates: dict[str, UpdateState] = field(default_factory=dict)

    def connection_id(self, name: str) -> ConnectionState:
        """The state of a connection, assigning it a fresh id the first time."""
        conn = self.connections.get(name)
        if conn is None:
            conn = self.connections[name] = ConnectionState(self.fresh_connection_id())
        return conn

    def fresh_connection_id(self) -> int:
        """An id no connection of this deployment has had, picked at random: several
        deployments share a node, and a node refuses an id another deployment uses there
        (ids travel between agents without their deployment).  ``next_connection_id`` counts
        the ids handed out."""
        used = {c.id for c in self.connections.values()}
        for update in self.updates.values():
            used.update(update.retired.values())
        while True:
            candidate = secrets.randbelow(CONNECTION_IDS - 1) + 1
            if candidate not in used:
                self.next_connection_id += 1
                return candidate

    def to_json(self) -> str:
        """The state file's text: the only place keys leave their :class:`Secret` (as hex)."""
        # Saved after every step, so it must be cheap: shallow field maps instead of asdict's
        # deep copies, and compact separators for the C encoder (indent forces pure Python).
        document = {
            "descriptor": self.descriptor,
            "version": self.version,
            "next_connection_id": self.next_connection_id,
            "modules": {
                name: vars(m) | {"module_key": _hex(m.module_key)}
                for name, m in self.modules.items()
            },
            "connections": {
                name: vars(c)
                | {
                    "key": _hex(c.key),
                    "keyed": _by_role_name(c.keyed),
                    "keyed_instance": _by_role_name(c.keyed_instance),
                }
                for name, c in self.connections.items()
            },
            "timers": {name: vars(t) for name, t in self.timers.items()},
            "updates": {
                name: vars(u) | {"phase": u.phase.value} for name, u in self.updates.items()
            },
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> DeploymentState:
        """The state from a state file's JSON (``ValueError``, ``KeyError``, ``TypeError`` when
        it is not one); keys become :class:`Secret` here and nowhere else."""
        if raw.get("version") != STATE_VERSION:
            raise StateError(f"unsupported state version {raw.get('version')!r}")
        return DeploymentState(
            descriptor=raw["descriptor"],
            next_connection_id=raw["next_connection_id"],
            modules={
                k: ModuleState(**(v | {"module_key": _secret(v.get("module_key", ""))}))
                for k, v in raw["modules"].items()
            },
            connections={
                k: ConnectionState(
                    **(
                        v
                        | {
                            "key": _secret(v.get("key", "")),
                            "keyed": _by_role(v.get("keyed", {})),
                            "keyed_instance": _by_role(v.get("keyed_instance", {})),
                        }
                    )
                )
                for k, v in raw["connections"].items()
            },
            timers={k: TimerState(**v) for k, v in raw["timers"].items()},
            updates={
                k: UpdateState(**(v | {"phase": Phase(v.get("phase", Phase.STAGING.value))}))
                for k, v in raw.get("updates", {}).items()
            },
        )


def _hex(key: Secret) -> str:
    return key.reveal().hex()


def _secret(text: str) -> Secret:
    return Secret(bytes.fromhex(text)) if text else NO_KEY


def _by_role_name(by_role: dict[EndRole, int]) -> dict[str, int]:
    return {role.value: value for role, value in by_role.items()}


def _by_role(by_name: dict[str, int]) -> dict[EndRole, int]:
    return {EndRole(name): value for name, value in by_name.items()}


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class StateStore:
    """The folder of one deployment (``folder``) and of its operator's keys (``root``, by default
    the same folder)."""

    def __init__(self, folder: Path, root: Path | None = None) -> None:
        self._sealer_cache: StateSealer | None = None
        self.folder = folder
        self.root = folder if root is None else root
        self.path = folder / "state.json"
        self.key_path = self.root / "operator.key"
        self.lock_path = folder / "state.lock"

    @staticmethod
    def of(descriptor: Descriptor) -> StateStore:
        """The store of ``descriptor``'s deployment: ``.authex/apps/NAME`` beside it (an earlier
        layout's state that belongs to it is moved there first)."""
        root = descriptor.path.resolve().parent / ".authex"
        folder = root / APPS / descriptor.name
        migrate_legacy(root, folder, descriptor)
        return StateStore(folder, root)

    def _ensure_root(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _ensure_folder(self) -> None:
        self._ensure_root()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the deployment's exclusive lock (one mutating command at a time), waiting up
        to ``timeout`` seconds for another command to finish.  In async code use
        :meth:`locked_async`, which waits without blocking the event loop."""
        fd = self._open_lock()
        try:
            deadline = time.monotonic() + timeout
            while not self._try_lock(fd):
                if time.monotonic() >= deadline:
                    raise self._busy(timeout)
                time.sleep(LOCK_POLL)
            yield
        finally:
            os.close(fd)

    @contextlib.asynccontextmanager
    async def locked_async(self) -> AsyncIterator[None]:
        """:meth:`locked` for async code: the same lock, polled with ``asyncio.sleep``, waiting
        up to LOCK_TIMEOUT seconds."""
        fd = self._open_lock()
        try:
            timeout = LOCK_TIMEOUT
            try:
                async with asyncio.timeout(timeout):
                    while not self._try_lock(fd):  # noqa: ASYNC110 (flock notifies no one: poll)
                        await asyncio.sleep(LOCK_POLL)
            except TimeoutError:
                raise self._busy(timeout) from None
            yield
        finally:
            os.close(fd)

    def _open_lock(self) -> int:
        self._ensure_folder()
        return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    @staticmethod
    def _try_lock(fd: int) -> bool:
        """Take the lock if it is free (False: another command holds it)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _busy(self, timeout: float) -> StateError:
        return StateError(
            f"another authex command is using this deployment (waited {timeout:g}s)",
            where=str(self.lock_path),
        )

    def load(self) -> DeploymentState:
        if not self.path.exists():
            return DeploymentState()
        try:
            raw = json.loads(self.path.read_text())
            if isinstance(raw, dict) and raw.get("encrypted") == ENCRYPTION:
                raw = json.loads(self._sealer(raw).open(raw))
            if not isinstance(raw, dict):
                raise TypeError("expected a JSON object")
            return DeploymentState.from_dict(raw)
        except StateError as exc:
            raise StateError(exc.message, where=str(self.path)) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(f"corrupt deployment state: {exc}", where=str(self.path)) from exc

    def save(self, state: DeploymentState) -> None:
        self._ensure_folder()
        text = state.to_json()
        if passphrase() is not None:
            text = json.dumps(self._sealer(None).seal(text.encode()))
        _write_private(self.path, text.encode())

    def _sealer(self, envelope: dict[str, Any] | None) -> StateSealer:
        secret = passphrase()
        if secret is None:
            raise StateError(
                f"the deployment state is encrypted: set {PASSPHRASE_ENV} to open it",
                where=str(self.path),
            )
        salt = bytes.fromhex(envelope["salt"]) if envelope else None
        if self._sealer_cache is None or (salt is not None and salt != self._sealer_cache.salt):
            self._sealer_cache = StateSealer(secret, salt, where=str(self.path))
        return self._sealer_cache

    def exists(self) -> bool:
        return self.path.exists()

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def ta_vendor_key(self) -> rsa.RSAPrivateKey:
        """The operator's TrustZone TA signing key (RSA-2048), created on first use."""
        from authex.attestation.trustzone import (
            generate_vendor_key,
            load_vendor_key,
            vendor_key_pem,
        )

        path = self.root / "ta-vendor.pem"
        self._ensure_root()
        if path.exists():
            return load_vendor_key(path.read_bytes())
        key = generate_vendor_key()
        _write_private(path, vendor_key_pem(key))
        return key

    def operator_tls(self) -> tuple[Path, Path]:
        """Certificate and key files (PEM) for mutual TLS, made from the operator key."""
        key = self.operator_key()
        cert_path = self.root / "operator.pem"
        key_path = self.root / "operator-key.pem"
        public = key.public_key().public_bytes_raw()
        if not cert_path.exists() or certificate_key(cert_path.read_bytes(), where="") != public:
            _write_private(key_path, private_key_pem(key))
            cert_path.write_bytes(make_certificate(key, "authex operator"))
        return cert_path, key_path

    def operator_key(self) -> Ed25519PrivateKey:
        """The operator's signing key, created on first use."""
        self._ensure_root()
        if self.key_path.exists():
            try:
                raw = bytes.fromhex(self.key_path.read_text().strip())
                return Ed25519PrivateKey.from_private_bytes(raw)
            except ValueError as exc:
                raise StateError("corrupt operator key", where=str(self.key_path)) from exc
        key = Ed25519PrivateKey.generate()
        _write_private(self.key_path, key.private_bytes_raw().hex().encode() + b"\n")
        return key


def migrate_legacy(root: Path, folder: Path, descriptor: Descriptor) -> None:
    """Move a deployment of the earlier layout (``.authex/state.json``, ``trust.yaml``,
    ``cluster.json``, ``nodes/``) into ``folder`` if it belongs to ``descriptor``: its state
    names this descriptor's file, or (state written elsewhere, or none) every module and node it
    holds is one of this descriptor's.  A deployment that belongs to another descriptor is left
    where it is for that one; agents still running from the old place refuse the move."""
    present = [name for name in LEGACY_ENTRIES if (root / name).exists()]
    if not present or folder.exists():
        return
    store = StateStore(root)
    with store.locked():  # the earlier version's commands take this lock too
        present = [name for name in LEGACY_ENTRIES if (root / name).exists()]
        if not present or folder.exists() or not _legacy_belongs(root, store, descriptor):
            return
        running = _legacy_agents(root)
        if running:
            pids = ", ".join(f"{node} (pid {pid})" for node, pid in sorted(running.items()))
            raise StateError(
                f"the deployment here is of an earlier authex layout and its agents still run: "
                f"{pids}; stop them (`kill {' '.join(str(p) for p in running.values())}`), then "
                "run this command again to move it to the new layout",
                where=str(root),
            )
        folder.mkdir(mode=0o700, parents=True)
        for name in present:
            os.replace(root / name, folder / name)


def _legacy_belongs(root: Path, store: StateStore, descriptor: Descriptor) -> bool:
    here = descriptor.path.resolve()
    if store.path.exists():
        state = store.load()
        recorded = Path(state.descriptor).resolve() if state.descriptor else None
        if recorded == here:
            return True
        if recorded is not None and recorded.exists():
            return False  # another descriptor's, still in place
        modules = {base_name(m) for m in state.modules}
        if not modules <= {m.name for m in descriptor.modules}:
            return False
    nodes_dir = root / "nodes"
    nodes = {p.name for p in nodes_dir.iterdir()} if nodes_dir.is_dir() else set()
    return nodes <= {n.name for n in descriptor.nodes}


def _legacy_agents(root: Path) -> dict[str, int]:
    try:
        raw = json.loads((root / "cluster.json").read_text())
        pids = {str(node): int(pid) for node, pid in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
    running = {}
    for node, pid in pids.items():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        running[node] = pid
    return running
