"""authex: authentic execution of distributed, event-driven applications across TEEs."""

__version__ = "0.1.0"
# Hello.version of control and data links (spec/protocol.md §4); ends of another version refuse
# each other.  2: StatusResult carries typed records instead of JSON.  3: Load carries the
# module's memory limit.
PROTOCOL_VERSION = 3
# The version byte of every event AD (spec/crypto.md §3), shared with the module SDKs: the event
# channel did not change with PROTOCOL_VERSION 2.
EVENT_AD_VERSION = 1
