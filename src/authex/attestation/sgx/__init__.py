"""SGX attestation: the ECDSA quote v3 format (``quote``), the emulated platform's quoting
(``simulation``), the DCAP verifier shared by emulated and real quotes (``verify``), and full Intel
verification of real quotes with recorded collateral through dcap-qvl (``intel``)."""
