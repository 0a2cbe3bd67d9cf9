"""workflows.replay: the replay reproduces the engine's verdicts, and a changed commitment
flips exactly the dossiers whose finish lies between the new and the old due day."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache

import events as ev
from agents.tools.whatif_catalog import alter
from workflows.calendar import VN_TZ
from workflows.deadlines import Completion
from workflows.effects import Rejected
from workflows.replay import compare, replay
from workflows.report import province_report
from workflows.routing import RoutingContext, Sender, apply
from workflows.simulation import Workload, expect, run_window, simulate_province
from workflows.state import DossierState

from support.context import engine_context, expect_procedure
from support.dossiers import receipt
from support.fold import Fold
from support.signing import SENDER

LICENCE = "1.013225"  # construction licence: 10 calendar days committed, 15 statutory


@cache
def workload() -> Workload:
    ctx = engine_context()
    window = run_window(ctx.calendar, date(2026, 3, 2), 15, backlog_days=10)
    return simulate_province(ctx.catalog, ctx.calendar, window, seed=1, scale=0.03)


def _sent(events: list[ev.InboundEvent]) -> list[tuple[ev.InboundEvent, Sender]]:
    return [(e, SENDER) for e in events]


def _altered(amount: int) -> RoutingContext:
    ctx = engine_context()
    catalog, _ = alter(ctx.catalog, {LICENCE: Decimal(amount)})
    return RoutingContext(catalog, ctx.calendar, ctx.policy, ctx.limits, ctx.authorize)


def test_the_unchanged_catalog_reproduces_every_live_state_and_figure() -> None:
    events = workload().events()
    live = {k: s for k, s in Fold(events).states.items() if s is not None}
    replayed = replay(_sent(events), engine_context())
    assert replayed == live  # every dossier, field for field
    comparison = compare(live, replayed)
    assert comparison.flips == () and comparison.missing == () and comparison.extra == ()
    assert comparison.actual == comparison.whatif
    report = province_report(live.values(), engine_context().catalog, workload().window.end)
    assert comparison.actual.completed == report.completed > 100
    assert comparison.actual.on_time == report.early + report.on_time
    assert comparison.actual.late == report.late > 0
    assert round(comparison.actual.saved_days, 6) == round(report.working_days_saved, 6)


def test_without_effects_every_event_gives_the_same_state_and_refusals() -> None:
    # What replay runs: build_effects off. Event by event against the live setting, on the
    # same state: the same state, and of the effects only the refusals, in order.
    live_ctx = engine_context()
    quiet_ctx = dataclasses.replace(live_ctx, build_effects=False)
    states: dict[str, DossierState | None] = {}
    built = refused = 0
    events = workload().events()
    # A second receipt of each of the first dossiers: refused (already received).
    again = [
        receipt(e.dossier_id, f"{e.event_id}/again", e.occurred_at + timedelta(hours=1))
        for e in events[:50]
        if isinstance(e, ev.DossierReceived)
    ]
    for event in [*events, *again]:
        state = states.get(event.dossier_id)
        live, effects = apply(state, event, live_ctx, SENDER)
        quiet, kept = apply(state, event, quiet_ctx, SENDER)
        assert quiet == live
        assert kept == [e for e in effects if isinstance(e, Rejected)]
        built += len(effects) - len(kept)
        refused += len(kept)
        states[event.dossier_id] = live
    assert built > 1000  # the live setting built assignments, deadlines, completions
    assert refused > 0  # and refusals came through without effects too


def test_a_shorter_commitment_flips_exactly_the_dossiers_the_oracle_says() -> None:
    expect_procedure(engine_context().catalog, LICENCE)
    load = workload()
    ctx, tighter = engine_context(), _altered(8)
    actual = replay(_sent(load.events()), ctx)
    comparison = compare(actual, replay(_sent(load.events()), tighter))
    # The oracle judges each dossier from the deadline primitives, never the router.
    expected = set()
    for dossier in load.dossiers:
        before = expect(ctx.catalog, ctx.calendar, dossier.events).completion
        after = expect(tighter.catalog, ctx.calendar, dossier.events).completion
        if (
            before is not None
            and after is not None
            and (before is Completion.LATE) != (after is Completion.LATE)
        ):
            expected.add(dossier.dossier_id)
    assert {f.dossier_id for f in comparison.flips} == expected != set()
    assert all(f.procedure == LICENCE and f.to_late for f in comparison.flips)
    assert comparison.whatif.late == comparison.actual.late + len(expected)
    rows = {r.key: r for r in comparison.groups["procedure"]}
    assert rows[LICENCE].to_late == len(expected) and rows[LICENCE].to_on_time == 0


def _licence_dossier(name: str, finished: datetime) -> list[ev.InboundEvent]:
    """A construction licence received Monday 2 March 2026 09:00, its result at ``finished``."""
    desk, commune = "CAMDUONG.TTPVHCC", "CAMDUONG"
    received = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
    steps = [("receive", desk), ("review", commune), ("appraisal", commune), ("sign", commune)]
    steps.append(("return", desk))
    out: list[ev.InboundEvent] = [
        receipt(name, f"{name}/0", received, procedure=LICENCE, agency=desk, channel="in_person")
    ]
    gap = (finished - timedelta(hours=1) - received) / len(steps)
    for n, (step, agency) in enumerate(steps, 1):
        at = received + gap * n
        out.append(
            ev.StepCompleted(
                event_id=f"{name}/{n}", dossier_id=name, occurred_at=at, agency=agency, step=step
            )
        )
    out.append(
        ev.ResultReady(
            event_id=f"{name}/r",
            dossier_id=name,
            occurred_at=finished,
            agency=desk,
            outcome=ev.ResultOutcome.APPROVED,
        )
    )
    return out


def test_a_dossier_finished_between_the_new_and_the_old_due_day_flips_to_late() -> None:
    # 10 calendar days from Monday 2 March: due Thursday 12 March; 8 days: Tuesday 10 March.
    assert date(2026, 3, 2).weekday() == 0
    early = _licence_dossier("D-early", datetime(2026, 3, 6, 10, 0, tzinfo=VN_TZ))  # day 4
    between = _licence_dossier("D-between", datetime(2026, 3, 11, 10, 0, tzinfo=VN_TZ))  # day 9
    late = _licence_dossier("D-late", datetime(2026, 3, 16, 10, 0, tzinfo=VN_TZ))  # day 14
    events = [*early, *between, *late]
    actual = replay(_sent(events), engine_context())
    comparison = compare(actual, replay(_sent(events), _altered(8)))
    assert [(f.dossier_id, f.was, f.would_be) for f in comparison.flips] == [
        ("D-between", Completion.EARLY, Completion.LATE)
    ]
    assert (comparison.actual.on_time, comparison.actual.late) == (2, 1)
    assert (comparison.whatif.on_time, comparison.whatif.late) == (1, 2)
    # Used time does not change with the commitment: nor do the days saved (vs statutory).
    assert comparison.whatif.saved_days == comparison.actual.saved_days


def test_events_before_their_receipt_wait_for_it_as_the_router_parks_them() -> None:
    events = _licence_dossier("D-parked", datetime(2026, 3, 6, 10, 0, tzinfo=VN_TZ))
    in_order = replay(_sent(events), engine_context())
    shuffled = [events[1], events[0], *events[2:]]  # a step completion before the receipt
    assert replay(_sent(shuffled), engine_context()) == in_order


def test_progress_is_told_every_so_many_events_and_at_the_end() -> None:
    events = _licence_dossier("D-progress", datetime(2026, 3, 6, 10, 0, tzinfo=VN_TZ))
    seen: list[int] = []
    replay(_sent(events), engine_context(), seen.append, every=3)
    assert seen == [3, 6, len(events)]
