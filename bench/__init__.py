"""Benchmarks (``make bench``); they print figures and write JSON, and assert nothing."""
