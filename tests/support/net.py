"""Free loopback ports for tests that start real agents (one implementation, in the cluster)."""

from authex.deployer.cluster import free_ports

__all__ = ["free_ports"]
