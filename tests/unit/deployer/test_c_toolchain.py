"""The C toolchain runner: a module that does not compile is reported with the module's name and
the compiler's own message; folders without C sources and a missing SDK are refused before the
compiler runs; Sancus builds are microcontroller-sized and have no OpenSSL; builds are
reproducible and kept in an authenticated cache keyed by every input (tests/security/
test_security_builds.py has the attacks on it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from authex.crypto.secret import Secret
from authex.deployer import c as toolchain
from authex.deployer.c import build_c_module, compile_command
from authex.errors import BuildError

REPO = Path(__file__).resolve().parents[3]
ECHO = REPO / "sdks" / "c" / "examples" / "echo"
SENSOR = REPO / "examples" / "smart-irrigation" / "modules" / "sensor-c"
CACHE = Secret(bytes(range(32)))  # an operator's cache key (deployer.c.cache_secret)

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUTHEX_CACHE_DIR", str(cache))
    return cache / "c-builds"


def test_compile_error_names_the_module_and_quotes_the_compiler(tmp_path: Path) -> None:
    source = tmp_path / "broken"
    source.mkdir()
    (source / "broken.c").write_text('#include <authex.h>\nint x = "seven" * 2;\n')
    with pytest.raises(BuildError) as caught:
        build_c_module(source, "counter", bytes(32), "native")
    assert caught.value.where == "module counter"
    assert "cc failed" in caught.value.message
    assert "broken.c:2" in caught.value.message  # the compiler's own file:line


def test_a_folder_without_c_sources_is_refused(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    with pytest.raises(BuildError, match=r"no \.c files in the module source"):
        build_c_module(tmp_path, "sensor", bytes(32), "native")


def test_a_missing_sdk_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHEX_C_SDK", str(tmp_path))
    with pytest.raises(BuildError, match=r"AUTHEX_C_SDK=.* has no include/authex.h"):
        build_c_module(ECHO, "echo", bytes(32), "native")


def test_manifest_and_suites_per_target() -> None:
    host = build_c_module(ECHO, "echo", bytes(range(32)), "trustzone")
    assert host.manifest.language == "c" and host.manifest.name == "echo"
    assert host.manifest.operator_key == bytes(range(32)).hex()
    assert host.manifest.suites == ("aes-gcm-128", "ascon-aead128", "spongewrap-128")
    assert {(e.kind.value, e.name) for e in host.manifest.endpoints} == {
        ("output", "echoed"),
        ("input", "ping"),
        ("handler", "upper"),
        ("entry", "stats"),
        ("entry", "say-it"),
    }
    assert b"libcrypto.so" in host.artifact
    mcu = build_c_module(SENSOR, "sensor1", bytes(32), "sancus")
    assert mcu.manifest.suites == ("ascon-aead128", "spongewrap-128")
    assert b"libcrypto.so" not in mcu.artifact  # as on a real MSP430: no OpenSSL
    assert len(mcu.artifact) <= 0xFFFF - 0x4000  # fits the Sancus 16-bit address space


def test_builds_are_reproducible_and_cached(private_cache: Path) -> None:
    first = build_c_module(ECHO, "echo", bytes(32), "native", cache=CACHE)
    cached = list(private_cache.iterdir())
    assert len(cached) == 1
    shutil.rmtree(private_cache)
    again = build_c_module(ECHO, "echo", bytes(32), "native", cache=CACHE)
    assert again.measurement == first.measurement  # same inputs, same binary
    other_key = build_c_module(ECHO, "echo", bytes([1]) * 32, "native", cache=CACHE)
    assert other_key.measurement != first.measurement  # the operator key is compiled in
    assert len(list(private_cache.iterdir())) == 2
    # a cached build is used only while its MAC and its inputs check out: see
    # tests/security/test_security_builds.py
    # without the operator's cache key the cache is neither read nor written
    shutil.rmtree(private_cache)
    assert build_c_module(ECHO, "echo", bytes(32), "native") == first
    assert not private_cache.exists()


def test_the_dependency_list_is_the_compilers_own() -> None:
    make = "a.o: /m/a.c /m/sub\\ dir/x.h \\\n /usr/include/stdio.h $$HOME.h\nb.o: /m/b.c\n"
    assert toolchain.parse_dependencies(make) == [
        "/m/a.c",
        "/m/sub dir/x.h",
        "/usr/include/stdio.h",
        "$HOME.h",
        "/m/b.c",
    ]


def test_compile_command_maps_paths_and_keeps_contract_flags(tmp_path: Path) -> None:
    sdk = toolchain.c_sdk_dir()
    flags = ("-DX=1", "-lm")
    command = compile_command(ECHO, sdk, "echo", bytes(32), "sancus", flags, tmp_path / "out")
    assert f"-ffile-prefix-map={ECHO}=module" in command
    assert "-DAUTHEX_NO_OPENSSL" in command and "-lcrypto" not in command
    assert command.index("-DX=1") > command.index(f'-DAUTHEX_OPERATOR_KEY="{"00" * 32}"')
    assert '-DAUTHEX_MODULE_NAME="echo"' in command
    assert command[-1] == "-lm"  # libraries after the sources
    host = compile_command(ECHO, sdk, "echo", bytes(32), "native", (), tmp_path / "out")
    assert "-DAUTHEX_NO_OPENSSL" not in host and host[-1] == "-lcrypto"


def test_two_modules_from_one_folder_are_different_binaries() -> None:
    one = build_c_module(SENSOR, "sensor1", bytes(32), "sancus")
    two = build_c_module(SENSOR, "sensor2", bytes(32), "sancus")
    assert one.measurement != two.measurement  # the name is compiled in
    assert two.manifest.name == "sensor2"


def test_a_c_source_linked_from_outside_the_module_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.c"
    outside.write_text("int elsewhere;\n")
    source = tmp_path / "module"
    shutil.copytree(ECHO, source)
    (source / "extra.c").symlink_to(outside)
    with pytest.raises(BuildError, match=r"extra\.c is a link to .*outside the module folder"):
        build_c_module(source, "echo", bytes(32), "native")
