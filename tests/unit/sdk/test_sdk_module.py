"""Declaring a module: decorators, stable ids, declaration errors and the Context's checks."""

from __future__ import annotations

from typing import Any

import pytest

from authex.errors import ManifestError
from authex.manifest import IoKind
from authex.sdk import Context, Module, RequestError
from authex.sdk.module import MAX_EVENT_PAYLOAD, as_reply


def _sample_module() -> Module:
    module = Module()
    module.outputs("open_valve", "alert")
    module.requests("forecast")

    @module.input()
    def reading(ctx: Context, data: bytes) -> None:
        pass

    @module.input("humidity")
    def on_humidity(ctx: Context, data: bytes) -> None:
        pass

    @module.entry(public=True)
    def sample(ctx: Context, arg: bytes) -> bytes:
        return b""

    @module.entry()
    def configure(ctx: Context, arg: bytes) -> bytes:
        return b""

    @module.handler
    def forecast(ctx: Context, data: bytes) -> bytes:
        return data

    return module


def test_decorators_return_the_function_unchanged() -> None:
    module = Module()

    def fn(ctx: Context, data: bytes) -> None:
        pass

    assert module.input()(fn) is fn
    assert module.entry("e")(fn) is fn
    assert module.handler("h")(fn) is fn


def test_names_default_to_the_function_name_and_ids_follow_the_manifest_rule() -> None:
    module = _sample_module()
    manifest = module.manifest("irrigation", "ab" * 32, ("aes-gcm-128",))
    assert manifest.language == "python"
    ids = {(e.kind, e.name): e.id for e in manifest.endpoints}
    assert ids == {
        (IoKind.INPUT, "humidity"): 0x1001,
        (IoKind.INPUT, "reading"): 0x1002,
        (IoKind.OUTPUT, "alert"): 0x2001,
        (IoKind.OUTPUT, "open_valve"): 0x2002,
        (IoKind.ENTRY, "configure"): 0x3001,
        (IoKind.ENTRY, "sample"): 0x3002,
        (IoKind.REQUEST, "forecast"): 0x4001,
        (IoKind.HANDLER, "forecast"): 0x5001,
    }
    publics = {e.name for e in manifest.endpoints if e.public}
    assert publics == {"sample"}
    assert manifest.find(IoKind.ENTRY, "configure") is not None
    registered = module.callback(IoKind.INPUT, "humidity")
    assert registered is not None and registered.function.__name__ == "on_humidity"


def test_adding_an_input_does_not_renumber_other_kinds() -> None:
    before = {e.name: e.id for e in _sample_module().endpoints() if e.kind is not IoKind.INPUT}
    module = _sample_module()

    @module.input()
    def aaa(ctx: Context, data: bytes) -> None:
        pass

    after = {e.name: e.id for e in module.endpoints() if e.kind is not IoKind.INPUT}
    assert after == before


def test_duplicate_input_names_the_function() -> None:
    module = Module()

    @module.input("reading")
    def first(ctx: Context, data: bytes) -> None:
        pass

    with pytest.raises(ManifestError, match="declared twice") as info:

        @module.input("reading")
        def second(ctx: Context, data: bytes) -> None:
            pass

    assert "second" in str(info.value) and "first" in str(info.value)


def test_duplicate_output_declaration_is_rejected() -> None:
    module = Module()
    module.outputs("alert")
    with pytest.raises(ManifestError, match="output 'alert' is declared twice"):
        module.outputs("alert")


def test_same_name_in_two_kinds_is_allowed() -> None:
    module = Module()
    module.requests("forecast")

    @module.handler()
    def forecast(ctx: Context, data: bytes) -> bytes:
        return data

    assert len([e for e in module.endpoints() if e.name == "forecast"]) == 2


@pytest.mark.parametrize("bad", ["", "has space", "a.b", "1st", "x" * 65])
def test_invalid_names_are_rejected(bad: str) -> None:
    with pytest.raises(ManifestError, match="invalid"):
        Module().outputs(bad)


def test_non_callable_is_rejected() -> None:
    decorate: Any = Module().entry()
    with pytest.raises(ManifestError, match="must decorate a function, got int"):
        decorate(42)


def test_wrong_signature_names_the_function() -> None:
    module = Module()

    def lonely(ctx: Context) -> None:
        pass

    with pytest.raises(ManifestError, match="lonely") as info:
        module.input()(lonely)
    assert "fn(ctx, data)" in str(info.value)


def test_async_and_generator_callbacks_are_rejected() -> None:
    module = Module()

    async def later(ctx: Context, data: bytes) -> None:
        pass

    def many(ctx: Context, data: bytes) -> Any:
        yield data

    with pytest.raises(ManifestError, match="not async") as info:
        module.input()(later)
    assert "later" in str(info.value)
    with pytest.raises(ManifestError, match="many"):
        module.handler()(many)


def test_public_must_be_a_bool() -> None:
    with pytest.raises(ManifestError, match="public"):
        Module().entry(public="yes")  # type: ignore[call-overload]


def _context(module: Module, sent: list[tuple[str, bytes]]) -> Context:
    def emit(output: str, data: bytes) -> int:
        sent.append((output, data))
        return 3

    def request(name: str, data: bytes, timeout: float) -> bytes:
        raise RequestError(f"{name} unconnected")

    return Context("mod", module, emit=emit, request=request)


def test_context_checks_names_types_and_sizes() -> None:
    module = Module()
    module.outputs("alert")
    module.requests("forecast")
    sent: list[tuple[str, bytes]] = []
    ctx = _context(module, sent)
    assert ctx.name == "mod"
    assert ctx.emit("alert", memoryview(b"x").tobytes()) == 3
    assert sent == [("alert", b"x")]
    with pytest.raises(ValueError, match="no output named 'nope'"):
        ctx.emit("nope", b"x")
    with pytest.raises(TypeError, match="must be bytes"):
        ctx.emit("alert", "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exceed the limit"):
        ctx.emit("alert", bytes(MAX_EVENT_PAYLOAD + 1))
    with pytest.raises(ValueError, match="no request named 'alert'"):
        ctx.request("alert", b"x")
    with pytest.raises(ValueError, match="timeout must be positive"):
        ctx.request("forecast", b"x", timeout=0)
    with pytest.raises(RequestError, match="unconnected"):
        ctx.request("forecast", b"x")


def test_context_log_goes_to_stderr_with_the_module_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _context(Module(), []).log("hello")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "[mod] hello\n"


def test_as_reply_normalises_bytes_like_and_none() -> None:
    assert as_reply(None, "x") == b""
    assert as_reply(memoryview(b"ab"), "x") == b"ab"
    with pytest.raises(TypeError, match="entry 'e' returned str"):
        as_reply("ab", "entry 'e'")
