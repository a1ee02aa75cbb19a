"""Hypothesis strategies for any message or record type of the wire codec, records included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import strategies as st

from authex.wire.codec import Fields, Kind

F = TypeVar("F", bound=Fields)
Scalar = Callable[[Kind], st.SearchStrategy[Any]]


def fields_strategy(cls: type[F], scalar: Scalar) -> st.SearchStrategy[F]:
    """Any value of ``cls``, its integer, bytes and text fields drawn from ``scalar(kind)``.
    Records that refuse some values their kinds allow (the status records) say which: their
    ``FLAGS`` are 0 or 1, their ``UNIQUE`` lists repeat no key."""
    flags = getattr(cls, "FLAGS", ())
    unique = dict(getattr(cls, "UNIQUE", ()))
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, kind in cls.schema():
        if name in flags:
            fields[name] = st.booleans()
        elif kind is Kind.RECORD:
            fields[name] = fields_strategy(cls.record_type(name), scalar)
        elif kind is Kind.RECORDS:
            fields[name] = st.lists(
                fields_strategy(cls.record_type(name), scalar),
                max_size=3,
                unique_by=_keyed(unique.get(name)),
            ).map(tuple)
        else:
            fields[name] = scalar(kind)
    return st.builds(cls, **fields)


def _keyed(key: str | None) -> Callable[[Any], object] | None:
    """What makes two records of a keyed list the same (None: any records may repeat)."""
    if key is None:
        return None
    return lambda record: getattr(record, key)
