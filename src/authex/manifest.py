"""The module manifest: a module's name, language, interface with stable numeric ids, and suites.

Every SDK's build emits one (as canonical JSON inside the artifact).  The deployer resolves the
names used in a descriptor through it, never through symbol parsing.  Ids are a function of the
declared names only and unique across kinds: id = KIND_CODE << 12 | n, where n = 1, 2, 3, ...
numbers the names of that kind sorted by code point (so adding an input never renumbers an output).
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


KIND_CODE = {
    IoKind.INPUT: 1,
    IoKind.OUTPUT: 2,
    IoKind.ENTRY: 3,
    IoKind.REQUEST: 4,
    IoKind.HANDLER: 5,
}
MAX_PER_KIND = 0xFFF


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

    def by_id(self, ident: int) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.id == ident:
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
            for e in raw["endpoints"]:
                if not isinstance(e["public"], bool) or type(e["id"]) is not int:
                    raise ManifestError(
                        f"endpoint {e.get('name')!r}: 'public' must be a boolean and 'id' an "
                        "integer",
                        where=where,
                    )
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
        seen: set[int] = set()
        for endpoint in endpoints:
            key = endpoint.id
            if key in seen or endpoint.id >> 12 != KIND_CODE[endpoint.kind] or not key & 0xFFF:
                raise ManifestError(
                    f"{endpoint.kind.value} {endpoint.name!r} has a duplicate or invalid id "
                    f"{endpoint.id}",
                    where=where,
                )
            seen.add(key)
        return manifest


def assign_ids(declared: dict[IoKind, dict[str, bool]]) -> tuple[Endpoint, ...]:
    """Give every declared endpoint its stable id; ``declared[kind][name]`` = is-public."""
    endpoints: list[Endpoint] = []
    for kind in IoKind:
        names = sorted(declared.get(kind, {}))
        if len(names) > MAX_PER_KIND:
            raise ManifestError(f"more than {MAX_PER_KIND} {kind.value}s declared")
        for index, name in enumerate(names, start=1):
            ident = KIND_CODE[kind] << 12 | index
            endpoints.append(Endpoint(kind, name, ident, declared[kind][name]))
    return tuple(endpoints)
