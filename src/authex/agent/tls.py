"""Edge: TLS contexts for the agent (server side, and client side of data links).

Every link to an agent is TLS 1.3.  The agent presents its node identity certificate.  A client
may present a certificate: only certificates of operators enrolled on this node
(``operators.pem``) are accepted, and only links that present one may act as control links.
Data links (agent to agent) need no client certificate: events are protected end to end.
"""

from __future__ import annotations

import ssl
from pathlib import Path

IDENTITY_CERT = "identity.pem"
IDENTITY_KEY = "identity.key"
OPERATORS = "operators.pem"


def server_context(directory: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(directory / IDENTITY_CERT, directory / IDENTITY_KEY)
    operators = directory / OPERATORS
    if operators.exists() and operators.read_text().strip():
        context.load_verify_locations(cadata=operators.read_text())
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
