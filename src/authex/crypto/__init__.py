"""Crypto recipes over well-kept primitives (spec/crypto.md is normative)."""
