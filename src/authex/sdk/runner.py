"""``python -m authex.sdk.runner ARTIFACT [--name NAME]``: the module process (I/O edge).

The agent (or an emulated platform) starts this with the host link on stdin/stdout.  It:

0. turns core dumps off for itself (``RLIMIT_CORE`` 0, not dumpable: tee/hardening.py), before it
   gets any key;
1. keeps the real stdin/stdout for frames and points fd 0 at /dev/null and fd 1 at stderr, so
   stray ``print`` calls or ``input()`` in user code cannot corrupt or steal protocol bytes;
2. reads the artifact, measures it (SHA-256), extracts ``src/`` into a private temporary folder
   (mode 0700, removed on exit), imports ``main.py`` and finds its single ``Module``;
3. sends ``HostReady(name, measurement)``, then feeds every frame to ``ModuleRuntime.handle``.

A persistent module (``Module(persistent=True)``) first asks the platform for its sealed state
and resumes from it (announced with ``HostResumed``); afterwards, whenever its state changed, it
seals it with the platform before any frame leaves the process (seal before acknowledge, before
emit), so a crash at any point neither loses an accepted event nor reuses a counter.

While a callback waits in ``ctx.request``, frames that are not the awaited response are queued
and handled after the callback returns; handlers are never re-entered.

A ``MemoryError`` — the module allocated beyond the memory limit its platform set (the
descriptor's ``memory``) — ends the process even when it is raised in a callback, whose other
exceptions are only logged: what failed to allocate may have left the module's state half-changed.

Exit status: 0 on HostStop or end of input, 2 when the artifact cannot be loaded, 3 on malformed
input from the agent, 1 when the host link breaks while writing, 4 when out of memory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from authex.crypto.digest import sha256
from authex.errors import AuthexError, AuthexTimeoutError, ProtocolError
from authex.manifest import Manifest
from authex.sdk.attesters import CONTROL_SUITES, attester_for
from authex.sdk.build import unpack_artifact
from authex.sdk.inspect import claim_stdio
from authex.sdk.loader import ImportFailed, check_matches, find_module, load_main
from authex.sdk.module import Callback, Context, Module
from authex.sdk.platform_link import PlatformLink
from authex.sdk.runtime import ModuleRuntime
from authex.tee.hardening import no_core_dumps
from authex.wire.codec import FrameDecoder, Message, encode
from authex.wire.messages import HOST_TO_MODULE, HostDeliver, HostReady, HostResumed

EXIT_OK = 0
EXIT_LINK = 1
EXIT_LOAD = 2
EXIT_MALFORMED = 3
EXIT_MEMORY = 4
READ_SIZE = 1 << 16


class LinkClosed(BaseException):
    """Ends the process from anywhere, even from inside user code (not an ``Exception``)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class OutOfMemory(BaseException):
    """A callback ran out of memory: ends the process (not an ``Exception``, so neither the
    runtime nor module code that catches ``Exception`` keeps it alive)."""


def _fatal_memory_errors(function: Callback) -> Callback:
    def guarded(ctx: Context, data: bytes) -> object:
        try:
            return function(ctx, data)
        except MemoryError as exc:
            raise OutOfMemory(str(exc)) from exc

    return guarded


def _memory_limit() -> str:
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return "no limit" if soft == resource.RLIM_INFINITY else f"a limit of {soft >> 20} MiB"


class HostLink:
    """Blocking frame I/O on the host link, with a queue of frames set aside during a wait."""

    def __init__(self, in_fd: int, out: BinaryIO) -> None:
        self._in_fd = in_fd
        self._out = out
        self._decoder = FrameDecoder()
        self._ready: deque[tuple[Message, int]] = deque()  # decoded, not yet handled
        self._eof = False
        self._pending = bytearray()  # frames not yet written
        # Runs before buffered frames leave (a persistent module seals its state there).
        self.before_flush: Callable[[], None] | None = None

    def send(self, message: Message, request_id: int) -> None:
        """Buffer a frame; everything buffered goes out before the next blocking read, so the
        answers to a batch of frames leave in few writes (and nothing waits unsent)."""
        self._pending += encode(message, request_id)

    def flush(self) -> None:
        if not self._pending:
            return
        if self.before_flush is not None:
            self.before_flush()
        try:
            self._out.write(self._pending)
            self._out.flush()
        except (BrokenPipeError, ConnectionError, ValueError) as exc:
            raise LinkClosed(EXIT_LINK, f"host link closed while writing: {exc}") from exc
        finally:
            self._pending.clear()

    def _read_more(self, timeout: float | None) -> bool:
        """Decode whatever arrives within ``timeout``; False if nothing did (or at EOF)."""
        self.flush()
        if self._eof:
            return False
        if timeout is not None:
            readable, _, _ = select.select([self._in_fd], [], [], max(timeout, 0.0))
            if not readable:
                return False
        chunk = os.read(self._in_fd, READ_SIZE)
        if not chunk:
            self._eof = True
            if self._decoder.pending:
                raise LinkClosed(EXIT_MALFORMED, "input ended inside a frame")
            return False
        try:
            for frame in self._decoder.feed(chunk):
                self._ready.append((HOST_TO_MODULE.decode(frame), frame.request_id))
        except ProtocolError as exc:
            raise LinkClosed(EXIT_MALFORMED, f"malformed input from the agent: {exc}") from exc
        return True

    def next(self) -> tuple[Message, int] | None:
        """The next frame to handle (queued ones first); None at end of input."""
        while not self._ready:
            if self._eof:
                return None
            self._read_more(None)
        return self._ready.popleft()

    def wait_response(self, conn_id: int, counter: int, timeout: float) -> HostDeliver:
        """Block until the response for (conn_id, counter) arrives; queue everything else."""
        deadline = time.monotonic() + timeout
        scanned = 0
        while True:
            while scanned < len(self._ready):
                message, _ = self._ready[scanned]
                if (
                    isinstance(message, HostDeliver)
                    and message.conn_id == conn_id
                    and message.direction == 1
                    and message.counter == counter
                ):
                    del self._ready[scanned]
                    return message
                scanned += 1
            if self._eof:
                raise AuthexTimeoutError("the host link was closed while waiting for a response")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AuthexTimeoutError(f"no response within {timeout:g} s")
            self._read_more(remaining)


def _quote(platform: PlatformLink | None, report_data: bytes) -> bytes:
    if platform is None:
        raise AuthexError("no platform link to quote with")
    return platform.quote(report_data)


def _read_artifact(artifact_path: Path) -> bytes:
    try:
        return artifact_path.read_bytes()
    except OSError as exc:
        raise AuthexError(
            f"cannot read the artifact: {exc.strerror}", where=str(artifact_path)
        ) from exc


def _prepare(
    artifact: bytes, artifact_path: Path, name: str | None, workdir: Path
) -> tuple[Manifest, Module, bytes]:
    """Load the artifact into ``workdir``; raises AuthexError with a clear message."""
    manifest, sources = unpack_artifact(artifact, where=str(artifact_path))
    if name is not None and name != manifest.name:
        raise AuthexError(
            f"artifact was built for module {manifest.name!r}, not {name!r}",
            where=str(artifact_path),
        )
    src = workdir / "src"
    for relative, data in sorted(sources.items()):
        target = src / relative
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o600)
    loaded = load_main(src, module_name="main")
    module = find_module(vars(loaded), where=f"module {manifest.name}")
    check_matches(module, manifest, where=f"module {manifest.name}")
    module.wrap_callbacks(_fatal_memory_errors)
    return manifest, module, sha256(artifact)


def serve(link: HostLink, runtime: ModuleRuntime) -> int:
    """Dispatch frames until HostStop or end of input."""
    while True:
        item = link.next()
        if item is None:
            return EXIT_OK
        message, request_id = item
        if not runtime.handle(message, request_id):
            return EXIT_OK


def resume(runtime: ModuleRuntime, platform: PlatformLink | None, link: HostLink) -> int:
    """Set a persistent module up to seal its state, and restore the last sealed one: the
    version resumed, 0 for a fresh start (the reason is logged)."""
    if platform is None:
        runtime.log("persistent, but there is no platform link: state is not sealed")
        return 0
    sealer = platform

    def seal_if_changed() -> None:
        if runtime.dirty:
            try:
                sealer.seal(runtime.export_state())
            except AuthexError as exc:  # nothing may leave unsealed: stop here
                raise LinkClosed(EXIT_LINK, f"cannot seal the module state: {exc}") from exc
            runtime.dirty = False

    link.before_flush = seal_if_changed
    try:
        version, state = platform.unseal()
        if not state:
            return 0
        runtime.restore_state(state)
    except (AuthexError, ValueError) as exc:
        runtime.log(f"starting fresh: {exc}")
        return 0
    runtime.log(f"resumed from sealed state version {version}")
    return version


def _on_sigterm(signum: int, frame: object) -> None:
    raise LinkClosed(EXIT_OK, "terminated by SIGTERM")


def main(argv: list[str] | None = None) -> int:
    in_fd, out = claim_stdio()  # before anything else, user code included
    no_core_dumps()  # before any key reaches this process
    parser = argparse.ArgumentParser(prog="python -m authex.sdk.runner")
    parser.add_argument("artifact", type=Path, help="module artifact (.zip) built by authex")
    parser.add_argument("--name", help="deployed module name (must match the artifact's)")
    parser.add_argument(
        "--platform-fd",
        type=int,
        help="link to the (emulated) TEE platform, which supplies the artifact and identity",
    )
    args = parser.parse_args(argv)
    sys.dont_write_bytecode = True
    signal.signal(signal.SIGTERM, _on_sigterm)  # clean up the extracted sources on terminate
    workdir = Path(tempfile.mkdtemp(prefix="authex-module-"))  # mode 0700
    label = "authex runner"
    link: HostLink | None = None
    try:
        try:
            platform: PlatformLink | None = None
            if args.platform_fd is not None:
                platform = PlatformLink(args.platform_fd)
                identity = platform.identity()
                artifact = identity.payload
            else:
                artifact = _read_artifact(args.artifact)
            manifest, module, measurement = _prepare(artifact, args.artifact, args.name, workdir)
            tee, module_key = "native", b""
            if args.platform_fd is not None:
                tee, module_key, measurement = (
                    identity.tee,
                    identity.module_key,
                    identity.measurement,
                )
            attester = attester_for(
                tee,
                manifest.name,
                bytes.fromhex(manifest.operator_key),
                module_key,
                lambda data: _quote(platform, data),
            )
            link = HostLink(in_fd, out)
            runtime = ModuleRuntime(
                manifest,
                module,
                link.send,
                link.wait_response,
                attester=attester,
                control_suite=CONTROL_SUITES[tee],
            )
        except ImportFailed as exc:
            sys.stderr.write(f"{label}: {exc}\n{exc.tail}\n")
            return EXIT_LOAD
        except AuthexError as exc:
            sys.stderr.write(f"{label}: {exc}\n")
            return EXIT_LOAD
        label = f"authex runner [{manifest.name}]"
        resumed = resume(runtime, platform, link) if runtime.persistent else None
        link.send(HostReady(manifest.name, measurement), 0)
        if resumed is not None:
            link.send(HostResumed(resumed), 0)
        return serve(link, runtime)
    except LinkClosed as exc:
        sys.stderr.write(f"{label}: {exc.reason}\n")
        return exc.status
    except (OutOfMemory, MemoryError) as exc:
        cause = exc.__cause__ or exc
        sys.stderr.write("".join(traceback.format_exception(cause)))
        sys.stderr.write(
            f"{label}: out of memory (MemoryError) with {_memory_limit()} (RLIMIT_DATA); "
            "raise the module's `memory` in the descriptor if it needs more\n"
        )
        return EXIT_MEMORY
    finally:
        if link is not None:  # frames answered just before a stop or the end of input
            with contextlib.suppress(LinkClosed):
                link.flush()
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(OSError, ValueError):
            out.close()
        os.close(in_fd)
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
