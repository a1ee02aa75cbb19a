"""Sending a connection key to one module end: set-key, or swap-key for updates (the key wrapped
under the module's control key with its next control counter, saved before it is sent so a
counter is never used twice, even after a crash), and recording which ends are keyed."""

from __future__ import annotations

from authex.crypto.control import wrap_key
from authex.crypto.secret import Secret
from authex.crypto.suites import SUITE_NAMES, get_suite
from authex.deployer.plan import End
from authex.deployer.session import Session
from authex.deployer.state import ConnectionState
from authex.wire.messages import SetKey, SwapKey


async def send_key(
    session: Session,
    module: str,
    *,
    conn_id: int,
    io_id: int,
    role: int,
    suite: str,
    key: Secret,
    replaces: int | None = None,
) -> None:
    """Key one end of a connection on ``module`` (a name in the deployment state: NAME, or
    NAME~TAG for a staged update).  With ``replaces`` it is a swap-key: the module forgets that
    connection in the same step; with ``conn_id`` 0 it only forgets it (``key`` empty, ``suite``
    "")."""
    ms = session.state.modules[module]
    ms.control_counter += 1
    counter = ms.control_counter
    session.save()  # never reuse a control counter, even if we crash after sending
    suite_id = SUITE_NAMES[suite] if suite else 0
    wrapped = wrap_key(
        get_suite(ms.control_suite),
        ms.module_key,
        key,
        conn_id=conn_id,
        io_id=io_id,
        role=role,
        suite=suite_id,
        counter=counter,
        replaces=replaces,
    )
    client = await session.client(ms.node)
    if replaces is None:
        await client.request(SetKey(module, conn_id, io_id, role, suite_id, counter, wrapped))
    else:
        message = SwapKey(module, conn_id, replaces, io_id, role, suite_id, counter, wrapped)
        await client.request(message)


async def key_end(
    session: Session,
    cs: ConnectionState,
    end: End,
    module: str,
    key: Secret,
    replaces: int | None = None,
) -> None:
    """Key ``end`` of connection ``cs`` (current id, suite and epoch) on ``module`` (a name in
    the deployment state: the end's module, or NAME~TAG for a staged update), and record it.
    With ``replaces`` it is a swap-key: the module forgets that connection id in the same step."""
    await send_key(
        session,
        module,
        conn_id=cs.id,
        io_id=end.io_id,
        role=end.role.wire,
        suite=cs.suite,
        key=key,
        replaces=replaces,
    )
    cs.keyed[end.role] = cs.epoch
    cs.keyed_instance[end.role] = session.state.modules[module].instance
    session.save()
