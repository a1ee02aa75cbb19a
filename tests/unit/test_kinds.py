"""The registry of TEE kinds (authex/kinds.py) is the one source of what kinds exist."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from authex import kinds
from authex.attestation.trustzone import vendor_public_pem
from authex.crypto.suites import SUITE_NAMES
from authex.descriptor import TEE_SUITES
from authex.descriptor.model import SUITES, TEES
from authex.descriptor.structure import MODULE_TEE_FIELDS
from authex.errors import BackendError
from authex.tee.base import get_backend
from authex.tee.platforms import create_secrets, open_platform, platform_class

TEE_FOLDER = Path(kinds.__file__).parent / "tee"


def test_unknown_kind_names_the_known_kinds() -> None:
    with pytest.raises(BackendError) as caught:
        kinds.kind("sev")
    assert caught.value.message == (
        "unknown TEE 'sev', expected one of: native, sgx, trustzone, sancus"
    )
    for name in kinds.names():
        assert name in caught.value.message
    assert kinds.kind("sgx").name == "sgx"


def test_names_are_unique_and_in_registry_order() -> None:
    assert kinds.names() == tuple(k.name for k in kinds.KINDS)
    assert len(set(kinds.names())) == len(kinds.KINDS)


def test_suites_come_from_crypto_in_preference_order() -> None:
    assert kinds.SUITES == tuple(SUITE_NAMES) == SUITES
    for kind in kinds.KINDS:
        assert kind.suites, kind.name
        assert kind.suites == tuple(s for s in kinds.SUITES if s in kind.suites), kind.name


def test_descriptor_tables_are_the_registry() -> None:
    assert {k.name: k.suites for k in kinds.KINDS} == TEE_SUITES
    assert kinds.names() == TEES
    assert TEE_SUITES["sancus"] == ("spongewrap-128",)
    assert MODULE_TEE_FIELDS == {
        "vendor_id": (("trustzone", "sancus"), "sancus or trustzone nodes"),
        "isv_prod_id": (("sgx",), "sgx nodes"),
        "isv_svn": (("sgx",), "sgx nodes"),
        "debug": (("sgx",), "sgx nodes"),
    }
    every_field = {f for k in kinds.KINDS for f in k.module_fields}
    assert every_field == set(MODULE_TEE_FIELDS)


def test_accepting_lists_the_kinds_with_a_module_field() -> None:
    assert kinds.accepting("vendor_id") == ("trustzone", "sancus")
    assert kinds.accepting("debug") == ("sgx",)
    assert kinds.accepting("name") == ()


def test_flags_replace_the_special_cases() -> None:
    assert [k.name for k in kinds.KINDS if k.ta_vendor_key] == ["trustzone"]
    assert [k.name for k in kinds.KINDS if not k.openssl] == ["sancus"]


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda k: k.name)
def test_backend_path_imports_the_named_class(kind: kinds.TeeKind) -> None:
    module, _, attribute = kind.backend.partition(":")
    assert module == f"authex.tee.{kind.name}.backend"
    loaded = kinds.load(kind.backend)
    assert isinstance(loaded, type) and loaded.__name__ == attribute
    backend = get_backend(kind.name)
    assert type(backend) is loaded
    assert backend.name == kind.name
    assert backend.control_suite in SUITE_NAMES


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda k: k.name)
def test_platform_path_imports_the_named_class(kind: kinds.TeeKind) -> None:
    module, _, attribute = kind.platform.partition(":")
    assert module == f"authex.tee.{kind.name}.platform"
    loaded = kinds.load(kind.platform)
    assert isinstance(loaded, type) and loaded.__name__ == attribute
    assert cast(object, platform_class(kind.name)) is loaded
    pem = ""
    if kind.ta_vendor_key:
        pem = vendor_public_pem(rsa.generate_private_key(65537, 2048)).decode()
    platform = open_platform(kind.name, create_secrets(kind.name, "n1", ta_vendor_public_pem=pem))
    assert type(platform) is loaded
    assert platform.tee == kind.name
    assert platform.enrolment([4660])["tee"] == kind.name


def test_every_tee_folder_is_registered() -> None:
    folders = {p.parent.name for p in TEE_FOLDER.glob("*/backend.py")}
    assert folders == set(kinds.names())
    assert folders == {p.parent.name for p in TEE_FOLDER.glob("*/platform.py")}


def test_unknown_kinds_are_refused_with_the_same_messages() -> None:
    available = "available: native, sancus, sgx, trustzone"
    with pytest.raises(BackendError, match=f"no backend for TEE 'sev'; {available}"):
        get_backend("sev")
    with pytest.raises(BackendError, match="unknown TEE 'sev', expected one of: native, sgx"):
        create_secrets("sev", "n1")
    with pytest.raises(BackendError, match="unknown TEE 'sev', expected one of: native, sgx"):
        open_platform("sev", {})


def test_a_kind_that_needs_a_ta_vendor_key_refuses_to_start_without_one() -> None:
    with pytest.raises(
        BackendError,
        match=r"a trustzone node needs the TA vendor public key it will trust \(--ta-vendor-key\)",
    ):
        create_secrets("trustzone", "gw")
