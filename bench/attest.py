"""Attestation per backend, Sancus key derivation per KiB, and resident memory.

One application with a node of every TEE kind (native, and the emulated sancus, trustzone and
sgx platforms), ``MODULES_PER_NODE`` idle modules on each (examples/ping-pong's pong module):

- attestation: after the deployment (whose own attest step per module is read from the progress
  lines), ``Backend.attest`` is called again ``attest_repeats`` times per module, one call at a
  time, against the running agent: challenge, evidence, verification and key derivation, as a
  deploy does it.  (Re-attesting only replaces the module's control key; nothing else runs.)
- memory: VmRSS of every module process at idle (pids from the status report), of each agent
  (pids ``LocalCluster`` recorded) and of each agent's platform process (its child).  With Rust
  modules, a Rust pong on the native node; with C modules, a C pong on the native node (host
  build, linked with OpenSSL's libcrypto) and one on the sancus node (built without OpenSSL),
  each with its PSS (/proc/PID/smaps_rollup) beside its RSS.
- key derivation: ``bench.kdf`` in two child processes, accelerated and ``AUTHEX_PURE_PYTHON=1``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.deployer import operations
from authex.deployer.deploy import attest_context, deploy
from authex.deployer.session import Session
from authex.sdk.build import build_python_module
from authex.tee.base import get_backend
from bench.apps import LocalApp, native_nodes
from bench.config import (
    BACKENDS,
    C_NOT_SELECTED,
    KDF_TARGET_MS,
    MEMORY_TARGET_MB,
    PING_PONG,
    PROBE_SOURCES,
    REPO,
    RUST_NOT_SELECTED,
    SGX_ATTEST_TARGET_MS,
    Settings,
)
from bench.procs import platform_pid, pss_kib, rss_kib
from bench.report import Results, Row
from bench.stats import ratio, summarize

MODULES_PER_NODE = 2


# The C modules of the memory benchmark: (name, source, tee), the pong module on two kinds of
# node: native (host build with libcrypto) and sancus (size-optimised, without OpenSSL).
C_MEMORY_MODULES = (
    ("m-c", PROBE_SOURCES["c"][1], "native"),
    ("m-c-sancus", PROBE_SOURCES["c"][1], "sancus"),
)
C_BUILD_NOTE = {"native": "libcrypto", "sancus": "no OpenSSL"}


def attest_descriptor(rust: bool = False, c: bool = False) -> dict[str, Any]:
    names = [f"n-{tee}" for tee in BACKENDS]
    modules = [
        {
            "name": f"m-{tee}-{i}",
            "node": f"n-{tee}",
            "language": "python",
            "source": str(PING_PONG / "pong"),
        }
        for tee in BACKENDS
        for i in range(MODULES_PER_NODE)
    ]
    if rust:  # a Rust module too, for its resident memory
        modules.append(
            {
                "name": "m-rust",
                "node": "n-native",
                "language": "rust",
                "source": str(PROBE_SOURCES["rust"][1]),
            }
        )
    if c:  # C modules too, for their resident memory (RSS and PSS)
        modules += [
            {"name": name, "node": f"n-{tee}", "language": "c", "source": str(source)}
            for name, source, tee in C_MEMORY_MODULES
        ]
    return {
        "name": "bench-attest",
        "nodes": native_nodes(names, list(BACKENDS)),
        "modules": modules,
    }


def _deploy_attest_ms(lines: list[tuple[float, str]], module: str) -> float | None:
    """The deploy's own attest step for ``module``: from "loaded" to "attested"."""
    loaded = next((t for t, line in lines if line.endswith(f"] loaded {module}")), None)
    attested = next((t for t, line in lines if f"] attested {module}:" in line), None)
    if loaded is None or attested is None:
        return None
    return (attested - loaded) * 1000


async def _attest_times(session: Session, module: str, repeats: int) -> list[float]:
    descriptor = session.descriptor
    spec = descriptor.module(module)
    node = descriptor.node(spec.node)
    backend = get_backend(node.tee)
    keys = session.keys()
    built = await asyncio.to_thread(
        build_python_module, spec.source, spec.name, session.operator_public
    )
    packaged = backend.package(spec, built.artifact, keys)
    client = await session.client(spec.node)
    context = attest_context(session, spec, node, packaged, client)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        await backend.attest(context)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


async def _memory(app: LocalApp, session: Session) -> dict[str, Any]:
    report = operations.status_report(session, await session.all_status())
    modules: dict[str, list[float]] = {}
    modules_pss: dict[str, list[float]] = {}
    languages: dict[str, list[float]] = {}
    by_language: dict[str, dict[str, dict[str, list[float]]]] = {}
    for m in report["modules"]:
        pid = m["pid"] or 0
        kib = rss_kib(pid) if pid else None
        pss = pss_kib(pid) if pid else None
        language = session.descriptor.module(m["name"]).language
        per_tee = by_language.setdefault(language, {}).setdefault(
            m["tee"], {"rss_mb": [], "pss_mb": []}
        )
        if kib is not None:
            languages.setdefault(language, []).append(kib / 1024)
            per_tee["rss_mb"].append(kib / 1024)
            if language == "python":
                modules.setdefault(m["tee"], []).append(kib / 1024)
        if pss is not None:
            per_tee["pss_mb"].append(pss / 1024)
            if language == "python":
                modules_pss.setdefault(m["tee"], []).append(pss / 1024)
    agents: dict[str, float] = {}
    platforms: dict[str, float] = {}
    for node, pid in app.agent_pids().items():
        tee = app.descriptor.node(node).tee
        kib = rss_kib(pid)
        if kib is not None:
            agents[tee] = kib / 1024
        child = platform_pid(pid)
        child_kib = rss_kib(child) if child else None
        if child_kib is not None:
            platforms[tee] = child_kib / 1024
    return {
        "unit": "MiB (VmRSS; PSS from smaps_rollup)",
        "module_mb": modules,  # Python modules, per backend
        "module_pss_mb": modules_pss,
        "language_mb": languages,  # every module of each language, any backend
        "by_language": by_language,  # language -> backend -> {"rss_mb", "pss_mb"}
        "agent_mb": agents,
        "platform_mb": platforms,
    }


def kdf_times(pure: bool, settings: Settings) -> dict[str, Any]:
    env = dict(os.environ)
    env["AUTHEX_PURE_PYTHON"] = "1" if pure else "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    sizes = [str(s) for s in settings.kdf_sizes]
    done = subprocess.run(
        [sys.executable, "-m", "bench.kdf", str(settings.kdf_budget_s), *sizes],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _kdf_bench(settings: Settings, results: Results) -> None:
    data: dict[str, Any] = {}
    accelerated: dict[str, float] = {}
    for label, pure in (("accelerated", False), ("pure Python", True)):
        raw = kdf_times(pure, settings)
        per_size = {}
        for size, samples in raw["ms"].items():
            summary = summarize(samples)
            if not pure:
                accelerated[size] = summary.p50
            base = accelerated.get(size) if pure else None
            per_size[size] = summary.to_dict(4) | {
                "ms_per_kib": round(summary.p50 / (int(size) / 1024), 4)
            }
            is_4k = int(size) == 4096
            results.add(
                Row(
                    "attest",
                    f"Sancus K_m derivation {int(size) // 1024} KiB, {label}",
                    summary.p50,
                    "ms",
                    baseline=f"accelerated {base:.2f} ms" if base else "",
                    target=f"≤ {KDF_TARGET_MS:g} ms" if is_4k else "",
                    ratio=ratio(summary.p50, base or (KDF_TARGET_MS if is_4k else None)),
                    met=summary.p50 <= KDF_TARGET_MS if is_4k else None,
                    note=f"{summary.p50 / (int(size) / 1024):.2f} ms/KiB, n={summary.n}"
                    + ("" if raw["accelerated"] != pure else ", accelerator state unexpected"),
                )
            )
        data[label] = {"accelerated": raw["accelerated"], "sizes": per_size}
    results.data.setdefault("attest", {})["sancus_kdf"] = data


async def _app_bench(
    app: LocalApp,
    selected: set[str],
    settings: Settings,
    results: Results,
    rust_skip: str | None,
    c_skip: str | None,
) -> None:
    async with app.session() as session:
        mark = app.progress.mark()
        begin = time.perf_counter()
        await deploy(session)
        deploy_s = time.perf_counter() - begin
        lines = app.progress.since(mark)
        if "memory" in selected:
            await asyncio.sleep(settings.settle_s)  # idle: nothing runs in the modules
            memory = await _memory(app, session)
            results.data["memory"] = memory
            _memory_rows(memory, results, rust_skip, c_skip)
        if "attest" in selected:
            data: dict[str, Any] = {"deploy_s": round(deploy_s, 3), "per_backend": {}}
            native_ms: float | None = None
            for tee in BACKENDS:
                direct: list[float] = []
                in_deploy: list[float] = []
                for i in range(MODULES_PER_NODE):
                    module = f"m-{tee}-{i}"
                    direct += await _attest_times(session, module, settings.attest_repeats)
                    step = _deploy_attest_ms(lines, module)
                    if step is not None:
                        in_deploy.append(step)
                summary = summarize(direct)
                if tee == "native":
                    native_ms = summary.p50
                base = native_ms if tee != "native" else None
                data["per_backend"][tee] = {
                    "attest_ms": summary.to_dict(),
                    "deploy_step_ms": [round(v, 2) for v in in_deploy],
                }
                is_sgx = tee == "sgx"
                results.add(
                    Row(
                        "attest",
                        f"{tee} attestation p50 (Backend.attest)",
                        summary.p50,
                        "ms",
                        baseline=f"native {base:.2f} ms" if base else "",
                        target=f"≤ {SGX_ATTEST_TARGET_MS:g} ms" if is_sgx else "",
                        ratio=ratio(summary.p50, base),
                        met=summary.p50 <= SGX_ATTEST_TARGET_MS if is_sgx else None,
                        note=f"{get_backend(tee).label}; p99 {summary.p99:.1f} ms, n={summary.n}"
                        + (
                            f"; in the deploy {statistics.median(in_deploy):.0f} ms"
                            if in_deploy
                            else ""
                        ),
                    )
                )
            results.data.setdefault("attest", {}).update(data)


def _median(values: list[float] | None) -> str:
    if not values:
        return "?"
    value = statistics.median(values)
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _memory_rows(
    memory: dict[str, Any], results: Results, rust_skip: str | None, c_skip: str | None
) -> None:
    target = MEMORY_TARGET_MB["python"]
    for tee in BACKENDS:
        values = memory["module_mb"].get(tee, [])
        if not values:
            continue
        value = statistics.median(values)
        results.add(
            Row(
                "memory",
                f"python module RSS at idle ({tee})",
                value,
                "MiB",
                target=f"≤ {target:g} MiB",
                ratio=ratio(value, target),
                met=value <= target,
                note=f"n={len(values)}, PSS {_median(memory['module_pss_mb'].get(tee))} MiB; "
                f"agent {memory['agent_mb'].get(tee, 0):.1f} MiB, "
                f"platform process {memory['platform_mb'].get(tee, 0):.1f} MiB",
            )
        )
    by_language = memory.get("by_language", {})
    if rust_skip is not None:
        _unmeasured_row(results, "rust", rust_skip)
    else:
        rust = by_language.get("rust", {}).get("native", {})
        _language_row(results, "rust", "RSS", rust, "", "native node (the pong module)")
    if c_skip is not None:
        _unmeasured_row(results, "c", c_skip)
        return
    for _, _, tee in C_MEMORY_MODULES:
        c = by_language.get("c", {}).get(tee, {})
        where = f" ({tee}, {C_BUILD_NOTE[tee]})"
        for kind in ("RSS", "PSS"):
            _language_row(results, "c", kind, c, where, f"{tee} node (the pong module)")


def _unmeasured_row(results: Results, language: str, why: str) -> None:
    limit = MEMORY_TARGET_MB[language]
    results.add(
        Row(
            "memory",
            f"{language} module RSS at idle",
            None,
            "MiB",
            target=f"≤ {limit:g} MiB",
            note=why,
        )
    )


def _language_row(
    results: Results,
    language: str,
    kind: str,
    figures: dict[str, list[float]],
    where: str,
    what: str,
) -> None:
    """One memory row of a Rust or C module: its ``kind`` ("RSS" or "PSS") with the other one
    in the details."""
    measured = figures.get("rss_mb" if kind == "RSS" else "pss_mb", [])
    other_kind = "PSS" if kind == "RSS" else "RSS"
    other = _median(figures.get("pss_mb" if kind == "RSS" else "rss_mb"))
    value = statistics.median(measured) if measured else None
    limit = MEMORY_TARGET_MB[language]
    results.add(
        Row(
            "memory",
            f"{language} module {kind} at idle{where}",
            value,
            "MiB",
            target=f"≤ {limit:g} MiB",
            ratio=ratio(value, limit) if value is not None else None,
            met=value <= limit if value is not None else None,
            note=f"n={len(measured)}, {other_kind} {other} MiB; {what}"
            if measured
            else "n/a — not measured (no pid)",
        )
    )


def run(
    selected: set[str],
    settings: Settings,
    results: Results,
    folder: Path,
    operator: Ed25519PrivateKey | None = None,
    rust_skip: str | None = RUST_NOT_SELECTED,
    c_skip: str | None = C_NOT_SELECTED,
) -> None:
    """Attestation and memory; the Rust module's memory too unless ``rust_skip``, the C
    modules' unless ``c_skip`` (the reason, printed in their rows) is given."""
    if "attest" in selected:
        _kdf_bench(settings, results)
    if selected & {"attest", "memory"}:
        rust = rust_skip is None and "memory" in selected
        c = c_skip is None and "memory" in selected
        with LocalApp(folder, attest_descriptor(rust, c), operator) as app:
            asyncio.run(_app_bench(app, selected, settings, results, rust_skip, c_skip))
