"""Secret: key bytes never appear in repr, str, format or error output."""

from __future__ import annotations

import base64
import logging

import pytest

from authex.crypto.secret import Secret

RAW = bytes.fromhex("8f3a5c7e9b1d2f4a6c8e0b2d4f6a8c0e")


def renderings(secret: Secret) -> list[str]:
    return [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "%s %r" % (secret, secret),  # noqa: UP031 - the old style must be safe too
        "{}".format(secret),  # noqa: UP032
        repr([secret]),
        repr({"key": secret}),
    ]


def forms_of(raw: bytes) -> list[str]:
    return [
        raw.hex(),
        raw.hex().upper(),
        raw.hex(" "),
        repr(raw),
        str(raw),
        raw.decode("latin-1"),
        base64.b64encode(raw).decode(),
        str(list(raw)),
    ]


@pytest.mark.parametrize("raw", [RAW, b"A" * 16, bytes(range(32))])
def test_renderings_never_contain_the_key(raw: bytes) -> None:
    secret = Secret(raw)
    for text in renderings(secret):
        assert f"{len(raw)} bytes redacted" in text
        for form in forms_of(raw):
            assert form not in text


def test_logging_does_not_reveal(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("authex.test").info("using key %s (%r)", Secret(RAW), Secret(RAW))
    assert RAW.hex() not in caplog.text
    assert "redacted" in caplog.text


def test_reveal_and_len() -> None:
    secret = Secret(RAW)
    assert secret.reveal() == RAW
    assert len(secret) == 16


def test_copies_its_input() -> None:
    source = bytearray(RAW)
    secret = Secret(bytes(source))
    mutable = Secret(source)  # type: ignore[arg-type]  # callers may pass a bytearray
    source[0] ^= 0xFF
    assert secret.reveal() == RAW
    assert mutable.reveal() == RAW
    assert isinstance(mutable.reveal(), bytes)


def test_equality_and_hash() -> None:
    assert Secret(RAW) == Secret(bytes(RAW))
    assert Secret(RAW) != Secret(bytes(16))
    assert Secret(RAW) != RAW  # never equal to raw bytes
    assert hash(Secret(RAW)) == hash(Secret(bytes(16)))  # the hash reveals only the length
    assert len({Secret(RAW), Secret(bytes(RAW))}) == 1


def test_no_instance_dict() -> None:
    assert not hasattr(Secret(RAW), "__dict__")
