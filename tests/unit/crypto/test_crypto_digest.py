"""The digest helpers agree with the standard library, and a module process does not load the
standard library's hashlib/hmac (a second OpenSSL, ~3.5 MiB per module)."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys

from authex.crypto.digest import equal, hmac_sha256, sha256


def test_sha256_and_hmac_match_the_standard_library() -> None:
    for data in (b"", b"abc", bytes(range(256)) * 5):
        assert sha256(data) == hashlib.sha256(data).digest()
        assert hmac_sha256(b"k" * 16, data) == hmac.new(b"k" * 16, data, "sha256").digest()


def test_equal_compares_whole_values() -> None:
    assert equal(b"tag-0123", b"tag-0123")
    assert not equal(b"tag-0123", b"tag-0124")
    assert not equal(b"tag", b"tag-0123")
    assert equal(b"", b"")


def test_the_module_runner_does_not_import_hashlib_or_hmac() -> None:
    probe = "import sys, authex.sdk.runner; print(sorted({'hashlib', 'hmac'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
