"""Predicted-late warnings on a real broker: a worker learns how long the review at STC
takes from dossiers it completed, warns of an open dossier at that slow agency with
``predicted_late`` (its deterministic id, the bottleneck step named), never of a paused
one; and a new worker that restores the sketch table from its changelog (a fresh data
dir: nothing local) warns of the next such dossier without having seen any of them.

2.001610 (3 working days: receive 0.5 MOTCUA, review 1.5 STC, issue 0.5 STC, return 0.5
MOTCUA). Office hours 07:30-11:30, 13:30-17:30. Three dossiers received Mon 2027-03-01
had their review from Mon 09:00 to Fri 03-05 09:30: 6.5 + 8 + 8 + 8 + 2 = 32.5 working
hours each. The dossier received Mon 03-15 08:00 and at review since 09:00 is due Thu
03-18 08:00 (late after Thursday: 29.5 h from Mon 10:00 to Thu 17:30); a review like
theirs leaves 31.5 h of it plus the issue and the return at 10:00: P(late) = 1.
"""

from __future__ import annotations

from typing import Any

from events import Alert, AlertLevel, AlertScope, InboundEvent, alert_id, decode

from support.dossiers import Script
from support.fleet import Fleet, wait_status
from support.harness import manual_clock, read_topic
from support.kafka_io import publish
from support.time import vn

MOTCUA, STC = "MOTCUA", "STC"
CLOCK = vn("2027-03-15 10:00")
TRAINED = ["HS-T-1", "HS-T-2", "HS-T-3"]
#: a few dossiers are enough history here (the default is 30)
HISTORY = {"DOSSIERFLOW_PREDICT_MIN_HISTORY": str(len(TRAINED))}


def slow_review(dossier_id: str) -> list[InboundEvent]:
    s = Script(dossier_id, channel="online")
    return [
        s.received("2027-03-01 08:00", MOTCUA, "2.001610"),
        s.done("2027-03-01 09:00", MOTCUA, "receive"),
        s.done("2027-03-05 09:30", STC, "review"),
        s.done("2027-03-05 10:30", STC, "issue"),
        *s.handed_back("2027-03-05 11:30", MOTCUA, "2027-03-05 13:40"),
    ]


def at_review(dossier_id: str, paused: bool = False) -> list[InboundEvent]:
    s = Script(dossier_id, channel="online")
    events = [
        s.received("2027-03-15 08:00", MOTCUA, "2.001610"),
        s.done("2027-03-15 09:00", MOTCUA, "receive"),
    ]
    if paused:
        events.append(s.supplement("2027-03-15 09:30", STC, "Bổ sung bản sao"))
    return events


def predicted(fleet: Fleet, want: set[str], quiet: float = 3.0) -> dict[str, Alert]:
    """The predicted_late alerts on the topic, by dossier, once ``want`` all have one."""

    def found(records: list[Any]) -> bool:
        seen = {decode(Alert, r.value) for r in records}
        return want <= {a.dossier_id for a in seen if a.level is AlertLevel.PREDICTED_LATE}

    records = read_topic(fleet.bootstrap, fleet.names.alerts, until=found, quiet=quiet)
    alerts = [decode(Alert, r.value) for r in records]
    out = {a.dossier_id: a for a in alerts if a.level is AlertLevel.PREDICTED_LATE}
    assert want <= set(out), f"no predicted_late alert for {want - set(out)}: {alerts}"
    return out


def test_a_slow_agency_is_predicted_late_and_the_sketches_survive_a_restart(
    fleet: Fleet,
) -> None:
    first = fleet.worker("first", **manual_clock(CLOCK), **HISTORY)
    fleet.start(first)
    # Paused before there is any history (a batch may end between its step and its pause,
    # and an open dossier at STC would rightly be warned of once the history is there).
    publish(fleet.bootstrap, fleet.names.events, at_review("HS-P", paused=True))
    wait_status(first, "HS-P", lambda s: s["status"] == "paused")
    publish(fleet.bootstrap, fleet.names.events, [e for d in TRAINED for e in slow_review(d)])
    for dossier_id in TRAINED:
        wait_status(first, dossier_id, lambda s: s["status"] == "returned")
    publish(fleet.bootstrap, fleet.names.events, at_review("HS-D-1"))

    alerts = predicted(fleet, {"HS-D-1"})
    alert = alerts["HS-D-1"]
    assert alert.alert_id == alert_id(
        "HS-D-1", AlertScope.DOSSIER, None, AlertLevel.PREDICTED_LATE, 0
    )
    assert (alert.step, alert.agency, alert.scope) == ("review", STC, AlertScope.DOSSIER)
    assert alert.probability_late == 1.0
    assert alert.due_at == vn("2027-03-18 08:00") and alert.detected_at == CLOCK
    assert alert.predicted_finish_at is not None and alert.predicted_finish_at > vn(
        "2027-03-18 17:30"
    )
    assert alert.recipients and all(r.role == "department_head" for r in alert.recipients)
    # never for the paused dossier, nor for the dossiers that taught it (closed)
    assert set(alerts) == {"HS-D-1"}

    # A new worker, with nothing on disk: only the changelog can tell it what was learnt.
    first.stop()
    second = fleet.worker("second", **manual_clock(CLOCK), **HISTORY)
    fleet.start(second)
    publish(fleet.bootstrap, fleet.names.events, at_review("HS-D-2"))
    wait_status(second, "HS-D-2", lambda s: s["current_step"] == "review")
    after = predicted(fleet, {"HS-D-1", "HS-D-2"})
    assert after["HS-D-2"].step == "review" and after["HS-D-2"].probability_late == 1.0
    assert set(after) == {"HS-D-1", "HS-D-2"}
    fleet.assert_no_agent_crash()
