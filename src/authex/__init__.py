"""authex: authentic execution of distributed, event-driven applications across TEEs."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
