"""SHA-256, HMAC-SHA256 and constant-time comparison through pyca/cryptography.

Code that runs inside module processes uses these instead of ``hashlib`` and ``hmac``: those load
the system's OpenSSL next to the one cryptography already carries, about 3.5 MiB per module.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac

try:  # the C routine hmac.compare_digest is, without importing hmac (and so _hashlib)
    from _operator import _compare_digest as _constant_time_equal
except ImportError:  # pragma: no cover - other Python implementations
    from hmac import compare_digest as _constant_time_equal  # type: ignore[no-redef]


def sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = _hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison (for tags and MACs)."""
    return bool(_constant_time_equal(a, b))
