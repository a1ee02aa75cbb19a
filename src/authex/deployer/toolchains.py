"""Build every module of a descriptor with its language's toolchain (Python, Rust, C)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from authex.crypto.secret import Secret
from authex.deployer.c import build_c_module
from authex.deployer.rust import build_rust_module
from authex.deployer.steps import run_steps
from authex.descriptor import Descriptor, ModuleSpec
from authex.errors import BuildError
from authex.sdk.build import BuiltModule, build_python_module


def build_module(
    spec: ModuleSpec, operator_public: bytes, tee: str, cache: Secret | None = None
) -> BuiltModule:
    """Build one module for a node running ``tee``; ``cache``: the operator's C build cache key
    (authex.deployer.c.cache_secret), without which C modules are always compiled."""
    if spec.language == "python":
        return build_python_module(spec.source, spec.name, operator_public)
    if spec.language == "rust":
        return build_rust_module(spec.source, spec.name, operator_public)
    if spec.language == "c":
        return build_c_module(spec.source, spec.name, operator_public, tee, spec.cflags, cache)
    raise BuildError(
        f"language {spec.language!r} has no toolchain (supported: python, rust, c)",
        where=f"module {spec.name}",
    )


async def build_all(
    descriptor: Descriptor,
    operator_public: bytes,
    progress: Callable[[str], None],
    cache: Secret | None = None,
) -> dict[str, BuiltModule]:
    """Build all modules concurrently (each build runs its toolchain in a worker thread)."""

    async def one(spec: ModuleSpec) -> tuple[str, BuiltModule]:
        tee = descriptor.node(spec.node).tee
        built = await asyncio.to_thread(build_module, spec, operator_public, tee, cache)
        progress(f"built {spec.name} ({spec.language}, {len(built.artifact)} bytes)")
        return spec.name, built

    built: dict[str, BuiltModule] = {}

    async def store(spec: ModuleSpec) -> None:
        name, module = await one(spec)
        built[name] = module

    # cargo builds one binary per crate and target folder at a time: Rust modules in sequence
    rust = [spec for spec in descriptor.modules if spec.language == "rust"]
    for spec in rust:
        await store(spec)
    await run_steps(store(spec) for spec in descriptor.modules if spec.language != "rust")
    return {spec.name: built[spec.name] for spec in descriptor.modules}
