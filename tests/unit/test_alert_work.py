"""How much a tick computes: each due dossier's watch points once (issue 18).

The router loads a state, ``apply_tick`` raises what is due, and at the end of the batch
the router stamps the new state with its next watch point. The points are computed for
the loaded state and passed on to the ticked and stamped ones; work is counted (calls to
the computation), never timed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from agents.runtime.router import ParkingPolicy, RouterCore, Tables
from workflows import alerts
from workflows.calendar import VN_TZ
from workflows.simulation import interleave, simulate
from workflows.state import DossierState

from support.context import routing_context, working_calendar
from support.router import apply_writes, event_records, tick_records

START = datetime(2026, 3, 2, 8, tzinfo=VN_TZ)


def test_a_tick_computes_each_due_dossiers_watch_points_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = routing_context()
    events = interleave(simulate(ctx.catalog, working_calendar(), START, 30, seed=5, id_prefix="K"))
    receipts = [e for e in events if e.type == "dossier.received"]
    core = RouterCore(ctx, Tables({}, {}, {}), ParkingPolicy(), ticks_topic="ticks")
    apply_writes(core.tables, core.run_batch(event_records(receipts), START).writes)
    computed: list[str] = []
    compute = alerts._compute_candidates

    def counting(state: Any, *args: Any) -> Any:
        computed.append(state.dossier_id)
        return compute(state, *args)

    monkeypatch.setattr(alerts, "_compute_candidates", counting)
    later = max(e.occurred_at for e in receipts) + timedelta(days=3)
    ticks = tick_records([e.dossier_id for e in receipts], later)
    result = core.run_batch(ticks, later)
    assert len(result.alerts) >= len(receipts), "the ticks raised too few alerts"
    # once per dossier: for the state loaded; not again for the one stamped after the tick
    assert sorted(computed) == sorted(e.dossier_id for e in receipts)
    # and what was stamped is what a fresh computation gives
    apply_writes(core.tables, result.writes)
    monkeypatch.setattr(alerts, "_compute_candidates", compute)
    for raw in core.tables.open.values():
        stored = DossierState.from_bytes(raw)
        state = alerts.unstamped(stored)
        alerts._CANDIDATES.clear()
        point = alerts.next_watch_point(state, ctx.calendar, core.alerts)
        assert stored.watch_at == (point.at if point else None)
