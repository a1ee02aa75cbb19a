"""Test support code shared by integration and security tests."""
