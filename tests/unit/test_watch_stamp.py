"""The next watch instant stored with each open state, and the restart that trusts it.

The router stamps every open state it writes (workflows.alerts.stamp_watch); a
watcher with the same calendar and alert policy reuses the stamp instead of
recomputing the watch points. These tests pin that the stamp always equals a fresh
computation for the state it is stored with, that a stale stamp is never inherited,
and that a changed policy or calendar recomputes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from agents.runtime.router import ParkingPolicy, RouterCore, Tables
from agents.runtime.watcher import Watcher
from events import InboundEvent
from workflows.alerts import (
    AlertPolicy,
    next_watch_point,
    stamp_watch,
    stamped_watch,
    unstamped,
    watch_key,
)
from workflows.calendar import VN_TZ, CalendarOverrides, OfficeHours, WorkingCalendar
from workflows.simulation import interleave, simulate
from workflows.state import DossierState

from support.context import routing_context, working_calendar
from support.router import apply_writes, event_records, tick_records

CAL = working_calendar()
POLICY = AlertPolicy()
START = datetime(2026, 3, 2, 8, tzinfo=VN_TZ)


def router() -> RouterCore:
    ctx = routing_context()
    return RouterCore(ctx, Tables({}, {}, {}), ParkingPolicy(), ticks_topic="ticks")


def one_dossier(seed: int) -> tuple[RouterCore, list[InboundEvent], DossierState]:
    """A router that applied the first event of one simulated lifecycle, the lifecycle,
    and the state it stored."""
    core = router()
    ctx = routing_context()
    events = interleave(simulate(ctx.catalog, CAL, START, 1, seed=seed, id_prefix=f"W{seed}"))
    route(core, events[0], 0)
    (raw,) = core.tables.open.values()
    return core, events, DossierState.from_bytes(raw)


def route(core: RouterCore, event: InboundEvent, offset: int) -> None:
    result = core.run_batch(event_records([event], offset), START)
    apply_writes(core.tables, result.writes)


def fresh_watch(state: DossierState) -> datetime | None:
    point = next_watch_point(unstamped(state), CAL, POLICY)
    return point.at if point else None


def test_every_stored_open_state_carries_the_instant_a_fresh_computation_gives() -> None:
    # Whole simulated lifecycles in batches of 7 events, with ticks in between that raise
    # alerts (which move the next watch point): after every batch, every stored stamp is
    # exactly what next_watch_point computes for the state stored with it.
    ctx = routing_context()
    events = interleave(simulate(ctx.catalog, CAL, START, 40, seed=3, id_prefix="WS"))
    core = router()
    key = watch_key(CAL, POLICY)
    checked = alerted = 0
    for offset in range(0, len(events), 7):
        batch = events[offset : offset + 7]
        now = batch[-1].occurred_at
        records = event_records(batch, offset)
        # A tick for each dossier of the batch, later than the events: raises what is due.
        later = now + timedelta(days=20)
        records += tick_records([e.dossier_id for e in batch], later, offset, key=b"k")
        result = core.run_batch(records, now)
        apply_writes(core.tables, result.writes)
        for raw in core.tables.open.values():
            state = DossierState.from_bytes(raw)
            assert state.watch_key == key
            assert state.watch_at == fresh_watch(state), state.dossier_id
            checked += 1
            alerted += bool(state.alerted)
        for raw in core.tables.closed.values():
            assert DossierState.from_bytes(raw).watch_key is None, "a closed state kept a stamp"
    assert checked > 100
    assert alerted > 20, "the ticks raised too few alerts to move the watch points"


def test_a_loaded_stamp_is_not_inherited_by_the_next_state() -> None:
    core, events, stored = one_dossier(seed=4)
    # A stamp that is wrong for this state, as if computed for an older one.
    bogus = stored.model_copy(update={"watch_at": START - timedelta(days=9)})
    core.tables.open[stored.dossier_id.encode()] = bogus.to_bytes()
    route(core, events[1], 1)
    state = DossierState.from_bytes(core.tables.open[stored.dossier_id.encode()])
    assert state.watch_at == fresh_watch(state) != bogus.watch_at


def test_the_watcher_uses_a_stamp_made_under_its_key_and_recomputes_any_other() -> None:
    _, _, state = one_dossier(seed=5)
    key = state.dossier_id.encode()
    marked = state.model_copy(update={"watch_at": START + timedelta(days=1000)})

    same = Watcher(CAL, POLICY, partitions=4)
    same.reschedule(key, 0, marked)
    assert (same.stamped, same.computed) == (1, 0)
    assert same.index.pop_due(START + timedelta(days=999)) == []  # it trusted the stamp

    # Another policy, or another calendar: the stamp is not theirs, they recompute.
    others = [
        Watcher(CAL, AlertPolicy(due_soon_fraction=0.9), partitions=4),
        Watcher(WorkingCalendar(OfficeHours.parse("08:00-12:00,13:00-17:00")), POLICY, 4),
        Watcher(
            WorkingCalendar(overrides=CalendarOverrides(days_off=frozenset({START.date()}))),
            POLICY,
            4,
        ),
    ]
    for other in others:
        assert other.key != same.key
        other.reschedule(key, 0, marked)
        assert (other.stamped, other.computed) == (0, 1)
        assert other.index.pop_due(START + timedelta(days=999)) != []


def test_stamps_are_a_cache_not_state() -> None:
    _, _, stamped = one_dossier(seed=6)
    assert stamped.watch_key is not None
    bare = unstamped(stamped)
    assert stamped.public() == bare.public()
    assert "watch_at" not in stamped.public() and "watch_key" not in stamped.public()
    assert stamped_watch(bare, watch_key(CAL, POLICY)) == (False, None)
    assert stamp_watch(bare, CAL, POLICY, watch_key(CAL, POLICY)) == stamped
    assert unstamped(bare) is bare
