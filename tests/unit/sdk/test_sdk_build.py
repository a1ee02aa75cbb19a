"""Building: interface introspection in a child process, deterministic artifacts, clear errors."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from authex.crypto.suites import available_suites
from authex.errors import BuildError, ManifestError
from authex.manifest import IoKind, Manifest
from authex.sdk.build import (
    BuiltModule,
    build_python_module,
    inspect_python_module,
    pack_artifact,
    unpack_artifact,
)

FIXTURES = Path(__file__).parent / "fixtures"
OPERATOR = bytes(range(32))


@pytest.fixture(scope="module")
def counter_build() -> BuiltModule:
    return build_python_module(FIXTURES / "counter", "counter", OPERATOR)


def _copy(tmp_path: Path, label: str) -> Path:
    target = tmp_path / label
    shutil.copytree(FIXTURES / "counter", target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "lib").mkdir()
    (target / "lib" / "util.py").write_text("VALUE = 1\n")
    return target


def test_manifest_carries_name_language_suites_and_operator(counter_build: BuiltModule) -> None:
    manifest = counter_build.manifest
    assert manifest.name == counter_build.name == "counter"
    assert manifest.language == "python"
    assert manifest.suites == tuple(sorted(available_suites()))
    assert manifest.operator_key == OPERATOR.hex()
    entries = {e.name: (e.id, e.public) for e in manifest.of_kind(IoKind.ENTRY)}
    assert entries == {"boom": (0x3001, True), "reset": (0x3002, False), "sample": (0x3003, True)}
    assert manifest.find(IoKind.INPUT, "ask") is not None
    assert counter_build.measurement == hashlib.sha256(counter_build.artifact).digest()
    assert "artifact" not in repr(counter_build)


def test_artifact_layout_is_fixed(counter_build: BuiltModule) -> None:
    with zipfile.ZipFile(BytesIO(counter_build.artifact)) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == ["manifest.json", "src/main.py"]
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr == 0o644 << 16
        manifest = Manifest.from_json(archive.read("manifest.json"))
    assert manifest == counter_build.manifest
    assert archive.comment == b""
    unpacked, sources = unpack_artifact(counter_build.artifact)
    assert unpacked == counter_build.manifest
    assert sources["main.py"] == (FIXTURES / "counter" / "main.py").read_bytes()


def test_build_is_deterministic_across_runs_and_folders(
    tmp_path: Path, counter_build: BuiltModule
) -> None:
    one, two = _copy(tmp_path, "one"), _copy(tmp_path, "two")
    (one / ".hidden").mkdir()
    (one / ".hidden" / "x.py").write_text("ignored = True\n")
    (one / "notes.txt").write_text("not a source\n")
    first = build_python_module(one, "counter", OPERATOR)
    again = build_python_module(one, "counter", OPERATOR)
    elsewhere = build_python_module(two, "counter", OPERATOR)
    assert first.artifact == again.artifact == elsewhere.artifact
    assert first.measurement == elsewhere.measurement
    _, sources = unpack_artifact(first.artifact)
    assert sorted(sources) == ["lib/util.py", "main.py"]
    assert not (one / "__pycache__").exists()  # the inspector wrote no bytecode
    assert first.measurement != counter_build.measurement  # lib/util.py is part of it


def test_measurement_changes_with_source_key_and_name(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "m")
    base = build_python_module(folder, "counter", OPERATOR)
    (folder / "lib" / "util.py").write_text("VALUE = 2\n")
    changed_source = build_python_module(folder, "counter", OPERATOR)
    changed_key = build_python_module(folder, "counter", bytes(32))
    changed_name = build_python_module(folder, "counter2", bytes(32))
    measurements = {
        base.measurement,
        changed_source.measurement,
        changed_key.measurement,
        changed_name.measurement,
    }
    assert len(measurements) == 4


def test_pack_artifact_sorts_entries_whatever_the_input_order() -> None:
    manifest = Manifest("m", "python", ("aes-gcm-128",), (), "00" * 32)
    sources = [("src/b.py", b"b"), ("src/a.py", b"a"), ("src/main.py", b"")]
    assert pack_artifact(manifest, sources) == pack_artifact(manifest, sources[::-1])


def test_missing_main_py_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "other.py").write_text("x = 1\n")
    with pytest.raises(BuildError) as info:
        build_python_module(tmp_path, "m", OPERATOR)
    assert str(tmp_path / "main.py") in str(info.value)
    with pytest.raises(BuildError, match="does not exist"):
        inspect_python_module(tmp_path / "absent", "m")


def test_import_error_names_the_module_and_shows_the_traceback_tail(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "from authex.sdk import Module\nmodule = Module()\nimport helper\n"
    )
    (tmp_path / "helper.py").write_text("def broken():\n    pass\nraise KeyError('calibration')\n")
    with pytest.raises(BuildError) as info:
        build_python_module(tmp_path, "sensor", OPERATOR)
    text = str(info.value)
    assert "'sensor'" in text
    assert "KeyError: 'calibration'" in text
    assert "helper.py" in text


def test_syntax_error_and_exit_at_import_are_build_errors(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("def oops(:\n")
    with pytest.raises(BuildError, match="SyntaxError"):
        inspect_python_module(tmp_path, "m")
    (tmp_path / "main.py").write_text("import sys\nsys.exit(4)\n")
    with pytest.raises(BuildError, match="SystemExit"):
        inspect_python_module(tmp_path, "m")


def test_declaration_errors_surface_as_manifest_errors(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "from authex.sdk import Module\nmodule = Module()\n"
        "@module.input()\ndef lonely(ctx):\n    pass\n"
    )
    with pytest.raises(ManifestError, match="lonely"):
        inspect_python_module(tmp_path, "m")


def test_zero_or_several_module_objects_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("x = 1\n")
    with pytest.raises(ManifestError, match="defines no Module"):
        inspect_python_module(tmp_path, "m")
    (tmp_path / "main.py").write_text("from authex.sdk import Module\na = Module()\nb = Module()\n")
    with pytest.raises(ManifestError, match="several Module objects"):
        inspect_python_module(tmp_path, "m")


def test_printing_at_import_does_not_confuse_the_inspector() -> None:
    manifest = inspect_python_module(FIXTURES / "chatty", "chatty")
    assert [e.name for e in manifest.endpoints] == ["ping", "pong"]


def test_bad_identity_is_rejected() -> None:
    with pytest.raises(BuildError, match="32 bytes"):
        build_python_module(FIXTURES / "counter", "m", b"short")
    with pytest.raises(BuildError, match="deployed module name"):
        inspect_python_module(FIXTURES / "counter", "")


def test_unpack_rejects_escaping_or_foreign_entries() -> None:
    manifest = Manifest("m", "python", ("aes-gcm-128",), (), "00" * 32)
    for bad in ("src/../evil.py", "other/main.py", "/src/main.py"):
        artifact = pack_artifact(manifest, [("src/main.py", b""), (bad, b"")])
        with pytest.raises(BuildError, match="not a source file"):
            unpack_artifact(artifact)
    with pytest.raises(BuildError, match="not a module artifact"):
        unpack_artifact(b"garbage")
    with pytest.raises(BuildError, match=r"no src/main\.py"):
        unpack_artifact(pack_artifact(manifest, [("src/other.py", b"")]))


def test_a_link_out_of_the_module_folder_is_refused_and_nothing_is_read(tmp_path: Path) -> None:
    """A source link to the operator's key (or any file outside the module folder) would ship
    that file to the untrusted agent inside the artifact: the build is refused, naming it."""
    secret = tmp_path / "operator.key"
    secret.write_bytes(b"-----BEGIN PRIVATE KEY----- never shipped")
    source = _copy(tmp_path, "linked")
    (source / "settings.py").symlink_to(secret)
    with pytest.raises(BuildError) as caught:
        build_python_module(source, "counter", OPERATOR)
    message = caught.value.message
    assert "settings.py is a link to" in message and "outside the module folder" in message
    assert "never shipped" not in message


def test_a_link_inside_the_module_folder_is_packed(tmp_path: Path) -> None:
    source = _copy(tmp_path, "inner-link")
    (source / "alias.py").symlink_to(source / "lib" / "util.py")
    built = build_python_module(source, "counter", OPERATOR)
    _, sources = unpack_artifact(built.artifact)
    assert sources["alias.py"] == b"VALUE = 1\n"
