"""Edge: TLS contexts for the agent (server side, and client side of data links).

Every link to an agent is TLS 1.3.  The agent presents its node identity certificate.  A client
may present a certificate: only certificates of operators enrolled on this node
(``operators.pem``) are accepted, and only links that present one may act as control links.
Data links (agent to agent) need no client certificate: events are protected end to end.
"""

from __future__ import annotations

import logging
import ssl
from collections import Counter
from pathlib import Path

from cryptography import x509

IDENTITY_CERT = "identity.pem"
IDENTITY_KEY = "identity.key"
OPERATORS = "operators.pem"
log = logging.getLogger("authex.agent.tls")


def server_context(directory: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(directory / IDENTITY_CERT, directory / IDENTITY_KEY)
    operators = directory / OPERATORS
    if operators.exists() and operators.read_text().strip():
        context.load_verify_locations(cadata=operators.read_text())
        for subject in duplicate_subjects(directory):
            log.warning(
                "%s holds several operator certificates with the subject %s: only the first of "
                "them can connect; on each other operator's machine delete .authex/operator.pem, "
                "run `authex operator-cert` (it makes a certificate with a subject of its own) "
                "and enrol that with `authex node enrol-operator`",
                operators,
                subject,
            )
        context.verify_mode = ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def data_client_context() -> ssl.SSLContext:
    """Agent -> agent: encrypted transport without authentication (payloads are sealed)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def operators_enrolled(directory: Path) -> int:
    path = directory / OPERATORS
    return path.read_text().count("BEGIN CERTIFICATE") if path.exists() else 0


def duplicate_subjects(directory: Path) -> list[str]:
    """Subjects that more than one enrolled operator certificate carries (certificates made by
    earlier versions all had one subject; OpenSSL then tries only the first of them)."""
    path = directory / OPERATORS
    if not path.exists():
        return []
    subjects = (
        Counter(
            cert.subject.rfc4514_string()
            for cert in x509.load_pem_x509_certificates(path.read_bytes())
        )
        if path.read_text().strip()
        else Counter[str]()
    )
    return sorted(s for s, n in subjects.items() if n > 1)
