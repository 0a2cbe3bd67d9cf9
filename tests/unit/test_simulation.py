"""The province simulator: reproducible, realistic in rhythm and volume, and right about
what the engine must conclude (its ground truth is cross-checked against the router)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import mean

import pytest

import events as ev
from agents.clock import AcceleratedClock
from agents.demo.feed import SimulatorStats, publish_in_simulated_time
from events import encode
from workflows.calendar import VN_TZ, WorkingCalendar
from workflows.catalog import Catalog
from workflows.deadlines import Completion
from workflows.effects import Rejected
from workflows.routing import RoutingContext, apply
from workflows.simulation import (
    ProvinceProfile,
    RunWindow,
    Workload,
    expect,
    receipts,
    run_window,
    simulate_province,
)
from workflows.state import Status

from support.context import sample_catalog
from support.time import vn

CAL = WorkingCalendar()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_catalog()


@pytest.fixture(scope="module")
def workload(catalog: Catalog) -> Workload:
    """Two working weeks of March 2026 after ten days of backlog, a tenth of a province."""
    window = run_window(CAL, date(2026, 3, 2), 10, backlog_days=10)
    return simulate_province(catalog, CAL, window, seed=7, scale=0.1)


# --- the run window --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "days", "start", "end"),
    [
        # two plain weeks: Monday 07:00 to Friday 17:30
        ("2026-03-02", 10, "2026-03-02 07:00", "2026-03-13 17:30"),
        # starting on a Saturday: the run starts on Monday
        ("2026-02-28", 1, "2026-03-02 07:00", "2026-03-02 17:30"),
        # 30/4 and 1/5 2026 (Thursday, Friday) are off: three working days end on Tuesday
        ("2026-04-29", 3, "2026-04-29 07:00", "2026-05-05 17:30"),
    ],
)
def test_run_window_counts_working_days(first: str, days: int, start: str, end: str) -> None:
    window = run_window(CAL, date.fromisoformat(first), days)
    assert (window.start, window.end) == (vn(start), vn(end))


def test_run_window_backlog_starts_working_days_earlier() -> None:
    window = run_window(CAL, date(2026, 3, 2), 1, backlog_days=5)
    assert window.backlog_from == vn("2026-02-23 00:00")  # Monday a week earlier


def test_run_window_needs_a_day() -> None:
    with pytest.raises(ValueError, match="at least one working day"):
        run_window(CAL, date(2026, 3, 2), 0)


# --- reproducible ----------------------------------------------------------------------


def _wire(w: Workload) -> list[bytes]:
    return [encode(e) for e in w.events()]


def test_same_seed_same_dossiers(catalog: Catalog, workload: Workload) -> None:
    again = simulate_province(catalog, CAL, workload.window, seed=7, scale=0.1)
    assert _wire(again) == _wire(workload)
    assert [d.expected for d in again.dossiers] == [d.expected for d in workload.dossiers]


def test_another_seed_other_dossiers(catalog: Catalog, workload: Workload) -> None:
    other = simulate_province(catalog, CAL, workload.window, seed=8, scale=0.1)
    assert {d.dossier_id for d in other.dossiers} != {d.dossier_id for d in workload.dossiers}


def test_guard_redraws_only_dossiers_too_close_to_a_deadline(
    catalog: Catalog, workload: Workload
) -> None:
    guard = timedelta(hours=1)
    guarded = simulate_province(catalog, CAL, workload.window, seed=7, scale=0.1, guard=guard)
    plain = {d.dossier_id: d for d in workload.dossiers}
    redrawn = [d for d in guarded.dossiers if d.attempts > 1]
    assert redrawn, "a guard of an hour must redraw some dossiers"
    for d in guarded.dossiers:
        if d.attempts == 1:
            assert d.events == plain[d.dossier_id].events
        if not d.timing_sensitive(guard):
            assert d.margin is None or d.margin >= guard
    sensitive = sum(d.timing_sensitive(guard) for d in guarded.dossiers)
    assert sensitive < 0.05 * len(guarded.dossiers)


# --- rhythm and volume -----------------------------------------------------------------


@pytest.fixture(scope="module")
def quarter(catalog: Catalog) -> list[tuple[datetime, str, ev.FilingChannel]]:
    """The second quarter of 2026 at full scale (30/4, 1/5 and Hùng Kings' day are off)."""
    return [
        (r.at.astimezone(VN_TZ), r.procedure.online_level, r.channel)
        for r in receipts(catalog, CAL, date(2026, 4, 1), date(2026, 6, 30), seed=3)
    ]


def test_a_quarter_is_about_80000_dossiers(
    quarter: list[tuple[datetime, str, ev.FilingChannel]],
) -> None:
    working_days = CAL.working_days_in(date(2026, 4, 1), date(2026, 6, 30))
    expected = 80_000 * working_days / ProvinceProfile().working_days_per_quarter
    assert abs(len(quarter) - expected) < 0.02 * expected


def test_volumes_scale(catalog: Catalog) -> None:
    def count(scale: float) -> int:
        days = receipts(catalog, CAL, date(2026, 3, 2), date(2026, 3, 27), seed=5, scale=scale)
        return len(days)

    full, tenth = count(1.0), count(0.1)
    assert 8.5 < full / tenth < 11.5
    assert abs(full - 20 * 80_000 / 62) < 0.03 * full  # 20 working days


def test_nothing_arrives_on_days_off(quarter: list[tuple[datetime, str, ev.FilingChannel]]) -> None:
    days = {t.date() for t, _, _ in quarter}
    assert all(CAL.is_working_day(d) for d in days)
    assert date(2026, 4, 30) not in days and date(2026, 5, 1) not in days
    assert not any(d.weekday() >= 5 for d in days)  # no make-up Saturday in 2026 Q2


def test_weekly_rhythm(quarter: list[tuple[datetime, str, ev.FilingChannel]]) -> None:
    per_day = Counter(t.date() for t, _, _ in quarter)
    by_weekday = {wd: mean(n for d, n in per_day.items() if d.weekday() == wd) for wd in range(5)}
    monday, tuesday, wednesday, thursday, friday = (by_weekday[wd] for wd in range(5))
    assert monday > tuesday > thursday > friday  # Monday busiest, the week tails off
    assert monday > 1.5 * friday
    assert abs(wednesday - mean(by_weekday.values())) < 0.1 * wednesday

    def afternoon_share(weekday: int) -> float:
        office = [t for t, _, _ in quarter if t.weekday() == weekday and t.hour < 18]
        return sum(t.hour >= 13 for t in office) / len(office)

    assert afternoon_share(4) < 0.6 * afternoon_share(0)  # Friday afternoon is quiet


def test_arrivals_in_office_hours_or_online_after_close(
    quarter: list[tuple[datetime, str, ev.FilingChannel]],
) -> None:
    for t, _, channel in quarter:
        in_office = CAL.is_working_instant(t)
        evening = t.hour * 60 + t.minute >= 17 * 60 + 30 and t.hour < 22
        assert in_office or (evening and channel is ev.FilingChannel.ONLINE), (t, channel)


def test_online_share_where_a_procedure_is_online(
    quarter: list[tuple[datetime, str, ev.FilingChannel]],
) -> None:
    offered = [ch for _, level, ch in quarter if level != "none"]
    share = sum(ch is ev.FilingChannel.ONLINE for ch in offered) / len(offered)
    assert abs(share - 0.785) < 0.01  # Lào Cai 2023: 78.5%
    assert all(ch is not ev.FilingChannel.ONLINE for _, level, ch in quarter if level == "none")


# --- lifecycles and their ground truth ---------------------------------------------------


def test_ground_truth_agrees_with_the_router(catalog: Catalog, workload: Workload) -> None:
    """Every event is legal, and the expectation (derived without the router) is what the
    router concludes: status, deadlines, early / on time / late, days used and saved."""
    ctx = RoutingContext(catalog, CAL)
    for d in workload.dossiers:
        state = None
        for event in d.events:
            state, effects = apply(state, event, ctx)
            assert not [e for e in effects if isinstance(e, Rejected)], (d.dossier_id, effects)
        assert state is not None
        x = d.expected
        assert state.status is x.status, d.dossier_id
        assert (state.start_at, state.committed_due_at, state.original_due_at) == (
            x.start_at,
            x.committed_due_at,
            x.original_due_at,
        ), d.dossier_id
        if x.completion is None:
            assert state.outcome is None
            continue
        assert state.outcome is not None
        assert state.outcome.completion is x.completion, d.dossier_id
        assert x.used_days is not None and x.saved_days is not None
        assert state.outcome.used_days == pytest.approx(float(x.used_days), abs=1e-4)
        assert state.outcome.saved_days == pytest.approx(float(x.saved_days), abs=1e-4)


def test_a_province_mix(workload: Workload) -> None:
    ds = workload.dossiers
    statuses = Counter(d.expected.status for d in ds)
    classes = Counter(d.expected.completion for d in ds if d.expected.completion is not None)
    events = Counter(e.type for d in ds for e in d.events)
    completed = sum(classes.values())
    assert completed > 0.5 * len(ds)
    assert 0.85 < (classes[Completion.EARLY] + classes[Completion.ON_TIME]) / completed < 0.99
    assert classes[Completion.LATE] > 0  # slow agencies really miss deadlines
    assert statuses[Status.WITHDRAWN] and statuses[Status.REJECTED] and statuses[Status.PAUSED]
    refused = [
        e
        for d in ds
        for e in d.events
        if isinstance(e, ev.ResultReady) and e.outcome is ev.ResultOutcome.REFUSED
    ]
    assert refused
    assert events["dossier.supplement_requested"] and events["dossier.rescheduled"]
    assert sum(bool(d.expected.overdue_alerts(workload.window)) for d in ds) > 0


def test_events_are_the_runs_own(workload: Workload) -> None:
    w = workload.window
    for d in workload.dossiers:
        times = [e.occurred_at for e in d.events]
        assert times == sorted(times)
        assert isinstance(d.events[0], ev.DossierReceived)
        assert times[-1] <= w.end
        # a dossier over before the run starts is not part of it
        assert times[-1] >= w.start or not d.expected.status.closed
    assert any(d.received_at < w.start for d in workload.dossiers)  # work in progress


def test_truth_record_is_json_ready(workload: Workload) -> None:
    import json

    d = next(x for x in workload.dossiers if x.expected.overdue_alerts(workload.window))
    record = json.loads(json.dumps(d.truth(workload.window)))
    assert record["dossier_id"] == d.dossier_id
    assert record["expected"]["status"] == d.expected.status.value
    assert record["expected"]["overdue"][0]["due_at"] == (
        d.expected.overdue_alerts(workload.window)[0][0].isoformat()
    )
    assert len(record["events"]) == len(d.events)


# --- when the engine must raise an overdue alert -------------------------------------------

#: 1.001612 (household business registration): 3 working days; received Monday 08:00,
#: due Thursday 08:00.
PROC = "1.001612"
RUN = RunWindow(vn("2026-03-02 07:00"), vn("2026-03-06 17:30"), vn("2026-02-23 00:00"))


def _events(*rest: ev.InboundEvent, received: str = "2026-03-02 08:00") -> list[ev.InboundEvent]:
    first = ev.DossierReceived(
        event_id="D/0",
        dossier_id="D",
        occurred_at=vn(received),
        agency="SAPA.TTPVHCC",
        procedure=PROC,
        channel=ev.FilingChannel.ONLINE,
    )
    return [first, *rest]


def _result(when: str) -> ev.ResultReady:
    return ev.ResultReady(
        event_id="D/r", dossier_id="D", occurred_at=vn(when), agency="SAPA", outcome="approved"
    )


def _pause(begin: str, end: str) -> list[ev.InboundEvent]:
    return [
        ev.SupplementRequested(
            event_id="D/p", dossier_id="D", occurred_at=vn(begin), agency="SAPA", reason="x"
        ),
        ev.SupplementReceived(
            event_id="D/q", dossier_id="D", occurred_at=vn(end), agency="SAPA.TTPVHCC"
        ),
    ]


def _apology(when: str, *, new_due: str) -> ev.DossierRescheduled:
    """The agency apologises at ``when`` and sets a new appointment ``new_due``."""
    return ev.DossierRescheduled(
        event_id="D/a",
        dossier_id="D",
        occurred_at=vn(when),
        agency="SAPA",
        new_due_at=vn(new_due),
        reason="x",
    )


@pytest.mark.parametrize(
    ("events", "alerts"),
    [
        # done Wednesday: never overdue
        (_events(_result("2026-03-04 10:00")), []),
        # done Thursday 10:00, two hours after the due: overdue at the due
        (_events(_result("2026-03-05 10:00")), [("2026-03-05 08:00", "2026-03-05 08:00")]),
        # still open at the end of the run: overdue at the due
        (_events(), [("2026-03-05 08:00", "2026-03-05 08:00")]),
        # received the Friday before: due Wednesday 17:30; open at the start, overdue then
        (
            _events(received="2026-02-27 17:30"),
            [("2026-03-04 17:30", "2026-03-04 17:30")],
        ),
        # received three weeks before and still open: overdue at the start of the run
        (
            _events(received="2026-02-09 08:00"),
            [("2026-02-12 08:00", "2026-03-02 07:00")],
        ),
        # paused a working day (Tue 08:00 - Wed 08:00): due Friday 08:00, done before
        (_events(*_pause("2026-03-03 08:00", "2026-03-04 08:00"), _result("2026-03-05 16:00")), []),
        # paused across the due: the clock stops; resumed Friday 08:00, due moves to Monday
        (
            _events(*_pause("2026-03-04 08:00", "2026-03-06 08:00")),
            [],
        ),
        # an apology before the due: the new appointment is Friday 17:00, met
        (
            _events(
                _apology("2026-03-04 09:00", new_due="2026-03-06 17:00"),
                _result("2026-03-06 10:00"),
            ),
            [],
        ),
        # returned is not processing: the alert depends on result_ready only
        (
            _events(
                _result("2026-03-04 10:00"),
                ev.DossierReturned(
                    event_id="D/z", dossier_id="D", occurred_at=vn("2026-03-06 10:00"), agency="X"
                ),
            ),
            [],
        ),
    ],
)
def test_overdue_alerts_expected(
    catalog: Catalog, events: list[ev.InboundEvent], alerts: list[tuple[str, str]]
) -> None:
    x = expect(catalog, CAL, events)
    assert x.overdue_alerts(RUN) == tuple((vn(due), vn(seen)) for due, seen in alerts)


def test_an_apology_moves_the_appointment_not_the_yardstick(catalog: Catalog) -> None:
    apology = _apology("2026-03-04 09:00", new_due="2026-03-09 17:00")
    x = expect(catalog, CAL, _events(apology, _result("2026-03-06 10:00")))
    assert x.committed_due_at == vn("2026-03-09 17:00")
    assert x.original_due_at == vn("2026-03-05 08:00")
    assert x.completion is Completion.LATE  # judged against the first appointment
    assert x.overdue_alerts(RUN) == ()


def test_timing_margin_is_the_gap_between_an_ending_event_and_its_due(catalog: Catalog) -> None:
    # done 20 minutes before the due
    x = expect(catalog, CAL, _events(_result("2026-03-05 07:40")))
    assert x.timing_margin(RUN) == timedelta(minutes=20)
    # still open: nothing to race
    assert expect(catalog, CAL, _events()).timing_margin(RUN) is None


def test_step_events_do_not_end_a_span(catalog: Catalog) -> None:
    step = ev.StepCompleted(
        event_id="D/s",
        dossier_id="D",
        occurred_at=vn("2026-03-05 08:01"),
        agency="SAPA.TTPVHCC",
        step="receive",
    )
    x = expect(catalog, CAL, _events(step))
    assert len(x.spans) == 1 and x.spans[0].end is None
    assert x.used_days is None and x.saved_days is None
    assert expect(catalog, CAL, _events(_result("2026-03-03 08:00"))).used_days == Decimal(1)


# --- the run's clock and publishing in simulated time -------------------------------------


def test_run_clock_holds_runs_and_stops() -> None:
    start = vn("2026-03-02 07:00")
    clock = AcceleratedClock(
        start, 3600.0, held=True, hold_at=vn("2026-01-01 00:00"), stop_at=vn("2026-03-02 09:00")
    )
    assert clock.now() == vn("2026-01-01 00:00") and not clock.released
    assert clock.real_seconds_until(start) == float("inf")
    clock.release(time.monotonic() - 1.0)  # released a real second ago: an hour has passed
    assert timedelta(minutes=59) < clock.now() - start < timedelta(minutes=62)
    assert 0.9 < clock.real_seconds_until(vn("2026-03-02 09:00")) < 1.1
    assert clock.real_seconds_until(vn("2026-03-02 10:00")) == float("inf")  # after the stop
    clock.release(time.monotonic() - 10.0)
    assert clock.now() == vn("2026-03-02 09:00") and clock.stopped()


def test_run_clocks_with_one_origin_agree() -> None:
    origin = time.monotonic()
    a = AcceleratedClock(vn("2026-03-02 07:00"), 10_000.0, origin=origin)
    b = AcceleratedClock(vn("2026-03-02 07:00"), 10_000.0, origin=origin)
    assert abs((a.now() - b.now()).total_seconds()) < 10_000 * 0.01


class _Recorder:
    """A stand-in Publisher: remembers when each event was handed over."""

    def __init__(self, clock: AcceleratedClock) -> None:
        self.clock = clock
        self.published: list[tuple[datetime, ev.InboundEvent]] = []
        self.flushes = 0

    def publish(self, event: ev.InboundEvent) -> None:
        self.published.append((self.clock.now(), event))

    def flush(self) -> int:
        self.flushes += 1
        return 0


def test_each_event_is_published_when_the_clock_reaches_it(workload: Workload) -> None:
    w = workload.window
    events = [e for e in workload.run_events() if e.occurred_at < w.start + timedelta(hours=10)]
    # ten simulated hours in about a second
    clock = AcceleratedClock(w.start, 36_000.0, held=True, stop_at=w.end)
    recorder = _Recorder(clock)
    stats = SimulatorStats(total=len(events))
    clock.release()
    count = publish_in_simulated_time(recorder, events, clock, stats)  # type: ignore[arg-type]
    assert count == len(events) == stats.published
    assert [e for _, e in recorder.published] == events
    late = [(seen - e.occurred_at) for seen, e in recorder.published]
    assert all(d >= timedelta(0) for d in late)  # never before its instant
    # and soon after it: 0.1 real s is 1 simulated hour at this speed
    assert max(late) < timedelta(hours=1)
    assert recorder.flushes > 1
