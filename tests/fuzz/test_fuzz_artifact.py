"""Fuzz ``unpack_artifact`` with mutated module artifacts (ZIP archives built by
``build_python_module`` from a tiny module) and with archives whose entry names are hostile.

``unpack_artifact`` raises BuildError for a bad archive and ManifestError for a bad manifest
(both AuthexError) and writes nothing; its callers write each returned source under
``<workdir>/src/<name>``, so every returned name must stay inside that folder.  zipfile's
RuntimeError, NotImplementedError, EOFError and zlib.error used to escape it (found by these
tests); the regressions at the end pin each case.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from authex.errors import AuthexError, BuildError, ManifestError
from authex.manifest import Manifest
from authex.sdk.build import build_python_module, unpack_artifact

SCALE = max(1, int(os.environ.get("AUTHEX_FUZZ_SCALE", "1")))
MODULE = """\
from authex.sdk import Context, Module

module = Module()
module.outputs("out")


@module.input("inp")
def inp(ctx: Context, data: bytes) -> None:
    ctx.emit("out", data)


@module.entry(public=True)
def ping(ctx: Context, arg: bytes) -> bytes:
    return arg
"""
LOCAL, CENTRAL, END = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
# (offset, width) of the integer fields of each record
LOCAL_FIELDS = [
    (4, 2),  # version needed
    (6, 2),  # flags
    (8, 2),  # compression method
    (14, 4),  # crc-32
    (18, 4),  # compressed size
    (22, 4),  # uncompressed size
    (26, 2),  # name length
    (28, 2),  # extra length
]
CENTRAL_FIELDS = [
    (6, 2),  # version needed
    (8, 2),  # flags
    (10, 2),  # compression method
    (16, 4),  # crc-32
    (20, 4),  # compressed size
    (24, 4),  # uncompressed size
    (28, 2),  # name length
    (30, 2),  # extra length
    (32, 2),  # comment length
    (38, 4),  # external attributes
    (42, 4),  # local header offset
]
END_FIELDS = [
    (4, 2),  # disk number
    (6, 2),  # disk with the central directory
    (8, 2),  # entries on this disk
    (10, 2),  # entries
    (12, 4),  # central directory size
    (16, 4),  # central directory offset
    (20, 2),  # comment length
]
INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    source = tmp_path_factory.mktemp("tiny")
    (source / "main.py").write_text(MODULE)
    (source / "helpers").mkdir()
    (source / "helpers" / "util.py").write_text("VALUE = 1\n")
    return build_python_module(source, "tiny", bytes(32)).artifact


def _records(data: bytes, signature: bytes) -> list[int]:
    found, at = [], data.find(signature)
    while at >= 0:
        found.append(at)
        at = data.find(signature, at + 1)
    return found


def _fields(data: bytes) -> list[tuple[int, int]]:
    fields = [(r + o, w) for r in _records(data, LOCAL) for o, w in LOCAL_FIELDS]
    fields += [(r + o, w) for r in _records(data, CENTRAL) for o, w in CENTRAL_FIELDS]
    fields += [(r + o, w) for r in _records(data, END) for o, w in END_FIELDS]
    return [(at, w) for at, w in fields if at + w <= len(data)]


@st.composite
def _mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    fields = _fields(original)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(("field", "field", "byte", "truncate", "extend", "splice")))
        if op == "field":
            at, width = draw(st.sampled_from(fields))
            value = draw(st.sampled_from(INTERESTING) | st.integers(0, (1 << (8 * width)) - 1))
            if at + width <= len(data):
                data[at : at + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        elif op == "byte" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=32))
        else:  # a copy of some range somewhere else (duplicated records, shifted offsets)
            start = draw(st.integers(0, len(data)))
            chunk = bytes(data[start : start + draw(st.integers(1, 64))])
            pos = draw(st.integers(0, len(data)))
            data[pos:pos] = chunk
    return bytes(data)


def _unpack_only_authex_errors(data: bytes) -> None:
    try:
        manifest, sources = unpack_artifact(data, where="fuzz.zip")
    except (BuildError, ManifestError) as exc:
        assert str(exc).startswith("fuzz.zip")
        return
    assert isinstance(manifest, Manifest) and "main.py" in sources
    base = Path("/nonexistent-authex-fuzz/src")
    for name, content in sources.items():
        assert isinstance(content, bytes)
        relative = PurePosixPath(name)
        assert not relative.is_absolute() and ".." not in relative.parts and "\\" not in name
        assert (base / name).resolve().is_relative_to(base)


def test_the_artifact_unpacks(artifact: bytes) -> None:
    manifest, sources = unpack_artifact(artifact)
    assert manifest.name == "tiny" and sorted(sources) == ["helpers/util.py", "main.py"]


@settings(
    max_examples=300 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_artifacts(artifact: bytes, data: st.DataObject) -> None:
    _unpack_only_authex_errors(data.draw(_mutated(artifact)))


@settings(max_examples=100 * SCALE, deadline=None)
@given(st.binary(max_size=200))
@example(b"PK\x05\x06" + bytes(18))
@example(b"")
def test_random_bytes(data: bytes) -> None:
    _unpack_only_authex_errors(data)


# fmt: off
NAMES = st.sampled_from(
    [
        "src/main.py", "src/../main.py", "src/../../etc/x", "../src/main.py", "/src/main.py",
        "src\\..\\x", "src/a\\b.py", "src/", "src", "src//x.py", "src/./x.py", "src/x/..",
        "manifest.json", "src/manifest.json", "SRC/x.py", "src/\u2215x", "src/..\u2215x",
        "src/\x00x", "src/x\r\n", "C:/x", "src/C:/x",
    ]
)
# fmt: on


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
@settings(max_examples=150 * SCALE, deadline=None)
@given(names=st.lists(NAMES | st.text(max_size=12).map("src/".__add__), max_size=4))
def test_hostile_entry_names(artifact: bytes, names: list[str]) -> None:
    """A valid artifact plus entries with hostile names: rejected, or kept inside src/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(artifact)) as source, zipfile.ZipFile(buffer, "w") as out:
        for info in source.infolist():
            out.writestr(info, source.read(info))
        for name in names:
            out.writestr(zipfile.ZipInfo(name), b"x = 1\n")
    _unpack_only_authex_errors(buffer.getvalue())


# --- crashes found by fuzzing (regressions; see docs/fuzzing.md) ------------------------------


def _central_patch(artifact: bytes, offset: int, value: int, fmt: str = "<H") -> bytes:
    """Set one field of every central-directory record."""
    data = bytearray(artifact)
    for record in _records(artifact, CENTRAL):
        struct.pack_into(fmt, data, record + offset, value)
    return bytes(data)


def test_encrypted_entry_is_rejected(artifact: bytes) -> None:
    with pytest.raises(AuthexError):
        unpack_artifact(_central_patch(artifact, 8, 0x0001))


def test_unknown_compression_method_is_rejected(artifact: bytes) -> None:
    with pytest.raises(AuthexError):
        unpack_artifact(_central_patch(artifact, 10, 99))


def test_bad_deflate_data_is_rejected(artifact: bytes) -> None:
    with pytest.raises(AuthexError):
        unpack_artifact(_central_patch(artifact, 10, 8))


def test_unsupported_zip_version_is_rejected(artifact: bytes) -> None:
    with pytest.raises(AuthexError):
        unpack_artifact(_central_patch(artifact, 6, 0x7F))


def test_entry_sizes_past_the_end_are_rejected(artifact: bytes) -> None:
    oversized = _central_patch(_central_patch(artifact, 20, 100_000, "<I"), 24, 100_000, "<I")
    with pytest.raises(AuthexError):
        unpack_artifact(oversized)
