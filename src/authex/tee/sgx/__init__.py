"""The SGX backend (emulated platform): DCAP-format quotes from a per-node simulation CA."""
