"""Sealed module state on an emulated platform (spec/protocol.md §7.5: modules that seal survive
restarts).

A module hands the platform its whole state; the platform encrypts it under a key bound to the
module's identity on this platform and writes it to (untrusted) storage, as the next version of
a monotonic counter that it keeps in its trusted store.  Unsealing refuses a blob that does not
authenticate (tampered, another module, another version of the code) and one older than the
counter (a rollback by the host).

- sealing key = HKDF-SHA256(seal root, info "authex seal key v1" || tee || u16 len(name) ||
  name || measurement), 16 bytes; the seal root is a per-node platform secret;
- blob = "AXSL" || u8 1 || u64 version || nonce (12) || AES-GCM-128(key, nonce, state,
  AD = the 13-byte header || name || measurement);
- blobs and counters are kept per name and measurement (an update's new version, loaded beside
  the old one, starts with its own);
- the counter is written after the blob: a blob one version ahead of the counter is a seal
  whose reply never left the platform (nothing of that state escaped), and is accepted.

What the emulation shows and what it does not: the protocol, the binding and the rollback check
are real; the "trusted" counter file and the seal root live in the node directory, protected only
by file permissions (real hardware keeps them in fuses, an RPMB partition or a TPM NV counter).
"""

from __future__ import annotations

import json
import os
import secrets
import struct
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authex.errors import BackendError

MAGIC = b"AXSL"
FORMAT = 1
HEADER = struct.Struct(">4sBQ")  # magic, format, version
NONCE_SIZE = 12
MAX_STATE = 1 << 20


class SealError(BackendError):
    """Sealed state that must not be restored (tampered, foreign, rolled back)."""


def sealing_key(root: bytes, tee: str, name: str, measurement: bytes) -> bytes:
    encoded = name.encode()
    info = b"authex seal key v1" + tee.encode() + struct.pack(">H", len(encoded)) + encoded
    return HKDF(hashes.SHA256(), 16, salt=None, info=info + measurement).derive(root)


def seal_blob(key: bytes, name: str, measurement: bytes, version: int, state: bytes) -> bytes:
    header = HEADER.pack(MAGIC, FORMAT, version)
    nonce = secrets.token_bytes(NONCE_SIZE)
    ad = header + name.encode() + measurement
    return header + nonce + AESGCM(key).encrypt(nonce, state, ad)


def open_blob(key: bytes, name: str, measurement: bytes, blob: bytes) -> tuple[int, bytes]:
    """(version, state) of a blob sealed for this module; SealError if it is not one."""
    if len(blob) < HEADER.size + NONCE_SIZE + 16:
        raise SealError("sealed state is truncated")
    magic, fmt, version = HEADER.unpack_from(blob)
    if magic != MAGIC or fmt != FORMAT:
        raise SealError("not a sealed-state blob of format 1")
    nonce = blob[HEADER.size : HEADER.size + NONCE_SIZE]
    ad = blob[: HEADER.size] + name.encode() + measurement
    try:
        state = AESGCM(key).decrypt(nonce, blob[HEADER.size + NONCE_SIZE :], ad)
    except InvalidTag as exc:
        raise SealError(
            "sealed state does not authenticate: tampered, or sealed by another module or "
            "another version of its code"
        ) from exc
    return version, state


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class SealStore:
    """Edge: the blobs (untrusted storage) and the monotonic counters (the emulated trusted
    store) of one platform, under ``DIR/platform``."""

    def __init__(self, platform_dir: Path, tee: str) -> None:
        self.tee = tee
        self.blobs = platform_dir / "sealed"
        self.counters_path = platform_dir / "seal-counters.json"
        self.blobs.mkdir(mode=0o700, parents=True, exist_ok=True)
        root_path = platform_dir / "seal-root.key"
        if not root_path.exists():
            _write_durably(root_path, secrets.token_bytes(32))
        self._root = root_path.read_bytes()

    def _counters(self) -> dict[str, int]:
        try:
            raw = json.loads(self.counters_path.read_text())
        except FileNotFoundError:
            return {}
        return {str(k): int(v) for k, v in raw.items()}

    @staticmethod
    def _slot(name: str, measurement: bytes) -> str:
        """Blobs and counters are per identity (name and code): a new version loaded beside
        the old one for an update never touches the old one's state."""
        return f"{name}.{measurement.hex()[:16]}"

    def counter(self, name: str, measurement: bytes) -> int:
        return self._counters().get(self._slot(name, measurement), 0)

    def _set_counter(self, slot: str, version: int) -> None:
        counters = self._counters()
        counters[slot] = version
        _write_durably(self.counters_path, json.dumps(counters, sort_keys=True).encode())

    def blob_path(self, name: str, measurement: bytes) -> Path:
        # a deployment's module is DEPLOYMENT/NAME: one file per slot all the same ('+' is in
        # neither a deployment's nor a module's name)
        return self.blobs / f"{self._slot(name, measurement).replace('/', '+')}.sealed"

    def seal(self, name: str, measurement: bytes, state: bytes) -> int:
        """Seal ``state`` as the module's next version; returns that version."""
        if len(state) > MAX_STATE:
            raise SealError(f"state of {len(state)} bytes exceeds the limit of {MAX_STATE}")
        version = self.counter(name, measurement) + 1
        key = sealing_key(self._root, self.tee, name, measurement)
        blob = seal_blob(key, name, measurement, version, state)
        _write_durably(self.blob_path(name, measurement), blob)
        self._set_counter(self._slot(name, measurement), version)
        return version

    def unseal(self, name: str, measurement: bytes) -> tuple[int, bytes]:
        """(version, state) last sealed for the module; (0, b"") if nothing was."""
        counter = self.counter(name, measurement)
        try:
            blob = self.blob_path(name, measurement).read_bytes()
        except FileNotFoundError:  # never sealed, or removed: a fresh start (holds no keys)
            return 0, b""
        key = sealing_key(self._root, self.tee, name, measurement)
        version, state = open_blob(key, name, measurement, blob)
        if version < counter:
            raise SealError(
                f"sealed state version {version} is older than the platform's counter "
                f"{counter}: rollback refused"
            )
        if version > counter + 1:
            raise SealError(f"sealed state version {version} is ahead of the counter {counter}")
        if version == counter + 1:  # sealed, but the counter update did not happen
            self._set_counter(self._slot(name, measurement), version)
        return version, state

    def forget(self, name: str, measurement: bytes) -> None:
        """Drop a module's sealed state (the module was removed; its counter stays)."""
        self.blob_path(name, measurement).unlink(missing_ok=True)
