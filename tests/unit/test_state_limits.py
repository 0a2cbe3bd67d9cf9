"""State bounds (workflows/limits.py): an event that would outgrow one is refused in ``apply``.

The attack from issue 19: ~4,600 ``dossier.handed_off`` events alternating two steps
grew one sheet past 1 MB and its changelog write killed the worker at every restart.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import events as ev
from workflows.calendar import VN_TZ
from workflows.effects import Rejected
from workflows.limits import StateLimits, estimated_size, state_problem
from workflows.routing import RoutingContext, apply
from workflows.state import DossierState, Pause, SheetRow, Status

from support.context import routing_context
from support.dossiers import receipt

MON = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)  # Monday 08:00


def context(limits: StateLimits | None = None) -> RoutingContext:
    base = routing_context(range(2026, 2027))
    return RoutingContext(base.catalog, base.calendar, limits=limits or StateLimits())


class Dossier:
    """One dossier of 2.001610 (receive MOTCUA, review STC, issue STC, return MOTCUA)."""

    def __init__(self, ctx: RoutingContext) -> None:
        self.ctx = ctx
        self.n = 0
        self.at = MON
        self.state: DossierState | None = None
        self.refused: list[Rejected] = []
        self.send(ev.DossierReceived, procedure="2.001610", channel="online")

    def send(self, cls: type[ev.InboundEvent], agency: str = "MOTCUA", **fields: object) -> None:
        self.n += 1
        self.at += timedelta(minutes=1)
        event = cls(
            event_id=f"e{self.n}", dossier_id="D1", occurred_at=self.at, agency=agency, **fields
        )
        self.state, effects = apply(self.state, event, self.ctx)
        self.refused += [e for e in effects if isinstance(e, Rejected)]

    def hand_off(self, step: str, to_agency: str) -> None:
        self.send(ev.DossierHandedOff, step=step, to_agency=to_agency)


def test_the_alternating_hand_off_attack_stops_at_the_per_step_bound() -> None:
    d = Dossier(context())
    for i in range(4_600):
        d.hand_off(*(("review", "STC") if i % 2 == 0 else ("receive", "MOTCUA")))
    assert d.state is not None
    rows = [row.step for row in d.state.sheet]
    # receive once at intake, then 10 visits of each step: 20 rows, never more.
    assert rows.count("receive") == 10 and rows.count("review") == 10 and len(rows) == 20
    # From the 20th on, every hand-off to receive is refused (2,291 of them); those to
    # review, where the dossier now stays, are confirmations with no effect.
    assert len(d.refused) == (4_600 - 20) // 2 + 1
    assert {e.kind for e in d.refused} == {ev.ReasonKind.LIMIT_EXCEEDED}
    first = d.refused[0]
    assert first.kind is ev.ReasonKind.LIMIT_EXCEEDED
    assert first.message == (
        "dossier.handed_off: step 'receive' would be entered for the 11th time; "
        "the limit is 10 per step"
    )
    assert len(d.state.to_bytes()) < 8 * 1024  # far from the broker's 1 MB


def test_a_dossier_at_a_bound_can_still_be_finished_and_closed() -> None:
    d = Dossier(context(StateLimits(step_visits=1)))
    d.hand_off("review", "STC")
    d.hand_off("receive", "MOTCUA")  # a second visit of receive: refused
    assert [e.kind for e in d.refused] == [ev.ReasonKind.LIMIT_EXCEEDED]
    d.send(ev.StepCompleted, "STC", step="review")
    d.send(ev.StepCompleted, "STC", step="issue")
    d.send(ev.StepCompleted, "MOTCUA", step="return")
    d.send(ev.ResultReady, outcome="approved")
    d.send(ev.DossierReturned)
    assert d.state is not None and d.state.status is Status.RETURNED
    assert len(d.refused) == 1


def test_the_refused_event_leaves_the_state_as_it_was_but_remembers_its_id() -> None:
    d = Dossier(context(StateLimits(sheet_rows=2)))
    d.hand_off("review", "STC")
    before = d.state
    assert before is not None
    d.hand_off("issue", "STC")  # a third row
    (refusal,) = d.refused
    assert refusal.message == (
        "dossier.handed_off: the process control sheet would have 3 rows; the limit is 2"
    )
    assert d.state is not None
    assert d.state.sheet == before.sheet and d.state.current_step == "review"
    # re-delivered: remembered, so not refused (nor dead-lettered) twice
    state, effects = apply(
        d.state,
        ev.DossierHandedOff(
            event_id=f"e{d.n}",
            dossier_id="D1",
            occurred_at=d.at,
            agency="MOTCUA",
            step="issue",
            to_agency="STC",
        ),
        d.ctx,
    )
    assert effects == [] and state is d.state


def test_supplement_requests_are_bounded() -> None:
    d = Dossier(context(StateLimits(pauses=2)))
    for _ in range(3):
        d.send(ev.SupplementRequested, reason="Bổ sung")
        d.send(ev.SupplementReceived)
    assert d.state is not None and len(d.state.pauses) == 2
    assert d.state.status is Status.OPEN
    # the third request is refused, so its supplement has no open request to close
    refusal, orphan = d.refused
    assert refusal.kind is ev.ReasonKind.LIMIT_EXCEEDED
    assert refusal.message == (
        "dossier.supplement_requested: 3 supplement requests; the limit is 2"
    )
    assert orphan.kind is ev.ReasonKind.ILLEGAL_TRANSITION


def test_the_encoded_size_is_bounded() -> None:
    d = Dossier(context(StateLimits(step_visits=1000, state_bytes=4096)))
    for i in range(60):
        d.hand_off(*(("review", "STC") if i % 2 == 0 else ("receive", "MOTCUA")))
    assert d.state is not None
    # Checked when a row is added; confirmations and refusals after it only add their
    # remembered ids (14 bytes each, at most 48): the documented margin.
    assert 3500 < len(d.state.to_bytes()) <= 4096 + 48 * 14
    refusal = d.refused[0]
    assert refusal.kind is ev.ReasonKind.LIMIT_EXCEEDED
    assert refusal.message.startswith("dossier.handed_off: the state would take ")
    assert refusal.message.endswith(" bytes; the limit is 4096")


def test_a_receipt_that_breaks_a_bound_is_refused_and_no_state_is_made() -> None:
    ctx = context(StateLimits(state_bytes=100))
    event = receipt("D1", "r", MON)
    state, effects = apply(None, event, ctx)
    assert state is None
    assert [type(e) for e in effects] == [Rejected]


# --- the cheap estimate must bound the real size -------------------------------------

#: The longest strings the contract allows, of the characters JSON spells longest.
WORST = "\x1f" * 64


def worst_state(rows: int, pauses: int) -> DossierState:
    at = datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=VN_TZ)
    row = SheetRow(
        step=WORST,
        agency=WORST,
        from_agency=WORST,
        started_at=at,
        due_at=at,
        allotted_hours=-1.2345678901234567e-05,
        finished_at=at,
        used_hours=-1.2345678901234567e-05,
        result="on_time",
        off_route=True,
    )
    pause = Pause(requested_at=at, received_at=at, paused_hours=-1.2345678901234567e-05)
    return DossierState(
        dossier_id=WORST,
        procedure=WORST,
        procedure_version="2026-01-01",
        sector=WORST * 4,
        channel="in_person",
        status=Status.RESULT_READY,
        received_at=at,
        start_at=at,
        committed_due_at=at,
        statutory_due_at=at,
        original_due_at=at,
        rescheduled_at=at,
        deadline_version=2**62,
        current_step=WORST,
        current_agency=WORST,
        sheet=(row,) * rows,
        pauses=(pause,) * pauses,
        closed_at=at,
        anomalies=2**62,
        applied=("x" * 11,) * 48,
        last_event_at=at,
        alerted=(WORST,) * 30,
        watch_at=at,
        watch_key=WORST,
    )


@pytest.mark.parametrize(
    ("rows", "pauses"),
    [
        (0, 0),  # the envelope alone
        (1, 0),  # one row
        (5, 1),  # a typical dossier, longest strings everywhere
        (100, 20),  # at the default bounds
    ],
)
def test_the_estimate_bounds_the_encoded_size(rows: int, pauses: int) -> None:
    state = worst_state(rows, pauses)
    assert len(state.to_bytes()) <= estimated_size(state)


def test_a_typical_state_is_judged_without_encoding_it() -> None:
    d = Dossier(context())
    d.hand_off("review", "STC")
    assert d.state is not None
    assert estimated_size(d.state) < StateLimits().state_bytes
    assert state_problem(d.state, StateLimits()) is None
