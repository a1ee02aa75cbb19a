"""``authex``: validate, deploy, operate and run nodes.  Parses arguments, runs one command,
prints, and maps errors to exit codes (0 ok, 1 failure, 2 usage or invalid input)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from authex import PROTOCOL_VERSION, __version__
from authex.cli import attest, commands, sancus
from authex.errors import AuthexError, DescriptorError

DESCRIPTOR_CANDIDATES = ("authex.yaml", "authex.yml", "descriptor.yaml", "deployment.yaml")


def find_descriptor(given: str | None) -> Path:
    if given:
        return Path(given)
    env = os.environ.get("AUTHEX_DESCRIPTOR")
    if env:
        return Path(env)
    for name in DESCRIPTOR_CANDIDATES:
        if Path(name).exists():
            return Path(name)
    raise DescriptorError(
        "no descriptor given: pass -f FILE, set AUTHEX_DESCRIPTOR, or run where one of "
        + ", ".join(DESCRIPTOR_CANDIDATES)
        + " exists"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authex",
        description="Build, deploy, attest and connect event-driven modules across TEEs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    parser.add_argument(
        "--version",
        action="version",
        version=f"authex {__version__} (wire protocol {PROTOCOL_VERSION})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_descriptor(p: argparse.ArgumentParser, positional: bool = False) -> None:
        if positional:
            p.add_argument("file", nargs="?", help="deployment descriptor (YAML or JSON)")
        else:
            p.add_argument("-f", "--file", help="deployment descriptor (default: search cwd)")

    p = sub.add_parser("validate", help="check a descriptor and list every problem")
    with_descriptor(p, positional=True)
    p.add_argument("--no-build", action="store_true", help="skip the module interface checks")

    p = sub.add_parser("deploy", help="build, load, attest, key and connect (resumable)")
    with_descriptor(p, positional=True)

    p = sub.add_parser("plan", help="show what a deploy would do, changing nothing")
    with_descriptor(p, positional=True)
    p.add_argument(
        "--allow-emulated",
        action="store_true",
        help="plan as `authex up` deploys: emulated TEEs accepted",
    )

    p = sub.add_parser("up", help="start local agents for the descriptor's nodes and deploy")
    with_descriptor(p, positional=True)
    p.add_argument("--detach", action="store_true", help="leave the agents running and return")

    p = sub.add_parser("down", help="stop the local agents started by `authex up`")
    with_descriptor(p, positional=True)

    p = sub.add_parser("status", help="nodes, modules, attestation and connection counts")
    with_descriptor(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("call", help="call a module entry, authenticated with the module key")
    with_descriptor(p)
    p.add_argument("module")
    p.add_argument("entry")
    p.add_argument("arg", nargs="?", default="")
    p.add_argument("--hex", action="store_true", help="ARG is hex")

    for name, text in (
        ("send", "send an event from the operator on a direct connection"),
        ("request", "send a request from the operator and print the handler's response"),
    ):
        p = sub.add_parser(name, help=text)
        with_descriptor(p)
        p.add_argument("connection")
        p.add_argument("data", nargs="?", default="")
        p.add_argument("--hex", action="store_true", help="DATA is hex")

    p = sub.add_parser("watch", help="print events a module sends to the operator")
    with_descriptor(p)
    p.add_argument("connection")
    p.add_argument("--count", type=int, default=0, help="stop after N events")
    p.add_argument("--timeout", type=float, default=0.0, help="stop after S seconds")

    p = sub.add_parser(
        "update",
        help="replace a running module by its new version, losing no event (resumable)",
    )
    with_descriptor(p)
    p.add_argument("module")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start the new version without the old one's sealed data",
    )
    p.add_argument(
        "--allow-emulated",
        action="store_true",
        help="accept emulated TEEs (as `authex up` deploys)",
    )

    p = sub.add_parser("remove", help="stop and remove one module")
    with_descriptor(p)
    p.add_argument("module")

    p = sub.add_parser("reset", help="stop every module on every node and forget the deployment")
    with_descriptor(p)

    p = sub.add_parser(
        "operator-cert", help="print the operator's TLS certificate, to enrol it on nodes"
    )
    with_descriptor(p)

    p = sub.add_parser(
        "operator-add",
        help="enrol another operator's certificate on the nodes (you must be their administrator)",
    )
    with_descriptor(p)
    p.add_argument("cert", help="the operator's certificate PEM file (its `authex operator-cert`)")
    p.add_argument("--node", action="append", default=[], help="only this node (repeatable)")
    p.add_argument(
        "--admin",
        action="store_true",
        help="hand it the administrator role (to rotate your own key: enrol the new one so)",
    )
    p = sub.add_parser(
        "operator-remove",
        help="withdraw an operator from the nodes by key id (you must be their administrator)",
    )
    with_descriptor(p)
    p.add_argument("key_id", help="the operator's key id (16 hex digits, as operator-add printed)")
    p.add_argument("--node", action="append", default=[], help="only this node (repeatable)")

    node = sub.add_parser("node", help="set up or run a node agent")
    node_sub = node.add_subparsers(dest="node_command", required=True, metavar="ACTION")
    p = node_sub.add_parser("init", help="create a node directory")
    p.add_argument("dir")
    p.add_argument("--name", required=True)
    p.add_argument("--tee", default="native")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--force", action="store_true")
    p.add_argument(
        "--vendor-id",
        type=int,
        action="append",
        help="module vendor id to print the enrolment key for (sancus, trustzone; repeatable; "
        "default 4660)",
    )
    p.add_argument(
        "--ta-vendor-key", help="PEM public key of the TA vendor this trustzone node trusts"
    )
    p.add_argument(
        "--operator-cert",
        action="append",
        help="operator certificate (PEM file, from `authex operator-cert`) whose control "
        "commands this node accepts (repeatable)",
    )
    p.add_argument(
        "--admin-operator",
        help="the node's administrator (PEM file): the operator who alone enrols or removes "
        "operators over the network (default: the first --operator-cert)",
    )
    p = node_sub.add_parser("enrol-operator", help="accept control commands from an operator")
    p.add_argument("dir")
    p.add_argument("cert", help="operator certificate PEM file (from `authex operator-cert`)")
    p = node_sub.add_parser("run", help="run the agent of a node directory")
    p.add_argument("dir")
    p = node_sub.add_parser("enrolment", help="print what the operator pins for a node")
    p.add_argument("dir")
    p.add_argument("--vendor-id", type=int, action="append")

    attest.add_parser(sub)
    sancus.add_parser(sub)

    # internal (an agent starts its platform with it): no help, so `authex --help` omits it
    platform = sub.add_parser("platform")
    platform_sub = platform.add_subparsers(dest="platform_command", required=True)
    p = platform_sub.add_parser("run")
    p.add_argument("dir")
    p.add_argument("--fd", type=int, required=True)
    return parser


def _run(work: Coroutine[Any, Any, int], *, agent: bool) -> int:
    """Run a command; agents run on uvloop when it is installed (its TLS and sockets cost
    about a fifth less CPU per event; AUTHEX_UVLOOP=0 keeps asyncio's own loop)."""
    if agent and os.environ.get("AUTHEX_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            result: int = uvloop.run(work)
            return result
    return asyncio.run(work)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command not in ("node", "platform"):
        logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if args.command == "attest":
        return attest.run(args)
    if args.command == "sancus":
        return sancus.run(args)
    try:
        return _run(commands.dispatch(args, find_descriptor), agent=args.command == "node")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except DescriptorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AuthexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
