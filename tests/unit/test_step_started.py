"""``step.started`` (issue 16.2): the holder of the current step took the dossier up; the
instant goes on the open sheet row once a visit, and any other use of it is refused.

Procedure 2.001610: receive (MOTCUA), review and issue (STC), return (MOTCUA).
"""

from __future__ import annotations

from typing import Any

import pytest

import events as ev
from workflows.effects import Rejected
from workflows.routing import RoutingContext, Sender, apply, province_rules
from workflows.state import DossierState, Status

from support.context import sample_catalog, working_calendar
from support.dossiers import Script
from support.time import vn

DESK, DEPT = "MOTCUA", "STC"


def context() -> RoutingContext:
    catalog = sample_catalog()
    return RoutingContext(
        catalog, working_calendar(range(2025, 2028)), authorize=province_rules(catalog)
    )


class Dossier:
    def __init__(self) -> None:
        self.ctx = context()
        self.script = Script("D-start")
        self.state: DossierState | None = None
        self.n = 0

    def send(self, event: ev.InboundEvent) -> list[Rejected]:
        self.state, effects = apply(self.state, event, self.ctx, Sender())
        return [e for e in effects if isinstance(e, Rejected)]

    def started(self, when: str, agency: str, step: str) -> list[Rejected]:
        self.n += 1
        return self.send(
            ev.StepStarted(
                event_id=f"D-start/s{self.n}",
                dossier_id="D-start",
                occurred_at=vn(when),
                agency=agency,
                step=step,
            )
        )

    def at_review(self) -> Dossier:
        s = self.script
        assert self.send(s.received("2026-03-02 08:00", DESK, "2.001610")) == []
        assert self.send(s.done("2026-03-02 09:00", DESK, "receive")) == []
        return self

    @property
    def row(self) -> Any:
        assert self.state is not None
        return self.state.sheet[-1]


# (agency, step, the refusal's kind or None) for a dossier at review, held by STC since
# Monday 09:00, reported Monday 10:00
RULES: list[tuple[str, str, ev.ReasonKind | None]] = [
    (DEPT, "review", None),  # the holder takes its own step up
    (DEPT, "issue", ev.ReasonKind.ILLEGAL_TRANSITION),  # a step of the route, not the current one
    (DEPT, "appraisal", ev.ReasonKind.UNKNOWN_STEP),  # no such step in 2.001610
    (DESK, "review", ev.ReasonKind.UNAUTHORIZED),  # the desk does not hold review
    ("SXD", "review", ev.ReasonKind.UNAUTHORIZED),  # nor does another department
]


@pytest.mark.parametrize(("agency", "step", "refused"), RULES)
def test_who_may_report_a_step_started(
    agency: str, step: str, refused: ev.ReasonKind | None
) -> None:
    d = Dossier().at_review()
    before = d.state
    rejected = d.started("2026-03-02 10:00", agency, step)
    if refused is None:
        assert rejected == []
        assert d.row.step == "review" and d.row.taken_up_at == vn("2026-03-02 10:00")
    else:
        assert [r.kind for r in rejected] == [refused]
        assert d.state is not None and before is not None and d.state.sheet == before.sheet


def test_a_second_report_for_the_same_visit_changes_nothing() -> None:
    d = Dossier().at_review()
    assert d.started("2026-03-02 10:00", DEPT, "review") == []
    first = d.state
    # another officer reports it an hour later (a new event id): a no-op, not a refusal
    assert d.started("2026-03-02 11:00", DEPT, "review") == []
    assert d.row.taken_up_at == vn("2026-03-02 10:00")
    assert d.state is not None and first is not None
    assert d.state.sheet == first.sheet and d.state.applied != first.applied


def test_it_refuses_what_is_not_an_open_step() -> None:
    d = Dossier().at_review()
    # paused for a supplement: the dossier is with the applicant
    assert d.send(d.script.supplement("2026-03-02 10:00", DEPT)) == []
    refused = d.started("2026-03-02 10:30", DEPT, "review")
    assert [r.kind for r in refused] == [ev.ReasonKind.ILLEGAL_TRANSITION]
    assert "paused" in refused[0].message
    assert d.state is not None and d.state.status is Status.PAUSED


def test_it_is_refused_when_dated_before_the_step_began() -> None:
    d = Dossier().at_review()
    # review began Monday 09:00: taken up at 08:30 would be before it reached STC
    refused = d.started("2026-03-02 08:30", DEPT, "review")
    assert [r.kind for r in refused] == [ev.ReasonKind.IMPLAUSIBLE_TIME]
    # and a completion dated before the taking up is refused the same way
    assert d.started("2026-03-02 10:00", DEPT, "review") == []
    late = d.send(d.script.done("2026-03-02 09:30", DEPT, "review"))
    assert [r.kind for r in late] == [ev.ReasonKind.IMPLAUSIBLE_TIME]


def test_a_new_visit_of_a_step_is_taken_up_again() -> None:
    d = Dossier().at_review()
    s = d.script
    assert d.started("2026-03-02 10:00", DEPT, "review") == []
    assert d.send(s.done("2026-03-03 09:00", DEPT, "review")) == []
    assert d.row.step == "issue" and d.row.taken_up_at is None  # the next row: not yet
    # issue sends it back to review: a new row, whose taking up is recorded afresh
    assert d.send(s.handed_off("2026-03-03 10:00", DEPT, "review", DEPT)) == []
    assert d.started("2026-03-03 14:00", DEPT, "review") == []
    assert d.state is not None
    assert [r.taken_up_at for r in d.state.sheet] == [
        None,
        vn("2026-03-02 10:00"),
        None,
        vn("2026-03-03 14:00"),
    ]


def test_the_instant_survives_the_wire_and_old_states_still_decode() -> None:
    d = Dossier().at_review()
    assert d.state is not None
    # what a worker stored before the field existed is what it stores now without it
    stored = d.state.to_bytes()
    assert b'"tk"' not in stored
    assert DossierState.from_bytes(stored).sheet[-1].taken_up_at is None
    assert d.started("2026-03-02 10:00", DEPT, "review") == []
    raw = d.state.to_bytes()
    assert len(raw) - len(stored) < 40  # one short alias and one epoch number (and an id)
    back = DossierState.from_bytes(raw)
    assert back == d.state and back.sheet[-1].taken_up_at == vn("2026-03-02 10:00")
