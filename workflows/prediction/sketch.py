"""A bounded, mergeable histogram of working seconds: how long one (procedure version,
step, agency) takes, learnt from the steps it completed.

Buckets grow geometrically (``GAMMA`` = 1.1: any value is kept within 5% of itself) from
``MIN_SECONDS`` up; bucket 0 holds everything shorter, the last bucket everything
longer. So a sketch never holds more than ``BUCKETS`` counters, whatever it has seen,
and two sketches merge by adding their counters (a worker merges its partitions').
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["BUCKETS", "GAMMA", "MIN_SECONDS", "Sketch", "SketchError"]

#: Shortest working time told apart (shorter is bucket 0).
MIN_SECONDS = 60.0
#: Ratio between a bucket's bounds: values are kept within sqrt(GAMMA) - 1 ~ 5%.
GAMMA = 1.1
#: Bucket 0 (< 1 min) to the last (>= 60 s x 1.1^126 ~ 345 working days of 8 h).
BUCKETS = 128
_LOG_GAMMA = math.log(GAMMA)
#: Bucket i >= 1 covers [_EDGES[i - 1], _EDGES[i]); bucket 0 [0, MIN_SECONDS).
_EDGES = tuple(MIN_SECONDS * GAMMA**i for i in range(BUCKETS))
#: The wire form's version tag (``to_bytes``).
_TAG = b"s1;"


class SketchError(ValueError):
    """Bytes that are not a sketch written by ``Sketch.to_bytes``."""


def bucket_of(seconds: float) -> int:
    if math.isnan(seconds):
        raise ValueError("a duration of NaN seconds")
    if seconds < MIN_SECONDS:
        return 0
    if seconds >= _EDGES[-1]:
        return BUCKETS - 1
    index = int(math.log(seconds / MIN_SECONDS) / _LOG_GAMMA) + 1
    return min(index, BUCKETS - 1)


def _bounds(index: int) -> tuple[float, float]:
    if index == 0:
        return 0.0, MIN_SECONDS
    return _EDGES[index - 1], _EDGES[index]


class Sketch:
    """Counts of working durations by bucket. Mutable: ``add`` and ``merge`` update it."""

    __slots__ = ("_count", "_counts", "_cum")

    def __init__(self, counts: Mapping[int, int] | None = None) -> None:
        self._counts: dict[int, int] = {}
        self._count = 0
        self._cum: tuple[list[int], list[int]] | None = None
        for index, n in (counts or {}).items():
            if not 0 <= index < BUCKETS or n < 0:
                raise SketchError(f"bucket {index} count {n}: out of range")
            if n:
                self._counts[index] = n
                self._count += n

    @property
    def count(self) -> int:
        """How many durations it has seen."""
        return self._count

    @property
    def counts(self) -> dict[int, int]:
        """Bucket -> count, non-zero buckets only (a copy)."""
        return dict(self._counts)

    def add(self, seconds: float, n: int = 1) -> None:
        index = bucket_of(seconds)
        self._counts[index] = self._counts.get(index, 0) + n
        self._count += n
        self._cum = None

    def merge(self, other: Sketch) -> None:
        """Add ``other``'s counts to this one (associative and commutative)."""
        for index, n in other._counts.items():
            self._counts[index] = self._counts.get(index, 0) + n
        self._count += other._count
        self._cum = None

    @classmethod
    def merged(cls, sketches: Iterable[Sketch]) -> Sketch:
        out = cls()
        for s in sketches:
            out.merge(s)
        return out

    def copy(self) -> Sketch:
        return Sketch(self._counts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sketch) and self._counts == other._counts

    def __repr__(self) -> str:
        return f"Sketch(count={self._count}, buckets={len(self._counts)})"

    # --- the distribution ------------------------------------------------------------

    def _cumulative(self) -> tuple[list[int], list[int]]:
        if self._cum is None:
            indexes = sorted(self._counts)
            running, cum = 0, []
            for index in indexes:
                running += self._counts[index]
                cum.append(running)
            self._cum = (indexes, cum)
        return self._cum

    def cdf(self, seconds: float) -> float:
        """The share of durations <= ``seconds`` (linear within a bucket); 0 when empty."""
        if not self._count:
            return 0.0
        indexes, cum = self._cumulative()
        index = bucket_of(seconds)
        at = bisect.bisect_left(indexes, index)
        below: float = cum[at - 1] if at > 0 else 0
        if at < len(indexes) and indexes[at] == index:
            lo, hi = _bounds(index)
            inside = min(max((seconds - lo) / (hi - lo), 0.0), 1.0)
            below += self._counts[index] * inside
        return below / self._count

    def quantile(self, q: float) -> float:
        """The working seconds below which a share ``q`` (0..1) of durations fall."""
        if not self._count:
            raise ValueError("an empty sketch has no quantiles")
        indexes, cum = self._cumulative()
        target = min(max(q, 0.0), 1.0) * self._count
        at = min(bisect.bisect_left(cum, target), len(cum) - 1)
        index = indexes[at]
        below = cum[at - 1] if at > 0 else 0
        lo, hi = _bounds(index)
        inside = (target - below) / self._counts[index]
        return lo + (hi - lo) * min(max(inside, 0.0), 1.0)

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """``quantile(q)`` for each of ``qs`` (ascending, within 0..1), in one pass."""
        if not self._count:
            raise ValueError("an empty sketch has no quantiles")
        indexes, cum = self._cumulative()
        total = self._count
        out = []
        at, last = 0, len(cum) - 1
        lo, width, below, n = self._bucket(indexes, cum, 0)
        for q in qs:
            target = q * total
            if cum[at] < target and at < last:
                while cum[at] < target and at < last:
                    at += 1
                lo, width, below, n = self._bucket(indexes, cum, at)
            out.append(lo + width * (target - below) / n)
        return out

    def _bucket(self, indexes: list[int], cum: list[int], at: int) -> tuple[float, float, int, int]:
        index = indexes[at]
        lo, hi = _bounds(index)
        return lo, hi - lo, cum[at - 1] if at > 0 else 0, self._counts[index]

    def mean(self) -> float:
        """The mean duration, each bucket at its middle."""
        if not self._count:
            return 0.0
        return sum(sum(_bounds(i)) / 2 * n for i, n in self._counts.items()) / self._count

    # --- wire form ---------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """``s1;<bucket>:<count>,...``: a few hundred bytes at most (<= BUCKETS pairs)."""
        pairs = ",".join(f"{i}:{n}" for i, n in sorted(self._counts.items()))
        return _TAG + pairs.encode("ascii")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Sketch:
        if not raw.startswith(_TAG):
            raise SketchError(f"not a sketch (starts {raw[:8]!r}, expected {_TAG!r})")
        body = raw[len(_TAG) :]
        counts: dict[int, int] = {}
        try:
            for pair in body.split(b",") if body else ():
                index, _, n = pair.partition(b":")
                counts[int(index)] = counts.get(int(index), 0) + int(n)
        except ValueError:
            raise SketchError(f"not a sketch: {raw[:64]!r}") from None
        return cls(counts)
