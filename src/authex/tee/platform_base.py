"""The node side of a TEE backend: the (emulated) platform that admits artifacts as modules.

A platform holds the node's root secrets.  ``admit`` checks an artifact the way the TEE would
(signature, layout), measures it, derives the module key where the hardware would, and returns
what the module process needs.  ``enrolment`` is what the operator pins for this node in its
trust file.  Platforms are looked up by TEE kind in ``tee/platforms.py``, from the registry of kinds
(``authex/kinds.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from authex.errors import BackendError


@dataclass(frozen=True)
class Admission:
    measurement: bytes
    payload: bytes  # the module artifact (ZIP) the runner executes
    module_key: bytes = b""  # K_m derived by the platform (Sancus, TrustZone)
    mr_signer: bytes = b""  # SGX only
    isv_prod_id: int = 0
    isv_svn: int = 0
    debug: bool = False

    def __repr__(self) -> str:
        return f"Admission(measurement={self.measurement.hex()[:16]}…, key redacted)"


class Platform(Protocol):
    tee: str
    emulated: bool
    description: str

    def admit(self, name: str, artifact: bytes) -> Admission: ...

    def quote(self, admission: Admission, report_data: bytes) -> bytes: ...

    def enrolment(self, vendor_ids: list[int]) -> dict[str, Any]: ...


class PlatformClass(Protocol):
    """What a kind's ``platform`` path in the registry (authex/kinds.py) names: a class that
    opens the platform from the node's root secrets and makes those secrets at ``node init``
    (``ta_vendor_public_pem`` is given to kinds that need a TA vendor key, else empty)."""

    def __call__(self, secrets: dict[str, Any]) -> Platform: ...

    def create_secrets(self, node: str, ta_vendor_public_pem: str) -> dict[str, Any]: ...


def no_quotes(tee: str) -> BackendError:
    return BackendError(f"{tee} platforms produce no SGX quotes")
