"""The descriptor loader: the descriptor package's only file I/O.

``load_descriptor`` reads the file; ``parse_descriptor`` turns text into a :class:`Descriptor`.
Both raise one :class:`DescriptorProblems` listing every problem found (syntax errors included),
sorted by position in the file.  The only other filesystem access is
:func:`source_folder_problem`, which checks that a module's source folder exists.
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
from authex.descriptor.structure import validate
from authex.descriptor.yamltree import compose


def source_folder_problem(folder: Path) -> str | None:
    """None if ``folder`` (absolute, resolved) is an existing directory, else what is wrong."""
    try:
        if folder.is_dir():
            return None
        if folder.exists():
            return f"source {folder} is not a folder"
    except OSError as exc:
        return f"cannot read source folder {folder}: {exc.strerror or exc}"
    return f"source folder {folder} does not exist"


def _json_friendly(text: str, path: Path) -> str:
    """JSON allows tabs between tokens where YAML 1.1 does not; inside JSON strings they must be
    escaped anyway, so replacing each by one space is safe and keeps every column number."""
    return text.replace("\t", " ") if path.suffix.lower() == ".json" else text


def parse_descriptor(text: str, path: Path) -> Descriptor:
    """Parse descriptor ``text`` read from ``path`` (used for locations and relative sources)."""
    path = Path(path)
    absolute = path.absolute()
    tree = compose(_json_friendly(text, path), str(path))
    result = validate(tree, absolute, source_folder_problem)
    if isinstance(result, Descriptor):
        return result
    raise DescriptorProblems(sorted_problems(result))


def load_descriptor(path: Path | str) -> Descriptor:
    """Read and parse the descriptor at ``path``; DescriptorProblems lists all that is wrong."""
    path = Path(path)
    start = Location(str(path), 1, 1)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else None
        reason = reason or ("is a folder" if isinstance(exc, IsADirectoryError) else None)
        reason = reason or (exc.strerror or str(exc)).lower()
        message = f"cannot read the descriptor: {reason}"
        raise DescriptorProblems([Problem(start, "", message)]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        message = f"the descriptor is not UTF-8 text (byte {data[exc.start]:#04x})"
        where = Location(str(path), line, column)
        raise DescriptorProblems([Problem(where, "", message)]) from None
    return parse_descriptor(text, path)
