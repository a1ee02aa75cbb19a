"""What each benchmark measures and how much: the default run, ``--quick``, and the targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PING_PONG = REPO / "examples" / "ping-pong" / "modules"
RUST_EXAMPLES = REPO / "sdks" / "rust" / "examples"
C_EXAMPLES = REPO / "sdks" / "c" / "examples"
# The ping-pong probe per language: (ping source, pong source).  The Rust crates and the C
# modules have the same interface and byte formats as the Python modules.
PROBE_SOURCES = {
    "python": (PING_PONG / "ping", PING_PONG / "pong"),
    "rust": (RUST_EXAMPLES / "ping", RUST_EXAMPLES / "pong"),
    "c": (C_EXAMPLES / "ping", C_EXAMPLES / "pong"),
}
RESULTS = Path(__file__).resolve().parent / "results"

PAYLOAD_SIZES = (16, 256, 4096)
SUITES = ("aes-gcm-128", "ascon-aead128", "spongewrap-128")
LANGUAGES = ("python", "rust", "c")
NO_CARGO = "n/a — cargo is not installed"
RUST_NOT_SELECTED = "n/a — Rust modules not selected (--no-rust)"
RUST_BUILD_FAILED = "n/a — the Rust build failed (see errors)"
NO_CC = "n/a — no C compiler (cc) is installed"
C_NOT_SELECTED = "n/a — C modules not selected (--no-c)"
C_BUILD_FAILED = "n/a — the C build failed (see errors)"
BACKENDS = ("native", "sancus", "trustzone", "sgx")

# Targets of the benchmarks issue (for this 2-core machine).
HOP_TARGET = {"python": 8.0, "rust": 4.0, "c": 4.0}  # hop p50 <= N x TCP floor
# events/s, one connection, no loss (the issue names Rust; C modules are held to the same)
THROUGHPUT_TARGET = {"python": 10_000, "rust": 50_000, "c": 50_000}
SCALE_TARGET_S = 10.0  # 100 modules on 10 nodes: deploy + attest + connect
KDF_TARGET_MS = 50.0  # Sancus module-key derivation for 4 KiB of text
SGX_ATTEST_TARGET_MS = 20.0  # emulated SGX attestation per module
MEMORY_TARGET_MB = {"python": 30.0, "rust": 5.0, "c": 2.0}  # resident memory per module


@dataclass(frozen=True)
class Settings:
    quick: bool
    floor_count: int  # round trips per payload size and variant
    floor_warmup: int
    hop_count: int  # round trips per suite and payload size (at most)
    hop_warmup: int
    hop_budget_s: float  # ... and at most this long each (slow suites stop earlier)
    request_count: int
    request_warmup: int
    request_budget_s: float
    throughput_s: float  # how long each stream runs
    throughput_window: int  # events per credit
    throughput_connections: int  # for the "one node, many connections" figure
    scale: tuple[tuple[int, int], ...]  # (modules, nodes)
    attest_repeats: int  # direct Backend.attest calls per backend
    kdf_sizes: tuple[int, ...]  # bytes of module text
    kdf_budget_s: float  # per size and implementation (at least one derivation)
    settle_s: float  # idle time before reading memory


DEFAULT = Settings(
    quick=False,
    floor_count=2000,
    floor_warmup=200,
    hop_count=1000,
    hop_warmup=50,
    hop_budget_s=4.0,
    request_count=1000,
    request_warmup=50,
    request_budget_s=4.0,
    throughput_s=10.0,
    throughput_window=256,
    throughput_connections=10,
    scale=((10, 5), (50, 5), (100, 5), (10, 10), (50, 10), (100, 10)),
    attest_repeats=20,
    kdf_sizes=(1024, 4096, 16384),
    kdf_budget_s=2.0,
    settle_s=1.0,
)

QUICK = Settings(
    quick=True,
    floor_count=500,
    floor_warmup=50,
    hop_count=200,
    hop_warmup=20,
    hop_budget_s=0.8,
    request_count=200,
    request_warmup=20,
    request_budget_s=0.8,
    throughput_s=2.0,
    throughput_window=256,
    throughput_connections=10,
    scale=((10, 5), (30, 10)),
    attest_repeats=5,
    kdf_sizes=(1024, 4096, 16384),
    kdf_budget_s=0.5,
    settle_s=0.5,
)

BENCHMARKS = ("floor", "hop", "request", "throughput", "attest", "memory", "scale")
