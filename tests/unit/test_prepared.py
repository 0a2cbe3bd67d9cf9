"""Ticks prepared ahead of their instant (agents/runtime/prepared.py, issue 18).

A prepared tick is a cache of what the router's tick path computes: these tests pin that
it gives the computed records byte for byte, that anything which changes the stored
state (an event in between, a table value replaced) or a rebalance makes the router
compute instead, and that nothing is emitted before the tick's instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.runtime.deadlines import Deadlines
from agents.runtime.records import Coordinates
from agents.runtime.router import BatchResult, ParkingPolicy, RawRecord, RouterCore, Tables
from agents.runtime.watcher import DeadlineIndex, Watcher, tick_values
from events import InboundEvent, SupplementRequested, encode
from events.topics import OPEN_TABLE, PARKED_TABLE, TopicNames
from workflows.alerts import AlertPolicy, due_points, watch_points
from workflows.calendar import VN_TZ
from workflows.simulation import interleave, simulate
from workflows.state import DossierState, Status

from support.context import routing_context, working_calendar
from support.router import apply_writes

CAL = working_calendar()
START = datetime(2026, 3, 2, 8, tzinfo=VN_TZ)
POLICIES = (AlertPolicy(), AlertPolicy(reminder_every_days=1.0))


def router(table: dict[bytes, bytes], policy: AlertPolicy = POLICIES[0]) -> RouterCore:
    return RouterCore(
        routing_context(), Tables(table, {}, {}), ParkingPolicy(), ticks_topic="ticks",
        alerts=policy,
    )  # fmt: skip


def stored_states(policy: AlertPolicy) -> list[tuple[bytes, bytes]]:
    """Open states as the router stores them, along simulated lifecycles with alerts
    raised on the way: (key, stored bytes), every stamped with a next watch instant."""
    ctx = routing_context()
    events = interleave(simulate(ctx.catalog, CAL, START, 30, seed=11, id_prefix="PT"))
    core = router({}, policy)
    seen: list[tuple[bytes, bytes]] = []
    for offset in range(0, len(events), 9):
        batch = events[offset : offset + 9]
        now = batch[-1].occurred_at
        records = [event_record(e, offset + i) for i, e in enumerate(batch)]
        records += tick_records(list(core.tables.open), now, offset + 100)
        apply_writes(core.tables, core.run_batch(records, now).writes)
        for key, raw in core.tables.open.items():
            state = DossierState.from_bytes(raw)
            if state.status is Status.OPEN and state.watch_at is not None:
                seen.append((key, raw))
    return seen


def event_record(event: InboundEvent, offset: int) -> RawRecord:
    key = event.dossier_id.encode()
    return RawRecord(encode(event), Coordinates("events", 0, offset, key))


def tick_records(keys: list[bytes], now: datetime, offset: int) -> list[RawRecord]:
    """The watcher's tick records (``tick_values``) for ``keys`` at ``now``."""
    return [
        RawRecord(value, Coordinates("ticks", 0, offset + i, key))
        for i, (key, value) in enumerate(zip(keys, tick_values(keys, now), strict=True))
    ]


STATES = {policy: stored_states(policy) for policy in POLICIES}


def outputs(result: BatchResult) -> tuple[object, ...]:
    """Everything a batch hands the shell, as comparable values (states as their bytes)."""

    def b(state: DossierState | None) -> bytes | None:
        return None if state is None else state.to_bytes()

    return (
        [(o.topic, o.key, o.value, o.reason) for o in result.outgoing],
        result.writes,
        result.alerts,
        result.touched,
        {k: b(s) for k, s in result.states.items()},
        {k: b(s) for k, s in result.before.items()},
    )


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(POLICIES),
    st.integers(min_value=0, max_value=10**6),
    st.one_of(st.just(0), st.integers(min_value=0, max_value=3 * 24 * 3600 * 10**6)),
    st.sampled_from((UTC, VN_TZ)),
)
def test_a_prepared_tick_gives_the_computed_records_byte_for_byte(
    policy: AlertPolicy, pick: int, later_us: int, zone: Any
) -> None:
    # A random stored state, prepared for its stored watch instant, ticked at that instant
    # or up to three days later, in UTC or local time: the prepared router's batch is the
    # computing router's, byte for byte, whether the entry is used (in its window) or
    # dropped (past it).
    key, raw = STATES[policy][pick % len(STATES[policy])]
    instant = DossierState.from_bytes(raw).watch_at
    assert instant is not None
    now = (instant + timedelta(microseconds=later_us)).astimezone(zone)
    computing, preparing = router({key: raw}, policy), router({key: raw}, policy)
    entry = preparing.prepared.prepare(key, instant.timestamp(), raw)
    records = tick_records([key], now, 0)
    expected = computing.run_batch(records, now)
    got = preparing.run_batch(records, now)
    assert outputs(got) == outputs(expected)
    utc = now.astimezone(UTC).replace(tzinfo=None)
    in_window = entry is not None and (entry.until is None or utc < entry.until)
    assert preparing.prepared.used == (1 if in_window else 0)
    assert len(preparing.prepared) == 0  # used or dropped, never kept for a later tick
    if entry is not None:
        assert expected.alerts, "a prepared tick is one that raises something"


def test_the_prepared_path_is_taken_for_a_whole_burst() -> None:
    # Every stored state prepared for its watch instant and ticked then: all use the
    # prepared records, and the batch equals a computing router's.
    table = dict(STATES[POLICIES[0]][-40:])
    computing, preparing = router(dict(table)), router(dict(table))
    by_instant: dict[datetime, list[bytes]] = {}
    for key, raw in table.items():
        at = DossierState.from_bytes(raw).watch_at
        assert at is not None
        if preparing.prepared.prepare(key, at.timestamp(), raw) is not None:
            by_instant.setdefault(at, []).append(key)
    assert sum(map(len, by_instant.values())) >= 10
    for at, keys in sorted(by_instant.items()):
        records = tick_records(keys, at, 0)
        assert outputs(preparing.run_batch(records, at)) == outputs(
            computing.run_batch(records, at)
        )
    assert preparing.prepared.used == sum(map(len, by_instant.values()))
    assert preparing.prepared.missed == 0


def due_state() -> tuple[bytes, bytes, datetime]:
    """A stored state with alerts due at its watch instant (what a burst holds)."""
    for key, raw in STATES[POLICIES[0]]:
        state = DossierState.from_bytes(raw)
        assert state.watch_at is not None
        if due_points(state, state.watch_at, CAL, POLICIES[0]):
            return key, raw, state.watch_at
    raise AssertionError("no state with alerts due")


def test_an_event_between_preparation_and_instant_makes_the_router_compute() -> None:
    key, raw, at = due_state()
    core = router({key: raw})
    assert core.prepared.prepare(key, at.timestamp(), raw) is not None
    # The applicant is asked for a supplement before the instant: the clock stops, so the
    # prepared alerts would be wrong now.
    state = DossierState.from_bytes(raw)
    pause = SupplementRequested(
        event_id="pt-pause", dossier_id=state.dossier_id, occurred_at=at - timedelta(minutes=1),
        agency=state.current_agency or "", reason="thiếu bản vẽ",
    )  # fmt: skip
    applied = core.run_batch([event_record(pause, 1)], at - timedelta(minutes=1))
    assert len(core.prepared) == 0, "the write dropped the prepared tick"
    apply_writes(core.tables, applied.writes)
    computing = router(dict(core.tables.open))
    records = tick_records([key], at, 2)
    got = core.run_batch(records, at)
    assert outputs(got) == outputs(computing.run_batch(records, at))
    assert core.prepared.used == 0
    paused = DossierState.from_bytes(core.tables.open[key])
    assert paused.status is Status.PAUSED and got.alerts == []


def test_an_event_in_the_same_batch_before_the_tick_makes_the_router_compute() -> None:
    key, raw, at = due_state()
    core, computing = router({key: raw}), router({key: raw})
    core.prepared.prepare(key, at.timestamp(), raw)
    state = DossierState.from_bytes(raw)
    pause = SupplementRequested(
        event_id="pt-pause2", dossier_id=state.dossier_id, occurred_at=at,
        agency=state.current_agency or "", reason="thiếu bản vẽ",
    )  # fmt: skip
    records = [event_record(pause, 1), *tick_records([key], at, 2)]
    assert outputs(core.run_batch(records, at)) == outputs(computing.run_batch(records, at))
    assert core.prepared.used == 0


def test_a_stored_state_replaced_behind_the_router_is_computed_from_the_new_value() -> None:
    # E.g. restored from the changelog after a restart: the entry's bytes no longer match.
    key, raw, at = due_state()
    core = router({key: raw})
    core.prepared.prepare(key, at.timestamp(), raw)
    # Another value of the same dossier: one more (obsolete) alert mark remembered.
    state = DossierState.from_bytes(raw)
    replaced = state.model_copy(update={"alerted": (*state.alerted, "so0:old")}).to_bytes()
    assert replaced != raw
    core.tables.open[key] = replaced
    records = tick_records([key], at, 0)
    got = core.run_batch(records, at)
    assert outputs(got) == outputs(router({key: replaced}).run_batch(records, at))
    assert (core.prepared.used, core.prepared.missed) == (0, 1)


def test_nothing_is_emitted_before_the_instant() -> None:
    key, raw, at = due_state()
    core = router({key: raw})
    entry = core.prepared.prepare(key, at.timestamp(), raw)
    assert entry is not None and entry.alerts
    # A tick a second early (a duplicate, or a watcher on another clock): the router
    # computes what is due then, nothing of the prepared alerts, and keeps the entry.
    early = at - timedelta(seconds=1)
    result = core.run_batch(tick_records([key], early, 0), early)
    assert result.alerts == [] and result.outgoing == []
    assert core.prepared.used == 0 and len(core.prepared) == 1
    # At the instant they go, once.
    result = core.run_batch(tick_records([key], at, 1), at)
    assert [a.alert_id for a in result.alerts] == [a.alert_id for a in entry.alerts]
    assert core.prepared.used == 1 and len(core.prepared) == 0


class FakeApp:
    """What ``Deadlines`` uses of a faust app, recording what it would send."""

    def __init__(self) -> None:
        self.rebalancing = False
        self.tables = SimpleNamespace(
            recovery=SimpleNamespace(completed=SimpleNamespace(is_set=lambda: True))
        )
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.handlers: dict[str, Callable[..., Any]] = {}
        app = self

        class Producer:
            async def send(self, topic: str, key: bytes, value: bytes, *_: Any) -> Any:
                app.sent.append((topic, key, value))
                future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                future.set_result(None)
                return future

        self.producer = Producer()
        self.on_rebalance_complete = SimpleNamespace(connect=self._on("complete"))
        self.on_partitions_revoked = SimpleNamespace(connect=self._on("revoked"))
        self.on_before_shutdown = SimpleNamespace(connect=self._on("shutdown"))

    def _on(self, name: str) -> Callable[[Callable[..., Any]], None]:
        def connect(handler: Callable[..., Any]) -> None:
            self.handlers[name] = handler

        return connect

    def timer(self, interval: float) -> Callable[[Callable[..., Any]], Any]:
        return lambda fn: fn


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def deadlines(table: dict[bytes, bytes], now: datetime) -> tuple[Deadlines, FakeApp]:
    app = FakeApp()
    core = router(table)
    watcher = Watcher(CAL, core.alerts, 4)
    watcher.rebuild(table, set(range(4)))
    tables: Any = {OPEN_TABLE: table, PARKED_TABLE: {}}
    d = Deadlines(
        app,  # type: ignore[arg-type]
        watcher, core, tables, SimpleNamespace(), SimpleNamespace(), ManualClock(now),  # type: ignore[arg-type]
        TopicNames(), 4,
    )  # fmt: skip
    d.register(1.0)
    return d, app


def test_the_preparation_pass_sends_nothing_and_a_revocation_drops_it() -> None:
    key, raw, at = due_state()
    d, app = deadlines({key: raw}, at - timedelta(seconds=120))
    assert asyncio.run(d.prepare_ahead()) == 1
    assert len(d.router.prepared) == 1
    assert app.sent == [], "preparing sends nothing: alerts leave with the routed tick"
    # A watch pass before the instant sends no tick either.
    assert asyncio.run(d.watch_once()) == 0 and app.sent == []
    asyncio.run(app.handlers["revoked"](None, set(), signal=None))
    assert len(d.router.prepared) == 0
    generation = d.router.prepared.generation
    assert generation == 1


def test_stopping_cancels_a_preparation_pass_under_way() -> None:
    key, raw, at = due_state()
    d, app = deadlines({key: raw}, at - timedelta(seconds=120))

    async def stop_mid_pass() -> asyncio.Task[int] | None:
        pass_under_way = asyncio.Event()
        real_prepare = d.router.prepared.prepare

        def prepare(*args: Any) -> Any:
            pass_under_way.set()
            return real_prepare(*args)

        d.router.prepared.prepare = prepare  # type: ignore[method-assign,assignment]
        d.router.prepared.ahead_s = 300.0
        await d.tick()
        task = d._preparing
        await pass_under_way.wait()
        await app.handlers["shutdown"](None)
        return task

    task = asyncio.run(stop_mid_pass())
    assert task is not None and task.cancelled(), "the pass outlived the worker's stop"
    assert d._preparing is None


def test_the_look_ahead_and_the_bound_limit_what_is_prepared() -> None:
    pool = dict(STATES[POLICIES[0]])
    instants = sorted(
        {at for raw in pool.values() if (at := DossierState.from_bytes(raw).watch_at)}
    )
    now = instants[len(instants) // 2] - timedelta(seconds=1)
    d, _ = deadlines(pool, now)
    prepared = d.router.prepared
    prepared.ahead_s = 3600.0
    asyncio.run(d.prepare_ahead())
    horizon = now + timedelta(hours=1)
    for key, entry in prepared._entries.items():
        assert now.timestamp() < entry.instant <= horizon.timestamp(), key
    prepared.clear()
    prepared.max_entries = 1
    asyncio.run(d.prepare_ahead())
    assert len(prepared) <= 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 1000)), max_size=200),
    st.integers(0, 1000),
    st.integers(0, 1000),
)
def test_upcoming_finds_exactly_the_current_entries_in_the_range(
    plan: list[tuple[int, int]], after: int, span: int
) -> None:
    index = DeadlineIndex()
    base = 1_780_000_000.0
    for key, offset in plan:
        index.schedule_at(f"k{key}".encode(), 0, base + offset)
    current = {k: e[0] for k, e in index._current.items()}
    expected = sorted(
        (at, k) for k, at in current.items() if base + after < at <= base + after + span
    )
    assert sorted(index.upcoming(base + after, base + after + span)) == expected


def test_a_reminder_due_is_not_prepared() -> None:
    # Its number depends on the tick's instant (a late reminder is numbered by the
    # intervals passed): computed at the tick, as before.
    policy = POLICIES[1]
    for key, raw in STATES[policy]:
        state = DossierState.from_bytes(raw)
        at = state.watch_at
        assert at is not None
        due = due_points(state, at, CAL, policy)
        if any(p.reminder for p in due):
            assert router({key: raw}, policy).prepared.prepare(key, at.timestamp(), raw) is None
            return
    # No stored state had a reminder due at its instant: make one due by asking later.
    key, raw = STATES[policy][0]
    state = DossierState.from_bytes(raw)
    reminder = [p for p in watch_points(state, CAL, policy) if p.reminder]
    assert reminder, "the reminder policy watches every open dossier"
    later = reminder[0].at + timedelta(days=10)
    assert router({key: raw}, policy).prepared.prepare(key, later.timestamp(), raw) is None
