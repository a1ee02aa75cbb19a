"""Several operators enrolled on one node can each open a control link: every certificate has a
subject of its own (the key's id) and a subject key identifier, so OpenSSL finds the right
enrolled anchor for each client certificate (with one subject for all, only the first one
worked)."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from authex.agent.config import NodeConfig, init_node_dir
from authex.agent.operators import ADMIN, Roster
from authex.agent.tls import IDENTITY_CERT, duplicate_subjects, server_context
from authex.crypto.identity import key_id, make_certificate, private_key_pem
from authex.errors import AuthexError


def old_style_certificate(key: Ed25519PrivateKey) -> bytes:
    """What authex made before: one subject for every operator, no key identifier."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authex operator")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def handshake(
    server: ssl.SSLContext, node_cert: str, cert: bytes, key: Ed25519PrivateKey, folder: Path
) -> bool:
    """One in-memory TLS 1.3 handshake of an operator client against the node's context."""
    (folder / "c.pem").write_bytes(cert)
    (folder / "k.pem").write_bytes(private_key_pem(key))
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.load_verify_locations(cadata=node_cert)
    client.load_cert_chain(folder / "c.pem", folder / "k.pem")
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                return False
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        try:
            c.read(1)  # TLS 1.3: the server's verdict on the client certificate arrives here
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            return False
    return s.getpeercert() is not None and bool(s.getpeercert(binary_form=True))


def node_with(tmp_path: Path, certs: list[bytes]) -> Path:
    directory = tmp_path / "node"
    init_node_dir(
        directory,
        NodeConfig("edge", "native", "127.0.0.1", 7000),
        operator_certs=[c.decode() for c in certs],
    )
    return directory


def test_every_enrolled_operator_can_connect(tmp_path: Path) -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    certs = [make_certificate(k, "authex operator") for k in keys]
    directory = node_with(tmp_path, certs)
    server = server_context(directory)
    node_cert = (directory / IDENTITY_CERT).read_text()
    assert duplicate_subjects(directory) == []
    for cert, key in zip(certs, keys, strict=True):
        assert handshake(server, node_cert, cert, key, tmp_path)
    assert (
        key_id(keys[1].public_key())
        in x509.load_pem_x509_certificate(certs[1]).subject.rfc4514_string()
    )
    stranger = Ed25519PrivateKey.generate()
    assert not handshake(
        server, node_cert, make_certificate(stranger, "authex operator"), stranger, tmp_path
    )


def test_old_certificates_sharing_one_subject_are_named(tmp_path: Path) -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    certs = [old_style_certificate(k) for k in keys]
    directory = node_with(tmp_path, certs)
    assert duplicate_subjects(directory) == ["CN=authex operator"]
    server = server_context(directory)
    node_cert = (directory / IDENTITY_CERT).read_text()
    assert handshake(server, node_cert, certs[0], keys[0], tmp_path)
    assert not handshake(server, node_cert, certs[1], keys[1], tmp_path)  # why it is named


def test_the_administrator_is_named_or_the_first_enrolled(tmp_path: Path) -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    certs = [make_certificate(k, "authex operator").decode() for k in keys]
    ids = [key_id(k.public_key()) for k in keys]
    directory = tmp_path / "node"
    config = NodeConfig("edge", "native", "127.0.0.1", 7000)
    init_node_dir(directory, config, operator_certs=certs[:2])
    roster = Roster(directory)
    assert [o.key_id for o in roster.operators()] == ids[:2]
    assert roster.admin() == ids[0]
    init_node_dir(directory, config, force=True, operator_certs=certs[:2], admin_cert=certs[2])
    assert Roster(directory).admin() == ids[2]
    (directory / ADMIN).unlink()  # a node folder of an earlier version: the first enrolled
    assert Roster(directory).admin() == ids[2]


def test_the_administrator_cannot_be_withdrawn_and_strangers_are_named(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    directory = node_with(tmp_path, [make_certificate(key, "authex operator")])
    roster = Roster(directory)
    with pytest.raises(AuthexError, match="is the node's administrator: hand the role"):
        roster.remove(key_id(key.public_key()))
    with pytest.raises(AuthexError, match="no operator with key id 0123456789abcdef"):
        roster.remove("0123456789abcdef")
    with pytest.raises(AuthexError, match=r"not an X\.509 certificate"):
        roster.add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert len(roster.operators()) == 1
