"""A malicious agent or network between the deployer and the node agents, for adversarial tests.

``Mitm.install`` patches ``AgentClient.request`` so that every control message the deployer sends
and every reply it gets passes through two rewriting hooks.  The hooks see the node the client
believes it talks to, and return what the attacker wants delivered instead.

The ``tamper_*`` helpers alter a module image the way an attacker who controls the node would:
they change the module's code but keep the envelope well-formed, so the platform admits it and
only the TEE's measurement, key derivation or signature check can tell.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import pytest

from authex.attestation.trustzone import parse_ta, ta_hash
from authex.deployer.client import AgentClient
from authex.sdk.build import SOURCE_PREFIX, pack_artifact, unpack_artifact
from authex.sdk.loader import MAIN_FILE
from authex.tee.images import (
    mr_enclave,
    parse_sancus_image,
    parse_sgx_image,
    parse_ta_payload,
    sancus_image,
    sgx_image,
    ta_payload,
)
from authex.wire.codec import Message
from authex.wire.messages import SetKey

Outgoing = Callable[[str, Message], Message]  # (node, message) -> message actually sent
Incoming = Callable[[str, Message, Message], Message]  # (node, sent, reply) -> reply delivered


class Mitm:
    """Rewrites control traffic.  ``log`` records what the deployer sent (before any rewriting),
    as an eavesdropper next to the deployer would see it; ``replies`` what the agents answered
    (before any rewriting)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Message]] = []
        self.replies: list[tuple[str, Message, Message]] = []  # (node, sent, genuine reply)
        self.outgoing: Outgoing | None = None
        self.incoming: Incoming | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Mitm:
        original = AgentClient.request
        mitm = self

        async def request(client: AgentClient, message: Message) -> Message:
            mitm.log.append((client.node, message))
            rewrite_out, rewrite_in = mitm.outgoing, mitm.incoming
            sent = rewrite_out(client.node, message) if rewrite_out else message
            reply = await original(client, sent)
            mitm.replies.append((client.node, message, reply))
            return rewrite_in(client.node, message, reply) if rewrite_in else reply

        monkeypatch.setattr(AgentClient, "request", request)
        return self

    def stop(self) -> None:
        """The attack is over: traffic passes unaltered again."""
        self.outgoing = None
        self.incoming = None

    def mark(self) -> int:
        """A position in the log, to look only at what was sent after it."""
        return len(self.log)

    def sent(self, kind: type[Message], since: int = 0) -> list[tuple[str, Message]]:
        return [(n, m) for n, m in self.log[since:] if isinstance(m, kind)]

    def set_keys_for(self, module: str, since: int = 0) -> list[SetKey]:
        return [
            m for _, m in self.sent(SetKey, since) if isinstance(m, SetKey) and m.module == module
        ]


# --- altering module images ------------------------------------------------------------------

BACKDOOR = b"\n_backdoor = 'mallory was here'  # one line the operator never wrote\n"


def tamper_artifact(artifact: bytes) -> bytes:
    """The module artifact with its code altered; still a loadable module.  A Python artifact
    (a ZIP) gets a line added to its main source; a compiled one (ELF: Rust, C) gets bytes
    appended, which the loader ignores but the measurement does not."""
    if artifact.startswith(b"\x7fELF"):
        return artifact + BACKDOOR
    manifest, sources = unpack_artifact(artifact)
    sources[MAIN_FILE] += BACKDOOR
    return pack_artifact(manifest, [(SOURCE_PREFIX + p, d) for p, d in sources.items()])


def tamper_sancus(image: bytes) -> bytes:
    """A Sancus image whose text was altered (layout adjusted to the new text length)."""
    parsed = parse_sancus_image(image)
    return sancus_image(tamper_artifact(parsed.text), parsed.vendor_id)


def tamper_sgx(image: bytes) -> bytes:
    """An enclave image with the same attributes and altered code."""
    attributes, payload = parse_sgx_image(image)
    return sgx_image(tamper_artifact(payload), attributes)


def tamper_ta(image: bytes) -> bytes:
    """A TA image with altered code whose header hash was recomputed to match (it is only a
    SHA-256); the original signature is kept, since the attacker lacks the TA signing key."""
    header, payload = parse_ta(image)
    vendor_id, inner = parse_ta_payload(payload)
    new_payload = ta_payload(tamper_artifact(inner), vendor_id)
    header = dataclasses.replace(header, img_size=len(new_payload))
    digest = hashlib.sha256(header.fixed() + new_payload).digest()
    return dataclasses.replace(header, hash=digest).pack() + new_payload


TAMPER: dict[str, Callable[[bytes], bytes]] = {
    "sancus": tamper_sancus,
    "sgx": tamper_sgx,
    "trustzone": tamper_ta,
}


def measure(tee: str, image: bytes) -> bytes:
    """The measurement the deployer expects for ``image`` (what a lying agent reports)."""
    if tee == "sancus":
        return parse_sancus_image(image).measurement
    if tee == "sgx":
        return mr_enclave(image)
    if tee == "trustzone":
        return ta_hash(image)
    raise ValueError(f"no measurement for {tee}")
