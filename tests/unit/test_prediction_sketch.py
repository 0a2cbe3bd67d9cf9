"""The working-time sketch: bounded whatever it sees, mergeable, exact enough, and its
compact wire form round-trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.prediction import BUCKETS, Sketch, SketchError

durations = st.lists(st.floats(0, 1e9, allow_nan=False), max_size=200)


def sketch_of(values: list[float]) -> Sketch:
    s = Sketch()
    for v in values:
        s.add(v)
    return s


@given(a=durations, b=durations, c=durations)
def test_merge_is_adding_the_observations(a: list[float], b: list[float], c: list[float]) -> None:
    left = sketch_of(a)
    left.merge(sketch_of(b))
    left.merge(sketch_of(c))
    right = sketch_of(c)
    right.merge(sketch_of(b))
    right.merge(sketch_of(a))
    assert left == right == sketch_of(a + b + c)
    assert left.count == len(a) + len(b) + len(c)


@given(values=durations)
def test_serialization_round_trips(values: list[float]) -> None:
    s = sketch_of(values)
    raw = s.to_bytes()
    back = Sketch.from_bytes(raw)
    assert back == s and back.count == s.count
    # a few hundred bytes at most, whatever it saw
    assert len(raw) <= 3 + BUCKETS * 12


def test_bounded_however_much_it_sees() -> None:
    s = Sketch()
    for i in range(100_000):
        s.add(float(i * 7919 % 10**6) * 37)  # from 0 to ~1,000 working days
    s.add(-5)  # nonsense below the range goes to the first bucket
    s.add(math.inf)  # and beyond it to the last
    assert len(s.counts) <= BUCKETS
    assert s.count == 100_002
    with pytest.raises(ValueError, match="NaN"):
        s.add(math.nan)


@pytest.mark.parametrize("q", [0.05, 0.25, 0.5, 0.75, 0.95])
def test_quantiles_within_five_percent(q: float) -> None:
    values = [3600.0 * (1 + i / 100) for i in range(1000)]  # 1 h to 11 h, uniformly
    s = sketch_of(values)
    exact = values[int(q * len(values))]
    assert s.quantile(q) == pytest.approx(exact, rel=0.05)
    assert s.quantiles([q]) == [pytest.approx(s.quantile(q))]
    assert s.cdf(exact) == pytest.approx(q, abs=0.03)


def test_cdf_is_monotone_and_ends_at_one() -> None:
    s = sketch_of([600.0, 3600.0, 7200.0, 36_000.0])
    points = [s.cdf(x) for x in (0, 300, 600, 3600, 5000, 7200, 36_000, 1e7)]
    assert points == sorted(points)
    assert points[0] == 0.0 and points[-1] == 1.0
    assert Sketch().cdf(100) == 0.0


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # empty
        b'{"not": "a sketch"}',  # another format
        b"s1;1:x",  # a count that is not a number
        b"s1;500:1",  # a bucket out of range
        b"s1;3:-2",  # a negative count
    ],
)
def test_garbage_is_refused(raw: bytes) -> None:
    with pytest.raises(SketchError):
        Sketch.from_bytes(raw)
