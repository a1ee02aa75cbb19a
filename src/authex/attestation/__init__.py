"""Evidence formats and verifiers: the only producers of VerifiedModule capabilities."""
