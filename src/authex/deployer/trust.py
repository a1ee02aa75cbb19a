"""The operator's trust file: what was enrolled for each node when it was initialised.

```yaml
nodes:
  mcu1: {tee: sancus, emulated: true, vendor_keys: {"4660": "<hex K_vendor>"}}
  gw:   {tee: trustzone, emulated: true, vendor_keys: {"4660": "<hex K_vendor>"}}
  srv:  {tee: sgx, emulated: true, root_ca: "-----BEGIN CERTIFICATE-----..."}
```

Every entry also pins the node's TLS identity certificate (``identity``): the deployer talks
only to the agent holding that certificate's key.

Sancus and TrustZone entries hold vendor keys (secrets: the file is written 0600); SGX entries
pin the root certificate that quotes must chain to.  The descriptor names the file with
``trust:``; ``authex up`` writes ``.authex/apps/NAME/trust.yaml`` for the local nodes it creates.

This module is the file's I/O and lookup (``TrustStore``); one node's entry, ``NodeTrust``, is
defined in ``attestation/trust.py`` (the verifiers receive it) and re-exported here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from authex.attestation.trust import NodeTrust
from authex.errors import AttestationError, DescriptorError

__all__ = ["NodeTrust", "TrustStore", "load_trust", "parse_trust", "write_trust"]


@dataclass(frozen=True)
class TrustStore:
    path: Path | None
    nodes: dict[str, NodeTrust]

    def node(self, name: str, tee: str) -> NodeTrust:
        entry = self.nodes.get(name)
        where = str(self.path) if self.path else "trust file"
        if entry is None:
            raise AttestationError(
                f"node {name} ({tee}) is not enrolled in the trust file; add the entry printed "
                "by `authex node init` on that node",
                where=where,
            )
        if entry.tee != tee:
            raise AttestationError(
                f"node {name} is enrolled as {entry.tee}, but the descriptor says {tee}",
                where=where,
            )
        return entry


def _vendor_id(value: object) -> int:
    """A vendor id key: an integer 0..65535, written as a number or a decimal string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"vendor id {value!r} is not an integer")
    number = int(value)
    if not 0 <= number <= 0xFFFF:
        raise ValueError(f"vendor id {number} is outside 0..65535")
    return number


def parse_trust(raw: object, path: Path | None) -> TrustStore:
    where = str(path) if path else "trust file"
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes", {}), dict):
        raise DescriptorError("expected a mapping with a `nodes` mapping", where=where)
    nodes: dict[str, NodeTrust] = {}
    for name, entry in (raw.get("nodes") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("tee"), str):
            raise DescriptorError(f"nodes.{name}: expected a mapping with `tee`", where=where)
        raw_keys = entry.get("vendor_keys") or {}
        if not isinstance(raw_keys, dict):
            raise DescriptorError(
                f"nodes.{name}.vendor_keys: expected a mapping of vendor id to hex key",
                where=where,
            )
        try:
            keys = {_vendor_id(vid): bytes.fromhex(str(key)) for vid, key in raw_keys.items()}
        except (ValueError, TypeError) as exc:
            raise DescriptorError(f"nodes.{name}.vendor_keys: {exc}", where=where) from exc
        emulated = entry.get("emulated", False)
        if not isinstance(emulated, bool):
            raise DescriptorError(
                f"nodes.{name}.emulated: expected true or false, got {emulated!r}", where=where
            )
        nodes[str(name)] = NodeTrust(
            str(name),
            entry["tee"],
            emulated,
            keys,
            str(entry.get("root_ca", "")),
            str(entry.get("identity", "")),
        )
    return TrustStore(path, nodes)


def load_trust(path: Path | None) -> TrustStore:
    if path is None or not path.exists():
        return TrustStore(path, {})
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DescriptorError(f"cannot read the trust file: {exc}", where=str(path)) from exc
    return parse_trust(raw or {}, path)


def write_trust(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Merge ``entries`` into the trust file at ``path`` (mode 0600)."""
    current: dict[str, Any] = {}
    if path.exists():
        current = yaml.safe_load(path.read_text()) or {}
    nodes = dict(current.get("nodes") or {})
    nodes.update(entries)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# authex operator trust file: enrolled node keys and roots (secret)\n")
        yaml.safe_dump({"nodes": nodes}, handle, sort_keys=True)
    os.replace(tmp, path)
