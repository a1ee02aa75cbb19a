"""Human-readable rendering of status reports and payloads."""

from __future__ import annotations

from authex.deployer.operations import StatusReport
from authex.deployer.plan import Plan
from authex.descriptor import Descriptor


def show_bytes(data: bytes) -> str:
    """Printable UTF-8 as text, anything else as hex."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()
    return text if text.isprintable() else "0x" + data.hex()


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def render_status(descriptor: Descriptor, report: StatusReport) -> str:
    parts = [f"deployment {descriptor.name} ({descriptor.path})", "", "NODES"]
    parts.append(
        _table(
            ["node", "tee", "address", "reachable"],
            [
                [
                    n["name"],
                    n["tee"],
                    n["address"],
                    "yes" if n["reachable"] else f"no: {n['error']}",
                ]
                for n in report["nodes"]
            ],
        )
    )
    for n in report["nodes"]:  # a flood or a misrouted peer: said only when it happened
        if n["unrouted"]:
            sources = ", ".join(f"{s} {c}" for s, c in n["unrouted_sources"].items())
            parts.append(
                f"node {n['name']} dropped {n['unrouted']} events for connections it has no "
                f"route for" + (f" (from {sources})" if sources else "")
            )
    parts += ["", "MODULES"]
    parts.append(
        _table(
            ["module", "node", "tee", "attested by", "running", "measurement", "public entries"],
            [
                [
                    m["name"],
                    m["node"],
                    m["label"],
                    m["evidence"] if m["attested"] else "not attested",
                    "yes" if m["running"] else "no",
                    (m["measurement"][:16] + "…") if m["measurement"] else "-",
                    ", ".join(m["public_entries"]) or "-",
                ]
                for m in report["modules"]
            ],
        )
    )
    parts += ["", "CONNECTIONS"]
    parts.append(
        _table(
            ["connection", "id", "suite", "delivered", "forwarded", "to operator", "rejected"],
            [
                [
                    c["name"],
                    str(c["id"] or "-"),
                    c["suite"] or "-",
                    str(c["delivered"]),
                    str(c["forwarded"]),
                    str(c["to_operator"]),
                    ", ".join(f"{k} {v}" for k, v in sorted(c["rejected"].items())) or "0",
                ]
                for c in report["connections"]
            ],
        )
    )
    return "\n".join(parts)


def render_plan(descriptor: Descriptor, plan: Plan, blocked: dict[str, str]) -> str:
    """What `authex deploy` would do now, step kind by step kind, and what would stop it."""
    lines = [f"plan for {descriptor.name} ({descriptor.path}):"]
    loads = set(plan.load)

    def module_label(name: str) -> str:
        spec = descriptor.module(name)
        return f"{name} ({spec.node}, {descriptor.node(spec.node).tee})"

    sections = [
        ("load and attest", [module_label(m) for m in plan.load]),
        ("attest", [module_label(m) for m in plan.attest if m not in loads]),
        ("key (fresh key to both ends)", list(plan.key)),
        ("route", [f"{c} on {node}" for c, node in plan.route]),
        ("start timers", list(plan.timers)),
    ]
    for title, items in sections:
        if items:
            lines.append(f"  {title}: " + ", ".join(items))
    if plan.empty:
        lines.append("  nothing to do: everything is deployed")
    for module, reason in sorted(blocked.items()):
        lines.append(f"  cannot deploy {module_label(module)}: {reason}")
    return "\n".join(lines)
