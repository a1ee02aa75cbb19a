"""Property tests (Hypothesis): intervals round-trip, and no text whatsoever makes
parse_descriptor raise anything but DescriptorProblems."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authex.descriptor import Descriptor, DescriptorProblems, parse_descriptor, parse_interval
from authex.descriptor.values import MAX_INTERVAL_MS, MIN_INTERVAL_MS, UNIT_MS, format_interval

FIXTURES = Path(__file__).parent / "fixtures"
NOWHERE = Path("/nonexistent-authex-test/descriptor.yaml")  # source folders never exist here


@given(st.integers(MIN_INTERVAL_MS, MAX_INTERVAL_MS))
def test_format_then_parse_round_trips(milliseconds: int) -> None:
    text = format_interval(milliseconds)
    assert parse_interval(text) == milliseconds
    assert text[-1] in "ms"


@given(st.integers(0, 10**15), st.sampled_from(sorted(UNIT_MS)))
def test_parse_accepts_exactly_the_range(number: int, unit: str) -> None:
    milliseconds = number * UNIT_MS[unit]
    if MIN_INTERVAL_MS <= milliseconds <= MAX_INTERVAL_MS:
        assert parse_interval(f"{number}{unit}") == milliseconds
    else:
        with pytest.raises(ValueError, match=r"minimum of 10ms|maximum of 24h"):
            parse_interval(f"{number}{unit}")


@given(st.text(max_size=30))
@example("9" * 5000 + "ms")
@example("")
@example("5 s")
def test_parse_interval_raises_only_value_error(text: str) -> None:
    try:
        milliseconds = parse_interval(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert MIN_INTERVAL_MS <= milliseconds <= MAX_INTERVAL_MS


def _parse_never_crashes(text: str, path: Path = NOWHERE) -> None:
    try:
        result = parse_descriptor(text, path)
    except DescriptorProblems as exc:
        assert exc.problems
        assert all(p.location is None or p.location.line >= 1 for p in exc.problems)
    else:
        assert isinstance(result, Descriptor)


@settings(max_examples=150, deadline=None)
@given(st.text())
@example("[" * 5000)
@example("{" * 5000)
@example("a: &a [*a]")
@example(
    'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
    )
)
@example("nodes: [{port: " + "9" * 5000 + "}]")
@example("name: 2001-02-30")
@example("<<: 5")
@example("a: !!int ")
@example("a: !!float ")
@example("a: !!bool maybe")
@example("a: !!timestamp soon")
@example("a: !!timestamp 2001-12-14t21:59:43.10+99:00")
@example("? [a, b]\n: c")
@example("name: !custom x")
@example("\ufeffname: x")
@example("--- a\n--- b\n")
def test_arbitrary_text_only_raises_descriptor_problems(text: str) -> None:
    _parse_never_crashes(text)
    _parse_never_crashes(text, NOWHERE.with_suffix(".json"))


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_FIELD_NAMES = "name nodes modules connections periodic policy tee host port node language"
_FIELD_NAMES += " source from to suite module entry every allow_emulated x"
_FIELD_NAMES += " trust vendor_id isv_prod_id isv_svn debug allow_debug min_isv_svn"
_keys = st.sampled_from(_FIELD_NAMES.split()) | st.text(max_size=6)
_documents = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=6)
)


@settings(max_examples=100, deadline=None)
@given(_documents)
def test_arbitrary_yaml_structures_only_raise_descriptor_problems(document: object) -> None:
    _parse_never_crashes(yaml.safe_dump(document))


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_mutated_valid_descriptor_only_raises_descriptor_problems(data: st.DataObject) -> None:
    text = (FIXTURES / "valid.yaml").read_text()
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 12)))
        insert = data.draw(st.sampled_from(["", ":", "- ", "\n", " ", "[", "x.y", "'", "&a", "*a"]))
        text = text[:start] + insert + text[end:]
    _parse_never_crashes(text)
