"""Interface checks against module manifests: legal connection shapes, io names, single handler
per request, suites both ends support, and periodic timers on public entries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from authex.descriptor import Descriptor, Problem, check_interfaces, connection_kind
from authex.manifest import IoKind, Manifest, assign_ids

Load = Callable[[str], Descriptor]

HEADER = """\
name: app
nodes:
  - {name: cloud, tee: native, host: 127.0.0.1, port: 7101}
modules:
  - {name: controller, node: cloud, language: python, source: modules/controller}
  - {name: sensor1, node: cloud, language: c, source: modules/sensor1}
  - {name: weather, node: cloud, language: rust, source: modules/weather}
"""  # lines 1-7; connection i is written on lines 9+2i (from) and 10+2i (to)


def make_manifest(
    name: str, language: str, suites: tuple[str, ...], **kinds: dict[str, bool]
) -> Manifest:
    declared = {IoKind(kind): names for kind, names in kinds.items()}
    return Manifest(name, language, suites, assign_ids(declared), "00" * 32)


MANIFESTS = {
    "controller": make_manifest(
        "controller",
        "python",
        ("aes-gcm-128",),
        input={"reading": False, "set_threshold": False},
        output={"open_valve": False},
        request={"forecast": False},
        handler={"status": False},
        entry={"report": True, "reset": False},
    ),
    "sensor1": make_manifest(
        "sensor1",
        "c",
        ("aes-gcm-128", "spongewrap-128"),
        output={"reading": False},
        request={"ask": False},
        entry={"sample": True},
    ),
    "weather": make_manifest(
        "weather",
        "rust",
        ("aes-gcm-128", "ascon-aead128"),
        input={"update": False},
        output={"alert": False},
        handler={"forecast": False, "answer": False},
    ),
}


def wiring(*pairs: tuple[str, str], periodic: str = "") -> str:
    lines = [f"  - from: {source}\n    to: {target}\n" for source, target in pairs]
    return HEADER + "connections:\n" + "".join(lines) + periodic


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, "\n".join(str(p) for p in found)
    return found[0]


def check(load: Load, text: str) -> list[Problem]:
    return check_interfaces(load(text), MANIFESTS)


def test_every_legal_shape_passes_and_has_its_kind(load: Load) -> None:
    descriptor = load(
        wiring(
            ("sensor1.reading", "controller.reading"),
            ("controller.forecast", "weather.forecast"),
            ("operator", "controller.set_threshold"),
            ("operator", "controller.status"),
            ("controller.open_valve", "operator"),
        )
    )
    assert check_interfaces(descriptor, MANIFESTS) == []
    kinds = [connection_kind(descriptor, MANIFESTS, c) for c in descriptor.connections]
    assert kinds == ["event", "request", "direct-event", "direct-request", "watch"]


def test_connection_into_an_output(load: Load) -> None:
    problem = only(check(load, wiring(("operator", "controller.open_valve"))))
    assert problem.field == "connections[0].to"
    assert problem.location is not None and problem.location.line == 10
    assert problem.message == (
        "controller.open_valve is an output; a connection into a module must end at an input "
        "or a handler"
    )


def test_output_wired_to_a_handler(load: Load) -> None:
    problem = only(check(load, wiring(("sensor1.reading", "weather.forecast"))))
    assert (problem.field, problem.location and problem.location.line) == ("connections[0].to", 10)
    assert problem.message == (
        "sensor1.reading is wired to weather.forecast, a handler: an output may only feed an "
        "input (a handler answers requests)"
    )


def test_request_wired_to_an_input(load: Load) -> None:
    problem = only(check(load, wiring(("controller.forecast", "weather.update"))))
    assert (problem.field, problem.location and problem.location.line) == ("connections[0].to", 10)
    assert "a request may only be wired to a handler, not to input weather.update" in (
        problem.message
    )


def test_request_wired_to_the_operator(load: Load) -> None:
    problem = only(check(load, wiring(("sensor1.ask", "operator"))))
    assert problem.field == "connections[0].to"
    assert "a request may only be wired to a handler of a module, not to the operator" in (
        problem.message
    )


def test_unknown_io_lists_what_the_module_declares(load: Load) -> None:
    problem = only(check(load, wiring(("sensor1.redaing", "controller.reading"))))
    assert (problem.field, problem.location and problem.location.line) == (
        "connections[0].from",
        9,
    )
    assert problem.message == (
        "unknown io 'redaing' of module sensor1, expected one of: ask (request), "
        "reading (output), sample (entry)"
    )


@pytest.mark.parametrize(
    ("source", "kind"), [("controller.reading", "an input"), ("sensor1.sample", "an entry")]
)
def test_connection_out_of_an_input_or_entry(load: Load, source: str, kind: str) -> None:
    problem = only(check(load, wiring((source, "weather.update"))))
    assert (problem.field, problem.location and problem.location.line) == (
        "connections[0].from",
        9,
    )
    assert problem.message == (
        f"{source} is {kind}; a connection out of a module must start at an output or a request"
    )


def test_a_request_has_exactly_one_handler(load: Load) -> None:
    found = check(
        load,
        wiring(
            ("controller.forecast", "weather.forecast"),
            ("controller.forecast", "weather.answer"),
        ),
    )
    problem = only(found)
    assert (problem.field, problem.location and problem.location.line) == (
        "connections[1].from",
        11,
    )
    assert problem.message == (
        "request controller.forecast is already wired by connection "
        "'controller.forecast->weather.forecast', line 9: a request has exactly one handler"
    )


def test_an_output_may_feed_many_inputs(load: Load) -> None:
    text = wiring(
        ("sensor1.reading", "controller.reading"),
        ("sensor1.reading", "weather.update"),
        ("sensor1.reading", "operator"),
    )
    assert check(load, text) == []


def test_suite_must_be_supported_by_both_module_ends(load: Load) -> None:
    text = HEADER + (
        "connections:\n"
        "  - {from: sensor1.reading, to: weather.update, suite: ascon-aead128}\n"
        "  - {from: sensor1.reading, to: weather.update, suite: aes-gcm-128, name: ok}\n"
        "  - {from: operator, to: controller.reading, suite: spongewrap-128}\n"
    )
    found = check(load, text)
    assert [(p.field, p.location and p.location.line) for p in found] == [
        ("connections[0].suite", 9),
        ("connections[2].suite", 11),
    ]
    assert found[0].message == (
        "suite 'ascon-aead128' is not supported by module sensor1 "
        "(it supports: aes-gcm-128, spongewrap-128)"
    )
    assert "not supported by module controller" in found[1].message  # the operator is fine


def test_periodic_entry_must_be_public(load: Load) -> None:
    periodic = "periodic:\n  - {module: controller, entry: reset, every: 1s}\n"
    problem = only(check(load, wiring(periodic=periodic)))
    assert (problem.field, problem.location and problem.location.line) == ("periodic[0].entry", 10)
    assert problem.message == (
        "entry 'reset' of controller is not public: periodic timers are run by the untrusted "
        "agent and may only call public entries"
    )


def test_periodic_entry_must_exist(load: Load) -> None:
    periodic = (
        "periodic:\n"
        "  - {module: sensor1, entry: smaple, every: 1s}\n"
        "  - {module: sensor1, entry: reading, every: 1s}\n"
        "  - {module: sensor1, entry: sample, every: 1s}\n"
    )
    found = check(load, wiring(periodic=periodic))
    assert [(p.field, p.location and p.location.line) for p in found] == [
        ("periodic[0].entry", 10),
        ("periodic[1].entry", 11),
    ]
    assert found[0].message == "unknown entry 'smaple' of module sensor1, expected one of: sample"
    assert found[1].message.startswith("sensor1.reading is an output, not an entry")


def test_missing_manifest_and_language_mismatch(load: Load) -> None:
    descriptor = load(wiring(("sensor1.reading", "controller.reading")))
    manifests = {"sensor1": MANIFESTS["sensor1"], "weather": MANIFESTS["weather"]}
    manifests["weather"] = make_manifest("weather", "c", ("aes-gcm-128",), handler={"x": False})
    found = check_interfaces(descriptor, manifests)
    assert [(p.field, p.location and p.location.line) for p in found] == [
        ("modules[0]", 5),
        ("modules[2].language", 7),
    ]
    assert found[0].message == "no manifest for module 'controller' (has it been built?)"
    assert found[1].message == (
        "module weather is declared as 'rust' but its manifest says it is written in 'c'"
    )


def test_a_name_shared_by_two_kinds_resolves_by_position(load: Load) -> None:
    manifests = dict(MANIFESTS)
    manifests["weather"] = make_manifest(
        "weather", "rust", ("aes-gcm-128",), input={"data": False}, output={"data": False}
    )
    descriptor = load(
        wiring(("weather.data", "controller.reading"), ("sensor1.reading", "weather.data"))
    )
    assert check_interfaces(descriptor, manifests) == []
    kinds = {connection_kind(descriptor, manifests, c) for c in descriptor.connections}
    assert kinds == {"event"}


def test_connection_kind_rejects_an_illegal_connection(load: Load) -> None:
    descriptor = load(wiring(("sensor1.reading", "weather.forecast"), ("sensor1.nope", "operator")))
    with pytest.raises(ValueError, match="has no legal shape"):
        connection_kind(descriptor, MANIFESTS, descriptor.connections[0])
    with pytest.raises(ValueError, match=r"cannot resolve sensor1\.nope"):
        connection_kind(descriptor, MANIFESTS, descriptor.connections[1])
