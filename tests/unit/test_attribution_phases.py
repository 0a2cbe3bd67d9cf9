"""Waiting vs working (issue 16.2): with ``step.started`` a step's time and its share of
the overrun are split into the inbox wait and the work, hand-computed, exactly.

2.001610 as in test_attribution.py: received Monday 1 June 2026 08:00, due Thursday 4 June
08:00 (24 working hours); working hours from the receipt: Mon 10:00 = 2, 14:00 = 4,
16:00 = 6 | Tue 08:00 = 8 | Wed 08:00 = 16, 11:30 = 19.5, 14:00 = 20 | Thu 08:00 = 24,
14:00 = 28 | Fri 08:00 = 32.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import events as ev
from workflows.attribution import Attribution, attribute, lateness
from workflows.report import province_report, render_markdown, render_text

from support.context import routing_context, sample_catalog
from support.dossiers import Script
from support.fold import fold_state
from support.time import vn

PROC, MON = "2.001610", "2026-06-01"
HOUR = timedelta(hours=1)


def started(s: Script, when: str, agency: str, step: str) -> ev.InboundEvent:
    return ev.StepStarted(
        event_id=f"{s.dossier_id}/started-{step}-{when}",
        dossier_id=s.dossier_id,
        occurred_at=vn(when),
        agency=agency,
        step=step,
    )


def review_late(s: Script, receive_done: str, *extra: ev.InboundEvent) -> list[ev.InboundEvent]:
    """Review held until Thu 08:00; issue and return within their allotments; result Fri
    08:00: 8 h over, all of it review's (the one step past its allotment)."""
    return [
        s.received(f"{MON} 08:00", "MOTCUA", PROC),
        s.done(receive_done, "MOTCUA", "receive"),
        *extra,
        s.done("2026-06-04 08:00", "STC", "review"),
        s.done("2026-06-04 14:00", "STC", "issue"),
        s.done("2026-06-05 08:00", "MOTCUA", "return"),
        s.result("2026-06-05 08:00", "MOTCUA"),
    ]


Hours = tuple[float, float | None, float | None]


def _h(value: timedelta | None) -> float | None:
    return None if value is None else round(value / HOUR, 6)


def split(a: Attribution) -> dict[str, Hours]:
    """step -> (share, waiting share, working share) in hours, for the parts given any."""
    return {
        p.step or "-": (round(p.share / HOUR, 6), _h(p.waiting_share), _h(p.working_share))
        for p in a.parts
        if p.share
    }


def _fold(events: list[ev.InboundEvent]) -> Attribution:
    ctx = routing_context()
    state = fold_state(events, ctx)
    found = attribute(state, ctx.calendar, vn("2026-06-30 08:00"))
    assert found is not None and found.overrun == 8 * HOUR
    assert sum((p.share for p in found.parts), timedelta(0)) == found.overrun
    return found


def _review_taken_wed(s: Script) -> list[ev.InboundEvent]:
    return review_late(s, f"{MON} 14:00", started(s, "2026-06-03 08:00", "STC", "review"))


def _review_taken_mon(s: Script) -> list[ev.InboundEvent]:
    return review_late(s, f"{MON} 14:00", started(s, f"{MON} 16:00", "STC", "review"))


def _pause_then_taken(s: Script) -> list[ev.InboundEvent]:
    return [
        s.received(f"{MON} 08:00", "MOTCUA", PROC),
        s.done(f"{MON} 14:00", "MOTCUA", "receive"),
        s.supplement("2026-06-02 11:30", "STC"),
        s.supplied("2026-06-03 11:30", "MOTCUA"),  # 8 h paused: the due -> Fri 08:00
        started(s, "2026-06-03 14:00", "STC", "review"),
        s.done("2026-06-05 08:00", "STC", "review"),
        s.done("2026-06-05 14:00", "STC", "issue"),
        s.done("2026-06-08 08:00", "MOTCUA", "return"),
        s.result("2026-06-08 08:00", "MOTCUA"),
    ]


def _two_late_one_taken(s: Script) -> list[ev.InboundEvent]:
    return [
        s.received(f"{MON} 08:00", "MOTCUA", PROC),
        started(s, f"{MON} 10:00", "MOTCUA", "receive"),
        s.done(f"{MON} 16:00", "MOTCUA", "receive"),
        s.done("2026-06-04 08:00", "STC", "review"),
        s.done("2026-06-04 14:00", "STC", "issue"),
        s.done("2026-06-05 08:00", "MOTCUA", "return"),
        s.result("2026-06-05 08:00", "MOTCUA"),
    ]


CASES = [
    # review from hour 4, taken up Wed 08:00 (hour 16): 12 h waiting, 8 h working, 20 h
    # used; its 8 h share split 12:8 -> 4.8 h waiting, 3.2 h working
    ("taken up late", _review_taken_wed, {"review": (8, 4.8, 3.2)}),
    # taken up Mon 16:00 (hour 6): 2 h waiting, 18 h working -> 0.8 h and 7.2 h
    ("taken up at once", _review_taken_mon, {"review": (8, 0.8, 7.2)}),
    # review from hour 4, paused hours 11.5-19.5, taken up Wed 14:00 (hour 20): waiting
    # 16 h less the 8 h pause = 8 h, working hour 20 to Fri 08:00 (hour 32) = 12 h; the
    # share (8 h, the due moved to Fri 08:00) split 8:12 -> 3.2 h and 4.8 h
    ("a pause while waiting", _pause_then_taken, {"review": (8, 3.2, 4.8)}),
    # receive (4 h allotted) taken up Mon 10:00: 2 h waiting, 4 h working, 2 h over; review
    # 18 h (6 over) never reported it: its share is the step as a whole
    (
        "one step reported, one not",
        _two_late_one_taken,
        {"receive": (2, round(2 / 3, 6), round(4 / 3, 6)), "review": (6, None, None)},
    ),
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hand_computed_waiting_and_working(
    build: Callable[[Script], list[ev.InboundEvent]], expected: dict[str, Hours]
) -> None:
    found = _fold(build(Script("D-phase")))
    assert split(found) == expected
    for p in found.parts:
        if p.waiting is not None and p.working is not None:
            assert p.waiting + p.working == p.used  # the two phases tile the row
        if p.waiting_share is not None and p.working_share is not None:
            assert p.waiting_share + p.working_share == p.share  # exactly


def test_the_phases_of_the_used_time() -> None:
    found = _fold(_review_taken_wed(Script("D-phase")))
    (review,) = [p for p in found.parts if p.step == "review"]
    assert (review.waiting, review.working, review.used) == (12 * HOUR, 8 * HOUR, 20 * HOUR)
    (receive,) = [p for p in found.parts if p.step == "receive"]
    assert receive.waiting is None and receive.waiting_share is None  # not reported


def test_the_report_shows_the_columns_where_known() -> None:
    ctx = routing_context()
    states = [
        fold_state(_review_taken_wed(Script("D-a")), ctx),
        fold_state(review_late(Script("D-b"), f"{MON} 14:00"), ctx),  # no step.started
    ]
    late = lateness(a for s in states if (a := attribute(s, ctx.calendar, vn("2026-06-30"))))
    (stc,) = late.agencies
    # 16 h over in all to STC: D-a's 8 h as 4.8 waiting + 3.2 working, D-b's 8 h unsplit
    assert (stc.overrun, stc.waiting, stc.working) == (16 * HOUR, 4.8 * HOUR, 3.2 * HOUR)
    report = province_report(states, sample_catalog(), vn("2026-06-30"), calendar=ctx.calendar)
    text = render_text(report)
    # 2 working days over, 0.6 of them waiting, 0.4 working (8 h a working day)
    assert f"  {'STC':28} {2.0:10,.1f} {'0.6':>8} {'0.4':>8}" in text
    assert "waiting: in the inbox before step.started" in text
    assert "| 2.0 | 0.6 | 0.4 | 2 | 100.0% |" in render_markdown(report)
    row = report.as_dict()["lateness"]["agencies"][0]
    assert row["phases"] == {"waiting": 0.6, "working": 0.4}


def test_without_step_started_the_columns_say_unknown() -> None:
    ctx = routing_context()
    states = [fold_state(review_late(Script("D-b"), f"{MON} 14:00"), ctx)]
    report = province_report(states, sample_catalog(), vn("2026-06-30"), calendar=ctx.calendar)
    text = render_text(report)
    assert f"  {'STC':28} {1.0:10,.1f} {'-':>8} {'-':>8}" in text
    assert "step.started" not in text
    assert "phases" not in report.as_dict()["lateness"]["agencies"][0]
