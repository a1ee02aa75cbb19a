"""What the operator pinned for one node when it was enrolled: the trust entry a verifier checks
evidence against.  Reading and writing the trust file is the deployer's (``deployer/trust.py``);
verifiers (``tee/*/backend.py``) receive the node's entry already resolved."""

from __future__ import annotations

from dataclasses import dataclass, field

from authex.errors import AttestationError


@dataclass(frozen=True)
class NodeTrust:
    name: str
    tee: str
    emulated: bool
    vendor_keys: dict[int, bytes] = field(default_factory=dict, repr=False)
    root_ca: str = ""
    identity: str = ""  # the node's TLS certificate (PEM), pinned for the control link

    def vendor_key(self, vendor_id: int) -> bytes:
        key = self.vendor_keys.get(vendor_id)
        if key is None:
            raise AttestationError(
                f"no vendor key enrolled for vendor id {vendor_id} on node {self.name} "
                f"(enrolled: {', '.join(map(str, sorted(self.vendor_keys))) or 'none'}); "
                f"print it with `authex node enrolment DIR --vendor-id {vendor_id}` on the node"
            )
        return key
