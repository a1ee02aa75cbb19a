"""Every message of the control, data and host protocols (spec/protocol.md is normative).

Type code ranges: 0x01-0x0f common (hello, ok, error), 0x10-0x3f control (deployer <-> agent),
0x40-0x4f data (agent <-> agent), 0x80-0x9f host (agent <-> module process).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from authex.wire.codec import U8, U16, U32, U64, Bytes, Message, Nested, Registry, Str
from authex.wire.status import NodeStatus


class LinkKind(IntEnum):
    CONTROL = 1
    DATA = 2


class Direction(IntEnum):
    """Which way a message travels on a connection: events and requests 0, responses 1."""

    FORWARD = 0
    RESPONSE = 1


class ErrorCode(IntEnum):
    BAD_REQUEST = 1
    UNKNOWN_MODULE = 2
    UNKNOWN_CONNECTION = 3
    MODULE_FAILED = 4
    BACKEND = 5
    TIMEOUT = 6
    REJECTED = 7
    INTERNAL = 8


class CallStatus(IntEnum):
    OK = 0
    UNKNOWN_ENTRY = 1
    AUTH_FAILED = 2
    NOT_PUBLIC = 3
    ENTRY_FAILED = 4


class RejectReason(IntEnum):
    UNKNOWN_CONNECTION = 1
    REPLAY = 2
    FORGED = 3
    NO_HANDLER = 4


# --- common ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello(Message):
    """First frame on a control or data link, sent by the side that connected."""

    TYPE = 0x01
    link: U8
    version: U8
    peer: Str


@dataclass(frozen=True)
class Ok(Message):
    TYPE = 0x02
    body: Bytes = b""


@dataclass(frozen=True)
class Error(Message):
    TYPE = 0x03
    code: U16
    message: Str


# --- control: deployer -> agent -------------------------------------------------------------


@dataclass(frozen=True)
class Load(Message):
    """``memory``: the bytes of data the module's process may allocate (the descriptor's
    ``memory``); 0 leaves it to the platform's default (since protocol version 3)."""

    TYPE = 0x10
    module: Str
    tee: Str
    artifact: Bytes
    memory: U64 = 0


@dataclass(frozen=True)
class Loaded(Message):
    TYPE = 0x11
    instance: U64
    measurement: Bytes


@dataclass(frozen=True)
class Attest(Message):
    TYPE = 0x12
    module: Str
    challenge: Bytes


@dataclass(frozen=True)
class Attested(Message):
    TYPE = 0x13
    evidence: Bytes


@dataclass(frozen=True)
class SetKey(Message):
    TYPE = 0x14
    module: Str
    conn_id: U32
    io_id: U16
    role: U8
    suite: U8
    counter: U64
    wrapped: Bytes


@dataclass(frozen=True)
class SwapKey(Message):
    """Key connection ``conn_id`` on a module and, in the same step, forget ``replaces`` (an
    update moves a sender to its target's new instance); ``conn_id`` 0 only forgets."""

    TYPE = 0x2A
    module: Str
    conn_id: U32
    replaces: U32
    io_id: U16
    role: U8
    suite: U8
    counter: U64
    wrapped: Bytes


@dataclass(frozen=True)
class Promote(Message):
    """A staged module ("NAME~TAG", loaded beside NAME for an update) becomes NAME: the old
    instance is stopped and the deliveries held for the staged one are released."""

    TYPE = 0x2C
    staged: Str


@dataclass(frozen=True)
class RemoveRoute(Message):
    """Forget a retired connection's route (its ends were swapped to a new connection)."""

    TYPE = 0x2E
    conn_id: U32


@dataclass(frozen=True)
class AddRoute(Message):
    """Where a connection's two ends live; every agent on the path gets it."""

    TYPE = 0x16
    conn_id: U32
    from_node: Str
    from_module: Str  # "" = the operator
    from_address: Str  # host:port of from_node's agent
    to_node: Str
    to_module: Str  # "" = the operator
    to_address: Str


@dataclass(frozen=True)
class Call(Message):
    TYPE = 0x18
    module: Str
    entry_id: U16
    authenticated: U8
    counter: U64
    payload: Bytes


@dataclass(frozen=True)
class CallResult(Message):
    TYPE = 0x19
    status: U8
    payload: Bytes


@dataclass(frozen=True)
class Timer(Message):
    TYPE = 0x1A
    module: Str
    entry_id: U16
    period_ms: U32


@dataclass(frozen=True)
class Status(Message):
    TYPE = 0x1C


@dataclass(frozen=True)
class StatusResult(Message):
    """The agent's status: the fields of one NodeStatus record, inline (authex.wire.status).
    Protocol version 2 (version 1 carried a JSON object here, under the same type code)."""

    TYPE = 0x1D
    status: Nested[NodeStatus]


@dataclass(frozen=True)
class Remove(Message):
    TYPE = 0x1E
    module: Str


@dataclass(frozen=True)
class Reset(Message):
    TYPE = 0x20


@dataclass(frozen=True)
class Send(Message):
    """Operator -> module event on a direct connection (already sealed by the deployer)."""

    TYPE = 0x22
    conn_id: U32
    counter: U64
    ciphertext: Bytes


@dataclass(frozen=True)
class Request(Message):
    """Operator -> handler request on a direct connection; answered by Response."""

    TYPE = 0x24
    conn_id: U32
    counter: U64
    ciphertext: Bytes


@dataclass(frozen=True)
class Response(Message):
    TYPE = 0x25
    conn_id: U32
    counter: U64
    ciphertext: Bytes


@dataclass(frozen=True)
class Watch(Message):
    """Subscribe to a module -> operator connection; answered by a stream of WatchEvent."""

    TYPE = 0x26
    conn_id: U32


@dataclass(frozen=True)
class WatchEvent(Message):
    TYPE = 0x27
    conn_id: U32
    counter: U64
    ciphertext: Bytes


@dataclass(frozen=True)
class Shutdown(Message):
    TYPE = 0x28


@dataclass(frozen=True)
class Bind(Message):
    """Act for one deployment on this control link: the module names, connections, timers and
    reset of the commands that follow are that deployment's (spec/protocol.md §5.2.2)."""

    TYPE = 0x34
    deployment: Str


@dataclass(frozen=True)
class AddOperator(Message):
    """Enrol an operator's certificate (PEM) on the node — the node's administrator only; with
    ``admin`` 1 the new operator becomes the administrator.  Answered by Ok with its key id."""

    TYPE = 0x30
    certificate: Str
    admin: U8


@dataclass(frozen=True)
class RemoveOperator(Message):
    """Withdraw an operator (by key id) — the node's administrator only; its open control links
    are closed."""

    TYPE = 0x32
    key_id: Str


# --- data: agent <-> agent ------------------------------------------------------------------


@dataclass(frozen=True)
class Event(Message):
    """A sealed event, request (direction 0) or response (direction 1) on a connection."""

    TYPE = 0x40
    conn_id: U32
    direction: U8
    counter: U64
    ciphertext: Bytes


@dataclass(frozen=True)
class EventAck(Message):
    """Receiver -> sender on the same data link: the destination took this event (processed,
    rejected, or already had it), so the sender may drop it from its outbox."""

    TYPE = 0x41
    conn_id: U32
    direction: U8
    counter: U64


# --- host: agent <-> module process ---------------------------------------------------------


@dataclass(frozen=True)
class HostReady(Message):
    """Sent once by the module process when it has loaded its artifact."""

    TYPE = 0x80
    name: Str
    measurement: Bytes


@dataclass(frozen=True)
class HostAttest(Message):
    TYPE = 0x81
    challenge: Bytes


@dataclass(frozen=True)
class HostAttested(Message):
    TYPE = 0x82
    evidence: Bytes


@dataclass(frozen=True)
class HostSetKey(Message):
    TYPE = 0x83
    conn_id: U32
    io_id: U16
    role: U8
    suite: U8
    counter: U64
    wrapped: Bytes


@dataclass(frozen=True)
class HostDeliver(Message):
    TYPE = 0x84
    conn_id: U32
    direction: U8
    counter: U64
    ciphertext: Bytes


@dataclass(frozen=True)
class HostCall(Message):
    TYPE = 0x85
    entry_id: U16
    authenticated: U8
    counter: U64
    payload: Bytes


@dataclass(frozen=True)
class HostCallResult(Message):
    TYPE = 0x86
    status: U8
    payload: Bytes


@dataclass(frozen=True)
class HostEmit(Message):
    """Module -> agent: a sealed event/request/response to route by connection id."""

    TYPE = 0x87
    conn_id: U32
    direction: U8
    counter: U64
    ciphertext: Bytes


@dataclass(frozen=True)
class HostRejected(Message):
    """Module -> agent: a delivered message failed authentication or freshness; counted."""

    TYPE = 0x88
    conn_id: U32
    direction: U8
    counter: U64
    reason: U8


@dataclass(frozen=True)
class HostStop(Message):
    TYPE = 0x89


@dataclass(frozen=True)
class HostAccepted(Message):
    """Module -> agent: a delivered message was authenticated and handed to the module's code
    (its callback ran, even if it raised).  Lets the agent acknowledge it upstream."""

    TYPE = 0x8A
    conn_id: U32
    direction: U8
    counter: U64


@dataclass(frozen=True)
class HostSwapKey(Message):
    TYPE = 0x8C
    conn_id: U32
    replaces: U32
    io_id: U16
    role: U8
    suite: U8
    counter: U64
    wrapped: Bytes


@dataclass(frozen=True)
class HostResumed(Message):
    """Module -> agent, right after HostReady, only from a module that keeps sealed state:
    ``version`` of the sealed state it restored (keys, counters, its own data), or 0 when it
    starts fresh.  An agent restoring such a module keeps its instance only when version > 0."""

    TYPE = 0x8B
    version: U64


COMMON = (Hello, Ok, Error)
CONTROL_REQUESTS = Registry(
    "control",
    Hello,
    Load,
    Attest,
    SetKey,
    AddRoute,
    Call,
    Timer,
    Status,
    Remove,
    Reset,
    Send,
    Request,
    Watch,
    Shutdown,
    SwapKey,
    Promote,
    RemoveRoute,
    AddOperator,
    RemoveOperator,
    Bind,
)
CONTROL_REPLIES = Registry(
    "control reply",
    Ok,
    Error,
    Loaded,
    Attested,
    CallResult,
    StatusResult,
    Response,
    WatchEvent,
)
DATA = Registry("data", Hello, Ok, Error, Event, EventAck)
HOST_TO_MODULE = Registry(
    "host", HostAttest, HostSetKey, HostDeliver, HostCall, HostStop, HostSwapKey
)
MODULE_TO_HOST = Registry(
    "host reply",
    Ok,
    Error,
    HostReady,
    HostAttested,
    HostCallResult,
    HostEmit,
    HostRejected,
    HostAccepted,
    HostResumed,
)
