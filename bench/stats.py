"""Order statistics for timing samples: percentiles by linear interpolation, and summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, linearly interpolated between ranks.

    The same definition as ``numpy.percentile``'s default: rank ``(n - 1) * q / 100``.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True)
class Summary:
    """Median, tail and spread of one series, in the unit the samples were given in."""

    n: int
    p50: float
    p99: float
    mean: float
    min: float
    max: float

    def scaled(self, factor: float) -> Summary:
        """Every figure multiplied by ``factor`` (e.g. 0.5 for one-way from round trip)."""
        return Summary(
            self.n,
            self.p50 * factor,
            self.p99 * factor,
            self.mean * factor,
            self.min * factor,
            self.max * factor,
        )

    def to_dict(self, digits: int = 3) -> dict[str, Any]:
        return {
            k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(self).items()
        }


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("summary of no values")
    return Summary(
        n=len(values),
        p50=percentile(values, 50),
        p99=percentile(values, 99),
        mean=sum(values) / len(values),
        min=float(min(values)),
        max=float(max(values)),
    )


def ns_to_us(values: Sequence[int]) -> list[float]:
    return [v / 1000 for v in values]


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None when either is missing or the baseline is not positive."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline
