"""One function per CLI command; each prints its own output and returns an exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from authex.agent.config import (
    NodeConfig,
    enrol_operator,
    enrolment,
    init_node_dir,
    load_node_dir,
)
from authex.cli.render import render_plan, render_status, show_bytes
from authex.deployer import operations
from authex.deployer.c import cache_secret
from authex.deployer.cluster import LocalCluster
from authex.deployer.deploy import blockers, deploy, prepare
from authex.deployer.session import Session
from authex.deployer.state import StateStore
from authex.deployer.toolchains import build_all
from authex.deployer.update import update
from authex.descriptor import Descriptor, DescriptorProblems, check_interfaces, load_descriptor
from authex.errors import AuthexError
from authex.wire.messages import AddOperator, CallStatus, RemoveOperator

FindDescriptor = Callable[[str | None], Path]
DEFAULT_VENDOR_ID = 4660


def say(text: str) -> None:
    print(text, flush=True)


def _payload(text: str, is_hex: bool) -> bytes:
    if not is_hex:
        return text.encode()
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise AuthexError(f"argument is not hex: {exc}") from exc


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise AuthexError(f"cannot read {path}: {exc.strerror}") from exc


def _session(
    descriptor: Descriptor,
    progress: Callable[[str], None] = say,
    *,
    allow_emulated: bool = False,
    exclusive: bool = True,
) -> Session:
    return Session(descriptor, StateStore.of(descriptor), progress, allow_emulated, exclusive)


async def dispatch(args: argparse.Namespace, find: FindDescriptor) -> int:
    if args.command == "node":
        return await _node(args)
    if args.command == "platform":
        from authex.tee.platform_server import run_platform

        directory = Path(args.dir)
        config = load_node_dir(directory)
        await asyncio.to_thread(run_platform, directory, config.tee, args.fd)
        return 0
    descriptor = load_descriptor(find(args.file))
    handlers: dict[str, Callable[[argparse.Namespace, Descriptor], Any]] = {
        "validate": validate,
        "deploy": deploy_cmd,
        "plan": plan_cmd,
        "up": up,
        "down": down,
        "status": status,
        "call": call,
        "send": send,
        "request": request,
        "watch": watch,
        "update": update_cmd,
        "remove": remove,
        "reset": reset,
        "operator-cert": operator_cert,
        "operator-add": operator_add,
        "operator-remove": operator_remove,
    }
    result: int = await handlers[args.command](args, descriptor)
    return result


async def _node(args: argparse.Namespace) -> int:
    if args.node_command == "enrol-operator":
        enrol_operator(Path(args.dir), _read_text(args.cert))
        say(f"node at {args.dir} now accepts control commands from that operator")
        return 0
    if args.node_command in ("init", "enrolment"):
        directory = Path(args.dir)
        if args.node_command == "init":
            ta_key = _read_text(args.ta_vendor_key) if args.ta_vendor_key else ""
            path = init_node_dir(
                directory,
                NodeConfig(args.name, args.tee, args.host, args.port),
                force=args.force,
                ta_vendor_public_pem=ta_key,
                operator_certs=[_read_text(c) for c in args.operator_cert or []],
                admin_cert=_read_text(args.admin_operator) if args.admin_operator else None,
            )
            say(f"initialised node {args.name} ({args.tee}) at {path}")
            say(f"  listen address: {args.host}:{args.port}")
            say("  add it to your descriptor's `nodes` with the same name, tee, host and port")
        config = load_node_dir(directory)
        entry = enrolment(directory, args.vendor_id or [DEFAULT_VENDOR_ID])
        say("trust file entry for the operator (keep it secret where it holds keys):")
        say(yaml.safe_dump({"nodes": {config.name: entry}}, sort_keys=False).rstrip())
        return 0
    from authex.agent.server import run_node

    await run_node(Path(args.dir))
    return 0


async def validate(args: argparse.Namespace, descriptor: Descriptor) -> int:
    if not args.no_build:
        async with StateStore.of(descriptor).locked_async():
            operator = StateStore.of(descriptor).operator_key()
        public = operator.public_key().public_bytes_raw()
        builds = await build_all(descriptor, public, lambda _: None, cache_secret(operator))
        problems = check_interfaces(descriptor, {n: b.manifest for n, b in builds.items()})
        if problems:
            raise DescriptorProblems(tuple(problems))
    say(
        f"{descriptor.path}: valid — {len(descriptor.nodes)} nodes, {len(descriptor.modules)} "
        f"modules, {len(descriptor.connections)} connections, {len(descriptor.periodic)} periodic"
    )
    return 0


async def deploy_cmd(
    args: argparse.Namespace, descriptor: Descriptor, *, allow_emulated: bool = False
) -> int:
    started = time.monotonic()
    async with _session(descriptor, allow_emulated=allow_emulated) as session:
        report = await deploy(session)
    say(
        f"deployed {descriptor.name} in {time.monotonic() - started:.1f}s: "
        f"{len(report.attested)} attested, {len(report.keyed)} connections keyed"
    )
    return 0


async def plan_cmd(args: argparse.Namespace, descriptor: Descriptor) -> int:
    quiet: Callable[[str], None] = lambda _: None  # noqa: E731
    session = _session(descriptor, quiet, allow_emulated=args.allow_emulated, exclusive=False)
    async with session:
        prepared = await prepare(session, assign_ids=False)
        blocked = blockers(session, prepared)
    say(render_plan(descriptor, prepared.plan, blocked))
    return 0


async def up(args: argparse.Namespace, descriptor: Descriptor) -> int:
    say(
        "local development cluster: one agent per node on loopback, control links in mutual "
        "TLS with this deployment's operator enrolled on each node"
    )
    emulated = sorted({n.tee for n in descriptor.nodes if n.tee != "native"})
    if emulated:
        say(
            f"EMULATED TEEs ({', '.join(emulated)}): accepted for local development only; "
            "emulation reproduces the protocols and key hierarchies, not the isolation"
        )
    cluster = LocalCluster(descriptor)
    await cluster.start_async(say)
    try:
        await deploy_cmd(args, descriptor, allow_emulated=True)
    except BaseException:
        if not args.detach:
            await cluster.stop_async()
        raise
    if args.detach:
        say("agents keep running; stop them with `authex down`")
        return 0
    say("running; press Ctrl-C to stop")
    try:
        await asyncio.Event().wait()  # until Ctrl-C cancels it
    finally:
        await cluster.stop_async()
        say("stopped local agents")
    return 0


async def down(args: argparse.Namespace, descriptor: Descriptor) -> int:
    stopped = await LocalCluster(descriptor).stop_async()
    say(f"stopped {len(stopped)} local agents" if stopped else "no local agents were running")
    return 0


async def status(args: argparse.Namespace, descriptor: Descriptor) -> int:
    async with _session(descriptor, exclusive=False) as session:
        report = operations.status_report(session, await session.all_status())
    if args.json:
        say(json.dumps(report, indent=1))
    else:
        say(render_status(descriptor, report))
    return 0


async def call(args: argparse.Namespace, descriptor: Descriptor) -> int:
    async with _session(descriptor) as session:
        outcome = await operations.call(
            session, args.module, args.entry, _payload(args.arg, args.hex)
        )
    if outcome.status is CallStatus.OK:
        say(show_bytes(outcome.payload))
        return 0
    print(
        f"error: call failed: {outcome.status.name.lower()}: {show_bytes(outcome.payload)}",
        file=sys.stderr,
    )
    return 1


async def send(args: argparse.Namespace, descriptor: Descriptor) -> int:
    async with _session(descriptor) as session:
        counter = await operations.send(session, args.connection, _payload(args.data, args.hex))
    say(f"sent on {args.connection} (counter {counter})")
    return 0


async def request(args: argparse.Namespace, descriptor: Descriptor) -> int:
    async with _session(descriptor) as session:
        reply = await operations.request(session, args.connection, _payload(args.data, args.hex))
    say(show_bytes(reply))
    return 0


async def watch(args: argparse.Namespace, descriptor: Descriptor) -> int:
    seen = 0

    async def run() -> None:
        nonlocal seen
        async with _session(descriptor, exclusive=False) as session:
            async for counter, plaintext in operations.watch(session, args.connection):
                say(f"{args.connection} #{counter}: {show_bytes(plaintext)}")
                seen += 1
                if args.count and seen >= args.count:
                    return

    try:
        if args.timeout:
            await asyncio.wait_for(run(), args.timeout)
        else:
            await run()
    except TimeoutError:
        pass
    if args.count and seen < args.count:
        print(f"error: saw {seen} of {args.count} events before the timeout", file=sys.stderr)
        return 1
    return 0


async def update_cmd(args: argparse.Namespace, descriptor: Descriptor) -> int:
    async with _session(descriptor, allow_emulated=args.allow_emulated) as session:
        report = await update(session, args.module, fresh=args.fresh)
    if not report.unchanged:
        say(
            f"updated {report.module} in {report.total_s:.1f}s: {report.connections} connections "
            f"moved, sealed data: {report.transfer}; downtime {report.downtime_s * 1000:.0f} ms "
            f"({report.held} events waited for the new version)"
        )
    return 0


async def remove(args: argparse.Namespace, descriptor: Descriptor) -> int:
    async with _session(descriptor) as session:
        await operations.remove(session, args.module)
    say(f"removed {args.module}")
    return 0


async def reset(args: argparse.Namespace, descriptor: Descriptor) -> int:
    async with _session(descriptor) as session:
        unreached = await operations.reset(session)
    if unreached:
        for node, error in unreached.items():
            print(f"error: node {node} was not reset: {error}", file=sys.stderr)
        print(
            f"reset: {len(unreached)} node(s) not reached ({', '.join(unreached)}); their modules "
            "and keys are kept in the deployment state: run `authex reset` again once they are "
            "reachable",
            file=sys.stderr,
        )
        return 1
    say("reset: all modules stopped, deployment state cleared (operator key kept)")
    return 0


async def operator_cert(args: argparse.Namespace, descriptor: Descriptor) -> int:
    cert, _ = StateStore.of(descriptor).operator_tls()
    sys.stdout.write(cert.read_text())
    return 0


async def operator_add(args: argparse.Namespace, descriptor: Descriptor) -> int:
    message = AddOperator(_read_text(args.cert), int(args.admin))
    return await _administer(descriptor, message, args.node, "enrolled")


async def operator_remove(args: argparse.Namespace, descriptor: Descriptor) -> int:
    return await _administer(descriptor, RemoveOperator(args.key_id), args.node, "withdrew")


async def _administer(
    descriptor: Descriptor, message: AddOperator | RemoveOperator, nodes: list[str], done: str
) -> int:
    async with _session(descriptor, exclusive=False) as session:
        outcome = await operations.administer_operators(session, message, nodes)
    failed = 0
    for node, text in outcome.items():
        if text.startswith("error: "):
            failed += 1
            print(f"node {node}: {text}", file=sys.stderr)
        else:
            say(f"node {node}: {done} operator {text}")
    return 1 if failed else 0
