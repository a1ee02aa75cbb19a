"""The module manifest: stable ids, canonical JSON, strict parsing with errors naming the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from authex.errors import ManifestError
from authex.manifest import (
    KIND_CODE,
    MAX_PER_KIND,
    Endpoint,
    IoKind,
    Manifest,
    assign_ids,
)

DECLARED: dict[IoKind, dict[str, bool]] = {
    IoKind.INPUT: {"temperature": False, "humidity": False},
    IoKind.OUTPUT: {"alarm": False},
    IoKind.ENTRY: {"reset": False, "ping": True},
    IoKind.HANDLER: {"read": False},
}


def manifest(endpoints: tuple[Endpoint, ...] | None = None) -> Manifest:
    return Manifest(
        name="sensor",
        language="python",
        suites=("aes-gcm-128", "ascon-aead128"),
        endpoints=assign_ids(DECLARED) if endpoints is None else endpoints,
        operator_key="ab" * 32,
    )


# --- assign_ids -------------------------------------------------------------------------------


def test_assign_ids_values() -> None:
    ids = {(e.kind, e.name): e.id for e in assign_ids(DECLARED)}
    assert ids == {
        (IoKind.INPUT, "humidity"): 0x1001,
        (IoKind.INPUT, "temperature"): 0x1002,
        (IoKind.OUTPUT, "alarm"): 0x2001,
        (IoKind.ENTRY, "ping"): 0x3001,
        (IoKind.ENTRY, "reset"): 0x3002,
        (IoKind.HANDLER, "read"): 0x5001,
    }
    assert KIND_CODE[IoKind.REQUEST] == 4


def test_assign_ids_independent_of_declaration_order() -> None:
    reordered = {
        kind: dict(reversed(list(names.items())))
        for kind, names in reversed(list(DECLARED.items()))
    }
    assert assign_ids(reordered) == assign_ids(DECLARED)
    assert assign_ids(DECLARED) == assign_ids(DECLARED)


def test_assign_ids_stable_when_other_kinds_grow() -> None:
    grown = {**DECLARED, IoKind.INPUT: {**DECLARED[IoKind.INPUT], "aaa": False}}
    before = {(e.kind, e.name): e.id for e in assign_ids(DECLARED) if e.kind is not IoKind.INPUT}
    after = {(e.kind, e.name): e.id for e in assign_ids(grown) if e.kind is not IoKind.INPUT}
    assert before == after


def test_assign_ids_sorts_by_code_point() -> None:
    ids = {e.name: e.id for e in assign_ids({IoKind.OUTPUT: {"b": False, "B": False, "a": False}})}
    assert ids == {"B": 0x2001, "a": 0x2002, "b": 0x2003}


def test_assign_ids_keeps_public_flag() -> None:
    public = {e.name: e.public for e in assign_ids(DECLARED) if e.kind is IoKind.ENTRY}
    assert public == {"ping": True, "reset": False}


def test_assign_ids_limit_per_kind() -> None:
    at_limit = {IoKind.INPUT: {f"i{n:04}": False for n in range(MAX_PER_KIND)}}
    assert max(e.id for e in assign_ids(at_limit)) == 0x1FFF
    over = {IoKind.INPUT: {f"i{n:04}": False for n in range(MAX_PER_KIND + 1)}}
    with pytest.raises(ManifestError, match="more than 4095 inputs"):
        assign_ids(over)


# --- lookups ----------------------------------------------------------------------------------


def test_lookups() -> None:
    m = manifest()
    found = m.find(IoKind.ENTRY, "ping")
    assert found is not None and found.id == 0x3001 and found.public
    assert m.find(IoKind.INPUT, "ping") is None
    assert m.by_id(0x5001) == Endpoint(IoKind.HANDLER, "read", 0x5001)
    assert m.by_id(0x4001) is None
    assert [e.name for e in m.of_kind(IoKind.INPUT)] == ["humidity", "temperature"]
    assert m.named("alarm") == [Endpoint(IoKind.OUTPUT, "alarm", 0x2001)]


# --- canonical JSON ---------------------------------------------------------------------------


def test_to_json_canonical_bytes() -> None:
    small = manifest((Endpoint(IoKind.ENTRY, "ping", 0x3001, True),))
    assert small.to_json() == (
        b'{"endpoints":[{"id":12289,"kind":"entry","name":"ping","public":true}],'
        b'"format":1,"language":"python","name":"sensor","operator_key":"' + b"ab" * 32 + b'",'
        b'"suites":["aes-gcm-128","ascon-aead128"]}'
    )


def test_to_json_sorted_and_compact() -> None:
    data = manifest().to_json()
    assert b" " not in data and b"\n" not in data
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()


def test_equal_manifests_give_equal_bytes() -> None:
    reordered = {kind: dict(reversed(list(names.items()))) for kind, names in DECLARED.items()}
    assert manifest(assign_ids(reordered)).to_json() == manifest().to_json()


def test_json_round_trip() -> None:
    m = manifest()
    assert Manifest.from_json(m.to_json()) == m
    assert Manifest.from_json(m.to_json()).to_json() == m.to_json()


def test_non_ascii_name_round_trips() -> None:
    m = Manifest("capteur-é", "rust", ("aes-gcm-128",), (), "00" * 32)
    assert Manifest.from_json(m.to_json()) == m
    assert m.to_json().isascii()


# --- from_json errors -------------------------------------------------------------------------


def good() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(manifest().to_json())
    return parsed


def reject(mutate: Callable[[dict[str, Any]], object], where: str = "sensor.manifest") -> str:
    raw = good()
    mutate(raw)
    with pytest.raises(ManifestError) as info:
        Manifest.from_json(json.dumps(raw).encode(), where=where)
    assert info.value.where == where
    return str(info.value)


@pytest.mark.parametrize("data", [b"", b"not json", b"{", b"\xff\xfe"])
def test_not_json(data: bytes) -> None:
    with pytest.raises(ManifestError, match="not valid JSON") as info:
        Manifest.from_json(data, where="m.json")
    assert info.value.where == "m.json"


@pytest.mark.parametrize("data", [b"[]", b"null", b"1", b'"x"'])
def test_not_an_object(data: bytes) -> None:
    with pytest.raises(ManifestError, match="expected a JSON object"):
        Manifest.from_json(data)


def test_unsupported_format_named() -> None:
    text = reject(lambda raw: raw.__setitem__("format", 2))
    assert "format" in text and "2" in text


@pytest.mark.parametrize("field", ["name", "language", "suites", "operator_key", "endpoints"])
def test_missing_top_level_field_named(field: str) -> None:
    assert field in reject(lambda raw: raw.pop(field))


@pytest.mark.parametrize("field", ["kind", "name", "id", "public"])
def test_missing_endpoint_field_named(field: str) -> None:
    assert field in reject(lambda raw: raw["endpoints"][0].pop(field))


@pytest.mark.parametrize("ident", [0, 0x2001, 0x1000, 0x11001, -1])
def test_invalid_endpoint_id_named(ident: int) -> None:
    text = reject(lambda raw: raw["endpoints"][0].__setitem__("id", ident))
    assert "humidity" in text and str(ident) in text


def test_duplicate_id_named() -> None:
    def duplicate(raw: dict[str, Any]) -> None:
        raw["endpoints"][1]["id"] = raw["endpoints"][0]["id"]

    assert "duplicate" in reject(duplicate)


def setter(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], object]:
    def mutate(raw: dict[str, Any]) -> None:
        target: Any = raw
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        pytest.param(("name",), 5, "name", id="name-int"),
        pytest.param(("language",), None, "language", id="language-null"),
        pytest.param(("operator_key",), 5, "operator_key", id="operator_key-int"),
        pytest.param(("format",), True, "format", id="format-true"),
        pytest.param(("suites",), "aes-gcm-128", "suites", id="suites-str"),
        pytest.param(("suites",), None, "suites", id="suites-null"),
        pytest.param(("endpoints",), 5, "endpoints", id="endpoints-int"),
        pytest.param(("endpoints",), {"a": 1}, "endpoints", id="endpoints-object"),
        pytest.param(("endpoints", 0), 5, "endpoints", id="endpoint-int"),
        pytest.param(("endpoints", 0, "kind"), "bogus", "kind", id="kind-unknown"),
        pytest.param(("endpoints", 0, "name"), 7, "name", id="endpoint-name-int"),
        pytest.param(("endpoints", 0, "id"), "4097", "id", id="id-str"),
        pytest.param(("endpoints", 0, "id"), 4097.5, "id", id="id-float"),
        pytest.param(("endpoints", 0, "public"), "false", "public", id="public-str"),
        pytest.param(("endpoints", 0, "public"), 0, "public", id="public-int"),
    ],
)
def test_wrong_type_rejected_naming_the_field(
    path: tuple[str | int, ...], value: object, field: str
) -> None:
    assert field in reject(setter(path, value))


def test_duplicate_endpoint_name_rejected() -> None:
    def duplicate(raw: dict[str, Any]) -> None:
        raw["endpoints"].append(
            {"kind": "input", "name": "humidity", "id": 0x1003, "public": False}
        )

    assert "humidity" in reject(duplicate)
