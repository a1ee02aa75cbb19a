"""The descriptor loader: the descriptor package's only file I/O.

``load_descriptor`` reads the file; ``parse_descriptor`` turns text into a :class:`Descriptor`.
Both raise one :class:`DescriptorProblems` listing every problem found (syntax errors included),
sorted by position in the file.  The only other filesystem access is
:func:`path_problem`, which checks that a module's source folder and the trust file exist.
"""

from __future__ import annotations

from pathlib import Path

from authex.descriptor.model import (
    Descriptor,
    DescriptorProblems,
    Location,
    Problem,
    sorted_problems,
)
from authex.descriptor.structure import PathKind, validate
from authex.descriptor.yamltree import compose

# A descriptor is a few kilobytes; a file this large is a mistake (or an attack on whoever reads
# it), refused before it is read into memory.
MAX_DESCRIPTOR_BYTES = 1 << 20


def path_problem(path: Path, what: PathKind) -> str | None:
    """None if ``path`` (absolute, resolved) exists as ``what`` needs, else what is wrong.

    A ``"source"`` must be an existing folder; the ``"trust"`` file an existing file.
    """
    label = "source folder" if what == "source" else "trust file"
    try:
        if what == "source":
            if path.is_dir():
                return None
            if path.exists():
                return f"source {path} is not a folder"
        else:
            if path.is_file():
                return None
            if path.is_dir():
                return f"trust file {path} is a folder, not a file"
            if path.exists():
                return f"trust file {path} is not a regular file"
    except OSError as exc:
        return f"cannot read {label} {path}: {exc.strerror or exc}"
    return f"{label} {path} does not exist"


def _json_friendly(text: str, path: Path) -> str:
    """JSON allows tabs between tokens where YAML 1.1 does not; inside JSON strings they must be
    escaped anyway, so replacing each by one space is safe and keeps every column number."""
    return text.replace("\t", " ") if path.suffix.lower() == ".json" else text


def parse_descriptor(text: str, path: Path) -> Descriptor:
    """Parse descriptor ``text`` read from ``path`` (used for locations and relative sources)."""
    path = Path(path)
    absolute = path.absolute()
    tree = compose(_json_friendly(text, path), str(path))
    result = validate(tree, absolute, path_problem)
    if isinstance(result, Descriptor):
        return result
    raise DescriptorProblems(sorted_problems(result))


def load_descriptor(path: Path | str) -> Descriptor:
    """Read and parse the descriptor at ``path``; DescriptorProblems lists all that is wrong."""
    path = Path(path)
    start = Location(str(path), 1, 1)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DESCRIPTOR_BYTES + 1)
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else None
        reason = reason or ("is a folder" if isinstance(exc, IsADirectoryError) else None)
        reason = reason or (exc.strerror or str(exc)).lower()
        message = f"cannot read the descriptor: {reason}"
        raise DescriptorProblems([Problem(start, "", message)]) from None
    if len(data) > MAX_DESCRIPTOR_BYTES:
        message = (
            f"the descriptor is larger than {MAX_DESCRIPTOR_BYTES >> 20} MiB: not a descriptor "
            "(is this the right file?)"
        )
        raise DescriptorProblems([Problem(start, "", message)])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        message = f"the descriptor is not UTF-8 text (byte {data[exc.start]:#04x})"
        where = Location(str(path), line, column)
        raise DescriptorProblems([Problem(where, "", message)]) from None
    return parse_descriptor(text, path)
