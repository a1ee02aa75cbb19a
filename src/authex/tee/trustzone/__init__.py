"""The TrustZone (OP-TEE) backend (emulated platform): signed TAs, HUK-based key hierarchy."""
