"""The order a batch's table changelogs are written in (agents/runtime/tables.py)."""

from __future__ import annotations

from agents.runtime.tables import FLUSH_ORDER, flush_order
from events.topics import CLOSED_TABLE, OPEN_TABLE, PARKED_TABLE


def test_a_closing_dossiers_closed_state_is_written_before_the_open_tombstone() -> None:
    # The kill -9 suite lost dossiers that closed in the batch being written: the open
    # table's tombstone reached the broker, the closed state did not.
    order = flush_order({OPEN_TABLE: 1, PARKED_TABLE: 2, CLOSED_TABLE: 3})
    assert order.index(CLOSED_TABLE) < order.index(OPEN_TABLE)


def test_a_released_receipts_open_state_is_written_before_its_parked_entries_go() -> None:
    order = flush_order([PARKED_TABLE, OPEN_TABLE])
    assert order == [OPEN_TABLE, PARKED_TABLE]


def test_tables_it_does_not_know_come_last_in_their_own_order() -> None:
    assert flush_order(["zeta", OPEN_TABLE, "alpha", CLOSED_TABLE]) == [
        CLOSED_TABLE,
        OPEN_TABLE,
        "zeta",
        "alpha",
    ]
    assert set(FLUSH_ORDER) == {CLOSED_TABLE, OPEN_TABLE, PARKED_TABLE}
