"""What a scrape shows operators: office hours from the engine's calendar, no ``_created``
series, a ``worker`` label that survives a restart."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from agents.clock import ManualClock
from agents.runtime.app import create_app, worker_label
from agents.settings import Settings
from monitoring.metrics import OFFICE_HOURS_OPEN, create_metrics
from workflows.calendar import VN_TZ


def scraped_office_hours(at: datetime) -> float:
    flow = create_app(Settings(topic_prefix=""), clock=ManualClock(at))
    assert flow.ops is not None
    text = flow.ops.metrics().decode()
    found = re.search(rf"^{OFFICE_HOURS_OPEN} (\S+)$", text, flags=re.MULTILINE)
    assert found, text
    return float(found.group(1))


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        # Monday 08/02/2027, third day of Tết: a Monday, 10:00, and no one at work
        (datetime(2027, 2, 8, 10, tzinfo=VN_TZ), 0.0),
        # Saturday 22/08/2026, the make-up working day for 31/08: open at 09:00
        (datetime(2026, 8, 22, 9, tzinfo=VN_TZ), 1.0),
        # Tuesday 02/06/2026 12:00: lunch (11:30-13:30) on a working day
        (datetime(2026, 6, 2, 12, tzinfo=VN_TZ), 0.0),
        # the same Tuesday at 14:00: open
        (datetime(2026, 6, 2, 14, tzinfo=VN_TZ), 1.0),
        # Saturday 29/08/2026, an ordinary Saturday, 09:00: closed
        (datetime(2026, 8, 29, 9, tzinfo=VN_TZ), 0.0),
    ],
)
def test_the_office_hours_gauge_follows_the_working_calendar(at: datetime, open_: float) -> None:
    assert scraped_office_hours(at) == open_


def test_the_gauge_is_computed_at_each_scrape_from_the_worker_clock() -> None:
    clock = ManualClock(datetime(2026, 6, 2, 11, 0, tzinfo=VN_TZ))
    flow = create_app(Settings(topic_prefix=""), clock=clock)
    assert flow.ops is not None
    assert f"{OFFICE_HOURS_OPEN} 1.0" in flow.ops.metrics().decode()
    clock.set(datetime(2026, 6, 2, 11, 45, tzinfo=VN_TZ))  # lunch began at 11:30
    assert f"{OFFICE_HOURS_OPEN} 0.0" in flow.ops.metrics().decode()


def test_no_created_series_are_exported() -> None:
    registry = CollectorRegistry()
    metrics = create_metrics(registry)
    metrics.events_consumed.labels(type="dossier.received", agency="SXD").inc()
    metrics.processing_days.observe(2.0)
    text = generate_latest(registry).decode()
    assert "dossierflow_events_consumed_total{" in text  # the counter is there ...
    assert "dossierflow_processing_working_days_count" in text
    assert "_created" not in text  # ... without its creation timestamp


def test_the_worker_label_is_the_same_for_a_restarted_worker() -> None:
    settings = Settings(web_port=6070)
    first, again = worker_label(settings), worker_label(Settings(web_port=6070))
    assert first == again and first.endswith(":6070")
    assert worker_label(Settings(worker_name="w-2")) == "w-2"
    assert worker_label(Settings(web_port=6071)) != first  # another slot, another label
