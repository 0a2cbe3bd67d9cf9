"""The header a rebuild reads from a stored state without decoding it (workflows.state_header).

It must give exactly what the full decode gives for every field it reads, over the
states the router really stores (whole simulated lifecycles, with alerts, pauses,
reschedules, outcomes), take the fast path for all of them, and give None (decode it
whole) for anything it does not recognise.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta

import pytest

from agents.runtime.router import ParkingPolicy, RouterCore, Tables
from workflows.calendar import VN_TZ
from workflows.simulation import interleave, simulate
from workflows.state import DossierState
from workflows.state_header import StateHeader, read_header

from support.context import routing_context, working_calendar
from support.router import apply_writes, event_records, tick_records

START = datetime(2026, 3, 2, 8, tzinfo=VN_TZ)
NAMES = [f.name for f in fields(StateHeader)]


def stored_states() -> list[bytes]:
    """Every open and closed state a router stored over 60 simulated lifecycles, after
    each batch of 5 events and a tick 20 days later for each of their dossiers."""
    ctx = routing_context()
    events = interleave(simulate(ctx.catalog, working_calendar(), START, 60, seed=7, id_prefix="H"))
    core = RouterCore(ctx, Tables({}, {}, {}), ParkingPolicy(), ticks_topic="ticks")
    seen: list[bytes] = []
    for offset in range(0, len(events), 5):
        batch = events[offset : offset + 5]
        now = batch[-1].occurred_at
        later = now + timedelta(days=20)
        records = event_records(batch, offset)
        records += tick_records([e.dossier_id for e in batch], later, offset)
        result = core.run_batch(records, now)
        apply_writes(core.tables, result.writes)
        seen += [v for w in result.writes.values() for v, _ in w.values() if v is not None]
    return seen


STATES = stored_states()


def rescheduled(raw: bytes) -> bytes:
    """``raw`` as if its dossier had been rescheduled (the lifecycles above have none)."""
    state = DossierState.from_bytes(raw)
    moved = state.committed_due_at + timedelta(days=3)
    return state.model_copy(
        update={"rescheduled_at": state.last_event_at, "committed_due_at": moved,
                "deadline_version": state.deadline_version + 1}
    ).to_bytes()  # fmt: skip


def test_the_header_is_what_the_full_decode_gives_and_the_fast_path_is_taken() -> None:
    kinds = {"alerted": 0, "stamped": 0, "paused": 0, "rescheduled": 0, "closed": 0}
    for raw in STATES + [rescheduled(r) for r in STATES[::10]]:
        header = read_header(raw)
        state = DossierState.from_bytes(raw)
        assert header is not None, raw  # a new field where the header is read? see the module
        for name in NAMES:
            assert getattr(header, name) == getattr(state, name), (name, raw)
        if header.watch_at is not None:
            assert header.watch_at.timestamp() == state.watch_at.timestamp()  # type: ignore[union-attr]
        kinds["alerted"] += bool(state.alerted)
        kinds["stamped"] += state.watch_at is not None
        kinds["paused"] += state.status.value == "paused"
        kinds["rescheduled"] += state.rescheduled
        kinds["closed"] += state.status.closed
    assert all(n > 5 for n in kinds.values()), kinds


@pytest.mark.parametrize(
    "change",
    [
        # another writer's formatting: spaces after the separators
        lambda raw: raw.replace(b'","', b'", "'),
        # a value of another type where the header reads
        lambda raw: raw.replace(b',"w":', b',"w":"soon","x":'),
        lambda raw: raw.replace(b',"cs":"', b',"cs":1,"x":"'),
        # a field added after the version, where the header reads
        lambda raw: raw.replace(b',"cs":"', b',"dv":2,"zz":1,"cs":"'),
        lambda raw: raw.replace(b',"al":["', b',"al":[1,"'),
        # an escape in a field the header reads
        lambda raw: raw.replace(b'"cs":"', b'"cs":"\\u0041'),
        # no sheet; not a state at all; truncated
        lambda raw: raw.replace(b',"sh":[', b',"sheet":['),
        lambda raw: b"[]",
        lambda raw: raw[:-1],
    ],
)
def test_anything_else_is_left_to_the_full_decode(change: object) -> None:
    raw = next(r for r in STATES if b'"cs":"' in r and b'"w":' in r and b'"al":["' in r)
    assert read_header(raw) is not None
    assert read_header(change(raw)) is None  # type: ignore[operator]
