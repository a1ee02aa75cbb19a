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
# Reserved ids outside every kind's range: the two ends of an update's state transfer, which
# every persistent module has (spec/protocol.md §7.6).  Never in a manifest.
STATE_OUT_ID = 0xF001  # sender: keying it makes the old instance send its sealed data
STATE_IN_ID = 0xF002  # receiver: the new instance takes that data as its own


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
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ManifestError(f"not valid JSON: {exc}", where=where) from exc
        return Manifest.from_dict(raw, where=where)

    @staticmethod
    def from_dict(raw: object, *, where: str = "manifest") -> Manifest:
        """Strict: every field must have its JSON type; errors name the field's path."""

        def fail(path: str, problem: str) -> ManifestError:
            return ManifestError(f"{path}: {problem}", where=where)

        def get(obj: dict[str, Any], key: str, kind: type, path: str = "") -> Any:
            if key not in obj:
                raise fail(path + key, "missing")
            value = obj[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise fail(path + key, f"expected {kind.__name__}, got {type(value).__name__}")
            return value

        if not isinstance(raw, dict):
            raise ManifestError("expected a JSON object", where=where)
        fmt = raw.get("format")
        if type(fmt) is not int or fmt != MANIFEST_FORMAT:
            raise fail("format", f"unsupported manifest format {fmt!r}, expected {MANIFEST_FORMAT}")
        suites = get(raw, "suites", list)
        for i, suite in enumerate(suites):
            if not isinstance(suite, str):
                raise fail(f"suites[{i}]", f"expected str, got {type(suite).__name__}")
        kinds = {k.value: k for k in IoKind}
        endpoints: list[Endpoint] = []
        seen_ids: set[int] = set()
        seen_names: set[tuple[IoKind, str]] = set()
        for i, e in enumerate(get(raw, "endpoints", list)):
            path = f"endpoints[{i}]."
            if not isinstance(e, dict):
                raise fail(path[:-1], f"expected object, got {type(e).__name__}")
            kind_text = get(e, "kind", str, path)
            if kind_text not in kinds:
                raise fail(path + "kind", f"{kind_text!r} is not one of {', '.join(kinds)}")
            endpoint = Endpoint(
                kinds[kind_text],
                get(e, "name", str, path),
                get(e, "id", int, path),
                get(e, "public", bool, path),
            )
            ident = endpoint.id
            if ident in seen_ids or ident >> 12 != KIND_CODE[endpoint.kind] or not ident & 0xFFF:
                raise fail(
                    path + "id",
                    f"{endpoint.kind.value} {endpoint.name!r}: duplicate or invalid id {ident}",
                )
            if (endpoint.kind, endpoint.name) in seen_names:
                raise fail(path + "name", f"duplicate {endpoint.kind.value} {endpoint.name!r}")
            seen_ids.add(ident)
            seen_names.add((endpoint.kind, endpoint.name))
            endpoints.append(endpoint)
        return Manifest(
            name=get(raw, "name", str),
            language=get(raw, "language", str),
            suites=tuple(suites),
            endpoints=tuple(endpoints),
            operator_key=get(raw, "operator_key", str),
        )


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
