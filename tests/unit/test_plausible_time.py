"""Plausible time (workflows/routing/authorize.py, issue 12 item 4): ``occurred_at`` is the
agency's claim, refused ``implausible_time`` when it comes before the dossier's receipt,
later than the broker's timestamp plus the tolerance, or (for an event that moves the
sheet) before the last step event the sheet records: nothing back-dated turns a breach
into "early".

Procedure 2.001610: receive (MOTCUA), review and issue (STC), return (MOTCUA), 3 working
days, received Monday 2 March 2026 08:00, so due by Thursday 5 March.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import (
    DossierHandedOff,
    DossierReceived,
    DossierRejected,
    DossierRescheduled,
    DossierWithdrawn,
    InboundEvent,
    ReasonKind,
    ResultReady,
    StepCompleted,
    SupplementRequested,
)
from workflows.deadlines import Completion
from workflows.effects import Rejected
from workflows.routing import ANYONE, RoutingContext, Sender, apply, province_rules
from workflows.state import DossierState

from support.context import sample_catalog, working_calendar
from support.time import vn

CATALOG = sample_catalog()
CAL = working_calendar(range(2025, 2028))
CTX = RoutingContext(CATALOG, CAL, authorize=province_rules(CATALOG))
RECEIVED_AT = vn("2026-03-02 08:00")
_n = 0


def event(cls: type[Any], agency: str, at: datetime, **fields: Any) -> InboundEvent:
    global _n
    _n += 1
    made: InboundEvent = cls(
        event_id=f"T/{_n}", dossier_id="T", occurred_at=at, agency=agency, **fields
    )
    return made


def run(events: list[InboundEvent], sender: Sender = ANYONE) -> DossierState:
    state: DossierState | None = None
    for e in events:
        state, effects = apply(state, e, CTX, sender)
        assert not [x for x in effects if isinstance(x, Rejected)], e
    assert state is not None
    return state


def received() -> DossierState:
    return run(
        [event(DossierReceived, "MOTCUA", RECEIVED_AT, procedure="2.001610", channel="online")]
    )


def late_and_finished() -> DossierState:
    """Every step done, the last one on Monday 9 March: the dossier breached its deadline."""
    return run(
        [
            event(DossierReceived, "MOTCUA", RECEIVED_AT, procedure="2.001610", channel="online"),
            event(StepCompleted, "MOTCUA", vn("2026-03-02 09:00"), step="receive"),
            event(StepCompleted, "STC", vn("2026-03-06 09:00"), step="review"),
            event(StepCompleted, "STC", vn("2026-03-09 09:00"), step="issue"),
            event(StepCompleted, "MOTCUA", vn("2026-03-09 10:00"), step="return"),
        ]
    )


def refusal(state: DossierState | None, e: InboundEvent, sender: Sender = ANYONE) -> str | None:
    after, effects = apply(state, e, CTX, sender)
    rejected = [x for x in effects if isinstance(x, Rejected)]
    if not rejected:
        return None
    assert [r.kind for r in rejected] == [ReasonKind.IMPLAUSIBLE_TIME]
    if state is not None:  # nothing changed but the remembered id
        assert after is not None and after.sheet == state.sheet and after.status is state.status
    return rejected[0].message


def test_a_back_dated_result_cannot_turn_a_breach_into_early() -> None:
    # The attack: result_ready dated an hour after receipt on a late dossier.
    state = late_and_finished()
    forged = event(ResultReady, "MOTCUA", vn("2026-03-02 09:00"), outcome="approved")
    assert refusal(state, forged) == (
        "dossier.result_ready: occurred_at 2026-03-02T09:00:00+07:00 is before "
        "2026-03-09T10:00:00+07:00, the last step event on the process control sheet"
    )
    # Dated when it happened, the same result is judged late.
    honest = event(ResultReady, "MOTCUA", vn("2026-03-09 10:05"), outcome="approved")
    after, _ = apply(state, honest, CTX)
    assert after is not None and after.outcome is not None
    assert after.outcome.completion is Completion.LATE


BROKER = vn("2026-03-02 10:00")

# (occurred_at, the broker's timestamp, refused?)
FUTURE = [
    (vn("2026-03-02 10:05"), BROKER, False),  # exactly the tolerance ahead: a drifting clock
    (vn("2026-03-02 10:05:01"), BROKER, True),  # one second past the tolerance
    (vn("2026-03-02 09:00"), BROKER, False),  # published an hour late: allowed (it happens)
    (vn("2026-03-09 10:00"), BROKER, True),  # a week ahead: the forged early finish
    (vn("2026-03-09 10:00"), None, False),  # the broker time unknown: no check
]


@pytest.mark.parametrize(("at", "broker", "refused"), FUTURE)
def test_an_event_dated_past_the_broker_timestamp_is_refused(
    at: datetime, broker: datetime | None, refused: bool
) -> None:
    e = event(StepCompleted, "MOTCUA", at, step="receive")
    reason = refusal(received(), e, Sender("igate", None, broker))
    if not refused:
        assert reason is None
    else:
        assert reason == (
            f"step.completed: occurred_at {at.isoformat()} is later than the broker's "
            "timestamp 2026-03-02T10:00:00+07:00 plus the tolerance of 5 minutes"
        )


def test_the_tolerance_is_the_deployment_s_choice() -> None:
    ctx = RoutingContext(
        CATALOG, CAL, authorize=province_rules(CATALOG, tolerance=timedelta(seconds=30))
    )
    e = event(
        DossierReceived, "MOTCUA", vn("2026-03-02 10:01"), procedure="2.001610", channel="online"
    )
    _, effects = apply(None, e, ctx, Sender(broker_time=BROKER))
    assert isinstance(effects[0], Rejected) and effects[0].message.endswith(
        "plus the tolerance of 30 seconds"
    )


def test_a_receipt_from_the_future_is_refused_before_it_creates_a_dossier() -> None:
    e = event(
        DossierReceived, "MOTCUA", vn("2026-03-03 08:00"), procedure="2.001610", channel="online"
    )
    state, effects = apply(None, e, CTX, Sender(broker_time=RECEIVED_AT))
    assert state is None
    assert isinstance(effects[0], Rejected) and effects[0].kind is ReasonKind.IMPLAUSIBLE_TIME


def test_a_step_cannot_be_completed_before_it_began() -> None:
    state = run(
        [
            event(DossierReceived, "MOTCUA", RECEIVED_AT, procedure="2.001610", channel="online"),
            event(StepCompleted, "MOTCUA", vn("2026-03-04 09:00"), step="receive"),
        ]
    )
    # review began Wednesday 09:00; "done" Tuesday would make it early
    e = event(StepCompleted, "STC", vn("2026-03-03 09:00"), step="review")
    assert refusal(state, e) == (
        "step.completed: occurred_at 2026-03-03T09:00:00+07:00 is before "
        "2026-03-04T09:00:00+07:00, the last step event on the process control sheet"
    )


# Every kind of event that can follow a receipt, from its rightful sender.
FOLLOWERS: list[tuple[type[Any], str, dict[str, Any]]] = [
    (StepCompleted, "MOTCUA", {"step": "receive"}),
    (DossierHandedOff, "MOTCUA", {"step": "review", "to_agency": "STC"}),
    (SupplementRequested, "MOTCUA", {"reason": "thiếu"}),
    (DossierRescheduled, "MOTCUA", {"reason": "xin lỗi", "new_due_at": vn("2026-04-01 17:00")}),
    (ResultReady, "MOTCUA", {"outcome": "refused"}),
    (DossierWithdrawn, "MOTCUA", {"reason": "rút"}),
    (DossierRejected, "MOTCUA", {"reason": "không đủ điều kiện"}),
]


@settings(max_examples=60, deadline=None)
@given(
    follower=st.sampled_from(FOLLOWERS),
    before=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)),
)
def test_no_event_dated_before_the_receipt_is_ever_applied(
    follower: tuple[type[Any], str, dict[str, Any]], before: timedelta
) -> None:
    cls, agency, fields = follower
    state = received()
    e = event(cls, agency, RECEIVED_AT - before, **fields)
    reason = refusal(state, e)
    assert (
        reason is not None and "before the dossier's receipt at 2026-03-02T08:00:00+07:00" in reason
    )
