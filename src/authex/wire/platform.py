"""Messages of the two platform links (emulated TEE platforms; see spec/protocol.md §7).

- agent <-> platform (a socket pair the agent creates when it starts the platform process):
  load an artifact as a module, stop a module, describe the platform.
- platform <-> module process (a socket pair inherited by the module, ``--platform-fd``): the
  platform's first frame tells the module who it is (TEE kind, measurement, the payload to run,
  and for Sancus/TrustZone the module key the hardware derived); SGX modules ask it for quotes.

The agent never sees the module link's secrets: they travel only platform -> module.
"""

from __future__ import annotations

from dataclasses import dataclass

from authex.wire.codec import U8, U32, U64, Bytes, Message, Registry, Str
from authex.wire.messages import Error, Ok

# What a module process may allocate when its load names no limit (PlatformLoad.memory 0): the
# descriptor's default for a module's ``memory`` (docs/descriptor.md).
DEFAULT_MEMORY = 256 << 20


@dataclass(frozen=True)
class PlatformInfo(Message):
    """Platform -> agent, first frame: what this platform is."""

    TYPE = 0xA0
    tee: Str
    emulated: U8
    description: Str


@dataclass(frozen=True)
class PlatformLoad(Message):
    """Agent -> platform: admit ``artifact`` and start it as module ``name``, its process limited
    to ``memory`` bytes of data (0: the platform's default; spec/protocol.md §7.2)."""

    TYPE = 0xA1
    name: Str
    artifact: Bytes
    memory: U64 = 0


@dataclass(frozen=True)
class PlatformLoaded(Message):
    TYPE = 0xA2
    measurement: Bytes
    pid: U32


@dataclass(frozen=True)
class PlatformStop(Message):
    """Agent -> platform: stop module ``name`` (SIGTERM, SIGKILL after 5 s).  Answered ``Ok``
    whose body is ``KILLED`` if the process had to be killed, empty otherwise."""

    TYPE = 0xA3
    name: Str


KILLED = b"\x01"  # the body of the Ok answering a PlatformStop whose module was killed


@dataclass(frozen=True)
class ModuleIdentity(Message):
    """Platform -> module, first frame on the platform link."""

    TYPE = 0xA8
    tee: Str
    emulated: U8
    measurement: Bytes
    module_key: Bytes  # K_m for Sancus and TrustZone; empty otherwise
    payload: Bytes  # the artifact to run (inner payload of a signed TA / enclave image)


@dataclass(frozen=True)
class QuoteRequest(Message):
    TYPE = 0xA9
    report_data: Bytes


@dataclass(frozen=True)
class QuoteReply(Message):
    TYPE = 0xAA
    quote: Bytes


@dataclass(frozen=True)
class SealRequest(Message):
    """Module -> platform: seal ``data`` (the module's whole state) under a key bound to this
    module's identity on this platform, as the next version of its monotonic counter."""

    TYPE = 0xAB
    data: Bytes


@dataclass(frozen=True)
class SealReply(Message):
    TYPE = 0xAC
    version: U64


@dataclass(frozen=True)
class UnsealRequest(Message):
    """Module -> platform: the latest state sealed for this module, if any."""

    TYPE = 0xAD


@dataclass(frozen=True)
class UnsealReply(Message):
    """``version`` 0 and empty ``data`` when nothing was sealed for this module."""

    TYPE = 0xAE
    version: U64
    data: Bytes


AGENT_TO_PLATFORM = Registry("platform", PlatformLoad, PlatformStop)
PLATFORM_TO_AGENT = Registry("platform reply", PlatformInfo, PlatformLoaded, Ok, Error)
MODULE_TO_PLATFORM = Registry("platform module request", QuoteRequest, SealRequest, UnsealRequest)
PLATFORM_TO_MODULE = Registry(
    "platform module reply", ModuleIdentity, QuoteReply, SealReply, UnsealReply, Error
)
