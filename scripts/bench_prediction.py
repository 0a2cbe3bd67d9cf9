#!/usr/bin/env python3
"""Predicted-late warnings against the simulator's ground truth (issue 17).

    .venv/bin/python scripts/bench_prediction.py [--scale 0.1] [--days 125] [--warmup 25]
        [--threshold 0.6] [--min-history 30] [--check-hours 4]

Two simulated provinces: profile ``A`` (the default ``ProvinceProfile``, seed 1: the one
the threshold and the minimum history were chosen on) and profile ``B`` (other slow
agencies, harder dossiers, more supplements, seed 2: never tuned on). Each is replayed in
event order exactly as a worker runs: every event is applied (``workflows.routing.apply``),
the steps it completed teach the sketches (``learnt``), then the dossier is evaluated
(``raise_predicted_late``); between events every open dossier is re-evaluated after
``--check-hours`` working hours without one, as the watcher's tick does. Nothing looks
ahead: a prediction sees only the sketches learnt from steps completed before it.

Scored on dossiers received after ``--warmup`` working days whose processing ended in the
run (a result, a withdrawal or a rejection): recall = late dossiers first flagged at least
2 working days before their committed due / late dossiers; precision = flagged dossiers
that end late / flagged dossiers; lead = working days from the first flag to the due. The
75% rule is the ``due_soon`` dossier alert (``AlertPolicy``: 75% of the allotment used, 1
working day left, never before 50%) as the watcher raises it; "at equal alarm volume" is
the same rule with the fraction that raises about as many alarms as the predictor.
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workflows.alerts import AlertPolicy, next_watch_point  # noqa: E402
from workflows.calendar import WORKING_DAY, WorkingCalendar  # noqa: E402
from workflows.catalog import Catalog, load_catalog  # noqa: E402
from workflows.deadlines import Completion, paused_working_time  # noqa: E402
from workflows.prediction import (  # noqa: E402
    PredictionPolicy,
    QuantileCache,
    Sketch,
    has_history,
    learnt,
    raise_predicted_late,
)
from workflows.routing import ANYONE, RoutingContext, apply  # noqa: E402
from workflows.simulation import (  # noqa: E402
    Pace,
    ProvinceProfile,
    RunWindow,
    Workload,
    run_window,
    simulate_province,
)
from workflows.state import DossierState, Status  # noqa: E402

#: Targets of issue 17.
TARGET_RECALL, TARGET_PRECISION, TARGET_RATIO, TARGET_US = 0.8, 0.8, 1.5, 1000.0
LEAD_DAYS = 2.0


def profile_b() -> ProvinceProfile:
    """Another province: other slow agencies, harder and more varied dossiers."""
    return ProvinceProfile(
        agency_pace={
            "CAT": Pace(0.95, 0.35),
            "SXD": Pace(0.9, 0.4),
            "CAMDUONG": Pace(0.85, 0.45),
            "UBND-TINH": Pace(0.9, 0.3),
        },
        dossier_spread=0.3,
        supplement_rate=0.15,
        apology_rate=0.2,
        default_pace=Pace(0.65, 0.4),
    )


@dataclass
class Interval:
    """An open stretch of one state: what the 75% rule needs to know about it."""

    allotment: float  # working seconds, pauses left out
    left_at_start: float  # working seconds to the committed due at the stretch's start
    left_at_end: float  # ... at its end


#: Thresholds scored from the same replay: the first instant each is reached is the
#: instant a worker with that threshold raises the alert (the rule's only effect on the
#: dossier is the mark that stops it repeating).
THRESHOLDS = tuple(t / 100 for t in range(5, 100, 5))


@dataclass
class Outcome:
    late: bool
    received: datetime
    #: threshold -> working days from the first prediction reaching it to the due
    leads: dict[float, float] = field(default_factory=dict)
    intervals: list[Interval] = field(default_factory=list)


def _allotment(cal: WorkingCalendar, state: DossierState) -> float:
    span = cal.working_time_between(state.start_at, state.committed_due_at)
    pauses = [(p.requested_at, p.received_at) for p in state.pauses if p.received_at is not None]
    paused = paused_working_time(cal, pauses, within=(state.start_at, state.committed_due_at))
    return (span - paused).total_seconds()


def replay(
    work: Workload, catalog: Catalog, cal: WorkingCalendar, policy: PredictionPolicy
) -> tuple[dict[str, Outcome], int, float, float]:
    """(outcome per dossier, predictions made, CPU and wall seconds in them)."""
    ctx = RoutingContext(catalog, cal)
    sketches: dict[str, Sketch] = {}
    cache = QuantileCache()
    states: dict[str, DossierState] = {}
    since: dict[str, datetime] = {}  # when each open state began (for the 75% rule)
    outcomes = {
        d.dossier_id: Outcome(d.expected.completion is Completion.LATE, d.received_at)
        for d in work.dossiers
        if d.expected.status.closed or d.expected.completion is not None
    }
    checks: list[tuple[float, int, str]] = []
    seq = {"n": 0}
    latest: dict[str, int] = {}
    every = timedelta(hours=policy.check_every_hours)
    alerts_policy = AlertPolicy()
    # a threshold above 1: never raised, so every prediction is returned and scored below
    scoring = replace(policy, threshold=2.0)
    predictions = [0]
    spent = [0.0, 0.0]

    def evaluate(key: str, now: datetime) -> None:
        state = states[key]
        cpu, wall = time.process_time(), time.perf_counter()
        _, _, found = raise_predicted_late(state, catalog, cal, sketches.get, now, scoring, cache)
        spent[0] += time.process_time() - cpu
        spent[1] += time.perf_counter() - wall
        predictions[0] += 1
        out = outcomes.get(key)
        if found is not None and out is not None:
            for t in (*THRESHOLDS, policy.threshold):
                if found.probability >= t and t not in out.leads:
                    out.leads[t] = (
                        cal.working_time_between(now, state.committed_due_at) / WORKING_DAY
                    )
        if state.status is not Status.OPEN:
            return
        # As the worker: looked at again at the next alert instant, or after a check
        # interval when the route has the history a prediction needs.
        point = next_watch_point(state, cal, alerts_policy)
        at = point.at if point is not None and point.at > now else None
        proc = catalog.procedure(state.procedure, at=date.fromisoformat(state.procedure_version))
        if proc is not None and has_history(state, proc, sketches.get, policy.min_history):
            check = cal.add_working_time(now, every)
            at = check if at is None or check < at else at
        if at is not None:
            seq["n"] += 1
            latest[key] = seq["n"]
            heapq.heappush(checks, (at.timestamp(), seq["n"], key))

    def close_interval(key: str, until: datetime) -> None:
        state = states.get(key)
        out = outcomes.get(key)
        if state is None or out is None or state.status is not Status.OPEN:
            return
        begin = since[key]
        due = state.committed_due_at
        out.intervals.append(
            Interval(
                _allotment(cal, state),
                cal.working_time_between(begin, due).total_seconds(),
                cal.working_time_between(min(until, due), due).total_seconds(),
            )
        )

    for event in work.events():
        now = event.occurred_at
        while checks and checks[0][0] <= now.timestamp():
            at, n, key = heapq.heappop(checks)
            if latest.get(key) == n and key in states:
                evaluate(key, datetime.fromtimestamp(at, tz=now.tzinfo))
        key = event.dossier_id
        before = states.get(key)
        new, _ = apply(before, event, ctx, ANYONE)
        if new is None or new is before:
            continue
        close_interval(key, now)
        for sketch_key, seconds in learnt(before, new, catalog):
            sketches.setdefault(sketch_key, Sketch()).add(seconds)
        states[key] = new
        since[key] = now
        if new.status is Status.OPEN:
            evaluate(key, now)
        else:
            latest.pop(key, None)
    for key in list(states):
        close_interval(key, work.window.end)
    return outcomes, predictions[0], spent[0], spent[1]


def rule_lead(
    out: Outcome, fraction: float, days_left: float = 1.0, floor: float = 0.5
) -> float | None:
    """Working days ahead of the due at which the due-soon rule (``workflows.alerts``:
    ``fraction`` of the allotment used or ``days_left`` left, never before ``floor``)
    fires for this dossier (None: it never does while the dossier is open)."""
    for i in out.intervals:
        if i.allotment <= 0:
            continue
        left = max(i.allotment * (1 - fraction), WORKING_DAY.total_seconds() * days_left)
        left = min(left, i.allotment * (1 - floor))
        if i.left_at_end < left:
            return min(i.left_at_start, left) / WORKING_DAY.total_seconds()
    return None


@dataclass(frozen=True)
class Score:
    alarms: int
    late: int
    caught: int  # late and flagged >= LEAD_DAYS ahead
    flagged_late: int  # late and flagged at any lead
    leads: tuple[float, ...]  # lead of every flagged late dossier

    @property
    def recall(self) -> float:
        return self.caught / self.late if self.late else 0.0

    @property
    def precision(self) -> float:
        return self.flagged_late / self.alarms if self.alarms else 0.0

    @property
    def median_lead(self) -> float:
        return statistics.median(self.leads) if self.leads else 0.0


def score(pairs: Iterable[tuple[bool, float | None]]) -> Score:
    alarms = late = caught = flagged_late = 0
    leads = []
    for is_late, lead in pairs:
        late += is_late
        if lead is None:
            continue
        alarms += 1
        if is_late:
            flagged_late += 1
            leads.append(lead)
            caught += lead >= LEAD_DAYS
    return Score(alarms, late, caught, flagged_late, tuple(leads))


def line(name: str, s: Score) -> str:
    return (
        f"  {name:<34} alarms {s.alarms:>6,}  late {s.late:>5,}  caught>=2d {s.caught:>5,}  "
        f"recall {s.recall:5.3f}  precision {s.precision:5.3f}  median lead {s.median_lead:5.2f} d"
    )


def run(
    name: str,
    prof: ProvinceProfile,
    seed: int,
    window: RunWindow,
    warmup_until: datetime,
    scale: float,
    policy: PredictionPolicy,
    catalog: Catalog,
    cal: WorkingCalendar,
    sweep: bool,
) -> dict[str, float]:
    started = time.perf_counter()
    work = simulate_province(catalog, cal, window, seed=seed, scale=scale, profile=prof)
    made = time.perf_counter() - started
    started = time.perf_counter()
    outcomes, predictions, cpu, wall = replay(work, catalog, cal, policy)
    replayed = time.perf_counter() - started
    scored = [o for o in outcomes.values() if o.received >= warmup_until]
    predictor = score((o.late, o.leads.get(policy.threshold)) for o in scored)
    rule = score((o.late, rule_lead(o, 0.75)) for o in scored)
    # The rule can raise fewer alarms only by firing later: the share of the allotment
    # alone (no day-left clause, no floor), at the fraction that raises about as many
    # alarms as the predictor.
    fractions = [f / 1000 for f in range(500, 1000, 5)]
    by_fraction = {
        f: score((o.late, rule_lead(o, f, days_left=0.0, floor=0.0)) for o in scored)
        for f in fractions
    }
    f_eq = min(fractions, key=lambda f: (abs(by_fraction[f].alarms - predictor.alarms), -f))
    equal = by_fraction[f_eq]
    us = cpu / predictions * 1e6 if predictions else 0.0
    us_wall = wall / predictions * 1e6 if predictions else 0.0
    print(
        f"profile {name} (seed {seed}, scale {scale:g}): {len(work.dossiers):,} dossiers, "
        f"{len(work.events()):,} events (simulated in {made:.1f} s, replayed in {replayed:.1f} s); "
        f"scored {len(scored):,} received from {warmup_until:%Y-%m-%d} and ended in the run"
    )
    print(line(f"predictor (P >= {policy.threshold:g})", predictor))
    print(line("75% rule", rule))
    print(line(f"share rule, equal volume (f = {f_eq:.3f})", equal))
    ratio = predictor.caught / equal.caught if equal.caught else float("inf")
    print(
        f"  caught >= 2 d ahead vs the share rule at equal volume: {ratio:.2f}x; "
        f"{predictions:,} predictions, {us:.0f} us CPU each ({us_wall:.0f} us wall)"
    )
    # The other way round: the predictor's threshold that raises about as many alarms as
    # the 75% rule does.
    curve = {t: score((o.late, o.leads.get(t)) for o in scored) for t in THRESHOLDS}
    t_eq = min(THRESHOLDS, key=lambda t: (abs(curve[t].alarms - rule.alarms), t))
    print(line(f"predictor at the rule's volume (P >= {t_eq:g})", curve[t_eq]))
    ratio_rule = curve[t_eq].caught / rule.caught if rule.caught else float("inf")
    print(f"  caught >= 2 d ahead vs the 75% rule at its volume: {ratio_rule:.2f}x")
    for threshold in THRESHOLDS if sweep else ():
        print(line(f"  predictor at P >= {threshold:g}", curve[threshold]))
    return {
        "recall": predictor.recall,
        "precision": predictor.precision,
        "ratio": ratio,
        "ratio_rule": ratio_rule,
        "us": us,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--days", type=int, default=125, help="working days simulated")
    parser.add_argument("--warmup", type=int, default=25, help="working days not scored")
    parser.add_argument("--threshold", type=float, default=PredictionPolicy.threshold)
    parser.add_argument("--min-history", type=int, default=PredictionPolicy.min_history)
    parser.add_argument("--check-hours", type=float, default=PredictionPolicy.check_every_hours)
    parser.add_argument("--pace-prior", type=float, default=PredictionPolicy.pace_prior)
    parser.add_argument("--profile", choices=("A", "B", "both"), default="both")
    parser.add_argument("--no-sweep", action="store_true", help="skip the threshold sweep")
    args = parser.parse_args(argv)
    policy = PredictionPolicy(
        threshold=args.threshold,
        min_history=args.min_history,
        check_every_hours=args.check_hours,
        pace_prior=args.pace_prior,
    )
    cal, catalog = WorkingCalendar(), load_catalog()
    # The sample catalog's versions are in force from 2025-07-01.
    window = run_window(cal, date(2025, 7, 1), args.days)
    warmup_until = cal.add_working_time(window.start, WORKING_DAY * args.warmup)
    load = Path("/proc/loadavg").read_text().split()[:3] if os.path.exists("/proc/loadavg") else []
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {' '.join(load)}; threshold {policy.threshold:g}, min history "
        f"{policy.min_history}, re-evaluated every {policy.check_every_hours:g} working hours, "
        f"pace prior {policy.pace_prior:g}"
    )
    runs = [("A", ProvinceProfile(), 1), ("B", profile_b(), 2)]
    figures = {}
    for name, prof, seed in runs:
        if args.profile in (name, "both"):
            figures[name] = run(
                name,
                prof,
                seed,
                window,
                warmup_until,
                args.scale,
                policy,
                catalog,
                cal,
                not args.no_sweep,
            )
    for name, f in figures.items():
        print(
            f"targets, profile {name}: recall {f['recall']:.3f} (>= {TARGET_RECALL}), "
            f"precision {f['precision']:.3f} (>= {TARGET_PRECISION}), "
            f"{f['ratio']:.2f}x the share rule at the predictor's volume and "
            f"{f['ratio_rule']:.2f}x the 75% rule at its volume (>= {TARGET_RATIO}), "
            f"{f['us']:.0f} us per prediction (<= {TARGET_US:.0f})"
        )


if __name__ == "__main__":
    main()
