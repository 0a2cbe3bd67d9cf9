"""Deadline alerts on a real broker, driven by the workers' manual clocks.

1. One worker: a manual clock walked from Friday 2027-01-22 across a weekend and Tết 2027
   (Thu 02-04 .. Wed 02-10) to the last statutory instant. Every alert is worked out by
   hand (the table below) and must appear exactly once, detected at the instant the walk
   reached its level, none for a paused or a closed dossier; an apology re-arms the levels
   under a new deadline version. The hand table is also checked against the pure
   functions (``workflows.routing.apply`` then ``workflows.alerts.apply_tick``) first.
2. Two workers in one group, one SIGKILLed: deduped by ``alert_id`` the alerts equal the
   set the pure functions give (fold ``apply`` over each dossier's events, then
   ``due_points`` at the final instant); raw duplicates after the crash are allowed.

Workers are real ``dossierflow worker`` processes started and stopped by pid. Waits are on
facts: a dossier's status, the watcher's index size, the alerts topic reaching an expected
set; a short quiet read at the end catches anything unexpected.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from functools import partial
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from agents.runtime.watcher import partition_of
from events import (
    Alert,
    AlertLevel,
    AlertScope,
    InboundEvent,
    alert_id,
    decode,
)
from events.internal import DeadlineTick
from workflows.alerts import AlertPolicy, WatchPoint, apply_tick, due_points
from workflows.calendar import VN_TZ
from workflows.routing import apply
from workflows.state import DossierState

from support.context import engine_context
from support.dossiers import Script
from support.fleet import TAKEOVER_S, Fleet, wait_split
from support.harness import Worker, manual_clock, wait_for
from support.kafka_io import PARTITIONS, WAIT_S, publish
from support.security import login
from support.signing import SENDER
from support.time import vn

#: The dossiers here are filed online, and their supplement requests give this reason.
SUPPLEMENT_REASON = "Bổ sung bản sao"


def online(dossier_id: str) -> Script:
    """A builder of ``dossier_id``'s events, filed online."""
    return Script(dossier_id, channel="online")


#: Catch-up passes (a level already past when an event re-armed it) come from the timer.
TICK_SECONDS = "0.5"

MOTCUA, STC, SVHTTDL = "MOTCUA", "STC", "SVHTTDL"
WARD_DESK = "CAMDUONG.TTPVHCC"

#: DESIGN.md's escalation: who is told, by scope and level.
ROLE = {
    ("step", "due_soon"): "department_officer",
    ("step", "overdue"): "department_head",
    ("dossier", "due_soon"): "department_head",
    ("dossier", "overdue"): "centre_director",
    ("dossier", "statutory_breach"): "province_leader",
}


def set_clock(worker: Worker, to: datetime) -> dict[str, Any]:
    """``POST /clock {"to": ...}``: move the worker's manual clock and run one watcher pass."""
    reply = worker.call("/clock", method="POST", body={"to": to.isoformat()})
    assert reply.status == 200, reply
    body: dict[str, Any] = reply.body
    assert datetime.fromisoformat(body["now"]) == to, body
    return body


def watched(worker: Worker) -> int | None:
    code, body = worker.get("/clock")
    return int(body["watched"]) if code == 200 else None


def wait_watched(workers: list[Worker], count: int) -> None:
    """Until the workers' deadline indexes hold ``count`` dossiers between them."""

    def reached() -> bool:
        return sum(watched(w) or 0 for w in workers) == count

    wait_for(reached, WAIT_S, f"{count} dossiers watched")


def wait_status(worker: Worker, dossier_id: str, field: str, value: object) -> None:
    """Until ``GET /dossiers/{id}`` shows ``field == value`` (the events were routed)."""

    def reached() -> bool:
        code, body = worker.get(f"/dossiers/{dossier_id}")
        return code == 200 and body.get(field) == value

    wait_for(reached, WAIT_S, f"{dossier_id} {field} = {value}", alive=worker.proc)


class AlertLog:
    """Everything on the alerts topic since the start, read by one long-lived consumer."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=[bootstrap], enable_auto_commit=False, **login()
        )
        wait_for(lambda: self.consumer.partitions_for_topic(topic), WAIT_S, f"topic {topic}")
        parts = [TopicPartition(topic, p) for p in self.consumer.partitions_for_topic(topic)]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.alerts: list[Alert] = []

    def poll(self) -> None:
        for batch in self.consumer.poll(timeout_ms=200).values():
            self.alerts.extend(decode(Alert, r.value) for r in batch)

    def ids(self) -> set[str]:
        return {a.alert_id for a in self.alerts}

    def wait_ids(self, expected: set[str], timeout: float, what: str) -> None:
        """Until the distinct ids are ``expected`` (fails early on one not expected)."""

        def reached() -> bool:
            self.poll()
            extra = self.ids() - expected
            assert not extra, (
                f"unexpected alerts: {[a for a in self.alerts if a.alert_id in extra]}"
            )
            return self.ids() == expected

        try:
            wait_for(reached, timeout, what, interval=0.05)
        except AssertionError as exc:
            missing = expected - self.ids()
            raise AssertionError(f"{exc}; {len(missing)} alerts missing") from None

    def quiet(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll()

    def close(self) -> None:
        self.consumer.close()


def alert_worker(fleet: Fleet, name: str, clock_start: datetime) -> Worker:
    """A worker of ``fleet`` on a manual clock at ``clock_start``, watching every tick."""
    return fleet.worker(name, **manual_clock(clock_start), DOSSIERFLOW_TICK_SECONDS=TICK_SECONDS)


# --- 1. one worker, a walk across a weekend and Tết --------------------------------------

# Fri 2027-01-22, before the clock starts at 11:00 (see tests/unit/test_alerts.py for the
# arithmetic of each procedure; office hours 07:30-11:30, 13:30-17:30).
A, B, S, P, R = "HS-A-11d", "HS-B-3d", "HS-S-apology", "HS-P-paused", "HS-R-returned"
CLOCK_START = vn("2027-01-22 11:00")


def walk_dossiers() -> list[InboundEvent]:
    a, b, s, p, r = online(A), online(B), online(S), online(P), online(R)
    return [
        # SAMPLE-XB-01 (11 days, statutory 15): at review (SVHTTDL, 7 days) from 08:00.
        a.received("2027-01-22 07:30", MOTCUA, "SAMPLE-XB-01"),
        a.done("2027-01-22 08:00", MOTCUA, "receive"),
        # 2.001610 (3 days = statutory): at review (STC, 1.5 days) from 10:00.
        b.received("2027-01-22 09:00", MOTCUA, "2.001610"),
        b.done("2027-01-22 10:00", MOTCUA, "receive"),
        # 2.001610 again, from 07:30: at review from 08:00; rescheduled during the walk.
        s.received("2027-01-22 07:30", MOTCUA, "2.001610"),
        s.done("2027-01-22 08:00", MOTCUA, "receive"),
        # Paused for a supplement that never comes: no alert, ever.
        p.received("2027-01-22 09:00", MOTCUA, "2.001610"),
        p.supplement("2027-01-22 10:00", MOTCUA, SUPPLEMENT_REASON),
        # Received Mon 01-18, long overdue by now, but returned before the clock starts.
        r.received("2027-01-18 08:00", MOTCUA, "2.001610"),
        r.done("2027-01-18 10:00", MOTCUA, "receive"),
        r.done("2027-01-22 09:00", STC, "review"),
        r.done("2027-01-22 09:30", STC, "issue"),
        *r.handed_back("2027-01-22 10:00", MOTCUA, "2027-01-22 10:30"),
    ]


#: Where each dossier is held: the agency every alert of it names (step and dossier scope).
HELD_BY = {A: SVHTTDL, B: STC, S: STC}

# (clock instant, what is published once the clock is there, alerts raised at that instant
# as "dossier scope level step version, due instant").
WALK: list[tuple[str, list[str], list[str]]] = [
    # S review: 12 h from Fri 08:00 -> Mon 14:00; due soon 6 h in -> Fri 16:00.
    ("2027-01-22 16:00", [], [f"{S} step due_soon review v0 2027-01-25 14:00"]),
    # Sunday night: nothing (B's step is due soon Monday 08:00, not over the weekend).
    ("2027-01-24 23:59", [], []),
    # B review: 12 h from Fri 10:00: Fri 5.5 + Mon 6.5 -> Mon 16:00; due soon 6 h in, Mon 08:00.
    ("2027-01-25 08:00", [], [f"{B} step due_soon review v0 2027-01-25 16:00"]),
    ("2027-01-25 14:00", [], [f"{S} step overdue review v0 2027-01-25 14:00"]),
    ("2027-01-25 16:00", [], [f"{B} step overdue review v0 2027-01-25 16:00"]),
    # S dossier: 24 h from Fri 07:30 -> Tue 17:30 (statutory the same); due soon Mon 17:30.
    ("2027-01-25 17:30", [], [f"{S} dossier due_soon - v0 2027-01-26 17:30"]),
    # B dossier: 24 h from Fri 09:00 -> Wed 09:00; due soon Tue 09:00.
    ("2027-01-26 09:00", [], [f"{B} dossier due_soon - v0 2027-01-27 09:00"]),
    (
        "2027-01-26 17:30",
        [],
        [
            f"{S} dossier overdue - v0 2027-01-26 17:30",
            f"{S} dossier statutory_breach - v0 2027-01-26 17:30",
        ],
    ),
    # S's apology at Wed 08:00 sets Fri 01-29 17:30 (version 1). Every level re-arms: the
    # step's and the statutory instant are unmoved and past, so they are raised again at
    # once; the new due soon is Thu 01-28 11:30 (48 h span, 12 h left).
    (
        "2027-01-27 08:00",
        ["reschedule S"],
        [
            f"{S} step due_soon review v1 2027-01-25 14:00",
            f"{S} step overdue review v1 2027-01-25 14:00",
            f"{S} dossier statutory_breach - v1 2027-01-26 17:30",
        ],
    ),
    (
        "2027-01-27 09:00",
        [],
        [
            f"{B} dossier overdue - v0 2027-01-27 09:00",
            f"{B} dossier statutory_breach - v0 2027-01-27 09:00",
        ],
    ),
    ("2027-01-28 11:30", [], [f"{S} dossier due_soon - v1 2027-01-29 17:30"]),
    # A review: 56 h from Fri 08:00 -> Tue 02-02 08:00; due soon 42 h in -> Fri 01-29 10:00.
    ("2027-01-29 10:00", [], [f"{A} step due_soon review v0 2027-02-02 08:00"]),
    ("2027-01-29 17:30", [], [f"{S} dossier overdue - v1 2027-01-29 17:30"]),
    ("2027-02-02 08:00", [], [f"{A} step overdue review v0 2027-02-02 08:00"]),
    # A dossier: 88 h from Fri 01-22 07:30 -> Fri 02-12 17:30 (Tết skipped); 66 h -> 02-03 09:30.
    ("2027-02-03 09:30", [], [f"{A} dossier due_soon - v0 2027-02-12 17:30"]),
    # The last night of Tết: A still has two working days; nothing is overdue.
    ("2027-02-10 23:00", [], []),
    ("2027-02-12 17:30", [], [f"{A} dossier overdue - v0 2027-02-12 17:30"]),
    # A statutory: 120 h -> Thu 02-18 17:30.
    ("2027-02-18 17:30", [], [f"{A} dossier statutory_breach - v0 2027-02-18 17:30"]),
]
S_APOLOGY = ("2027-01-27 08:00", "2027-01-29 17:30")  # (occurred, new due)


def expected_walk() -> dict[str, tuple[str, datetime]]:
    """alert_id -> (the walk's description of it, the instant it must be detected at)."""
    expected: dict[str, tuple[str, datetime]] = {}
    for clock, _, raised in WALK:
        for line in raised:
            dossier, scope, level, step, version, _due = line.split(" ", 5)
            key = alert_id(
                dossier,
                AlertScope(scope),
                None if step == "-" else step,
                AlertLevel(level),
                int(version.removeprefix("v")),
            )
            expected[key] = (line, vn(clock))
    return expected


def alerted_after(clock: str) -> set[str]:
    """The dossiers with a level still to come after ``clock``: those the watcher indexes."""
    return {line.split()[0] for at, _, raised in WALK if vn(at) > vn(clock) for line in raised}


def describe(alert: Alert) -> str:
    due = alert.due_at.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")
    step = alert.step or "-"
    return f"{alert.dossier_id} {alert.scope} {alert.level} {step} v{alert.deadline_version} {due}"


def test_the_hand_walk_is_what_the_pure_functions_raise() -> None:
    """The table above, replayed with workflows alone: a mistake there is caught here."""
    ctx, policy = engine_context(), AlertPolicy()
    states: dict[str, DossierState | None] = {}
    for event in walk_dossiers():
        states[event.dossier_id], _ = apply(states.get(event.dossier_id), event, ctx, SENDER)
    seen: dict[str, tuple[str, datetime]] = {}
    for clock, publish_now, _ in WALK:
        if publish_now:
            event = online(S).rescheduled(S_APOLOGY[0], STC, S_APOLOGY[1])
            states[S], _ = apply(states[S], event, ctx, SENDER)
        for dossier_id, state in states.items():
            assert state is not None
            tick = DeadlineTick(dossier_id=dossier_id, detected_at=vn(clock))
            states[dossier_id], alerts = apply_tick(state, tick, ctx.catalog, ctx.calendar, policy)
            for alert in alerts:
                seen[alert.alert_id] = (describe(alert), alert.detected_at)
    assert seen == expected_walk()


def test_one_worker_alerts_each_level_once_across_a_weekend_and_tet(fleet: Fleet) -> None:
    worker = alert_worker(fleet, "walker", CLOCK_START)
    fleet.start(worker)
    publish(fleet.bootstrap, fleet.names.events, walk_dossiers())
    # Routed: each dossier where its events leave it.
    for dossier_id, field, value in [
        (A, "current_step", "review"),
        (B, "current_step", "review"),
        (S, "current_step", "review"),
        (P, "status", "paused"),
        (R, "status", "returned"),
    ]:
        wait_status(worker, dossier_id, field, value)
    # A, B and S are watched; P is paused, R closed. None of the three is due at 11:00.
    wait_watched([worker], 3)

    log = AlertLog(fleet.bootstrap, fleet.names.alerts)
    try:
        expected = expected_walk()
        want: set[str] = set()
        for clock, publish_now, raised in WALK:
            if not raised:
                # Nothing due: once every watched dossier is back in the index, the pass the
                # POST runs must find none (the timer's passes see the same clock).
                wait_watched([worker], len(alerted_after(clock)))
                assert set_clock(worker, vn(clock))["ticks"] == 0, clock
                continue
            set_clock(worker, vn(clock))
            if publish_now:
                event = online(S).rescheduled(S_APOLOGY[0], STC, S_APOLOGY[1])
                publish(fleet.bootstrap, fleet.names.events, [event])
            want |= {k for k, (line, at) in expected.items() if at == vn(clock)}
            log.wait_ids(want, WAIT_S, f"alerts at {clock}")
        log.quiet(2 * float(TICK_SECONDS) + 1.0)
        alerts = log.alerts
    finally:
        log.close()

    assert {a.alert_id for a in alerts} == set(expected)
    # One worker, no crash: nothing was sent twice either.
    twice = [k for k, n in Counter(a.alert_id for a in alerts).items() if n > 1]
    assert not twice, [expected[k][0] for k in twice]
    assert not {a.dossier_id for a in alerts} & {P, R}
    for alert in alerts:
        line, detected = expected[alert.alert_id]
        assert describe(alert) == line
        assert alert.detected_at == detected, f"{line}: detected at {alert.detected_at}"
        assert alert.agency == HELD_BY[alert.dossier_id], line
        roles = {r.role for r in alert.recipients}
        assert roles == {ROLE[(alert.scope.value, alert.level.value)]}, (line, roles)
    assert "Crashed reason=" not in worker.log()


def prepared(worker: Worker) -> dict[str, int]:
    """The worker's prepared-tick counters (agents/runtime/prepared.py), from GET /clock."""
    code, body = worker.get("/clock")
    assert code == 200, body
    counts: dict[str, int] = body["prepared"]
    return counts


def test_a_tick_prepared_ahead_raises_what_the_walk_expects(fleet: Fleet) -> None:
    # The walk's first level (S's step due soon, Fri 16:00), prepared by the worker's own
    # timer two minutes before (its look-ahead is 300 s), then raised at 16:00 from the
    # prepared records: the same alert, detected at 16:00, once; nothing before.
    worker = alert_worker(fleet, "preparer", CLOCK_START)
    fleet.start(worker)
    publish(fleet.bootstrap, fleet.names.events, walk_dossiers())
    for dossier_id, field, value in [(S, "current_step", "review"), (R, "status", "returned")]:
        wait_status(worker, dossier_id, field, value)
    wait_watched([worker], 3)
    line, at = next(iter(expected_walk().values()))
    assert line.startswith(f"{S} step due_soon") and at == vn("2027-01-22 16:00")
    log = AlertLog(fleet.bootstrap, fleet.names.alerts)
    try:
        assert set_clock(worker, vn("2027-01-22 15:58"))["ticks"] == 0
        wait_for(lambda: prepared(worker)["held"] == 1, WAIT_S, "S's tick prepared")
        log.quiet(2 * float(TICK_SECONDS) + 1.0)
        assert log.alerts == [], "preparing sends nothing"
        set_clock(worker, at)
        wanted = {k for k, (text, when) in expected_walk().items() if when == at}
        log.wait_ids(wanted, WAIT_S, "the prepared alert")
        log.quiet(2 * float(TICK_SECONDS) + 1.0)
        alerts = log.alerts
    finally:
        log.close()
    assert [describe(a) for a in alerts] == [line]
    assert alerts[0].detected_at == at
    counts = prepared(worker)
    assert (counts["used"], counts["missed"]) == (1, 0), counts
    assert "Crashed reason=" not in worker.log()


# --- 2. two workers, one SIGKILLed -----------------------------------------------------------

#: The workers start on Monday: what came due since Friday is raised at their first passes.
TEAM_START = vn("2027-01-25 08:00")
#: Both clocks go to T1; then the doomed worker's clock moves on and it is killed mid-pass;
#: then the survivor's clock jumps past every statutory instant (and Tết).
T1, T_KILL, T_END = vn("2027-01-26 12:00"), vn("2027-01-27 12:00"), vn("2027-02-23 12:00")


def team_dossiers() -> tuple[list[str], list[InboundEvent]]:
    """Three per partition of 4, received Fri 01-22 morning: 3-day, 11-day, calendar-day."""
    ids: list[str] = []
    per_partition: Counter[int] = Counter()
    n = 0
    while len(ids) < 3 * PARTITIONS:
        candidate = f"HS-T-{n:03d}"
        n += 1
        p = partition_of(candidate.encode(), PARTITIONS)
        if per_partition[p] < 3:
            per_partition[p] += 1
            ids.append(candidate)
    events: list[InboundEvent] = []
    for i, dossier_id in enumerate(ids):
        s = online(dossier_id)
        minute = 7 * 60 + 30 + 20 * i  # 07:30, 07:50, ... until 11:10
        when = f"2027-01-22 {minute // 60:02}:{minute % 60:02}"
        later = f"2027-01-22 {minute // 60 + 1:02}:{minute % 60:02}"
        kind = i % 4
        if kind == 0:
            events += [s.received(when, MOTCUA, "2.001610"), s.done(later, MOTCUA, "receive")]
        elif kind == 1:
            events += [s.received(when, MOTCUA, "SAMPLE-XB-01"), s.done(later, MOTCUA, "receive")]
        elif kind == 2:
            events += [s.received(when, WARD_DESK, "1.013225")]
        else:  # closed or paused: never alerted
            events += [s.received(when, MOTCUA, "2.001610")]
            events += [
                s.withdrawn(later, MOTCUA)
                if i % 8 == 3
                else s.supplement(later, MOTCUA, SUPPLEMENT_REASON)
            ]
    return ids, events


def points_due(events: list[InboundEvent], now: datetime) -> dict[str, WatchPoint]:
    """alert_id -> watch point, for every level reached by ``now``: the pure recomputation."""
    ctx, policy = engine_context(), AlertPolicy()
    states: dict[str, DossierState | None] = {}
    for event in events:
        states[event.dossier_id], _ = apply(states.get(event.dossier_id), event, ctx, SENDER)
    due: dict[str, WatchPoint] = {}
    for state in states.values():
        assert state is not None
        for p in due_points(state, now, ctx.calendar, policy):
            due[alert_id(p.dossier_id, p.scope, p.step, p.level, p.deadline_version)] = p
    return due


def test_two_workers_one_killed_no_alert_missed_or_duplicated(fleet: Fleet) -> None:
    ids, events = team_dossiers()
    start, before_kill, final = (
        points_due(events, TEAM_START),
        points_due(events, T1),
        points_due(events, T_END),
    )
    # The recomputation has work in every phase, or the test proves little.
    assert start and len(before_kill) > len(start) and len(final) > len(before_kill)

    one, two = alert_worker(fleet, "one", TEAM_START), alert_worker(fleet, "two", TEAM_START)
    fleet.start(one, two)
    changelog = f"{fleet.group}-{fleet.names.events}-open-changelog"
    owned = wait_split(one, two, changelog)
    assert owned is not None
    ones = set(owned[one.url])
    # Levels the killed worker's partitions reach after it died: the survivor must raise them.
    orphaned = {
        k
        for k, p in final.items()
        if k not in before_kill and partition_of(p.dossier_id.encode(), PARTITIONS) in ones
    }
    assert orphaned, f"worker one (partitions {sorted(ones)}) has nothing left to miss"

    log = AlertLog(fleet.bootstrap, fleet.names.alerts)
    try:
        publish(fleet.bootstrap, fleet.names.events, events)
        # At the start instant: the levels that came due since Friday, caught up at once.
        log.wait_ids(set(start), WAIT_S, "alerts at the start instant")
        for dossier_id in ids:
            wait_status(one, dossier_id, "dossier_id", dossier_id)
        for worker in (one, two):
            set_clock(worker, T1)
        log.wait_ids(set(before_kill), WAIT_S, f"alerts by {T1}")
        # Every dossier with a level still to come is back in its worker's index.
        pending = {p.dossier_id for k, p in final.items() if k not in before_kill}
        wait_watched([one, two], len(pending))
        # Worker one moves on and is killed right after its pass sent its ticks (the POST
        # returns once the broker has them): applied or not, alerted or not, committed or
        # not, the survivor must finish the job.
        in_flight = {
            p.dossier_id
            for k, p in points_due(events, T_KILL).items()
            if k not in before_kill and partition_of(p.dossier_id.encode(), PARTITIONS) in ones
        }
        assert in_flight, "worker one has no tick to send before it dies"
        assert set_clock(one, T_KILL)["ticks"] == len(in_flight)
        one.kill9()
        set_clock(two, T_END)
        log.wait_ids(set(final), TAKEOVER_S, f"alerts by {T_END} after the takeover")
        log.quiet(2 * float(TICK_SECONDS) + 1.0)
        alerts = log.alerts
    finally:
        log.close()

    by_id: dict[str, Alert] = {}
    for alert in alerts:
        first = by_id.setdefault(alert.alert_id, alert)
        # A re-sent alert names the same level; only the instant it was detected may differ.
        assert alert.model_copy(update={"detected_at": first.detected_at}) == first
    assert set(by_id) == set(final)
    for key, alert in by_id.items():
        point = final[key]
        assert (
            alert.dossier_id,
            alert.scope,
            alert.level,
            alert.step,
            alert.agency,
            alert.due_at,
            alert.deadline_version,
        ) == (
            point.dossier_id,
            point.scope,
            point.level,
            point.step,
            point.agency,
            point.due_at,
            point.deadline_version,
        )
        assert point.at <= alert.detected_at <= T_END, describe(alert)
        assert {r.role for r in alert.recipients} == {ROLE[(alert.scope, alert.level)]}
    resent = len(alerts) - len(by_id)
    print(f"alerts: {len(by_id)} distinct, {resent} re-sent after the SIGKILL")
    assert "Crashed reason=" not in two.log()


# --- 3. reminders under the manual clock, across a weekend ----------------------------------


def test_reminders_while_overdue_across_a_weekend(fleet: Fleet) -> None:
    """2.001610 received Fri 2027-01-22 09:00, never finished: overdue Wed 01-27 09:00;
    with one reminder a working day, #1 Thu 28 09:00, #2 Fri 29 09:00, nothing over the
    weekend, #3 Mon 02-01 09:00 (tests/unit/test_reminders.py has the arithmetic)."""
    dossier = "HS-REMIND-1"
    worker = fleet.worker(
        "reminder",
        **manual_clock(vn("2027-01-27 08:00")),
        DOSSIERFLOW_TICK_SECONDS=TICK_SECONDS,
        DOSSIERFLOW_REMINDER_EVERY_WORKING_DAYS="1",
    )
    fleet.start(worker)
    publish(
        fleet.bootstrap,
        fleet.names.events,
        [online(dossier).received("2027-01-22 09:00", MOTCUA, "2.001610")],
    )
    wait_status(worker, dossier, "current_step", "receive")
    wait_watched([worker], 1)

    def reminder_ids(*numbers: int) -> set[str]:
        return {
            alert_id(dossier, AlertScope.DOSSIER, None, AlertLevel.REMINDER, 0, n) for n in numbers
        }

    log = AlertLog(fleet.bootstrap, fleet.names.alerts)

    def reminded(numbers: tuple[int, ...]) -> bool:
        log.poll()
        got = {a.alert_id for a in log.alerts if a.level is AlertLevel.REMINDER}
        assert got <= reminder_ids(*numbers), f"a reminder too early: {log.alerts}"
        return got == reminder_ids(*numbers)

    def seen(alert: str) -> bool:
        log.poll()
        return alert in log.ids()

    try:
        overdue = alert_id(dossier, AlertScope.DOSSIER, None, AlertLevel.OVERDUE, 0)
        set_clock(worker, vn("2027-01-27 09:00"))  # and the earlier levels, from 08:00
        wait_for(partial(seen, overdue), WAIT_S, "overdue on Wed 09:00")
        for clock, numbers in [
            ("2027-01-28 08:59", ()),  # not yet a working day after the due instant
            ("2027-01-28 09:00", (1,)),
            ("2027-01-29 09:00", (1, 2)),
            ("2027-01-30 12:00", (1, 2)),  # Saturday
            ("2027-01-31 12:00", (1, 2)),  # Sunday
            ("2027-02-01 09:00", (1, 2, 3)),  # Monday: across the weekend
        ]:
            set_clock(worker, vn(clock))
            wait_for(partial(reminded, numbers), WAIT_S, f"reminders {numbers} at {clock}")
        log.quiet(2 * float(TICK_SECONDS) + 1.0)
        reminders = [a for a in log.alerts if a.level is AlertLevel.REMINDER]
    finally:
        log.close()
    assert sorted((a.reminder, a.detected_at) for a in reminders) == [
        (1, vn("2027-01-28 09:00")),
        (2, vn("2027-01-29 09:00")),
        (3, vn("2027-02-01 09:00")),
    ]
    # One level above the overdue alert's (centre_director): the province leader.
    assert {r.role for a in reminders for r in a.recipients} == {"province_leader"}
