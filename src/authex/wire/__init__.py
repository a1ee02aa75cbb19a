"""Sans-I/O codecs for the three authex links: control, data and host (spec/protocol.md)."""
