"""The event log for process-mining tools: CSV and XES from the engine's states, read back
(with PM4Py when installed) to the engine's own per-step wall-clock durations."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from agents.tools.export import CSV_COLUMNS, log_events, to_csv, to_xes
from workflows.simulation import simulate
from workflows.state import DossierState

from support.context import engine_context
from support.dossiers import Script
from support.fold import fold_state
from support.time import vn

#: PM4Py suggests a faster optional reader on every read; the pure-Python one is what we test.
pytestmark = pytest.mark.filterwarnings("ignore:Install the optional requirement:UserWarning")

XES = "{http://www.xes-standard.org/}"
CUT = vn("2026-03-12 08:00")  # some dossiers are still at a step: a start with no complete


@pytest.fixture(scope="module")
def states() -> list[DossierState]:
    ctx = engine_context()
    out = []
    for g in simulate(ctx.catalog, ctx.calendar, vn("2026-03-02 08:00"), 40, seed=3):
        seen = [e for e in g.events if e.occurred_at <= CUT]
        if seen:
            out.append(fold_state(seen, ctx))
    return out


def _engine_seconds(states: list[DossierState]) -> dict[str, float]:
    """Per step, the wall-clock time from each row's start to its finish, as the sheet says."""
    out: dict[str, float] = defaultdict(float)
    for state in states:
        for row in state.sheet:
            if row.finished_at is not None:
                out[row.step] += (row.finished_at - row.started_at).total_seconds()
    return dict(out)


def _close(found: dict[str, Any], engine: dict[str, float], rows: int) -> None:
    assert set(found) == set(engine)
    for step, seconds in engine.items():
        # timestamps are written to the millisecond: at most 1 ms off a row
        assert abs(float(found[step]) - seconds) <= 0.001 * rows, step


def test_a_re_visit_keeps_its_own_instance_and_order() -> None:
    ctx = engine_context()
    s = Script("D-x")
    state = fold_state(
        [
            s.received("2026-06-01 08:00", "MOTCUA", "2.001610"),
            s.done("2026-06-01 10:00", "MOTCUA", "receive"),
            s.done("2026-06-02 10:00", "STC", "review"),
            s.handed_off("2026-06-02 11:00", "STC", "review", "STC"),  # back to review
        ],
        ctx,
    )
    rows = [(e.activity, e.lifecycle, e.instance, e.resource) for e in log_events([state])]
    assert rows == [
        ("receive", "start", 0, "MOTCUA"),
        ("receive", "complete", 0, "MOTCUA"),  # the complete comes before the next start
        ("review", "start", 1, "STC"),
        ("review", "complete", 1, "STC"),
        ("issue", "start", 2, "STC"),
        ("issue", "complete", 2, "STC"),
        ("review", "start", 3, "STC"),  # still open: no complete
    ]
    text = to_csv(log_events([state]))
    assert text.splitlines()[1] == (
        "D-x,receive,MOTCUA,start,2026-06-01T08:00:00.000+07:00,0,2.001610,"
        "business-registration,false"
    )


def test_csv_round_trip(states: list[DossierState]) -> None:
    events = log_events(states)
    rows = list(csv.DictReader(io.StringIO(to_csv(events))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert (
        len(rows)
        == len(events)
        == sum(len(s.sheet) + sum(bool(r.finished_at) for r in s.sheet) for s in states)
    )
    assert {r["case_id"] for r in rows} == {s.dossier_id for s in states}
    assert any(r["lifecycle"] == "start" for r in rows) and any(
        r["lifecycle"] == "complete" for r in rows
    )


def test_xes_has_the_standard_s_structure(states: list[DossierState]) -> None:
    root = ET.fromstring(to_xes(log_events(states)))
    assert root.tag == f"{XES}log" and root.get("xes.version") == "1849-2016"
    prefixes = {e.get("prefix") for e in root.findall(f"{XES}extension")}
    assert prefixes == {"concept", "time", "lifecycle", "org"}
    traces = root.findall(f"{XES}trace")
    assert len(traces) == len(states)
    for trace in traces:
        for event in trace.findall(f"{XES}event"):
            keys = {a.get("key"): (a.tag, a.get("value")) for a in event}
            assert keys["time:timestamp"][0] == f"{XES}date"
            assert keys["lifecycle:transition"][1] in {"start", "complete"}
            assert {"concept:name", "org:resource"} <= set(keys)


def test_pm4py_reads_the_xes_to_the_engine_s_durations(
    states: list[DossierState], tmp_path: Path
) -> None:
    pm4py = pytest.importorskip("pm4py")
    interval_lifecycle = pytest.importorskip("pm4py.objects.log.util.interval_lifecycle")

    path = tmp_path / "log.xes"
    path.write_text(to_xes(log_events(states)), encoding="utf-8")
    log = pm4py.read_xes(str(path), return_legacy_log_object=True)
    assert len(log) == len(states)
    intervals = interval_lifecycle.to_interval(log)
    found = pm4py.get_service_time(
        intervals, aggregation_measure="sum", start_timestamp_key="start_timestamp"
    )
    _close(found, _engine_seconds(states), sum(len(s.sheet) for s in states))


def test_pm4py_reads_the_csv_to_the_engine_s_durations(
    states: list[DossierState], tmp_path: Path
) -> None:
    pm4py = pytest.importorskip("pm4py")
    pd = pytest.importorskip("pandas")
    interval_lifecycle = pytest.importorskip("pm4py.objects.log.util.interval_lifecycle")

    path = tmp_path / "log.csv"
    path.write_text(to_csv(log_events(states)), encoding="utf-8")
    frame = pd.read_csv(path).rename(columns={"lifecycle": "lifecycle:transition"})
    frame = pm4py.format_dataframe(
        frame, case_id="case_id", activity_key="activity", timestamp_key="timestamp"
    )
    intervals = interval_lifecycle.to_interval(pm4py.convert_to_event_log(frame))
    found = pm4py.get_service_time(
        intervals, aggregation_measure="sum", start_timestamp_key="start_timestamp"
    )
    _close(found, _engine_seconds(states), sum(len(s.sheet) for s in states))
