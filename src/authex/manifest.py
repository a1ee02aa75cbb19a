"""The module manifest: a module's name, language, interface with stable numeric ids, and suites.

Every SDK's build emits one (as canonical JSON inside the artifact).  The deployer resolves the
names used in a descriptor through it, never through symbol parsing.  Ids are a function of the
declared names only: within each kind, names sorted by code point get 1, 2, 3, ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from authex.errors import ManifestError

MANIFEST_FORMAT = 1


class IoKind(StrEnum):
    INPUT = "input"
    OUTPUT = "output"
    ENTRY = "entry"
    REQUEST = "request"
    HANDLER = "handler"


@dataclass(frozen=True)
class Endpoint:
    kind: IoKind
    name: str
    id: int
    public: bool = False  # only meaningful for entries


@dataclass(frozen=True)
class Manifest:
    name: str
    language: str
    suites: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    operator_key: str  # hex Ed25519 public key compiled into the artifact
    format: int = MANIFEST_FORMAT

    def find(self, kind: IoKind, name: str) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.kind is kind and endpoint.name == name:
                return endpoint
        return None

    def named(self, name: str) -> list[Endpoint]:
        return [e for e in self.endpoints if e.name == name]

    def of_kind(self, kind: IoKind) -> list[Endpoint]:
        return [e for e in self.endpoints if e.kind is kind]

    def by_id(self, kind: IoKind, ident: int) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.kind is kind and endpoint.id == ident:
                return endpoint
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "name": self.name,
            "language": self.language,
            "suites": list(self.suites),
            "operator_key": self.operator_key,
            "endpoints": [
                {"kind": e.kind.value, "name": e.name, "id": e.id, "public": e.public}
                for e in self.endpoints
            ],
        }

    def to_json(self) -> bytes:
        """Canonical encoding: sorted keys, no whitespace, so equal manifests give equal bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @staticmethod
    def from_json(data: bytes, *, where: str = "manifest") -> Manifest:
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"not valid JSON: {exc}", where=where) from exc
        return Manifest.from_dict(raw, where=where)

    @staticmethod
    def from_dict(raw: object, *, where: str = "manifest") -> Manifest:
        if not isinstance(raw, dict):
            raise ManifestError("expected a JSON object", where=where)
        if raw.get("format") != MANIFEST_FORMAT:
            raise ManifestError(
                f"unsupported manifest format {raw.get('format')!r}, expected {MANIFEST_FORMAT}",
                where=where,
            )
        try:
            endpoints = tuple(
                Endpoint(IoKind(e["kind"]), str(e["name"]), int(e["id"]), bool(e["public"]))
                for e in raw["endpoints"]
            )
            manifest = Manifest(
                name=str(raw["name"]),
                language=str(raw["language"]),
                suites=tuple(str(s) for s in raw["suites"]),
                endpoints=endpoints,
                operator_key=str(raw["operator_key"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed manifest field: {exc}", where=where) from exc
        seen: set[tuple[IoKind, int]] = set()
        for endpoint in endpoints:
            key = (endpoint.kind, endpoint.id)
            if key in seen or not 0 < endpoint.id < 0x10000:
                raise ManifestError(
                    f"{endpoint.kind.value} {endpoint.name!r} has a duplicate or invalid id "
                    f"{endpoint.id}",
                    where=where,
                )
            seen.add(key)
        return manifest


def assign_ids(declared: dict[IoKind, dict[str, bool]]) -> tuple[Endpoint, ...]:
    """Give every declared endpoint its stable id (sorted names per kind, from 1)."""
    endpoints: list[Endpoint] = []
    for kind in IoKind:
        names = sorted(declared.get(kind, {}))
        for index, name in enumerate(names, start=1):
            endpoints.append(Endpoint(kind, name, index, declared[kind][name]))
    return tuple(endpoints)
