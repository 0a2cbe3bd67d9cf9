"""Routing on a real broker: whole lifecycles, duplicates, rejections, two workers, crashes.

Every expectation is either worked out by hand (the comments show the arithmetic) or
recomputed independently in this process by folding the pure ``workflows.routing.apply``
over each dossier's events in order: a worker must end where the fold ends, whatever
batching, restarts, rebalances or crashes happened in between.

Workers are real ``dossierflow worker`` processes (``crash_worker.py`` for the crash test)
started and stopped by pid. Waits are on facts (a status, committed offsets that reach the
end of the input), never on fixed sleeps: once the group has committed every input
record, every output of those records is on the broker (outputs are awaited before the
tables are written, and the tables before the offsets are committed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from integration.crash_worker import BETWEEN_ENV, CRASH_ENV, CRASH_EXIT_CODE, CRASH_MARKER

from agents.runtime.consumer import REWIND_LOG
from events import ReasonKind, StepCompleted, encode
from workflows.routing import event_fingerprint
from workflows.state import DossierState, Status

from support.cli import run_cli
from support.dossiers import (
    CLOSING,
    DESK,
    MOTCUA,
    SVHTTDL,
    WARD,
    Script,
    beginnings,
    certified_copy,
    construction_licence,
    publishing_licence,
    simulated,
)
from support.fleet import TAKEOVER_S, Fleet, ownership, status, wait_split, wait_status
from support.fold import Fold, assert_assignments
from support.harness import Worker, wait_for
from support.kafka_io import (
    PARTITIONS,
    WAIT_S,
    anomalies,
    assignments,
    committed,
    dead_letters,
    lag,
    partition_of,
    publish,
    read_to_end,
    wait_consumed,
)
from support.signing import publisher_env
from support.time import vn

HERE = Path(__file__).resolve().parent


def dossierflow(
    worker: Worker, *args: str, env: dict[str, str] | None = None
) -> CompletedProcess[str]:
    """The CLI with ``worker``'s settings (its broker, prefix and logins) and ``env``."""
    return run_cli(*args, env={**worker.env, **(env or {})})


# Every assignment, worked out by hand. Office hours 07:30-11:30 and 13:30-17:30 (8 h a day);
# March 2026 has no public holiday; 9 March is a Monday.
#   (step, agency, from_agency, step_due_at, dossier_due_at)
EXPECTED_BY_HAND = {
    # SAMPLE-XB-01, committed 11 / statutory 15 working days, counted from Mon 09 09:00:
    # dossier due Tue 24 09:00 (11 working days later, same time of day), statutory Mon 30 09:00.
    # The supplement pause Wed 11 14:00 -> Fri 13 10:30 stopped 3.5 + 8 + 3 = 14.5 working
    # hours, so every later assignment carries the dossier due moved by 14.5 h:
    # Tue 24 09:00 + (2.5 + 4) h = Tue 17:30, + 8 h = Wed 25 17:30 (a period end stays there).
    "publishing": [
        # receive 0.5 d = 4 h from 09:00: 2.5 h to 11:30, 1.5 h from 13:30 -> Mon 09 15:00
        ("receive", MOTCUA, None, "2026-03-09 15:00", "2026-03-24 09:00"),
        # review 7 d from Mon 09 10:00 -> Wed 18 10:00 (sent before the pause moved it)
        ("review", SVHTTDL, MOTCUA, "2026-03-18 10:00", "2026-03-24 09:00"),
        # sign 3 d from Tue 17 15:00 -> Fri 20 15:00
        ("sign", SVHTTDL, SVHTTDL, "2026-03-20 15:00", "2026-03-25 17:30"),
        # return 0.5 d from Thu 19 09:00: 2.5 h + 1.5 h -> Thu 19 15:00
        ("return", MOTCUA, SVHTTDL, "2026-03-19 15:00", "2026-03-25 17:30"),
    ],
    # 1.013225, committed 10 / statutory 15 calendar days from Mon 09: the close (17:30) of
    # Thu 19 / Tue 24. A step of n days is due at the close of (its start's date + n), moved
    # to the next working day when that day is off. The pause Thu 12 09:00 -> Fri 13 09:00
    # stopped 6.5 + 1.5 = 8 working hours: the dossier due moves to Fri 20 17:30.
    "construction": [
        ("receive", DESK, None, "2026-03-10 17:30", "2026-03-19 17:30"),  # Mon 09 + 1
        ("review", WARD, DESK, "2026-03-11 17:30", "2026-03-19 17:30"),  # Mon 09 + 2
        ("site_visit", WARD, WARD, "2026-03-13 17:30", "2026-03-19 17:30"),  # Wed 11 + 2
        # Fri 13 + 2 = Sunday 15, not a working day: Monday 16's close
        ("appraisal_after_visit", WARD, WARD, "2026-03-16 17:30", "2026-03-20 17:30"),
        ("sign", WARD, WARD, "2026-03-18 17:30", "2026-03-20 17:30"),  # Mon 16 + 2
        ("return", DESK, WARD, "2026-03-18 17:30", "2026-03-20 17:30"),  # Tue 17 + 1
    ],
    # 2.000815, same day, cut-off 15:00: received Mon 09 15:30, so the clock starts Tue 10
    # 07:30 and everything is due at Tue 10 17:30. The pause Tue 09:00 -> 10:00 (1 h) ends
    # the same day: a same-day due is the close of the day the count resumes on, so it
    # stays Tue 17:30 (docs/deadlines.md; it used to move to Wed 11 08:30).
    "certified": [
        ("receive", DESK, None, "2026-03-10 17:30", "2026-03-10 17:30"),
        ("certify", DESK, DESK, "2026-03-10 17:30", "2026-03-10 17:30"),
        ("sign", WARD, DESK, "2026-03-10 17:30", "2026-03-10 17:30"),
        ("return", DESK, WARD, "2026-03-10 17:30", "2026-03-10 17:30"),
    ],
}


@pytest.fixture(scope="module")
def router(module_fleet: Fleet) -> Fleet:
    """One plain worker shared by the tests that need nothing but routing (distinct dossiers)."""
    module_fleet.start(module_fleet.worker("router"))
    return module_fleet


# --- 1. whole lifecycles through `dossierflow publish` -------------------------------------


def test_three_procedures_route_end_to_end_through_publish_cli(router: Fleet) -> None:
    (worker,) = router.started
    stem = uuid.uuid4().hex[:6]
    lifecycles = {
        "publishing": publishing_licence(f"XB-{stem}"),
        "construction": construction_licence(f"CX-{stem}"),
        "certified": certified_copy(f"CT-{stem}"),
    }
    # Agencies publish in time order: interleave the three dossiers as they happen.
    events = sorted((e for evs in lifecycles.values() for e in evs), key=lambda e: e.occurred_at)
    jsonl = router.base / f"lifecycles-{stem}.jsonl"
    jsonl.write_bytes(b"".join(encode(e) + b"\n" for e in events))

    cli = dossierflow(worker, "publish", str(jsonl), env=publisher_env())  # signs as the suite
    assert cli.returncode == 0, cli.stderr
    assert f"published {len(events)} of {len(events)} events" in cli.stdout

    dossiers = {kind: evs[0].dossier_id for kind, evs in lifecycles.items()}
    for dossier_id in dossiers.values():
        wait_status(worker, dossier_id, lambda s: s["status"] == "returned")
    # `returned` is each dossier's last event: every output of its events is on the broker.
    fold = Fold(events)
    mine = set(dossiers.values())
    routed = [a for a in assignments(router.bootstrap, router.names) if a.dossier_id in mine]

    for kind, dossier_id in dossiers.items():
        got = [a for a in routed if a.dossier_id == dossier_id]
        assert [
            (a.step, a.agency, a.from_agency, a.step_due_at, a.dossier_due_at) for a in got
        ] == [
            (step, agency, source, vn(step_due), vn(dossier_due))
            for step, agency, source, step_due, dossier_due in EXPECTED_BY_HAND[kind]
        ], kind
        assert all(not a.off_route for a in got)
        # The fields not worked out by hand (assigned_at, statutory due, ids) and the whole
        # final state (process control sheet, pauses, outcome) match the recomputation.
        assert_assignments(
            got, {i: a for i, a in fold.assignments.items() if a.dossier_id == dossier_id}
        )
        assert status(worker, dossier_id) == fold.public(dossier_id), kind

    # The classification, by hand. SAMPLE-XB-01 finished Thu 19 14:05, before its due day
    # (Wed 25): early. Used: Mon 09 09:00 -> Thu 19 09:00 is 8 working days (64 h), plus
    # 2.5 h + 35 min = 67.0833 h, minus the 14.5 h pause = 52.5833 h = 6.5729 days; saved
    # against the statutory 15 days: 8.4271.
    publishing = status(worker, dossiers["publishing"])
    assert publishing is not None
    assert publishing["outcome"] == {
        "decision": "approved",
        "finished_at": vn("2026-03-19 14:05").isoformat(),
        "completion": "early",
        "used_days": 6.5729,
        "saved_days": 8.4271,
    }
    assert [p["paused_hours"] for p in publishing["pauses"]] == [14.5]
    # 1.013225 finished Tue 17, due Fri 20: early. 2.000815 finished Tue 10 15:05, its due
    # day (the hour of pause kept it at Tue 17:30): on time.
    for kind, completion in (("construction", "early"), ("certified", "on_time")):
        body = status(worker, dossiers[kind])
        assert body is not None
        assert (body["status"], body["outcome"]["completion"]) == ("returned", completion), kind
    certified = status(worker, dossiers["certified"])
    assert certified is not None and certified["start_at"] == vn("2026-03-10 07:30").isoformat()

    letters = [d for d in dead_letters(router.bootstrap, router.names) if d.dossier_id in mine]
    assert letters == []
    router.assert_no_agent_crash()


# --- 2. duplicates, also across a restart --------------------------------------------------


def test_duplicates_are_applied_once_also_after_a_restart(fleet: Fleet) -> None:
    events = publishing_licence(f"XB-dup-{uuid.uuid4().hex[:6]}")
    dossier_id = events[0].dossier_id
    received, receive_done, supplement, supplied, review_done, sign_done = events[:6]
    topic = fleet.names.events

    first = fleet.worker("first", data="shared")
    fleet.start(first)
    # The same event twice in a row (one batch, most likely) ...
    publish(fleet.bootstrap, topic, [received, receive_done, receive_done])
    wait_status(first, dossier_id, lambda s: s["current_step"] == "review")
    # ... and again in a later batch, with the first event too, before real progress.
    publish(fleet.bootstrap, topic, [receive_done, received, supplement, supplied, review_done])
    wait_status(first, dossier_id, lambda s: s["current_step"] == "sign")
    wait_consumed(fleet.bootstrap, fleet.group, topic)
    before = status(first, dossier_id)

    first.stop()  # SIGTERM: a clean shutdown
    second = fleet.worker("second", data="shared")
    fleet.start(second)
    # Duplicates of everything so far, to a worker that knows the dossier from the changelog.
    publish(fleet.bootstrap, topic, [received, receive_done, supplement, review_done, supplied])
    wait_consumed(fleet.bootstrap, fleet.group, topic)
    assert status(second, dossier_id) == before, "duplicates after the restart changed the state"

    publish(fleet.bootstrap, topic, [sign_done, sign_done])
    wait_status(second, dossier_id, lambda s: s["current_step"] == "return")
    wait_consumed(fleet.bootstrap, fleet.group, topic)

    applied = [received, receive_done, supplement, supplied, review_done, sign_done]
    fold = Fold(applied)
    assert status(second, dossier_id) == fold.public(dossier_id)
    routed = assignments(fleet.bootstrap, fleet.names)
    # Counting raw records: exactly one per (dossier, step, cause event), none re-sent.
    causes = Counter((a.dossier_id, a.step, a.cause_event_id) for a in routed)
    assert causes == Counter(
        {
            (dossier_id, "receive", received.event_id): 1,
            (dossier_id, "review", receive_done.event_id): 1,
            (dossier_id, "sign", review_done.event_id): 1,
            (dossier_id, "return", sign_done.event_id): 1,
        }
    )
    assert_assignments(routed, fold.assignments)
    # A duplicate is not an error: nothing was dead-lettered.
    assert dead_letters(fleet.bootstrap, fleet.names) == []
    fleet.assert_no_agent_crash()


def test_duplicate_received_after_the_dossier_closed_changes_nothing(router: Fleet) -> None:
    (worker,) = router.started
    events = certified_copy(f"CT-late-dup-{uuid.uuid4().hex[:6]}")
    dossier_id = events[0].dossier_id
    publish(router.bootstrap, router.names.events, events)
    closed = wait_status(worker, dossier_id, lambda s: s["status"] == "returned")

    publish(router.bootstrap, router.names.events, [events[0]])  # re-delivered late
    wait_consumed(router.bootstrap, router.group, router.names.events)

    routed = [a for a in assignments(router.bootstrap, router.names) if a.dossier_id == dossier_id]
    assert status(worker, dossier_id) == closed
    assert len(routed) == len(Fold(events).assignments), "an assignment was re-sent"


# --- 3. rejections and an off-route hand-off ------------------------------------------------


def test_illegal_transitions_are_dead_lettered_and_an_off_route_hand_off_is_an_anomaly(
    router: Fleet,
) -> None:
    (worker,) = router.started
    stem = uuid.uuid4().hex[:6]
    closed = publishing_licence(f"XB-illegal-{stem}")
    s = Script(closed[0].dossier_id)
    result, returned = closed[-2], closed[-1]
    # A second result_ready (with another decision) while the result waits at the desk ...
    twice = s.result("2026-03-19 14:30", MOTCUA, outcome="refused")
    # ... a step.completed for a step that is not the current one (review) ...
    wrong_step = s.done("2026-03-13 11:00", SVHTTDL, "sign")
    # ... and a supplement request for a dossier already returned to the applicant (from the
    # desk: anyone else would be refused `unauthorized` before the closed dossier is looked at).
    after_close = s.supplement("2026-03-20 08:00", MOTCUA)
    refused = [*closed[:4], wrong_step, *closed[4:-1], twice, returned, after_close]
    assert refused.index(result) < refused.index(twice) < refused.index(returned)

    # The review step belongs to the culture department, which hands it to science and
    # technology instead. The route says otherwise: applied, tracked, and reported on the
    # anomalies topic -- not the DLQ, which means "not applied". (Only the agency holding a step may hand it on: from the desk it would be
    # refused `unauthorized`.)
    off = Script(f"XB-offroute-{stem}")
    off_events = [
        off.received("2026-03-09 09:00", MOTCUA, "SAMPLE-XB-01"),
        off.done("2026-03-09 10:00", MOTCUA, "receive"),
        off.handed_off("2026-03-09 10:30", SVHTTDL, "review", to_agency="SKHCN"),
    ]
    publish(router.bootstrap, router.names.events, [*refused, *off_events])

    wait_status(worker, s.dossier_id, lambda st: st["status"] == "returned")
    off_status = wait_status(worker, off.dossier_id, lambda st: st["current_agency"] == "SKHCN")
    wait_consumed(router.bootstrap, router.group, router.names.events)

    fold = Fold([*refused, *off_events])
    mine = {s.dossier_id, off.dossier_id}
    letters = [d for d in dead_letters(router.bootstrap, router.names) if d.dossier_id in mine]
    got = [(d.event_id, d.reason) for d in letters]
    # Keyed by dossier: in order per dossier (the two may sit on different partitions).
    assert [g for g, d in zip(got, letters, strict=True) if d.dossier_id == s.dossier_id] == [
        (wrong_step.event_id, ReasonKind.ILLEGAL_TRANSITION),
        (twice.event_id, ReasonKind.ILLEGAL_TRANSITION),
        (after_close.event_id, ReasonKind.DOSSIER_CLOSED),
    ]
    assert [g for g, d in zip(got, letters, strict=True) if d.dossier_id == off.dossier_id] == []
    assert sorted(got) == sorted(fold.dead)
    flagged = [a for a in anomalies(router.bootstrap, router.names) if a.dossier_id in mine]
    assert [(a.dossier_id, a.event_id, a.kind) for a in flagged] == [
        (off.dossier_id, off_events[-1].event_id, ReasonKind.OFF_ROUTE)
    ]
    assert [(a.event_id, a.kind) for a in flagged] == fold.flagged
    (report,) = flagged
    assert "SKHCN" in report.message
    # ... which supervisors read with `dossierflow anomalies` (the reader's login).
    shown = dossierflow(worker, "anomalies", "--dossier", off.dossier_id)
    assert shown.returncode == 0, shown.stderr
    (line,) = shown.stdout.splitlines()
    assert f"off_route  {off.dossier_id}  {off_events[-1].event_id}" in line
    # Each dead letter carries the original record and where it was read from.
    where = {
        json.loads(r.value)["event_id"]: (r.partition, r.offset, r.value)
        for r in read_to_end(router.bootstrap, router.names.events)
    }
    for letter in letters:
        assert letter.source_topic == router.names.events
        assert (letter.source_partition, letter.source_offset, letter.original) == where[
            letter.event_id
        ]
        assert letter.error, letter
    # ... and so does the anomaly report.
    assert report.source_topic == router.names.events
    assert (report.source_partition, report.source_offset) == where[report.event_id][:2]

    # The refused events changed nothing: the state is the fold's, the decision the first one.
    closed_status = status(worker, s.dossier_id)
    assert closed_status == fold.public(s.dossier_id)
    assert closed_status is not None and closed_status["outcome"]["decision"] == "approved"

    # The off-route hand-off: an assignment to the agency that really has the dossier.
    routed = [a for a in assignments(router.bootstrap, router.names) if a.dossier_id in mine]
    hand_off = [a for a in routed if a.cause_event_id == off_events[-1].event_id]
    assert [(a.step, a.agency, a.from_agency, a.off_route) for a in hand_off] == [
        ("review", "SKHCN", SVHTTDL, True)
    ]
    assert_assignments(routed, fold.assignments)
    assert off_status == fold.public(off.dossier_id)
    assert (off_status["current_step"], off_status["anomalies"]) == ("review", 1)
    assert off_status["sheet"][-1]["agency"] == "SKHCN" and off_status["sheet"][-1]["off_route"]
    router.assert_no_agent_crash()


# --- 4. two workers in one group, then one is killed ---------------------------------------


def test_two_workers_share_the_load_and_the_survivor_takes_over(fleet: Fleet) -> None:
    topic = fleet.names.events
    changelog = f"{fleet.group}-{topic}-open-changelog"
    # Worker two commits every 8 s instead of 2.8 s: when it is killed, what it routed last
    # is then most likely uncommitted, and the survivor gets it again (and must dedupe).
    one, two = fleet.worker("one"), fleet.worker("two", BROKER_COMMIT_INTERVAL="8")
    fleet.start(one, two)
    owned = wait_split(one, two, changelog)
    assert owned is not None and sorted(owned[one.url] + owned[two.url]) == list(range(4))

    first_ids, first = simulated(150, seed=11, id_prefix="HS1")
    publish(fleet.bootstrap, topic, first)
    wait_consumed(fleet.bootstrap, fleet.group, topic)
    fold = Fold(first)
    assert {partition_of(d) for d in first_ids} == set(range(4)), "both workers had work"
    assert_assignments(assignments(fleet.bootstrap, fleet.names), fold.assignments)
    # Table routing: either worker answers for any dossier, its own or the other's.
    for dossier_id in first_ids:
        expected = fold.public(dossier_id)
        assert status(one, dossier_id) == expected, dossier_id
        assert status(two, dossier_id) == expected, dossier_id

    # A second workload; worker two is killed as soon as it has routed some of it, while
    # the rest is still to come (its last offsets are most likely not committed yet). The
    # events that close a dossier (each dossier's last) come after the kill, so the
    # survivor closes every dossier of this workload itself (a re-delivery that meets a
    # closed dossier is test_duplicate_received_after_the_dossier_closed_changes_nothing).
    second_ids, second = simulated(150, seed=12, id_prefix="HS2")
    before_kill = [e for e in second if e.type not in CLOSING]
    after_kill = [e for e in second if e.type in CLOSING]
    assert len(after_kill) == len(second_ids)  # one closing event per dossier, its last
    publish(fleet.bootstrap, topic, before_kill)
    at_two = {d for d in second_ids if partition_of(d) in owned[two.url]}

    def two_is_busy() -> bool:
        return any(a.dossier_id in at_two for a in assignments(fleet.bootstrap, fleet.names))

    wait_for(two_is_busy, WAIT_S, "worker two routing the second workload", alive=two.proc)
    two.kill9()
    left_over = lag(fleet.bootstrap, fleet.group, topic, owned[two.url])
    publish(fleet.bootstrap, topic, after_kill)

    wait_for(
        lambda: ownership(one, changelog) == {one.url: list(range(4))} and one.health(),
        TAKEOVER_S,
        "worker one owning every partition",
        alive=one.proc,
    )
    wait_consumed(fleet.bootstrap, fleet.group, topic, timeout=TAKEOVER_S)

    fold = Fold([*first, *second])
    routed = assignments(fleet.bootstrap, fleet.names)
    assert_assignments(routed, fold.assignments)
    for dossier_id in [*first_ids, *second_ids]:
        assert status(one, dossier_id) == fold.public(dossier_id), dossier_id
    assert dead_letters(fleet.bootstrap, fleet.names) == []
    # What the takeover redid is up to timing; whatever it was, it was deduped.
    print(
        f"SIGKILL left {left_over} records of worker two's partitions uncommitted; "
        f"{len(routed) - len(fold.assignments)} assignments were sent twice (same ids)"
    )
    fleet.assert_no_agent_crash()


def wait_crashed(crasher: Worker) -> None:
    """The crash worker exited with the crash's own code (crash_worker.py)."""
    assert crasher.proc is not None
    try:
        crasher.proc.wait(WAIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the crash worker did not crash:\n{crasher.log()[-3000:]}")
    assert crasher.proc.returncode == CRASH_EXIT_CODE, crasher.log()[-3000:]


# --- 5. a crash between the table write and the offset commit ------------------------------


def test_crash_after_table_write_before_commit_does_not_double_apply(fleet: Fleet) -> None:
    topic = fleet.names.events
    events = construction_licence(f"CX-crash-{uuid.uuid4().hex[:6]}")
    dossier_id = events[0].dossier_id
    target = events[2]  # review completed with needs_inspection: routes to site_visit
    assert isinstance(target, StepCompleted) and target.outcome == "needs_inspection"
    # Other dossiers in the same batches, so the crash also cuts across their writes. All on
    # the target's partition and published before it: the target's batch is the crashed
    # worker's last, so no later batch is half done (that would be the other crash window,
    # outputs sent but state not written, where a re-sent assignment is expected).
    # They stay open (a re-delivery that meets a closed dossier is the case of
    # test_duplicate_received_after_the_dossier_closed_changes_nothing).
    home = partition_of(dossier_id)
    generated_ids, generated = simulated(40, seed=5, id_prefix="CR")
    other_ids = [d for d in generated_ids if partition_of(d) == home]
    assert len(other_ids) >= 3
    before_crash = [*beginnings(generated, other_ids, 3), *events[:3]]

    crasher = fleet.worker(
        "crasher",
        data="shared",
        argv=[sys.executable, str(HERE / "crash_worker.py")],
        **{CRASH_ENV: target.event_id},
    )
    fleet.start(crasher)
    publish(fleet.bootstrap, topic, before_crash)
    wait_crashed(crasher)
    assert f"{CRASH_MARKER}: {target.event_id}" in crasher.log()

    # The crash hit the window under test: the state remembering the event reached the
    # changelog, its assignment is out, and its offset was not committed.
    changelog = f"{fleet.group}-{topic}-open-changelog"
    stored = [
        DossierState.from_bytes(r.value)
        for r in read_to_end(fleet.bootstrap, changelog)
        if r.key == dossier_id.encode() and r.value is not None
    ]
    assert stored and event_fingerprint(target.event_id) in stored[-1].applied
    assert stored[-1].current_step == "site_visit"
    routed = assignments(fleet.bootstrap, fleet.names)
    assert [a.step for a in routed if a.cause_event_id == target.event_id] == ["site_visit"]
    offsets = {
        json.loads(r.value)["event_id"]: (r.partition, r.offset)
        for r in read_to_end(fleet.bootstrap, topic)
    }
    partition, offset = offsets[target.event_id]
    uncommitted = committed(fleet.bootstrap, fleet.group, topic, partition)
    assert uncommitted is None or uncommitted <= offset, "the event's offset was committed"

    # A normal worker on the same group and data dir: the batch is delivered again.
    survivor = fleet.worker("restarted", data="shared")
    fleet.start(survivor)
    wait_consumed(fleet.bootstrap, fleet.group, topic, timeout=TAKEOVER_S)
    fold = Fold(before_crash)
    assert status(survivor, dossier_id) == fold.public(dossier_id)
    for other in other_ids:
        assert status(survivor, other) == fold.public(other), other
    routed = assignments(fleet.bootstrap, fleet.names)
    # The re-delivered events were no-ops: no assignment re-sent (not even with the same
    # id), none with a new id, no illegal transition dead-lettered.
    assert len(routed) == len({a.assignment_id for a in routed}), "an assignment was re-sent"
    assert_assignments(routed, fold.assignments)
    assert dead_letters(fleet.bootstrap, fleet.names) == []

    # The dossier carries on from where the crashed worker left it.
    publish(fleet.bootstrap, topic, events[3:])
    wait_status(survivor, dossier_id, lambda s: s["status"] == "returned")
    wait_consumed(fleet.bootstrap, fleet.group, topic)
    fold = Fold([*before_crash, *events[3:]])
    final = status(survivor, dossier_id)
    assert final == fold.public(dossier_id)
    assert [row["step"] for row in final["sheet"]] == [
        "receive",
        "review",
        "site_visit",
        "appraisal_after_visit",
        "sign",
        "return",
    ], "the process control sheet has a duplicated or missing row"
    routed = assignments(fleet.bootstrap, fleet.names)
    assert len(routed) == len({a.assignment_id for a in routed})
    assert_assignments(routed, fold.assignments)
    assert dead_letters(fleet.bootstrap, fleet.names) == []
    assert Status(final["status"]) is Status.RETURNED
    fleet.assert_no_agent_crash()


def test_a_crash_between_the_closed_and_open_changelogs_loses_no_dossier(fleet: Fleet) -> None:
    """A dossier closes: its state moves from the open table to the closed one, two
    changelogs. The worker dies after the first of the two is confirmed, before the other
    is sent. Written open-first (the tombstone), the dossier was in neither table after a
    restart: the kill -9 suite lost 6 returned dossiers that way. Closed-first, it is in
    both, and the re-delivered batch closes it again (agents/runtime/tables.py FLUSH_ORDER).
    """
    topic = fleet.names.events
    events = certified_copy(f"CB-between-{uuid.uuid4().hex[:6]}")
    dossier_id = events[0].dossier_id
    returned = events[-1]
    crasher = fleet.worker(
        "between",
        data="shared",
        argv=[sys.executable, str(HERE / "crash_worker.py")],
        **{BETWEEN_ENV: returned.event_id},
    )
    fleet.start(crasher)
    publish(fleet.bootstrap, topic, events[:-1])
    wait_status(crasher, dossier_id, lambda s: s["status"] == "result_ready")
    wait_consumed(fleet.bootstrap, fleet.group, topic)  # committed: never delivered again
    publish(fleet.bootstrap, topic, [returned])
    wait_crashed(crasher)
    assert f"{CRASH_MARKER}: {returned.event_id} after " in crasher.log()

    survivor = fleet.worker("after-between", data="shared")
    fleet.start(survivor)
    wait_consumed(fleet.bootstrap, fleet.group, topic, timeout=TAKEOVER_S)
    fold = Fold(events)
    assert status(survivor, dossier_id) == fold.public(dossier_id)
    routed = assignments(fleet.bootstrap, fleet.names)
    assert len(routed) == len({a.assignment_id for a in routed}), "an assignment was re-sent"
    assert_assignments(routed, fold.assignments)
    assert dead_letters(fleet.bootstrap, fleet.names) == []
    fleet.assert_no_agent_crash()


# --- 6. a partition whose owner died before its first commit -------------------------------


def test_a_partition_never_committed_is_routed_by_the_next_owner(fleet: Fleet) -> None:
    """A worker routes a backlog and is SIGKILLed before its first commit; the next owner
    restores the tables from the changelog and routes every event again, as no-ops.

    During that restore faust fetches the stream partitions and drops what it fetched (a
    race on its live set of active partitions), then rewinds only partitions with a
    committed offset > 0: agents/runtime/consumer.py rewinds the others, or the new owner would
    sit at the end of partitions it never read (the crash test's old flake: 9 of 19 runs).
    The race is timing-bound, so this test checks the rewind ran and nothing was lost.
    """
    topic = fleet.names.events
    dossier_ids, events = simulated(60, seed=21, id_prefix="NC")
    assert {partition_of(d) for d in dossier_ids} == set(range(PARTITIONS))
    fleet.provision()  # published before any worker started: the topics must exist
    publish(fleet.bootstrap, topic, events)
    fold = Fold(events)
    # Commits every 10 minutes: the kill comes long before the first one.
    first = fleet.worker("first", data="shared", BROKER_COMMIT_INTERVAL="600")
    fleet.start(first)
    for dossier_id in dossier_ids:

        def is_folded(s: dict[str, Any], d: str = dossier_id) -> bool:
            return s == fold.public(d)

        wait_status(first, dossier_id, is_folded)
    first.kill9()
    assert all(
        committed(fleet.bootstrap, fleet.group, topic, p) is None for p in range(PARTITIONS)
    ), "the first worker committed: the test's premise does not hold"

    second = fleet.worker("second", data="shared")
    fleet.start(second)
    wait_consumed(fleet.bootstrap, fleet.group, topic, timeout=TAKEOVER_S)
    log = second.log()
    assert REWIND_LOG in log and f"| {topic} " in log[log.index(REWIND_LOG) :]
    for dossier_id in dossier_ids:
        assert status(second, dossier_id) == fold.public(dossier_id), dossier_id
    routed = assignments(fleet.bootstrap, fleet.names)
    assert_assignments(routed, fold.assignments)
    assert dead_letters(fleet.bootstrap, fleet.names) == []
    fleet.assert_no_agent_crash()
