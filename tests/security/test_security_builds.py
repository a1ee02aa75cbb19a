"""Safe builds (#14 items 3, 4, 5): code that runs at build time — a Python module's top-level
code, the C compiler, cargo with a crate's build script, a compiled module's ``--manifest`` — sees
none of the deployer's secrets; agents, platforms and modules started by ``authex up`` never get
the state passphrase; the C build cache rebuilds when any header the compiler read changes and
refuses entries it did not write under this operator's key; a Rust crate that links outside its
folder is refused before cargo runs."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.crypto.secret import Secret
from authex.deployer import c as toolchain
from authex.deployer.c import build_c_module, cache_secret
from authex.deployer.cluster import LocalCluster
from authex.deployer.rust import build_rust_module
from authex.descriptor import load_descriptor
from authex.errors import BuildError
from authex.scrub import build_env, node_env
from authex.sdk.build import build_python_module
from support.harness import App, deployed_cluster
from support.net import free_ports
from support.procs import session_members
from support.stream_app import copy_modules, stream_descriptor

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "sdks" / "c" / "examples" / "echo"
PASSPHRASE = "correct horse battery staple"
OPERATOR = bytes(range(32))
NO_CC = shutil.which("cc") is None
NO_CARGO = shutil.which("cargo") is None


@pytest.fixture
def deployer_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployer's environment holds the state passphrase, other deployer-only variables
    and a toolchain variable that points into the operator's ``.authex`` folder."""
    monkeypatch.setenv("AUTHEX_STATE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("AUTHEX_DESCRIPTOR", str(tmp_path / "descriptor.yaml"))
    monkeypatch.setenv("AUTHEX_SOME_FUTURE_SECRET", "s3cret")
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path / ".authex" / "target"))


def assert_scrubbed(env: dict[str, str], *, allowed: frozenset[str] = frozenset()) -> None:
    """No AUTHEX_* variable but ``allowed``, no value holding the passphrase, nothing pointing
    into an ``.authex`` folder, no HOME."""
    assert {n for n in env if n.startswith("AUTHEX_")} <= allowed
    assert not any(PASSPHRASE in value for value in env.values())
    assert not any("/.authex" in value for value in env.values())
    assert "HOME" not in env


def test_python_module_code_at_build_time_sees_no_deployer_secret(
    tmp_path: Path, deployer_secrets: None
) -> None:
    dump = tmp_path / "seen.json"
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.py").write_text(
        "import json, os\n"
        f"open({str(dump)!r}, 'w').write(json.dumps([dict(os.environ), os.getcwd()]))\n"
        "from authex.sdk import Module\n"
        "module = Module()\n"
        "@module.entry()\n"
        "def hello(ctx, arg):\n"
        "    return b'hi'\n"
    )
    build_python_module(module, "snoop", OPERATOR)
    env, cwd = json.loads(dump.read_text())
    assert_scrubbed(env)
    assert Path(cwd) == module.resolve()  # not the operator's folder


@pytest.mark.skipif(NO_CC, reason="no C compiler")
def test_c_compiler_and_manifest_run_see_no_deployer_secret(
    tmp_path: Path, deployer_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiler (``CC``) that records its environment and writes a "binary" that records its
    own when asked for its manifest."""
    seen = tmp_path / "seen"
    seen.mkdir()
    binary = (
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(seen / 'manifest.json')!r}, 'w')"
        ".write(json.dumps([dict(os.environ), os.getcwd()]))\n"
        "sys.exit(1)\n"
    )
    compiler = tmp_path / "fake-cc"
    compiler.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"seen = {str(seen)!r}\n"
        "with open(os.path.join(seen, f'cc-{os.getpid()}.json'), 'w') as f:\n"
        "    json.dump([dict(os.environ), os.getcwd(), sys.argv[1:]], f)\n"
        "if '-o' in sys.argv:\n"
        "    with open(sys.argv[sys.argv.index('-o') + 1], 'w') as out:\n"
        f"        out.write({binary!r})\n"
    )
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    monkeypatch.setenv("AUTHEX_CACHE_DIR", str(tmp_path / "cache"))
    toolchain._compiler_identity.cache_clear()
    with pytest.raises(BuildError, match="refused --manifest"):
        build_c_module(ECHO, "echo", OPERATOR, "native")
    runs = [json.loads(p.read_text()) for p in seen.glob("cc-*.json")]
    assert any("-o" in argv for _, _, argv in runs)  # the compile itself was seen
    for env, cwd, _ in runs:
        assert_scrubbed(env)
        assert Path(cwd) != Path.cwd()  # a temporary folder, not the operator's
    env, cwd = json.loads((seen / "manifest.json").read_text())
    assert_scrubbed(env)
    assert Path(cwd) != Path.cwd()


@pytest.mark.skipif(NO_CARGO, reason="cargo is not installed")
def test_cargo_and_a_build_script_see_no_deployer_secret(
    tmp_path: Path, deployer_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crate without dependencies whose build script records its environment (and whose
    binary records its own when asked for its manifest)."""
    monkeypatch.delenv("CARGO_TARGET_DIR")  # cargo's default: the crate's target/
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "snoop"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n'
    )
    (crate / "Cargo.lock").write_text(
        "# This file is automatically @generated by Cargo.\nversion = 4\n\n"
        '[[package]]\nname = "snoop"\nversion = "0.1.0"\n'
    )
    dump = (
        "let mut out = String::new();\n"
        '    for (k, v) in std::env::vars() { out.push_str(&format!("{}={}\\n", k, v)); }\n'
        '    out.push_str(&format!("CWD={}\\n", std::env::current_dir().unwrap().display()));\n'
    )
    (crate / "build.rs").write_text(
        f"fn main() {{\n    {dump}    std::fs::write({json.dumps(str(tmp_path / 'build.env'))}"
        ", out).unwrap();\n}\n"
    )
    (crate / "src" / "main.rs").write_text(
        f"fn main() {{\n    {dump}    std::fs::write({json.dumps(str(tmp_path / 'run.env'))}"
        ", out).unwrap();\n    std::process::exit(1);\n}\n"
    )
    with pytest.raises(BuildError, match="refused --manifest"):
        build_rust_module(crate, "snoop", OPERATOR)
    for name in ("build.env", "run.env"):
        lines = (tmp_path / name).read_text().splitlines()
        env = dict(line.split("=", 1) for line in lines if "=" in line)
        cwd = env.pop("CWD")
        assert_scrubbed(env, allowed=frozenset({"AUTHEX_OPERATOR_KEY"}))
        assert Path(cwd) != Path.cwd()  # the crate or a temporary folder
    build = dict(line.split("=", 1) for line in (tmp_path / "build.env").read_text().splitlines())
    assert build["AUTHEX_OPERATOR_KEY"] == OPERATOR.hex()  # the public key, which it needs


def test_the_environments_are_allow_and_deny_lists() -> None:
    deployer = {
        "PATH": "/usr/bin",
        "LC_ALL": "C.UTF-8",
        "HOME": "/home/op",
        "AUTHEX_STATE_PASSPHRASE": PASSPHRASE,
        "AUTHEX_PURE_PYTHON": "1",
        "AUTHEX_UVLOOP": "0",
        "CARGO_REGISTRY_TOKEN": "token",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "PYTHONPATH": "/src:/home/op/app/.authex/lib",
        "TMPDIR": "/tmp",
    }
    assert build_env(deployer) == {
        "PATH": "/usr/bin",
        "LC_ALL": "C.UTF-8",
        "AUTHEX_PURE_PYTHON": "1",
        "TMPDIR": "/tmp",
    }
    assert node_env(deployer) == {
        n: v for n, v in deployer.items() if n not in ("AUTHEX_STATE_PASSPHRASE",)
    }


def environ_of(pid: int) -> dict[str, str] | None:
    """The environment a process was started with; None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    pairs = (item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0") if item)
    return {pair[0]: pair[-1] for pair in pairs}


@pytest.fixture
def stream_app(tmp_path: Path, deployer_secrets: None) -> Iterator[tuple[LocalCluster, App]]:
    """The stream application (two nodes, Python modules) started and deployed by a deployer
    whose environment holds the state passphrase."""
    copy_modules(tmp_path)
    (tmp_path / "descriptor.yaml").write_text(stream_descriptor(*free_ports(2)))
    with deployed_cluster(load_descriptor(tmp_path / "descriptor.yaml")) as running:
        yield running


def test_agents_platforms_and_modules_never_get_the_state_passphrase(
    stream_app: tuple[LocalCluster, App],
) -> None:
    cluster, app = stream_app
    assert os.environ["AUTHEX_STATE_PASSPHRASE"] == PASSPHRASE
    assert app.call("consumer", "stats").payload  # deployed and running
    agents = cluster._pids()
    assert sorted(agents) == ["a", "b"]
    for node, agent in agents.items():
        environs = {pid: environ_of(pid) for pid in session_members(agent)}
        seen = {pid: env for pid, env in environs.items() if env is not None}
        # the agent, its platform, and the node's module
        assert len(seen) >= 3, f"node {node}: {sorted(seen)}"
        for pid, env in seen.items():
            assert "AUTHEX_STATE_PASSPHRASE" not in env, f"node {node}, pid {pid}"
            assert not any(PASSPHRASE in value for value in env.values())
            assert {n for n in env if n.startswith("AUTHEX_")} <= {
                "AUTHEX_PURE_PYTHON",
                "AUTHEX_UVLOOP",
            }


# --- the C build cache ---------------------------------------------------------------------


FAST = ("-O0",)  # the cache is what these tests are about: compile quickly


def operator_cache(seed: int) -> Secret:
    return cache_secret(Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("AUTHEX_CACHE_DIR", str(folder))
    return folder / "c-builds"


TAG = '__attribute__((used)) static const char build_tag[] = "build-tag-{}";\n'


@pytest.fixture
def echo_with_subfolder_header(tmp_path: Path) -> Path:
    """The C echo module including a header of a subfolder, which puts a tag in the binary."""
    source = tmp_path / "echo"
    shutil.copytree(ECHO, source)
    (source / "include").mkdir()
    (source / "include" / "tag.h").write_text(TAG.format("v1"))
    echo = source / "echo.c"
    echo.write_text('#include "include/tag.h"\n' + echo.read_text())
    return source


@pytest.mark.skipif(NO_CC, reason="no C compiler")
def test_a_changed_header_in_a_subfolder_rebuilds(
    echo_with_subfolder_header: Path, cache: Path
) -> None:
    source = echo_with_subfolder_header
    secret = operator_cache(1)
    first = build_c_module(source, "echo", OPERATOR, "native", FAST, secret)
    assert b"build-tag-v1" in first.artifact
    (source / "include" / "tag.h").write_text(TAG.format("v2"))
    second = build_c_module(source, "echo", OPERATOR, "native", FAST, secret)
    assert second.measurement != first.measurement
    assert b"build-tag-v2" in second.artifact and b"build-tag-v1" not in second.artifact
    # entries: one per build key, readable only by this user
    assert [p.suffix for p in cache.iterdir()] == [".entry"]
    assert cache.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in cache.iterdir())


def _entry(cache: Path) -> Path:
    (entry,) = cache.iterdir()
    return entry


@pytest.mark.skipif(NO_CC, reason="no C compiler")
def test_a_planted_cache_entry_is_refused_and_rebuilt(
    tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = operator_cache(1)
    genuine = build_c_module(ECHO, "echo", OPERATOR, "native", FAST, secret)
    entry = _entry(cache)
    header, _, binary = entry.read_bytes().partition(b"\n")
    # another binary planted under the genuine entry's header and MAC
    planted = binary.replace(b"nothing to say", b"planted binary")
    assert planted != binary
    entry.write_bytes(header + b"\n" + planted)
    with caplog.at_level(logging.WARNING, logger="authex.deployer.c"):
        again = build_c_module(ECHO, "echo", OPERATOR, "native", FAST, secret)
    assert again.measurement == genuine.measurement  # rebuilt, not the planted binary
    refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert refusals == [
        f"module echo: C build cache entry {entry} is not authenticated by this operator's "
        "key (planted, altered, or written under another operator key): not used, rebuilding"
    ]
    assert _entry(cache).read_bytes().partition(b"\n")[2] == genuine.artifact  # repaired


@pytest.mark.skipif(NO_CC, reason="no C compiler")
def test_a_cache_entry_of_another_operator_key_is_refused(
    cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry with a valid MAC under another operator's cache key (another operator on this
    machine, or an agent's user that wrote its own entry) is not used."""
    theirs, ours = operator_cache(2), operator_cache(1)
    build_c_module(ECHO, "echo", OPERATOR, "native", FAST, theirs)
    entry = _entry(cache)
    written = entry.read_bytes()
    with caplog.at_level(logging.WARNING, logger="authex.deployer.c"):
        build_c_module(ECHO, "echo", OPERATOR, "native", FAST, ours)
    assert [str(entry) in r.getMessage() for r in caplog.records] == [True]
    assert entry.read_bytes() != written  # replaced by our own build
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="authex.deployer.c"):
        build_c_module(ECHO, "echo", OPERATOR, "native", FAST, ours)  # our entry: used
    assert caplog.records == []


# --- Rust crates that link outside -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_rust_crate_linking_outside_its_folder_is_refused_before_cargo(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / ".authex" / "operator.key"
    secret.parent.mkdir()
    secret.write_text("00" * 32 + "\n")
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
    (crate / "src" / "main.rs").write_text("fn main() {}\n")
    (crate / "target").mkdir()
    (crate / "target" / "ignored").symlink_to(secret)  # cargo's output folder: not looked at
    link = crate / "src" / "key.txt"
    link.symlink_to(secret if kind == "file" else secret.parent)

    def no_cargo(*args: object, **kwargs: object) -> None:
        raise AssertionError("cargo ran")

    monkeypatch.setattr("authex.deployer.rust.subprocess.run", no_cargo)
    with pytest.raises(BuildError) as caught:
        build_rust_module(crate, "x", OPERATOR)
    target = secret if kind == "file" else secret.parent
    assert caught.value.message == (
        f"src/key.txt is a link to {target.resolve()}, outside the module folder; module "
        "sources are only read from inside it (copy the file into the folder, or remove the "
        "link)"
    )
    assert caught.value.where == str(crate.resolve())
