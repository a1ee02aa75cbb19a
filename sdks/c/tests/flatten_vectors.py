"""Flatten the JSON vectors of spec/vectors/ into one line per value, for the C tests.

Each line is ``path<TAB>value`` where path joins object keys and array indexes with dots
(``vectors.0.key``); strings are written as they are, numbers in decimal, booleans as 0/1.
Usage: flatten_vectors.py SPEC_VECTORS_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FILES = [
    "frames.json",
    "event_channel.json",
    "control.json",
    "native_exchange.json",
    "sancus/spongewrap.json",
]


def walk(value: object, path: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            walk(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        out.append(f"{path}.#\t{len(value)}")
        for index, item in enumerate(value):
            walk(item, f"{path}.{index}" if path else str(index), out)
    elif isinstance(value, bool):
        out.append(f"{path}\t{int(value)}")
    elif value is None:
        out.append(f"{path}\t")
    else:
        text = str(value)
        if "\n" in text or "\t" in text:
            text = text.replace("\n", " ").replace("\t", " ")
        out.append(f"{path}\t{text}")


def main() -> int:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        lines: list[str] = []
        walk(json.loads((source / name).read_text()), "", lines)
        out = target / (Path(name).stem + ".txt")
        out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
