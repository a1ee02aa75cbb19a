"""Edge: who may command this node — the operators enrolled in ``DIR/operators.pem`` and the
node's administrator (``DIR/admin``, the key id of one of them).

The administrator is the operator named at ``authex node init --admin-operator CERT`` (else the
first ``--operator-cert``, else the first operator enrolled later).  Only the administrator
enrols or removes operators over a control link (``AddOperator``, ``RemoveOperator``) and can
hand the role on (a rotation of its own key).  A node folder of an earlier version has no
``admin`` file: its first enrolled operator is the administrator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authex.agent.tls import OPERATORS
from authex.crypto.identity import certificate_key_id
from authex.errors import AuthexError

ADMIN = "admin"
MAX_OPERATORS = 64  # certificates a node enrols (each is a TLS trust anchor)


@dataclass(frozen=True)
class Operator:
    key_id: str
    pem: str


class Roster:
    """The enrolled operators of one node folder, read and written here only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / OPERATORS
        self.admin_path = directory / ADMIN

    def operators(self) -> list[Operator]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        if not data.strip():
            return []
        found = []
        for cert in x509.load_pem_x509_certificates(data):
            pem = cert.public_bytes(serialization.Encoding.PEM).decode()
            found.append(Operator(certificate_key_id(pem.encode(), where=str(self.path)), pem))
        return found

    def admin(self) -> str:
        """The administrator's key id ("" while no operator is enrolled)."""
        if self.admin_path.exists():
            return self.admin_path.read_text().strip()
        enrolled = self.operators()
        return enrolled[0].key_id if enrolled else ""

    def add(self, cert_pem: str, *, admin: bool = False) -> str:
        """Enrol the operator holding this certificate's key (again: nothing changes); with
        ``admin`` it becomes the administrator.  Returns its key id."""
        ident = certificate_key_id(cert_pem.encode(), where="operator certificate")
        enrolled = self.operators()
        if all(o.key_id != ident for o in enrolled):
            if len(enrolled) >= MAX_OPERATORS:
                raise AuthexError(
                    f"{MAX_OPERATORS} operators are enrolled already: remove one first",
                    where=str(self.path),
                )
            enrolled.append(Operator(ident, cert_pem.strip() + "\n"))
            self._write(enrolled)
        if admin or not self.admin():
            _write_atomic(self.admin_path, ident + "\n")
        return ident

    def remove(self, ident: str) -> None:
        enrolled = self.operators()
        if all(o.key_id != ident for o in enrolled):
            raise AuthexError(f"no operator with key id {ident} is enrolled", where=str(self.path))
        if ident == self.admin():
            raise AuthexError(
                f"operator {ident} is the node's administrator: hand the role to another "
                "operator first (enrol it as administrator)",
                where=str(self.path),
            )
        self._write([o for o in enrolled if o.key_id != ident])

    def _write(self, enrolled: list[Operator]) -> None:
        _write_atomic(self.path, "".join(o.pem.strip() + "\n" for o in enrolled))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
