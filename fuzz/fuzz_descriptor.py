"""atheris harness: the deployment descriptor parser (``parse_descriptor``).

    python fuzz/fuzz_descriptor.py -max_total_time=60 [corpus folder]

The first input byte picks the mode: the rest as text (UTF-8, undecodable bytes replaced), or as
edits (``harness.mutate``) of examples/smart-irrigation/descriptor.yaml; and whether the text is
read as YAML or as JSON.  It is parsed at the example's own path, so module sources exist and
validation runs to the end.  Findings: any exception but DescriptorProblems, a DescriptorProblems
without problems, or a problem located outside the text.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness import instrumented, mutate, run

with instrumented():
    from authex.descriptor import DescriptorProblems, parse_descriptor

EXAMPLE = Path(__file__).resolve().parents[1] / "examples/smart-irrigation/descriptor.yaml"
SEED = EXAMPLE.read_bytes()


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0], data[1:]
    raw = mutate(SEED, rest) if mode & 1 else rest
    text = raw.decode("utf-8", "replace")
    path = EXAMPLE.with_suffix(".json") if mode & 2 else EXAMPLE
    try:
        parse_descriptor(text, path)
    except DescriptorProblems as exc:
        if not exc.problems:
            raise AssertionError("DescriptorProblems without a problem") from exc
        lines = text.count("\n") + 2
        for problem in exc.problems:
            if problem.location is not None and not 1 <= problem.location.line <= lines:
                raise AssertionError(f"problem outside the text: {problem}") from exc


if __name__ == "__main__":
    sys.exit(run(test_one_input))
