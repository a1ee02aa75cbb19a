"""``python -m bench.echo_server {blocking|asyncio} LIFETIME``: a one-connection TCP echo server
on a free loopback port (printed on stdout), the far end of the floor benchmark.

It serves exactly one connection and exits when that closes, or after LIFETIME seconds in any
case, so it can never outlive the benchmark for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys

READ_SIZE = 1 << 16


def serve_blocking(lifetime: float) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(lifetime)
        print(server.getsockname()[1], flush=True)
        conn, _ = server.accept()
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(lifetime)
        buffer = bytearray(READ_SIZE)
        view = memoryview(buffer)
        while True:
            n = conn.recv_into(buffer)
            if not n:
                return
            conn.sendall(view[:n])


async def serve_asyncio(lifetime: float) -> None:
    done = asyncio.Event()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(READ_SIZE):
                writer.write(data)
        finally:
            writer.close()
            done.set()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)  # asyncio sets TCP_NODELAY
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), lifetime)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("blocking", "asyncio"):
        sys.stderr.write("usage: python -m bench.echo_server {blocking|asyncio} LIFETIME\n")
        return 2
    lifetime = float(argv[1])
    try:
        if argv[0] == "blocking":
            serve_blocking(lifetime)
        else:
            asyncio.run(serve_asyncio(lifetime))
    except (TimeoutError, ConnectionError):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
