"""The changelog's generation guard: a fenced worker's late write is skipped at recovery."""

from __future__ import annotations

import pytest

from agents.runtime.tables import GENERATION_HEADER, GROUP_RESET_S, GenerationGuard, generation_of

T0 = 1_800_000_000.0


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        # the owner's writes, generations rising with each rebalance: all applied
        ([(3, T0), (3, T0 + 1), (4, T0 + 2), (5, T0 + 3)], [True, True, True, True]),
        # a zombie of generation 3 writes after the new owner's generation 4: skipped
        ([(3, T0), (4, T0 + 20), (3, T0 + 21), (4, T0 + 22)], [True, True, False, True]),
        # the zombie's write an hour later still within the window of the newest's last write
        ([(4, T0), (4, T0 + 3000), (3, T0 + 3100)], [True, True, False]),
        # generation 1 long after generation 9: the group was recreated, a new sequence
        ([(9, T0), (1, T0 + GROUP_RESET_S + 1), (1, T0 + GROUP_RESET_S + 2)], [True, True, True]),
        # ... and after the reset, the old sequence's zombie is no newer than the new one
        ([(9, T0), (1, T0 + GROUP_RESET_S + 1), (2, T0 + GROUP_RESET_S + 5)], [True, True, True]),
    ],
)
def test_admit(writes: list[tuple[int, float]], expected: list[bool]) -> None:
    guard = GenerationGuard()
    assert [guard.admit(0, generation, at) for generation, at in writes] == expected


def test_partitions_are_independent() -> None:
    guard = GenerationGuard()
    assert guard.admit(0, 7, T0)
    assert guard.admit(1, 3, T0 + 1)  # another partition's own sequence
    assert not guard.admit(0, 6, T0 + 2)
    assert guard.newest(0) == 7 and guard.newest(1) == 3


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(GENERATION_HEADER, b"12")], 12),
        ([("other", b"x"), (GENERATION_HEADER, b"3")], 3),
        ([], None),  # written before the header existed
        (None, None),
        ([(GENERATION_HEADER, b"twelve")], None),  # not ours to judge
    ],
)
def test_generation_of(headers: list[tuple[str, bytes]] | None, expected: int | None) -> None:
    assert generation_of(headers) == expected
