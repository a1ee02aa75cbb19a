"""A fault-injecting TCP proxy on loopback: forwards bytes both ways (TLS passes through
untouched) and can cut every link and refuse new ones for a while, like a network partition."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FaultProxy:
    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.cut_active = False
        self.links_cut = 0
        self.refused = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", self.listen_port)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_active:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while chunk := await src.read(1 << 16):
                    dst.write(chunk)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def _cut(self) -> None:
        self.cut_active = True
        for writer in list(self._writers):
            writer.transport.abort()
            self.links_cut += 1
        self._writers.clear()

    def cut(self) -> None:
        """Drop every open link now and refuse new ones until heal()."""
        self._loop.call_soon_threadsafe(self._cut)

    def heal(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "cut_active", False)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._cut)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextmanager
def fault_proxy(listen_port: int, target_port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(listen_port, target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
