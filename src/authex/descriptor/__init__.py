"""The deployment descriptor: typed, frozen models, path-qualified validation, the only YAML I/O.

``load_descriptor(path)`` reads a YAML or JSON descriptor and checks its structure, reporting
every problem at once with ``file:line:col`` and a field path.  ``check_interfaces`` then checks
the connections and timers against the modules' manifests; ``suites_for_connection`` gives the
cipher suites the TEEs of a connection's ends support (``TEE_SUITES``).  See docs/descriptor.md.
"""

from authex.descriptor.interfaces import check_interfaces, connection_kind
from authex.descriptor.loader import load_descriptor, parse_descriptor
from authex.descriptor.model import (
    TEE_SUITES,
    Connection,
    Descriptor,
    DescriptorProblems,
    Endpoint,
    Location,
    ModuleSpec,
    Node,
    Periodic,
    Policy,
    Problem,
)
from authex.descriptor.suites import suites_for_connection
from authex.descriptor.values import parse_interval

__all__ = [
    "TEE_SUITES",
    "Connection",
    "Descriptor",
    "DescriptorProblems",
    "Endpoint",
    "Location",
    "ModuleSpec",
    "Node",
    "Periodic",
    "Policy",
    "Problem",
    "check_interfaces",
    "connection_kind",
    "load_descriptor",
    "parse_descriptor",
    "parse_interval",
    "suites_for_connection",
]
