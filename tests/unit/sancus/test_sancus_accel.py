"""The C accelerator (authex.crypto._spongent) equals the pure-Python SPONGENT/SpongeWrap.

Tests that need the compiled extension skip, saying so, when it is not built.  The rest of
tests/unit/sancus runs in-process with the dispatch as installed (the accelerator when built) and
once more in a subprocess with ``AUTHEX_PURE_PYTHON=1``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from authex.crypto import spongent_accel
from authex.crypto.sancus_keys import module_identity, module_key, vendor_key
from authex.crypto.spongent import SPONGENT_176, SPONGENT_336, SpongentPermutation
from authex.crypto.spongewrap import (
    _wrap_pure,
    sancus_mac,
    spongewrap_unwrap,
    spongewrap_wrap,
)
from authex.errors import CryptoError

REPO = Path(__file__).resolve().parents[3]
VECTORS: dict[str, Any] = json.loads((REPO / "spec/vectors/sancus/spongewrap.json").read_text())
LEVELS = {"security_128": 16, "security_64": 8}
AD_6164 = bytes.fromhex("6164")

NATIVE = spongent_accel.load_native()
needs_native = pytest.mark.skipif(
    NATIVE is None,
    reason="C extension authex.crypto._spongent is not built (no C compiler at install time?); "
    "only the pure-Python path exists",
)
Wrap = Callable[[bytes, bytes, bytes, bool], tuple[bytes, bytes]]


def _native() -> spongent_accel.NativeSpongent:
    assert NATIVE is not None
    return NATIVE


def _pure(key: bytes, ad: bytes, body: bytes, decrypt: bool) -> tuple[bytes, bytes]:
    return _wrap_pure(key, ad, body, decrypt=decrypt)


def _mac(wrap: Wrap, key: bytes, message: bytes) -> bytes:
    return wrap(key, message, b"", False)[1]


def _identity(section: dict[str, Any]) -> bytes:
    layout = section["layout"]
    return module_identity(
        bytes.fromhex(section["module_text"]),
        layout["public_start"],
        layout["public_end"],
        layout["secret_start"],
        layout["secret_end"],
    )


@pytest.fixture(params=["native", "pure"])
def dispatch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test through the public functions once with the accelerator and once without."""
    if request.param == "native":
        if NATIVE is None:
            pytest.skip("C extension authex.crypto._spongent is not built")
        monkeypatch.setattr(spongent_accel, "NATIVE", NATIVE)
    else:
        monkeypatch.setattr(spongent_accel, "NATIVE", None)
    return str(request.param)


@needs_native
@pytest.mark.parametrize("level", list(LEVELS))
def test_every_vector_on_both_paths(level: str) -> None:
    section = VECTORS[level]
    size = LEVELS[level]
    node_key = bytes.fromhex(section["node_key"])
    vendor_le16 = section["vendor_id"].to_bytes(2, "little")
    checked = 0
    for wrap in (_native().wrap, _pure):
        k_vendor = _mac(wrap, node_key, vendor_le16)
        assert k_vendor.hex() == section["vendor_key"]
        assert _mac(wrap, bytes(size), b"").hex() == section["mac_zero_key_empty"]
        if "module_key" in section:
            k_module = _mac(wrap, k_vendor, _identity(section))
            assert k_module.hex() == section["module_key"]
            assert _mac(wrap, k_module, AD_6164).hex() == section["mac_module_key_ad_6164"]
        for name, case in section.items():
            if not name.startswith("wrap_"):
                continue
            body, cipher, tag = (bytes.fromhex(case[k]) for k in ("body", "cipher", "tag"))
            assert wrap(bytes(size), AD_6164, body, False) == (cipher, tag)
            assert wrap(bytes(size), AD_6164, cipher, True) == (body, tag)
            checked += 1
    assert checked >= 2


@needs_native
@pytest.mark.parametrize("perm", [SPONGENT_176, SPONGENT_336], ids=lambda p: str(p.width))
def test_permutation_agrees(perm: SpongentPermutation) -> None:
    rng = random.Random(perm.width)
    size = perm.size_bytes
    states = [bytes(size), b"\xff" * size, b"\x01" + bytes(size - 1), bytes(size - 1) + b"\x80"]
    states += [rng.randbytes(size) for _ in range(40)]
    for state in states:
        assert _native().permute(state, perm.width) == perm.permute_bytes(state)


@needs_native
def test_permutation_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="176 or 336"):
        _native().permute(bytes(20), 160)
    with pytest.raises(ValueError, match="42 bytes"):
        _native().permute(bytes(22), 336)


@needs_native
@pytest.mark.parametrize("key_size", [16, 8], ids=["128", "64"])
def test_random_inputs_agree(key_size: int) -> None:
    rng = random.Random(key_size)
    sizes = [*range(0, 20), 31, 32, 33, 64, 65, 127, 128]
    for body_size in sizes:
        for ad_size in (0, 1, 2, 3, rng.randrange(4, 40)):
            key, ad, body = (rng.randbytes(n) for n in (key_size, ad_size, body_size))
            expected = _pure(key, ad, body, False)
            assert _native().wrap(key, ad, body, False) == expected
            # decrypting the ciphertext gives the body and the same tag, on both paths
            assert _native().wrap(key, ad, expected[0], True) == (body, expected[1])
            assert _pure(key, ad, expected[0], True) == (body, expected[1])


@needs_native
def test_native_accepts_any_buffer_and_checks_the_key() -> None:
    key, ad, body = bytes(range(16)), b"ad", b"body!"
    expected = _pure(key, ad, body, False)
    assert _native().wrap(bytearray(key), memoryview(ad), bytearray(body), False) == expected
    for size in (0, 7, 12, 15, 17, 32):
        with pytest.raises(ValueError, match="16 or 8 bytes"):
            _native().wrap(bytes(size), b"", b"", False)


@needs_native
def test_concurrent_calls_agree() -> None:
    """The extension releases the GIL during a pass; threads must not disturb each other."""
    rng = random.Random(7)
    jobs = [(rng.randbytes(16), rng.randbytes(300 + i), rng.randbytes(i)) for i in range(16)]
    expected = [_pure(k, a, b, False) for k, a, b in jobs]
    results: dict[int, tuple[bytes, bytes]] = {}

    def worker(index: int) -> None:
        for _ in range(5):
            key, ad, body = jobs[index]
            results[index] = _native().wrap(key, ad, body, False)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(len(jobs))] == expected


@pytest.mark.parametrize("key_size", [16, 8], ids=["128", "64"])
def test_unwrap_rejection_on_both_paths(dispatch: str, key_size: int) -> None:
    rng = random.Random(key_size * 31)
    for body_size in (0, 1, 2, 5, 16, 33):
        key, ad, body = rng.randbytes(key_size), rng.randbytes(6), rng.randbytes(body_size)
        cipher, tag = spongewrap_wrap(key, ad, body)
        assert (cipher, tag) == _pure(key, ad, body, False)
        assert spongewrap_unwrap(key, ad, cipher, tag) == body
        for i in range(len(tag)):
            bad = bytearray(tag)
            bad[i] ^= 1 << (i % 8)
            with pytest.raises(CryptoError):
                spongewrap_unwrap(key, ad, cipher, bytes(bad))
        for i in range(len(cipher)):
            bad = bytearray(cipher)
            bad[i] ^= 0x10
            with pytest.raises(CryptoError):
                spongewrap_unwrap(key, ad, bytes(bad), tag)
        other_key = bytes(b ^ 1 for b in key)
        for args in ((key, ad + b"x", cipher), (other_key, ad, cipher)):
            with pytest.raises(CryptoError):
                spongewrap_unwrap(*args, tag)
        with pytest.raises(CryptoError):
            spongewrap_unwrap(key, ad, cipher, tag[:-1])


def test_bad_key_sizes_raise_crypto_error_on_both_paths(dispatch: str) -> None:
    for size in (0, 7, 15, 32):
        with pytest.raises(CryptoError):
            spongewrap_wrap(bytes(size), b"", b"")
        with pytest.raises(CryptoError):
            sancus_mac(bytes(size), b"")


class _Recorder:
    """Stands in for the extension: records calls, answers with the pure-Python result."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int, bool]] = []

    def permute(self, state: spongent_accel.BytesLike, width: int, /) -> bytes:
        raise AssertionError("the dispatch should not call permute")

    def wrap(
        self,
        key: spongent_accel.BytesLike,
        ad: spongent_accel.BytesLike,
        body: spongent_accel.BytesLike,
        decrypt: bool,
        /,
    ) -> tuple[bytes, bytes]:
        self.calls.append((len(key), len(ad), len(body), decrypt))
        return _pure(bytes(key), bytes(ad), bytes(body), decrypt)


def test_public_functions_dispatch_to_the_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(spongent_accel, "NATIVE", recorder)
    section = VECTORS["security_128"]
    k_vendor = vendor_key(bytes.fromhex(section["node_key"]), section["vendor_id"])
    assert k_vendor.hex() == section["vendor_key"]
    assert module_key(k_vendor, _identity(section)).hex() == section["module_key"]
    cipher, tag = spongewrap_wrap(bytes(16), b"ad", b"body")
    assert spongewrap_unwrap(bytes(16), b"ad", cipher, tag) == b"body"
    assert recorder.calls == [
        (16, 2, 0, False),
        (16, len(_identity(section)), 0, False),
        (16, 2, 4, False),
        (16, 2, 4, True),
    ]


def _python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != spongent_accel.ENV_VAR}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_environment_variable_selects_the_path() -> None:
    code = "from authex.crypto import spongent_accel as a; print(a.ACCELERATED, a.NATIVE is None)"
    assert _python(code, AUTHEX_PURE_PYTHON="1") == "False True"
    assert _python(code, AUTHEX_PURE_PYTHON="0") == ("True False" if NATIVE else "False True")
    assert _python(code) == ("True False" if NATIVE else "False True")


@needs_native
def test_sancus_suite_passes_in_pure_python_mode() -> None:
    """The other tests of this folder, again, in a process where AUTHEX_PURE_PYTHON=1."""
    here = Path(__file__).resolve()
    others = sorted(str(p) for p in here.parent.glob("test_*.py") if p != here)
    assert len(others) >= 3
    environ = dict(os.environ, AUTHEX_PURE_PYTHON="1")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *others],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


@needs_native
def test_module_key_of_4_kib_within_budget() -> None:
    """The requirement: a 4 KiB module-key derivation (128-bit) in at most 50 ms."""
    identity = module_identity(bytes(range(256)) * 16, 0x5000, 0x6000, 0x0400, 0x0420)
    runs = []
    for _ in range(5):
        start = time.process_time()
        _native().wrap(bytes(16), identity, b"", False)
        runs.append(time.process_time() - start)
    assert statistics.median(runs) < 0.050
