"""The Sancus backend (emulated platform): SpongeWrap key hierarchy, challenge-MAC attestation."""
