"""Where lateness comes from: hand-computed splits of a late dossier's overrun over its
sheet, and the property that the parts always sum to it exactly (docs/attribution.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import events as ev
from workflows.attribution import Attribution, Basis, Cause, attribute, split_exactly
from workflows.simulation import Profile, simulate

from support.context import expect_procedure, routing_context
from support.dossiers import Script, envelope
from support.fold import fold_state
from support.time import vn

# 2.001610, 3 working days (24 h): receive@MOTCUA 4 h, review@STC 12 h, issue@STC 4 h,
# return@MOTCUA 4 h. Received Monday 1 June 2026 08:00, due Thursday 4 June 08:00.
# Working hours counted from the receipt (office 07:30-11:30, 13:30-17:30):
#   Mon 10:00 = 2, 14:00 = 4, 16:00 = 6 | Wed 08:00 = 16, 10:00 = 18, 11:30 = 19.5,
#   14:00 = 20 | Thu 08:00 = 24 (the due), 14:00 = 28 | Fri 08:00 = 32, 14:00 = 36 |
#   Mon 8 June 08:00 = 40.
PROC = "2.001610"
MON = "2026-06-01"


def _steps(s: Script, *ends: tuple[str, str, str]) -> list[ev.InboundEvent]:
    """Received Monday 08:00, then each (instant, agency, step) completed in turn."""
    return [
        s.received(f"{MON} 08:00", "MOTCUA", PROC),
        *(s.done(at, agency, step) for at, agency, step in ends),
    ]


def _on_route(
    receive: str, review: str, issue: str, ret: str
) -> Callable[[Script], list[ev.InboundEvent]]:
    def build(s: Script) -> list[ev.InboundEvent]:
        return [
            *_steps(
                s,
                (receive, "MOTCUA", "receive"),
                (review, "STC", "review"),
                (issue, "STC", "issue"),
                (ret, "MOTCUA", "return"),
            ),
            s.result(ret, "MOTCUA"),
        ]

    return build


def _pause_in_review(s: Script) -> list[ev.InboundEvent]:
    return [
        *_steps(s, (f"{MON} 14:00", "MOTCUA", "receive")),
        s.supplement("2026-06-02 11:30", "STC"),  # hour 11.5
        s.supplied("2026-06-03 11:30", "MOTCUA"),  # hour 19.5: 8 h paused, the due -> Fri 08:00
        s.done("2026-06-05 08:00", "STC", "review"),  # 7.5 + 12.5 = 20 h used
        s.done("2026-06-05 14:00", "STC", "issue"),
        s.done("2026-06-08 08:00", "MOTCUA", "return"),
        s.result("2026-06-08 08:00", "MOTCUA"),
    ]


def _revisit(s: Script) -> list[ev.InboundEvent]:
    return [
        *_steps(s, (f"{MON} 14:00", "MOTCUA", "receive"), ("2026-06-03 08:00", "STC", "review")),
        # issue sends it back to review after 2 h: review and then issue again
        s.handed_off("2026-06-03 10:00", "STC", "review", "STC"),
        s.done("2026-06-04 08:00", "STC", "review"),
        s.done("2026-06-04 14:00", "STC", "issue"),
        s.done("2026-06-05 08:00", "MOTCUA", "return"),
        s.result("2026-06-05 08:00", "MOTCUA"),
    ]


def _detour(s: Script) -> list[ev.InboundEvent]:
    to_sxd = ev.StepCompleted(
        **envelope(s.dossier_id, f"{s.dossier_id}/detour", vn("2026-06-03 14:00"), "STC"),
        step="review",
        to_agency="SXD",
    )
    return [
        *_steps(s, (f"{MON} 14:00", "MOTCUA", "receive")),
        to_sxd,
        s.done("2026-06-04 14:00", "SXD", "issue"),
        s.done("2026-06-05 08:00", "MOTCUA", "return"),
        s.result("2026-06-05 08:00", "MOTCUA"),
    ]


def _rescheduled(s: Script) -> list[ev.InboundEvent]:
    events = _on_route(f"{MON} 14:00", "2026-06-04 08:00", "2026-06-04 14:00", "2026-06-05 08:00")(
        s
    )
    apology = s.rescheduled("2026-06-03 09:00", "STC", "2026-06-08 17:30")
    return [*events[:2], apology, *events[2:]]


def _same_day(s: Script) -> list[ev.InboundEvent]:
    # 1.001193 (death registration): 0 days, every step due at the close of its own day.
    desk, ward = "BAOTHANG.TTPVHCC", "BAOTHANG"
    return [
        s.received(f"{MON} 08:00", desk, "1.001193"),
        s.done(f"{MON} 09:00", desk, "receive"),  # 1 h of the day's 7.5
        s.done("2026-06-02 10:00", ward, "register"),  # 6.5 h Monday + 2.5 h Tuesday: 2.5 over
        s.done("2026-06-02 11:00", ward, "sign"),  # 1 h, due Tuesday's close: within
        s.done("2026-06-02 11:30", desk, "return"),
        s.result("2026-06-02 11:30", desk),
    ]


H = 1.0  # an hour, in the tables' units
OR, RV, OFF, AFTER = Cause.OVER_ALLOTMENT, Cause.REVISIT, Cause.OFF_ROUTE, Cause.AFTER_LAST_STEP

CASES = [
    # one late step: review takes 20 h of its 12; done Fri 08:00, 8 h after the due
    (
        "one late step",
        _on_route(f"{MON} 14:00", "2026-06-04 08:00", "2026-06-04 14:00", "2026-06-05 08:00"),
        8,
        {("review", OR): 8},
    ),
    # two late steps: receive 6 h (2 over), review 18 h (6 over): 8 over, nothing to scale
    (
        "two late steps",
        _on_route(f"{MON} 16:00", "2026-06-04 08:00", "2026-06-04 14:00", "2026-06-05 08:00"),
        8,
        {("receive", OR): 2, ("review", OR): 6},
    ),
    # receive 2 h (2 early), review 18 h (6 over), issue 8 h (4 over): 10 h of excess for
    # an 8 h overrun; the 2 h receive saved are taken off both in proportion (x 0.8)
    (
        "an early step absorbs part",
        _on_route(f"{MON} 10:00", "2026-06-03 14:00", "2026-06-04 14:00", "2026-06-05 08:00"),
        8,
        {("review", OR): 4.8, ("issue", OR): 3.2},
    ),
    # review: 7.5 h, 8 h with the applicant (excluded; the due moves to Fri 08:00), 12.5 h:
    # 20 h used, 8 over; the result Mon 08:00 is 8 working hours after the moved due
    ("a pause inside a late step", _pause_in_review, 8, {("review", OR): 8}),
    # issue after 2 h (2 early) sends it back: review again 6 h and issue again 4 h, both
    # with no allotment of their own (10 h of excess for 8 over: x 0.8)
    ("a re-visit", _revisit, 8, {("review", RV): 4.8, ("issue", RV): 3.2}),
    # review 16 h (4 over) hands issue to SXD, off the route: its 8 h have no allotment;
    # 12 h of excess for 8 over: review 8 x 4/12 = 2h40, SXD 8 x 8/12 = 5h20
    ("an off-route detour", _detour, 8, {("review", OR): 8 / 3, ("issue", OFF): 16 / 3}),
    # an apology on Wednesday sets Mon 8 June 17:30; judged against the first appointment
    # (Thu 08:00) the dossier is late and the split is the one-late-step one
    ("a reschedule", _rescheduled, 8, {("review", OR): 8}),
    # every step done by Thu 08:00 within its allotment; the result Fri 08:00: the 8 h
    # waiting for it, at the agency of the last step
    (
        "after the last step",
        lambda s: [
            *_on_route(f"{MON} 14:00", "2026-06-03 08:00", "2026-06-03 14:00", "2026-06-04 08:00")(
                s
            )[:-1],
            s.result("2026-06-05 08:00", "MOTCUA"),
        ],
        8,
        {(None, AFTER): 8},
    ),
    # due Mon 17:30; result Tue 11:30: 4 h over, all of it to register, the one step past
    # its own day's close (2.5 h of excess scaled up: the steps' days add up to more)
    ("a same-day procedure", _same_day, 4, {("register", OR): 4}),
]


def _parts(a: Attribution) -> dict[tuple[str | None, Cause], float]:
    return {(p.step, p.cause): p.share / timedelta(hours=1) for p in a.parts if p.share}


@pytest.mark.parametrize(
    ("build", "overrun", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hand_computed_splits(
    build: Callable[[Script], list[ev.InboundEvent]],
    overrun: float,
    expected: dict[tuple[str | None, Cause], float],
) -> None:
    expect_procedure(routing_context().catalog, PROC)
    expect_procedure(routing_context().catalog, "1.001193")
    ctx = routing_context()
    state = fold_state(build(Script("D-attr")), ctx)
    assert state.outcome is not None and state.outcome.completion == "late"
    found = attribute(state, ctx.calendar, vn("2026-06-30 08:00"))
    assert found is not None and not found.so_far
    assert found.overrun == timedelta(hours=overrun)
    assert _parts(found) == pytest.approx(expected, abs=1e-9)
    assert sum((p.share for p in found.parts), timedelta(0)) == found.overrun


def test_open_dossier_past_its_due_is_split_so_far() -> None:
    ctx = routing_context()
    s = Script("D-open")
    state = fold_state(_steps(s, (f"{MON} 14:00", "MOTCUA", "receive")), ctx)
    # Fri 08:00: review has held it 28 h of its 12; the dossier is 8 h past its due
    found = attribute(state, ctx.calendar, vn("2026-06-05 08:00"))
    assert found is not None and found.so_far
    assert found.overrun == timedelta(hours=8)
    assert _parts(found) == {("review", OR): 8}
    # Thu 08:00 exactly: not past the due yet, nothing to split
    assert attribute(state, ctx.calendar, vn("2026-06-04 08:00")) is None
    # asked for a supplement Thu 10:00, 2 h after the due, still waiting on Fri 08:00: the
    # wait is no processing time, so 2 h over so far (and the due does not move)
    paused = fold_state(
        [
            *_steps(s, (f"{MON} 14:00", "MOTCUA", "receive")),
            s.supplement("2026-06-04 10:00", "STC"),
        ],
        ctx,
    )
    found = attribute(paused, ctx.calendar, vn("2026-06-05 08:00"))
    assert found is not None and found.overrun == timedelta(hours=2)
    assert _parts(found) == {("review", OR): 2}


def test_on_time_and_withdrawn_dossiers_are_not_split() -> None:
    ctx = routing_context()
    s = Script("D-ok")
    # the result Thu 14:00: after the due instant but on its day, so on time
    on_time = _on_route(f"{MON} 14:00", "2026-06-03 08:00", "2026-06-03 14:00", "2026-06-04 14:00")
    state = fold_state(on_time(s), ctx)
    assert attribute(state, ctx.calendar, vn("2026-06-30 08:00")) is None
    withdrawn = fold_state(
        [
            *_steps(s, (f"{MON} 14:00", "MOTCUA", "receive"))[:1],
            s.withdrawn("2026-06-10 08:00", "MOTCUA"),
        ],
        ctx,
    )
    assert attribute(withdrawn, ctx.calendar, vn("2026-06-30 08:00")) is None


@pytest.mark.parametrize(
    ("total", "weights", "shares"),
    [
        ([10, [1, 1, 1], [4, 3, 3]]),  # one unit left over: to the first of equal remainders
        ([10, [0, 5, 0], [0, 10, 0]]),  # a zero weight gets nothing
        ([7, [3, 1], [5, 2]]),  # 5.25 and 1.75: the larger remainder gets the unit
        ([0, [2, 2], [0, 0]]),
    ],
)
def test_split_exactly(total: int, weights: list[int], shares: list[int]) -> None:
    assert split_exactly(total, weights) == shares


def test_split_exactly_refuses_weights_that_sum_to_nothing() -> None:
    with pytest.raises(ValueError, match="positive sum"):
        split_exactly(5, [0, 0])


# --- any lifecycle the simulator makes ------------------------------------------------


def _with_step_started(
    events: list[ev.InboundEvent], fractions: list[float]
) -> list[ev.InboundEvent]:
    """``events`` with a ``step.started`` before step completions: taken up at a fraction
    of the wall time since the event before it, the fractions used in turn (0: that step
    reports none; an instant inside a pause is refused, as the router would refuse it)."""
    out: list[ev.InboundEvent] = []
    for i, event in enumerate(events):
        f = fractions[i % len(fractions)] if fractions else 0.0
        if isinstance(event, ev.StepCompleted) and out and f > 0:
            before = out[-1].occurred_at
            at = before + (event.occurred_at - before) * f
            out.append(
                ev.StepStarted(
                    **envelope(event.dossier_id, f"{event.event_id}/started", at, event.agency),
                    step=event.step,
                )
            )
        out.append(event)
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    cut_hours=st.integers(0, 24 * 40),
    slow=st.sampled_from(["STC", "SXD", "VPDKDD", "CAMDUONG", "MOTCUA"]),
    # step.started on some steps, all or none (the empty list): issue 16.2
    fractions=st.lists(st.sampled_from([0.0, 0.01, 0.3, 0.5, 0.9, 1.0]), max_size=4),
)
def test_parts_sum_to_the_overrun_for_simulated_dossiers(
    seed: int, cut_hours: int, slow: str, fractions: list[float]
) -> None:
    ctx = routing_context()
    start = vn("2026-03-02 08:00")
    profile = Profile(slow_agencies={slow: 2.5}, supplement_rate=0.4, pace=(0.3, 1.6))
    now = start + timedelta(hours=cut_hours)
    for dossier in simulate(ctx.catalog, ctx.calendar, start, 6, seed=seed, profile=profile):
        events = _with_step_started(list(dossier.events), fractions)
        seen = [e for e in events if e.occurred_at <= now]
        if not seen:
            continue
        state = fold_state(seen, ctx)
        found = attribute(state, ctx.calendar, max(now, state.last_event_at))
        if found is None:
            continue
        assert sum((p.share for p in found.parts), timedelta(0)) == found.overrun
        assert all(p.share >= timedelta(0) for p in found.parts)
        if found.basis is Basis.EXCESS:
            assert all(p.share == timedelta(0) for p in found.parts if not p.excess)
        for p in found.parts:
            # waiting and working tile a row that was taken up, and split its share exactly
            taken = p.step is not None and state.sheet[p.row].taken_up_at is not None
            assert (p.waiting is not None) is taken
            if p.waiting is not None and p.working is not None:
                assert p.waiting + p.working == p.used
            if p.waiting_share is not None and p.working_share is not None:
                assert p.waiting_share + p.working_share == p.share
                assert p.waiting_share >= timedelta(0) and p.working_share >= timedelta(0)
            elif taken and p.share:
                assert p.used == timedelta(0)  # only the degenerate fallback has no weights


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    where=st.floats(0.0, 1.0),
    step_pick=st.integers(0, 20),
    agency=st.sampled_from(["STC", "SXD", "MOTCUA", "CAMDUONG"]),
    late_hours=st.integers(0, 24 * 30),
)
def test_parts_sum_to_the_overrun_with_detours_and_re_visits(
    seed: int, where: float, step_pick: int, agency: str, late_hours: int
) -> None:
    # The simulator keeps to the route; a hand-off drawn into its events sends the dossier
    # back to a step (a re-visit) or to another agency (off the route). Events the route
    # then refuses leave the state as it was, as the router does.
    ctx = routing_context()
    slow = Profile(pace=(0.6, 1.8))  # most of them late
    (dossier,) = simulate(
        ctx.catalog, ctx.calendar, vn("2026-03-02 08:00"), 1, seed=seed, profile=slow
    )
    events = list(dossier.events)
    at = max(1, min(len(events) - 1, round(where * len(events))))
    proc = ctx.catalog.require_procedure(dossier.procedure, at=events[0].occurred_at.date())
    step = proc.steps[step_pick % len(proc.steps)].id
    hand_off = ev.DossierHandedOff(
        **envelope(dossier.dossier_id, "drawn", events[at - 1].occurred_at, agency),
        step=step,
        to_agency=agency,
    )
    state = fold_state([*events[:at], hand_off, *events[at:]], ctx)
    now = state.last_event_at + timedelta(hours=late_hours)
    found = attribute(state, ctx.calendar, now)
    if found is not None:
        assert sum((p.share for p in found.parts), timedelta(0)) == found.overrun
        assert all(p.share >= timedelta(0) for p in found.parts)
