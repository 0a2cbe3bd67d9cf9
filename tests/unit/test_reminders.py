"""Reminders: while a dossier stays overdue, every N working days one alert more, one
escalation level higher, each with its own id; none while paused or once the result is
ready; one (not a flood) after a worker was down for days.

Expected instants are worked out by hand. Office hours 07:30-11:30 and 13:30-17:30.
2.001610 (3 working days) received Fri 2027-01-22 09:00 at the provincial desk is
overdue Wed 01-27 09:00 (test_alerts.py works it out). VN 2027: Tết Thu 02-04 .. Wed
02-10 off (02-06/07 the weekend), work resumes Thu 02-11.
"""

from __future__ import annotations

from typing import Any

import pytest

import events as ev
from events.internal import DeadlineTick
from workflows.alerts import AlertPolicy, apply_tick, next_watch_point
from workflows.calendar import VN_TZ
from workflows.routing import apply
from workflows.state import DossierState

from support.context import routing_context
from support.time import vn

CTX = routing_context(range(2026, 2029))
DAILY = AlertPolicy(reminder_every_days=1)
MOTCUA = "MOTCUA"


class Overdue:
    """2.001610 received Fri 2027-01-22 09:00, never finished: overdue Wed 01-27 09:00."""

    def __init__(self, policy: AlertPolicy = DAILY) -> None:
        self.policy = policy
        self.state: DossierState | None = None
        self.sent = 0
        self.send(ev.DossierReceived, "2027-01-22 09:00", procedure="2.001610", channel="online")

    def send(self, cls: type[Any], when: str, **fields: Any) -> None:
        self.sent += 1
        event = cls(
            event_id=f"e{self.sent}",
            dossier_id="HS-1",
            occurred_at=vn(when),
            agency=MOTCUA,
            **fields,
        )
        self.state, _ = apply(self.state, event, CTX)

    def tick(self, when: str) -> list[ev.Alert]:
        assert self.state is not None
        loaded = DossierState.from_bytes(self.state.to_bytes())  # as the router's table does
        tick = DeadlineTick(dossier_id="HS-1", detected_at=vn(when))
        self.state, alerts = apply_tick(loaded, tick, CTX.catalog, CTX.calendar, self.policy)
        return alerts

    def reminders(self, when: str) -> list[int]:
        return [a.reminder for a in self.tick(when) if a.level is ev.AlertLevel.REMINDER]


def test_off_by_default() -> None:
    d = Overdue(AlertPolicy())
    assert "overdue" in {a.level for a in d.tick("2027-01-27 09:00")}
    assert d.tick("2027-03-01 09:00") == []
    assert d.state is not None and next_watch_point(d.state, CTX.calendar, d.policy) is None


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2027-01-28 08:59", []),  # Thu: one working day after the due instant is 09:00
        ("2027-01-28 09:00", [1]),  # Thu 09:00: the first
        ("2027-01-28 17:00", []),  # same day: already sent
        ("2027-01-29 09:00", [2]),  # Fri
        ("2027-01-30 12:00", []),  # Saturday: no working time has passed since Friday 09:00
        ("2027-01-31 12:00", []),  # Sunday
        ("2027-02-01 08:59", []),  # Mon before 09:00: 8 working hours not yet reached
        ("2027-02-01 09:00", [3]),  # Mon 09:00: across the weekend
    ],
)
def test_daily_reminders_across_a_weekend(when: str, expected: list[int]) -> None:
    d = Overdue()
    d.tick("2027-01-27 09:00")  # every earlier level and the dossier's overdue
    script = ["2027-01-28 09:00", "2027-01-29 09:00", "2027-02-01 09:00"]
    for earlier in (s for s in script if s < when):
        d.tick(earlier)
    assert d.reminders(when) == expected


def test_each_reminder_has_its_own_id_and_goes_one_level_above_the_overdue_alert() -> None:
    d = Overdue()
    (overdue,) = [
        a
        for a in d.tick("2027-01-27 09:00")
        if (a.scope, a.level) == (ev.AlertScope.DOSSIER, ev.AlertLevel.OVERDUE)
    ]
    first = d.tick("2027-01-28 09:00")
    second = d.tick("2027-01-29 09:00")
    assert [a.reminder for a in first + second] == [1, 2]
    ids = {overdue.alert_id, first[0].alert_id, second[0].alert_id}
    assert len(ids) == 3  # one id each
    # Deterministic: every worker derives the same id for the same reminder.
    assert first[0].alert_id == ev.alert_id(
        "HS-1", ev.AlertScope.DOSSIER, None, ev.AlertLevel.REMINDER, 0, 1
    )
    assert {r.role for r in overdue.recipients} == {"centre_director"}
    assert {r.role for r in first[0].recipients} == {"province_leader"}
    assert first[0].due_at == overdue.due_at  # about the same missed deadline
    assert first[0].detected_at == vn("2027-01-28 09:00")


def test_after_days_without_a_tick_one_reminder_numbered_by_the_days_passed() -> None:
    d = Overdue()
    d.tick("2027-01-27 09:00")
    # The worker was down from Wed 27 until after Tết: Thu 28, Fri 29, Mon 01, Tue 02,
    # Wed 03 are reminders 1-5; Tết is off; Thu 02-11 09:00 is the 6th.
    assert d.reminders("2027-02-11 10:00") == [6]
    assert d.reminders("2027-02-11 17:00") == []
    assert d.reminders("2027-02-12 09:00") == [7]
    # Only the last reminder's mark is kept: the state does not grow with every reminder.
    assert d.state is not None
    assert [m for m in d.state.alerted if m.startswith("dr")] == ["dr0:#7"]


def test_none_while_paused_then_on_with_the_count() -> None:
    d = Overdue()
    d.tick("2027-01-27 09:00")
    assert d.reminders("2027-01-28 09:00") == [1]
    d.send(ev.SupplementRequested, "2027-01-28 10:00", reason="thiếu bản sao")
    assert d.tick("2027-01-29 09:00") == [] and d.tick("2027-02-01 09:00") == []
    d.send(ev.SupplementReceived, "2027-02-01 10:00")
    # The pause began after the due instant: it gives no time back (docs/deadlines.md),
    # and the dossier is overdue as before. Its end re-arms every level (a new deadline
    # version): the next tick tells of the overdue dossier again, alone -- reminder #3
    # (Wed 6.5 h + Thu 8 + Fri 8 + Mon 2.5 = 25 working hours by Mon 10:00) is passed over.
    assert d.state is not None and d.state.committed_due_at == vn("2027-01-27 09:00")
    again = d.tick("2027-02-01 10:00")
    assert (ev.AlertLevel.OVERDUE, 1) in {(a.level, a.deadline_version) for a in again}
    assert ev.AlertLevel.REMINDER not in {a.level for a in again}
    assert d.reminders("2027-02-02 09:00") == [4]  # 32 h after the due


def test_the_tick_that_finds_a_dossier_overdue_sends_the_overdue_alert_alone() -> None:
    d = Overdue()
    # No tick for two working days after the due (Wed 27 09:00): the first look, Fri 29
    # 09:00, tells of the overdue dossier; reminders #1 and #2 are passed over, not sent.
    found = d.tick("2027-01-29 09:00")
    assert ev.AlertLevel.OVERDUE in {a.level for a in found}
    assert ev.AlertLevel.REMINDER not in {a.level for a in found}
    assert d.reminders("2027-01-29 17:00") == []
    assert d.reminders("2027-02-01 09:00") == [3]


def test_none_once_the_result_is_ready() -> None:
    d = Overdue()
    d.tick("2027-01-27 09:00")
    d.send(ev.ResultReady, "2027-01-27 15:00", outcome="approved")
    assert d.tick("2027-01-28 09:00") == []
    assert d.state is not None and next_watch_point(d.state, CTX.calendar, d.policy) is None


def test_local_times_in_the_reminder_line_are_vietnamese() -> None:
    d = Overdue()
    d.tick("2027-01-27 09:00")
    (reminder,) = d.tick("2027-01-28 09:00")
    assert reminder.detected_at.astimezone(VN_TZ).hour == 9
