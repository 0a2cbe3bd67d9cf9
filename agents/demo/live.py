"""Progress while the demo runs: Kafka consumer lag, and the live view of the workers'
``/metrics``."""

from __future__ import annotations

import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from agents.clock import AcceleratedClock
from agents.demo.feed import SimulatorStats
from agents.demo.output import say
from agents.tools.kafka_read import consumer_lag
from workflows.calendar import VN_TZ
from workflows.simulation import RunWindow


def wait_consumed(
    bootstrap: str,
    group: str,
    topics: Sequence[str],
    *,
    timeout: float = 300.0,
    on_wait: Callable[[int], None] | None = None,
    **security: Any,
) -> None:
    deadline = time.monotonic() + timeout
    while (lag := consumer_lag(bootstrap, group, topics, **security)) > 0:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the workers still had {lag} records to consume after {timeout:.0f} s"
            )
        if on_wait is not None:
            on_wait(lag)
        time.sleep(0.5)


# --- the live view ----------------------------------------------------------------------


def scrape(ports: Sequence[int]) -> defaultdict[str, float]:
    """The figures the live view shows, summed over the workers' /metrics."""
    totals: defaultdict[str, float] = defaultdict(float)
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode("utf-8")
        except OSError:
            continue
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "dossierflow_open_dossiers":
                    totals[f"status:{s.labels['status']}"] += s.value
                elif s.name == "dossierflow_open_overdue" and s.labels.get("scope") == "dossier":
                    totals["overdue"] += s.value
                elif s.name == "dossierflow_alerts_raised_total":
                    totals[f"alerts:{s.labels['level']}"] += s.value
                    totals["alerts"] += s.value
                elif s.name == "dossierflow_router_records_total":
                    totals[f"records:{s.labels['kind']}"] += s.value
                elif s.name == "dossierflow_completions_total":
                    totals[f"completed:{s.labels['completion']}"] += s.value
                elif s.name == "dossierflow_dead_letters_total":
                    totals["dead_letters"] += s.value
                elif s.name == "dossierflow_alert_deliveries_total":
                    totals[f"deliveries:{s.labels['result']}"] += s.value
    return totals


@dataclass
class LiveView:
    """Progress while the clock runs: a bar and a small table, or plain lines off a terminal."""

    clock: AcceleratedClock
    window: RunWindow
    stats: SimulatorStats
    ports: Sequence[int]
    days: int
    tty: bool
    period: float = 1.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _drawn: int = 0
    _last_line: float = 0.0
    _last_text: str = ""
    _stopped: bool = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="demo-live-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.draw(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            with suppress(Exception):  # a failed scrape must not end the demo
                self.draw()

    def draw(self, final: bool = False) -> None:
        figures = scrape(self.ports)
        lines = self.render(figures)
        if self.tty:
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            sys.stdout.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
            sys.stdout.flush()
            self._drawn = len(lines)
        elif final or time.monotonic() - self._last_line >= 5 * self.period:
            line = self.line(figures)
            if line != self._last_text:
                say("  " + line)
            self._last_line, self._last_text = time.monotonic(), line

    def _progress(self) -> tuple[float, datetime, int]:
        now = self.clock.now()
        done = (now - self.window.start) / self.window.span
        fraction = min(max(done, 0.0), 1.0)
        return fraction, now.astimezone(VN_TZ), min(int(fraction * self.days) + 1, self.days)

    def render(self, f: Mapping[str, float]) -> list[str]:
        def n(key: str) -> int:
            return int(f.get(key, 0))

        fraction, now, day = self._progress()
        width = 32
        filled = round(fraction * width)
        bar = "█" * filled + "░" * (width - filled)
        completed = n("completed:early") + n("completed:on_time") + n("completed:late")
        on_time = n("completed:early") + n("completed:on_time")
        rate = f"{on_time / completed:.1%}" if completed else "-"
        return [
            f"  {bar} {fraction:4.0%}  {now:%a %d/%m/%Y %H:%M}  (working day {day} of {self.days})",
            f"  published  {self.stats.published:>8,} of {self.stats.total:,} events"
            f"  {self.stats.rate():6,.0f} events/s   consumed {n('records:events'):,}",
            f"  dossiers   open {n('status:open'):,}   waiting for supplement "
            f"{n('status:paused'):,}   result ready {n('status:result_ready'):,}",
            f"  deadlines  overdue now {n('overdue'):,}   alerts sent {n('alerts'):,}"
            f" (due soon {n('alerts:due_soon'):,}, overdue {n('alerts:overdue'):,},"
            f" statutory {n('alerts:statutory_breach'):,})",
            f"  delivered  {n('deliveries:delivered'):,} webhook and e-mail messages to supervisors"
            + (f" ({n('deliveries:failed'):,} failed)" if n("deliveries:failed") else ""),
            f"  completed  {completed:,}   on time {rate}",
        ]

    def line(self, f: Mapping[str, float]) -> str:
        def n(key: str) -> int:
            return int(f.get(key, 0))

        fraction, now, _ = self._progress()
        return (
            f"{fraction:4.0%} {now:%a %Y-%m-%d %H:%M} | published {self.stats.published:,}/"
            f"{self.stats.total:,} ({self.stats.rate():,.0f}/s) | open {n('status:open'):,}, "
            f"overdue {n('overdue'):,} | alerts {n('alerts'):,} "
            f"(due soon {n('alerts:due_soon'):,}, overdue {n('alerts:overdue'):,})"
        )
