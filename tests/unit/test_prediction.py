"""Predicted-late warnings: the estimator on hand-built cases whose answer is known, the
alert rule (deterministic ids, once per deadline version, never for paused or closed
dossiers), what a completed step teaches, and the router's batch around them.

2.001610 (3 working days: receive 0.5 MOTCUA, review 1.5 STC, issue 0.5 STC, return 0.5
MOTCUA) received Mon 2026-06-01 08:00 is due Thu 06-04 08:00; late means a finish after
Thursday (``classify`` judges by day), so the budget runs to Thu 17:30. Office hours
07:30-11:30, 13:30-17:30. Sketches are point masses (every observation the same), so
the remaining time is known to within a sketch bucket (5%).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

import events as ev
from agents.runtime.prediction import SketchBook, table_key
from agents.runtime.records import Coordinates
from agents.runtime.router import RawRecord, RouterCore, Tables
from events.internal import DeadlineTick
from events.topics import SKETCH_TABLE
from workflows.calendar import VN_TZ
from workflows.prediction import (
    PredictionPolicy,
    Sketch,
    learnt,
    predict,
    predicted_mark,
    raise_predicted_late,
    sketch_key,
)
from workflows.routing import apply
from workflows.state import DossierState, Status

from support.context import routing_context
from support.router import apply_writes

CTX = routing_context()
CAL, CATALOG = CTX.calendar, CTX.catalog
PROC = CATALOG.require_procedure("2.001610")
VERSION = PROC.effective_from.isoformat()
H = 3600.0
MON = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)
POLICY = PredictionPolicy(threshold=0.6, min_history=30)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=VN_TZ)


def key(step: str, agency: str) -> str:
    return sketch_key("2.001610", VERSION, step, agency)


def masses(n: int = 40, **hours: float | tuple[float, ...]) -> dict[str, Sketch]:
    """Sketches where every one of ``n`` observations of a step took ``hours[step]``
    (a tuple: the observations spread evenly over those values)."""
    agencies = {s.id: s.agency for s in PROC.steps}
    out = {}
    for step, value in hours.items():
        values = value if isinstance(value, tuple) else (value,)
        s = Sketch()
        for i in range(n):
            s.add(values[i % len(values)] * H)
        out[key(step, agencies[step])] = s
    return out


def event(cls: type[Any], when: datetime, agency: str, n: int, **fields: Any) -> Any:
    return cls(event_id=f"e{n}", dossier_id="D1", occurred_at=when, agency=agency, **fields)


def at_review(*more: ev.InboundEvent) -> DossierState:
    """Received Mon 08:00, the receive step done at 09:00: the review (STC) is open."""
    state = None
    events = [
        event(ev.DossierReceived, MON, "MOTCUA", 1, procedure="2.001610", channel="online"),
        event(ev.StepCompleted, at(1, 9), "MOTCUA", 2, step="receive"),
        *more,
    ]
    for e in events:
        state, _ = apply(state, e, CTX)
    assert state is not None
    return state


def test_fast_steps_predict_on_time_with_the_finish_they_add_up_to() -> None:
    sketches = masses(review=10, issue=2, **{"return": 1})
    p = predict(at_review(), PROC, CAL, sketches.get, at(1, 10), min_history=30)
    assert p is not None
    assert p.probability == 0.0
    # 9 h of review left, 2 h issue, 1 h return from Mon 10:00: Tue 16:00 (buckets: +-5%)
    assert abs(p.finish_at - at(2, 16)) <= timedelta(minutes=40)
    assert p.history == 40 and p.due_at == at(4, 8)


def test_a_slow_current_step_is_late_and_the_bottleneck() -> None:
    sketches = masses(review=40, issue=2, **{"return": 1})
    p = predict(at_review(), PROC, CAL, sketches.get, at(1, 10), min_history=30)
    assert p is not None and p.probability == 1.0
    assert (p.bottleneck_step, p.bottleneck_agency) == ("review", "STC")


def test_a_slow_step_ahead_is_named_the_bottleneck() -> None:
    # 9 h of review left + 30 h issue + 1 h return = 40 h > 29.5 h to Thu 17:30
    sketches = masses(review=10, issue=30, **{"return": 1})
    p = predict(at_review(), PROC, CAL, sketches.get, at(1, 10), min_history=30)
    assert p is not None and p.probability == 1.0
    assert p.bottleneck_step == "issue"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 09:00, nothing elapsed: half the reviews take 2 h (on time), half 40 h (late)
        (at(1, 9), 0.5),
        # 14:30, 3.5 h elapsed: the review is not a 2 h one, so it is a 40 h one
        (at(1, 14, 30), 1.0),
    ],
)
def test_the_current_step_is_judged_by_the_time_it_has_already_taken(
    now: datetime, expected: float
) -> None:
    sketches = masses(review=(2, 40), issue=2, **{"return": 1})
    p = predict(at_review(), PROC, CAL, sketches.get, now, min_history=30)
    assert p is not None and p.probability == pytest.approx(expected, abs=0.02)


def test_nothing_is_said_without_enough_history_on_every_step_ahead() -> None:
    sketches = masses(review=40, issue=2, **{"return": 1})
    sketches.update(masses(29, **{"return": 1}))  # one short of min_history
    assert predict(at_review(), PROC, CAL, sketches.get, at(1, 10), min_history=30) is None
    del sketches[key("return", "MOTCUA")]
    assert predict(at_review(), PROC, CAL, sketches.get, at(1, 10), min_history=30) is None


SLOW = masses(review=40, issue=2, **{"return": 1})


def test_the_alert_names_the_bottleneck_and_is_told_like_due_soon() -> None:
    state = at_review()
    new, alerts, found = raise_predicted_late(state, CATALOG, CAL, SLOW.get, at(1, 10), POLICY)
    assert found is not None and len(alerts) == 1
    alert = alerts[0]
    assert alert.level is ev.AlertLevel.PREDICTED_LATE and alert.scope is ev.AlertScope.DOSSIER
    assert (alert.step, alert.agency, alert.bottleneck_agency) == ("review", "STC", "STC")
    assert alert.probability_late == 1.0 and alert.predicted_finish_at == found.finish_at
    assert alert.due_at == at(4, 8) and alert.detected_at == at(1, 10)
    told = CATALOG.recipients("due_soon", "dossier", "STC")
    assert [(r.name, r.role) for r in alert.recipients] == [(s.name, s.role) for s in told]
    assert predicted_mark(state) in new.alerted
    # the wire form round-trips, and the other levels' records do not carry the new fields
    assert ev.decode(ev.Alert, ev.encode(alert)) == alert
    plain = alert.model_copy(
        update={
            "level": ev.AlertLevel.DUE_SOON,
            "probability_late": None,
            "predicted_finish_at": None,
            "bottleneck_agency": None,
        }
    )
    assert b"probability_late" not in ev.encode(plain)


def test_the_alert_id_is_deterministic_once_per_deadline_version() -> None:
    state = at_review()
    _, first, _ = raise_predicted_late(state, CATALOG, CAL, SLOW.get, at(1, 10), POLICY)
    _, again, _ = raise_predicted_late(state, CATALOG, CAL, SLOW.get, at(1, 11), POLICY)
    assert (
        first[0].alert_id
        == again[0].alert_id
        == ev.alert_id(
            "D1", ev.AlertScope.DOSSIER, None, ev.AlertLevel.PREDICTED_LATE, state.deadline_version
        )
    )
    warned, _, _ = raise_predicted_late(state, CATALOG, CAL, SLOW.get, at(1, 10), POLICY)
    assert raise_predicted_late(warned, CATALOG, CAL, SLOW.get, at(1, 11), POLICY)[1] == []
    # an apology moves the due (a new deadline version): the level is armed again
    moved, _ = apply(
        warned,
        event(ev.DossierRescheduled, at(1, 11), "STC", 9, new_due_at=at(5, 17), reason="x"),
        CTX,
    )
    assert moved is not None and moved.deadline_version == warned.deadline_version + 1
    _, later, _ = raise_predicted_late(moved, CATALOG, CAL, SLOW.get, at(1, 11), POLICY)
    assert len(later) == 1 and later[0].alert_id != first[0].alert_id


@pytest.mark.parametrize(
    "more",
    [
        # paused: waiting for the applicant's supplement
        [event(ev.SupplementRequested, at(1, 9, 30), "STC", 3, reason="Bổ sung")],
        # closed: withdrawn
        [event(ev.DossierWithdrawn, at(1, 9, 30), "MOTCUA", 3, reason="Rút")],
        # result ready: nothing left to predict
        [
            event(ev.StepCompleted, at(1, 9, 10), "STC", 3, step="review"),
            event(ev.StepCompleted, at(1, 9, 20), "STC", 4, step="issue"),
            event(ev.StepCompleted, at(1, 9, 30), "MOTCUA", 5, step="return"),
            event(ev.ResultReady, at(1, 9, 40), "MOTCUA", 6, outcome="approved"),
        ],
    ],
    ids=["paused", "withdrawn", "result_ready"],
)
def test_never_for_paused_or_closed_dossiers(more: list[ev.InboundEvent]) -> None:
    state = at_review(*more)
    assert state.status is not Status.OPEN
    assert predict(state, PROC, CAL, SLOW.get, at(1, 10), min_history=30) is None
    assert raise_predicted_late(state, CATALOG, CAL, SLOW.get, at(1, 10), POLICY)[1] == []


def test_never_once_overdue() -> None:
    after_due = at(4, 9)  # the overdue alert is the one to send now
    assert raise_predicted_late(at_review(), CATALOG, CAL, SLOW.get, after_due, POLICY)[1] == []


def test_a_completed_step_teaches_its_working_time_once() -> None:
    state = at_review()
    # the receive step: Mon 08:00 (the clock start) to 09:00
    assert learnt(None, state, CATALOG) == [(key("receive", "MOTCUA"), 3600.0)]
    assert learnt(state, state, CATALOG) == []  # nothing new: a re-delivered event
    withdrawn = at_review(event(ev.DossierWithdrawn, at(1, 10), "MOTCUA", 3, reason="Rút"))
    assert learnt(state, withdrawn, CATALOG) == []  # cut short: not how long a review takes


# --- the router's batch ----------------------------------------------------------------


def record(item: ev.InboundEvent | DeadlineTick, offset: int) -> RawRecord:
    if isinstance(item, DeadlineTick):
        return RawRecord(item.model_dump_json().encode(), Coordinates("ticks", 0, offset, b"D1"))
    return RawRecord(ev.encode(item), Coordinates("events", 0, offset, b"D1"))


def test_the_router_learns_warns_once_and_its_sketches_survive_a_restart() -> None:
    tables = Tables({}, {}, {}, {})
    for k, s in SLOW.items():
        tables.sketches[table_key(0, k)] = s.to_bytes()
    receive = masses(receive=1)
    for k, s in receive.items():
        tables.sketches[table_key(0, k)] = s.to_bytes()
    router = RouterCore(CTX, tables, ticks_topic="ticks", prediction=POLICY)
    items = [
        event(ev.DossierReceived, MON, "MOTCUA", 1, procedure="2.001610", channel="online"),
        event(ev.StepCompleted, at(1, 9), "MOTCUA", 2, step="receive"),
    ]
    records = [record(e, i) for i, e in enumerate(items)]
    result = router.run_batch(records, at(1, 9, 5))
    apply_writes(tables, result.writes)
    warned = [a for a in result.alerts if a.level is ev.AlertLevel.PREDICTED_LATE]
    assert len(warned) == 1 and warned[0].step == "review"
    assert any(o.topic == "alerts" for o in result.outgoing)
    # the receive step taught its sketch: 41 observations now, written to the table
    stored = Sketch.from_bytes(tables.sketches[table_key(0, key("receive", "MOTCUA"))])
    assert stored.count == 41 and SKETCH_TABLE in result.writes
    # re-delivered: nothing learnt twice, nothing warned twice
    again = router.run_batch(records, at(1, 9, 6))
    assert again.alerts == [] and SKETCH_TABLE not in again.writes
    # a tick later on: still warned once
    tick = router.run_batch(
        [record(DeadlineTick(dossier_id="D1", detected_at=at(2, 9)), 9)], at(2, 9)
    )
    assert [a for a in tick.alerts if a.level is ev.AlertLevel.PREDICTED_LATE] == []
    # a restarted worker over the same table predicts from what the first one learnt
    book = SketchBook(tables.sketches)
    learnt_receive = book.lookup(key("receive", "MOTCUA"))
    assert learnt_receive is not None and learnt_receive.count == 41


def test_a_tick_re_evaluates_a_quiet_dossier() -> None:
    tables = Tables({}, {}, {}, {})
    router = RouterCore(CTX, tables, ticks_topic="ticks", prediction=POLICY)
    items = [
        event(ev.DossierReceived, MON, "MOTCUA", 1, procedure="2.001610", channel="online"),
        event(ev.StepCompleted, at(1, 9), "MOTCUA", 2, step="receive"),
    ]
    result = router.run_batch([record(e, i) for i, e in enumerate(items)], at(1, 9, 5))
    apply_writes(tables, result.writes)
    assert result.alerts == []  # nothing learnt yet: no history, no warning
    # the history arrives (other dossiers' reviews, learnt meanwhile)
    for k, s in SLOW.items():
        tables.sketches[table_key(0, k)] = s.to_bytes()
    router.sketches.reset()
    tick = router.run_batch(
        [record(DeadlineTick(dossier_id="D1", detected_at=at(1, 13)), 9)], at(1, 13)
    )
    assert [a.level for a in tick.alerts] == [ev.AlertLevel.PREDICTED_LATE]
    assert tick.alerts[0].detected_at == at(1, 13)


def test_off_by_default_in_the_core() -> None:
    tables = Tables({}, {}, {}, {})
    for k, s in SLOW.items():
        tables.sketches[table_key(0, k)] = s.to_bytes()
    router = RouterCore(CTX, tables, ticks_topic="ticks")
    items = [
        event(ev.DossierReceived, MON, "MOTCUA", 1, procedure="2.001610", channel="online"),
        event(ev.StepCompleted, at(1, 9), "MOTCUA", 2, step="receive"),
    ]
    result = router.run_batch([record(e, i) for i, e in enumerate(items)], at(1, 9, 5))
    assert result.alerts == [] and SKETCH_TABLE not in result.writes


def test_the_warning_is_counted_by_bottleneck_agency_and_step() -> None:
    from prometheus_client import CollectorRegistry

    from agents.runtime.router import BatchResult
    from agents.runtime.telemetry import record_batch
    from monitoring.metrics import PREDICTED_LATE, create_metrics

    registry = CollectorRegistry()
    metrics = create_metrics(registry)
    sketches = masses(review=10, issue=30, **{"return": 1})  # the issue step is the one
    _, alerts, _ = raise_predicted_late(at_review(), CATALOG, CAL, sketches.get, at(1, 10), POLICY)
    record_batch(metrics, BatchResult(alerts=alerts), [], "ticks")
    labels = {"agency": "STC", "step": "issue"}
    assert registry.get_sample_value(PREDICTED_LATE, labels) == 1.0
    level = {"level": "predicted_late", "scope": "dossier"}
    assert registry.get_sample_value("dossierflow_alerts_raised_total", level) == 1.0


def test_quiet_dossiers_are_checked_on_the_clock_only_with_history() -> None:
    from agents.runtime.prediction import Checks
    from agents.runtime.watcher import DeadlineIndex

    tables = Tables({}, {}, {}, {})
    book = SketchBook(tables.sketches)
    index = DeadlineIndex()
    checks = Checks(index, CATALOG, CAL, POLICY, book)
    state, far = at_review(), at(4, 8)
    checks.after_batch(b"D1", 0, state, far, at(1, 10))
    assert index.instant_of(b"D1") is None  # no history: no check, no tick for nothing
    for k, s in SLOW.items():
        tables.sketches[table_key(0, k)] = s.to_bytes()
    book.reset()
    checks.after_batch(b"D1", 0, state, far, at(1, 10))
    assert index.instant_of(b"D1") == at(1, 16)  # 4 working hours after Mon 10:00 (lunch)
    index.schedule(b"D4", 0, at(1, 11))  # as the watcher does: its next alert instant
    checks.after_batch(b"D4", 0, state, at(1, 11), at(1, 10))
    assert index.instant_of(b"D4") == at(1, 11)  # an earlier watch point is left alone
    paused = at_review(event(ev.SupplementRequested, at(1, 9, 30), "STC", 3, reason="x"))
    index.schedule(b"D2", 0, None)
    checks.after_batch(b"D2", 0, paused, None, at(1, 10))
    assert index.instant_of(b"D2") is None
    warned, _, _ = raise_predicted_late(state, CATALOG, CAL, SLOW.get, at(1, 10), POLICY)
    checks.after_batch(b"D3", 0, warned, None, at(1, 10))
    assert index.instant_of(b"D3") is None  # already warned under this deadline version
    # after a rebalance the first checks are spread over one interval, not all at once
    checks.after_rebuild(b"D1", 0, state, at(1, 10))
    first = index.instant_of(b"D1")
    assert first is not None and at(1, 10) <= first <= at(1, 16)


def test_after_a_rebuild_from_headers_an_open_dossier_gets_one_spread_first_look() -> None:
    from agents.runtime.prediction import Checks
    from agents.runtime.watcher import DeadlineIndex
    from workflows.prediction import predicted_mark_of
    from workflows.state import Status
    from workflows.state_header import StateHeader

    index = DeadlineIndex()
    checks = Checks(index, CATALOG, CAL, POLICY, SketchBook({}))

    def header(status: Status = Status.OPEN, alerted: tuple[str, ...] = ()) -> StateHeader:
        return StateHeader(status, 2, "review", "STC", alerted, None, None)

    now = at(1, 10)
    keys = [f"H{n}".encode() for n in range(200)]
    for key in keys:
        checks.after_rebuild(key, 0, header(), now)
    looks = [index.instant_of(k) for k in keys]
    assert all(look is not None and now <= look <= at(1, 16) for look in looks)
    assert len(set(looks)) > 100, "the first looks are spread, not all at one tick"
    # an earlier watch point is left alone
    index.schedule(b"W", 0, at(1, 10, 30))
    checks.after_rebuild(b"W", 0, header(), now)
    assert index.instant_of(b"W") == at(1, 10, 30)
    # never for a paused or warned dossier (under this deadline version), nor with it off
    for key, h in [
        (b"P", header(Status.PAUSED)),
        (b"A", header(alerted=(predicted_mark_of(2),))),
    ]:
        checks.after_rebuild(key, 0, h, now)
        assert index.instant_of(key) is None, key
    checks.after_rebuild(b"B", 0, header(alerted=(predicted_mark_of(1),)), now)
    assert index.instant_of(b"B") is not None  # warned under an older version only
    off = Checks(index, CATALOG, CAL, replace(POLICY, enabled=False), SketchBook({}))
    off.after_rebuild(b"O", 0, header(), now)
    assert index.instant_of(b"O") is None


def test_the_sketch_changelog_is_created_and_the_engine_may_use_it() -> None:
    from agents.access.acls import Pattern, Resource, Scope, engine_bindings
    from agents.runtime.kafka_admin import changelog_topics
    from agents.settings import Settings

    settings = Settings.model_construct(topic_prefix="t-1-", app_id="df")
    topics = changelog_topics(settings)
    name = "df-t-1-dossier-events-sketches-changelog"
    assert topics[name] == {"cleanup.policy": "compact"}
    granted = {
        b.operation
        for b in engine_bindings("User:engine", Scope("t-1-", "df"))
        if b.resource is Resource.TOPIC
        and (
            (b.pattern is Pattern.PREFIXED and name.startswith(b.name))
            or (b.pattern is Pattern.LITERAL and name == b.name)
        )
    }
    assert {"READ", "WRITE", "DESCRIBE", "CREATE"} <= granted


def test_a_dossier_slow_so_far_is_expected_slow_ahead_with_a_pace_prior() -> None:
    # Its receive step took 3 h (08:00-11:00) where such steps take 1 h: with a prior of
    # one pseudo-step its pace is exp(ln 3 / 2) = 1.73. From Mon 13:30 (review since
    # 11:00) 28 h are left to Thu 17:30: 14.5 + 2 + 1 h fit, 1.73 x that does not.
    state = None
    for e in [
        event(ev.DossierReceived, MON, "MOTCUA", 1, procedure="2.001610", channel="online"),
        event(ev.StepCompleted, at(1, 11), "MOTCUA", 2, step="receive"),
    ]:
        state, _ = apply(state, e, CTX)
    assert state is not None
    sketches = masses(receive=1, review=15, issue=2, **{"return": 1})
    alone = predict(state, PROC, CAL, sketches.get, at(1, 13, 30), min_history=30)
    paced = predict(state, PROC, CAL, sketches.get, at(1, 13, 30), min_history=30, pace_prior=1.0)
    assert alone is not None and paced is not None
    assert (alone.probability, paced.probability) == (0.0, 1.0)
    assert paced.finish_at > alone.finish_at
