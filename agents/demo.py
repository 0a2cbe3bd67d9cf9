"""``dossierflow demo``: a province running on dossierflow, two working weeks in two minutes.

Starts Apache Kafka from its jars (unless ``--broker``) and the workers, on one
accelerated clock; simulates the province (``workflows.simulation``): the work in
progress at the start is published first, then every event when the clock reaches
it (``agents.simulator``). Meanwhile it shows live progress read from the workers'
``/metrics``. At the end it waits until the workers have consumed everything, prints
the province report, writes it with charts and the simulator's ground truth to the
output folder, checks the engine against that ground truth, and stops everything
it started, also on Ctrl-C.

The workers are ``dossierflow worker`` with one difference: their accelerated
clock is the run's ``RunClock``, released over HTTP (``POST /demo/clock``) at the
same real instant as the simulator's, so both show the same simulated time.
``python -m agents.demo worker`` is that entry point.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from agents.context import build_calendar
from agents.publisher import Publisher
from agents.settings import Settings
from agents.simulator import (
    DEFAULT_SPEED,
    RunClock,
    RunOptions,
    SimulatorStats,
    publish_in_simulated_time,
    publish_now,
    wait_for_end,
    write_truth,
)
from events import Alert, AlertLevel, AlertScope, ContractError, decode, encode
from workflows.calendar import VN_TZ
from workflows.catalog import Catalog, load_catalog
from workflows.report import ProvinceReport, render_markdown, render_text
from workflows.simulation import (
    RunWindow,
    Workload,
    run_window,
    simulate_province,
)
from workflows.state import DossierState

REPO = Path(__file__).resolve().parents[1]
KAFKA_LOCAL = REPO / "scripts" / "kafka-local"
#: What the demo runs now, for the stopper thread after Ctrl-C: worker pids by name, and
#: how to stop Kafka.
WORKER_PIDS: dict[str, int] = {}
SHUTDOWN: dict[str, Callable[[], None]] = {}


DEFAULT_KAFKA_PORT = 19092


def say(text: str = "") -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class DemoOptions(RunOptions):
    speed: float = DEFAULT_SPEED
    workers: int = 1
    out_dir: Path = Path("demo-output")
    #: web port of the first worker; the others take the next ones
    port: int = 6066
    kafka_port: int = DEFAULT_KAFKA_PORT
    #: an event and one of its dossier's deadlines closer than this (real seconds) are
    #: avoided by the simulator: at real time either may be seen first
    guard_seconds: float = 1.0
    tick_seconds: float = 0.05
    #: use this running broker instead of starting one
    broker: str | None = None
    #: live table redrawn in place; None: when stdout is a terminal
    live: bool | None = None


# --- the processes the demo starts -------------------------------------------------------


@contextmanager
def local_kafka(data_dir: Path, port: int) -> Iterator[str]:
    say(f"· starting Apache Kafka (scripts/kafka-local, data in {data_dir}) ...")

    def stop() -> None:
        subprocess.run(
            [str(KAFKA_LOCAL), "stop", "--data-dir", str(data_dir)],
            capture_output=True,
            check=False,
        )

    try:
        started = subprocess.run(
            [
                str(KAFKA_LOCAL),
                "start",
                "--port",
                str(port),
                "--controller-port",
                str(port + 1),
                "--data-dir",
                str(data_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    except BaseException:
        stop()  # interrupted while starting: the broker may be up already (it runs detached)
        raise
    if started.returncode != 0:
        raise SystemExit(
            f"could not start Kafka:\n{started.stderr}\n"
            "(a broker already running elsewhere can be used with: dossierflow --broker HOST:PORT demo)"
        )
    bootstrap = started.stdout.strip().splitlines()[-1]
    say(f"  Kafka ready at {bootstrap}")
    SHUTDOWN["kafka"] = stop
    try:
        yield bootstrap
    finally:
        stop()
        SHUTDOWN.pop("kafka", None)
        say("· Kafka stopped")


@dataclass
class WorkerProcess:
    name: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def worker_processes(
    envs: Sequence[dict[str, str]], argv: Sequence[str], out_dir: Path
) -> Iterator[list[WorkerProcess]]:
    """Start one worker per environment; on exit stop them (TERM, then KILL) and reap them."""
    started: list[WorkerProcess] = []
    try:
        for env in envs:
            name = env["DOSSIERFLOW_WORKER_NAME"]
            log_path = out_dir / f"{name}.log"
            with log_path.open("ab") as log:
                # Its own session: a Ctrl-C in the terminal reaches the demo only, which
                # then stops the workers in order instead of racing them.
                proc = subprocess.Popen(
                    [sys.executable, "-m", "agents.demo", "worker", *argv],
                    env=env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(WorkerProcess(name, int(env["DOSSIERFLOW_WEB_PORT"]), log_path, proc))
            WORKER_PIDS[name] = proc.pid
            say(f"· started {name} (pid {proc.pid}, log {log_path})")
        yield started
    finally:
        for w in started:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for w in started:
            try:
                w.proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(10)
        for w in started:
            WORKER_PIDS.pop(w.name, None)
        if started:
            say(f"· {len(started)} worker{'s' if len(started) > 1 else ''} stopped")


def wait_ready(workers: Sequence[WorkerProcess], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = [_health(w.port) for w in workers]
        if all(states):
            return
        for w in workers:
            if w.proc.poll() is not None:
                raise SystemExit(f"{w.name} exited ({w.proc.returncode}); see {w.log_path}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers were not ready in {timeout:.0f} s; see their logs")
        time.sleep(0.3)


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("ready"))
    except (OSError, ValueError):
        return False


def _post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the worker's web server does: a port in TIME_WAIT after a previous run is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextmanager
def webhook_receivers(catalog: Catalog) -> Iterator[Counter[str]]:
    """Stand in for the supervisors' webhook receivers the catalog names on this machine.

    The sample catalog points every webhook at 127.0.0.1:8099: answering there lets the
    notifier deliver instead of retrying into a closed port. A port already taken is
    left alone (those deliveries then fail and land on the alerts-failed topic).
    """
    received: Counter[str] = Counter()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received[self.path] += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    servers = []
    for port in sorted(_local_webhook_ports(catalog)):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
        except OSError:
            say(f"  (127.0.0.1:{port} is taken: webhook deliveries there will fail)")
            continue
        threading.Thread(target=server.serve_forever, name=f"webhooks-{port}", daemon=True).start()
        servers.append(server)
        say(f"· supervisors' webhooks received at http://127.0.0.1:{port}/hooks/...")
    try:
        yield received
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _local_webhook_ports(catalog: Catalog) -> set[int]:
    ports = set()
    for agency in catalog.agencies.values():
        for supervisor in agency.supervisors:
            if supervisor.webhook is None:
                continue
            url = urlsplit(supervisor.webhook)
            if url.hostname in ("127.0.0.1", "localhost") and url.port is not None:
                ports.add(url.port)
    return ports


# --- Kafka progress ---------------------------------------------------------------------


def consumer_lag(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Records on ``topics`` the group has not committed yet."""
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap], group_id=group, enable_auto_commit=False
    )
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return 0
        ends = consumer.end_offsets(tps)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in tps)
    finally:
        consumer.close()


def wait_consumed(
    bootstrap: str,
    group: str,
    topics: Sequence[str],
    *,
    timeout: float = 300.0,
    on_wait: Callable[[int], None] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while (lag := consumer_lag(bootstrap, group, topics)) > 0:
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

    clock: RunClock
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


# --- checking the engine against the simulator -------------------------------------------


@dataclass(frozen=True)
class TruthCheck:
    generated: int
    accounted: int
    status_mismatches: tuple[str, ...]
    completion_checked: int
    completion_mismatches: tuple[str, ...]
    expected_overdue: int
    alerted_overdue: int
    missing_alerts: tuple[str, ...]
    unexpected_alerts: tuple[str, ...]
    timing_sensitive: int

    @property
    def ok(self) -> bool:
        """The engine's conclusions agree with the simulator's: every dossier, its status
        and its completion class. Not the alerts: which of an event and a deadline is
        seen first depends on real-time lag; they are compared, and reported, apart."""
        return not (
            self.status_mismatches or self.completion_mismatches or self.accounted != self.generated
        )

    @property
    def alerts_ok(self) -> bool:
        return not (self.missing_alerts or self.unexpected_alerts)

    def lines(self) -> list[str]:
        def verdict(bad: Sequence[str]) -> str:
            return "agree" if not bad else f"{len(bad)} differ, e.g. {', '.join(bad[:3])}"

        return [
            f"dossiers generated / in the engine     {self.generated:,} / {self.accounted:,}",
            f"final status                           {verdict(self.status_mismatches)}",
            f"early / on time / late ({self.completion_checked:,} completed)  "
            f"{verdict(self.completion_mismatches)}",
            f"dossiers alerted overdue               {self.alerted_overdue:,} "
            f"(expected {self.expected_overdue:,}: missing {len(self.missing_alerts)}, "
            f"unexpected {len(self.unexpected_alerts)}; not judged: {self.timing_sensitive} "
            "with an event too close to a deadline)",
        ]


def check_against_truth(
    workload: Workload, states: Sequence[DossierState], alerts: Sequence[Alert]
) -> TruthCheck:
    """Compare the engine's states and overdue alerts with what the simulator expects."""
    by_id = {s.dossier_id: s for s in states}
    status_bad, completion_bad = [], []
    checked = 0
    sensitive: set[str] = set()
    expected_overdue: set[str] = set()
    for d in workload.dossiers:
        if d.timing_sensitive(workload.guard):
            sensitive.add(d.dossier_id)
        elif d.expected.overdue_alerts(workload.window):
            expected_overdue.add(d.dossier_id)
        state = by_id.get(d.dossier_id)
        if state is None or state.status is not d.expected.status:
            status_bad.append(d.dossier_id)
            continue
        if d.expected.completion is not None:
            checked += 1
            if state.outcome is None or state.outcome.completion is not d.expected.completion:
                completion_bad.append(d.dossier_id)
    alerted = {
        a.dossier_id
        for a in alerts
        if a.scope is AlertScope.DOSSIER and a.level is AlertLevel.OVERDUE
    }
    generated = {d.dossier_id for d in workload.dossiers}
    return TruthCheck(
        generated=len(generated),
        accounted=len(generated & by_id.keys()),
        status_mismatches=tuple(status_bad),
        completion_checked=checked,
        completion_mismatches=tuple(completion_bad),
        expected_overdue=len(expected_overdue),
        alerted_overdue=len(alerted - sensitive),
        missing_alerts=tuple(sorted(expected_overdue - alerted)),
        unexpected_alerts=tuple(sorted(alerted - expected_overdue - sensitive)),
        timing_sensitive=len(sensitive),
    )


def read_alerts(bootstrap: str, topic: str) -> list[Alert]:
    """Every alert on ``topic``, once per ``alert_id``."""
    from agents.inbox import read_all

    seen: dict[str, Alert] = {}
    for raw in read_all([bootstrap], topic):
        try:
            alert = decode(Alert, raw)
        except ContractError:
            continue
        seen.setdefault(alert.alert_id, alert)
    return list(seen.values())


# --- the run ----------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: stop what was started, in order, then exit 130."""


#: How long workers get to stop after Ctrl-C before they are killed (SIGKILL, by pid).
CLEANUP_LIMIT_S = 15.0


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False  # already reaped (by the orderly stop)
    return done == 0


def _stop_everything() -> None:
    """After Ctrl-C, in its own thread: the main thread may be inside a Kafka client call
    that swallows the KeyboardInterrupt and keeps trying. Ask the workers to stop, kill
    the ones that do not in time, stop Kafka, and end the process."""
    workers = dict(WORKER_PIDS)
    for pid in workers.values():
        with suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + CLEANUP_LIMIT_S
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers.values()):
        time.sleep(0.2)
    for pid in workers.values():
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for stop in list(SHUTDOWN.values()):
        with suppress(Exception):
            stop()
    print("· interrupted: everything the demo started is stopped", flush=True)
    os._exit(130)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Once only: a second Ctrl-C must not cut the clean-up short and leave a worker behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("\n· interrupted: stopping everything the demo started ...", flush=True)
    threading.Thread(target=_stop_everything, name="demo-stopper", daemon=True).start()
    raise Interrupted


def run(settings: Settings, opts: DemoOptions) -> int:
    """The whole demo; returns the exit status (130 when interrupted)."""
    began = time.monotonic()
    handlers = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            code = _run(settings, opts, stack, began)
        say(f"\ndone in {time.monotonic() - began:.0f} s; everything the demo started is stopped")
        return code
    except Interrupted:
        say("· interrupted: everything the demo started is stopped")
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _run(settings: Settings, opts: DemoOptions, stack: ExitStack, began: float) -> int:
    out = opts.out_dir
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(VN_TZ).strftime("%Y%m%d-%H%M%S")
    prefix = f"demo-{stamp}-"
    ports = [opts.port + i for i in range(opts.workers)]
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        raise SystemExit(f"port {busy[0]} is in use on 127.0.0.1: pass --port with a free one")
    catalog = load_catalog(settings.catalog_path)
    calendar = build_calendar(settings)
    window = run_window(calendar, opts.first_day, opts.days, opts.backlog_days)
    guard = timedelta(seconds=opts.guard_seconds * opts.speed)
    hold_at = window.backlog_from - timedelta(days=1)

    say(
        f"dossierflow demo: {opts.days} working days of a province from "
        f"{window.start:%a %d/%m/%Y}, scale {opts.scale:g} (about "
        f"{80_000 * opts.scale:,.0f} dossiers a quarter), seed {opts.seed}, "
        f"{opts.workers} worker{'s' if opts.workers > 1 else ''}, "
        f"clock x{opts.speed:,.0f} ({window.span.total_seconds() / opts.speed:.0f} s of real time)"
    )
    if opts.broker:
        bootstrap = opts.broker
        say(f"· using the broker at {bootstrap}")
    else:
        bootstrap = stack.enter_context(local_kafka(out / "kafka", opts.kafka_port))

    run_settings = Settings(
        broker=bootstrap,
        topic_prefix=prefix,
        app_id=f"{prefix}router",
        catalog_path=settings.catalog_path,
        office_hours=settings.office_hours,
        calendar_overrides=settings.calendar_overrides,
        clock="accelerated",
        clock_start=window.start,
        clock_speed=opts.speed,
        tick_seconds=opts.tick_seconds,
    )
    envs = [_worker_env(run_settings, f"worker-{i + 1}", port, out) for i, port in enumerate(ports)]
    argv = ["--hold-at", hold_at.isoformat(), "--stop-at", window.end.isoformat()]
    received = stack.enter_context(webhook_receivers(catalog))
    workers = stack.enter_context(worker_processes(envs, argv, out))

    # While the workers start: the province's dossiers, and what the engine must make of them.
    t0 = time.monotonic()
    workload = simulate_province(
        catalog, calendar, window, seed=opts.seed, scale=opts.scale, guard=guard
    )
    truth_path = write_truth(
        out / "ground-truth.jsonl",
        workload,
        speed=opts.speed,
        topic_prefix=prefix,
        app_id=run_settings.app_id,
        broker=bootstrap,
        workers=opts.workers,
    )
    backlog, events = workload.backlog_events(), workload.run_events()
    say(
        f"· simulated {len(workload.dossiers):,} dossiers in {time.monotonic() - t0:.1f} s: "
        f"{sum(d.received_at < window.start for d in workload.dossiers):,} in progress at the "
        f"start ({len(backlog):,} events so far), {len(events):,} events to come; "
        f"ground truth in {truth_path}"
    )
    wait_ready(workers)
    say(f"· workers ready ({time.monotonic() - began:.0f} s since the start)")

    stats = SimulatorStats(total=len(backlog) + len(events))
    publisher = stack.enter_context(Publisher([bootstrap], run_settings.topics.events))
    names = run_settings.topics
    group = run_settings.app_id
    say(f"· publishing the work in progress at the start, plus bad records for {names.dlq} ...")
    publish_now(publisher, backlog, stats)
    bad = [b"not json at all", b"\xff\xfe"]
    if backlog or events:  # a valid event but for its naive datetime
        bad.append(encode((backlog or events)[0]).replace(b"+07:00", b""))
    for raw in bad:
        publisher.publish_raw(b"bad-record", raw)
    publisher.flush()
    wait_consumed(bootstrap, group, [names.events])

    clock = RunClock(window.start, opts.speed, hold_at=hold_at, stop_at=window.end)
    origin = time.monotonic() + 0.2
    for w in workers:
        _post_json(f"{w.url}/demo/clock", {"origin": origin})
    clock.release(origin)
    first = workers[0]
    example = next(
        (d.dossier_id for d in workload.dossiers if d.received_at < window.start),
        workload.dossiers[0].dossier_id if workload.dossiers else "-",
    )
    say(f"· the clock runs: metrics {first.url}/metrics   health {first.url}/health")
    say(f"  a dossier's process control sheet: {first.url}/dossiers/{example}")
    say()
    live = LiveView(
        clock,
        window,
        stats,
        ports,
        opts.days,
        sys.stdout.isatty() if opts.live is None else opts.live,
    )
    live.start()
    stack.callback(live.stop)
    publish_in_simulated_time(publisher, events, clock, stats)
    wait_for_end(clock)
    # The clock has stopped at the end: drain what is in flight, including the watcher's
    # last ticks, then give it a few more ticks to notice the final deadlines.
    wait_consumed(bootstrap, group, [names.events, names.ticks])
    time.sleep(max(1.0, 20 * opts.tick_seconds))
    wait_consumed(bootstrap, group, [names.events, names.ticks])
    stats.done = True
    live.stop()
    ran_for = time.monotonic() - began
    say()
    return _finish(run_settings, catalog, workload, bootstrap, out, opts, ran_for, received)


def _worker_env(settings: Settings, name: str, port: int, out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_")}
    values: dict[str, object] = {
        "BROKER": settings.broker,
        "TOPIC_PREFIX": settings.topic_prefix,
        "APP_ID": settings.app_id,
        "WEB_PORT": port,
        "WORKER_NAME": name,
        "DATA_DIR": out / name,
        "OFFICE_HOURS": settings.office_hours,
        "CLOCK": settings.clock,
        "CLOCK_START": settings.clock_start.isoformat() if settings.clock_start else None,
        "CLOCK_SPEED": settings.clock_speed,
        "TICK_SECONDS": settings.tick_seconds,
        "CATALOG_PATH": settings.catalog_path,
        "CALENDAR_OVERRIDES": settings.calendar_overrides,
    }
    env.update({f"DOSSIERFLOW_{k}": str(v) for k, v in values.items() if v is not None})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _finish(
    settings: Settings,
    catalog: Any,
    workload: Workload,
    bootstrap: str,
    out: Path,
    opts: DemoOptions,
    ran_for: float,
    received: Counter[str],
) -> int:
    from agents.charts import write_charts
    from agents.report import build_report, engine_states

    end = workload.window.end
    report = build_report(settings, catalog, end)
    states = engine_states(settings)
    alerts = read_alerts(bootstrap, settings.topics.alerts)
    check = check_against_truth(workload, states, alerts)
    say(render_text(report))
    say()
    say("Checked against the simulator's ground truth:")
    for line in check.lines():
        say(f"  {line}")
    if received:
        say(
            f"Webhook messages received for supervisors: {sum(received.values()):,} "
            f"({', '.join(f'{p} {n:,}' for p, n in received.most_common(3))}, ...)"
        )
    charts = write_charts(report, states, end, out)
    markdown = out / "report.md"
    markdown.write_text(
        _markdown(report, check, workload, opts, charts, alerts, ran_for), encoding="utf-8"
    )
    (out / "report.json").write_text(
        json.dumps(
            {**report.as_dict(), "ground_truth_check": _check_dict(check)},
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    say()
    say(f"· report: {markdown} (+ report.json, charts: {', '.join(c.name for c in charts)})")
    return 0 if check.ok else 1


def _check_dict(check: TruthCheck) -> dict[str, Any]:
    return {
        "ok": check.ok,
        "alerts_ok": check.alerts_ok,
        "generated": check.generated,
        "accounted": check.accounted,
        "status_mismatches": list(check.status_mismatches),
        "completion_checked": check.completion_checked,
        "completion_mismatches": list(check.completion_mismatches),
        "expected_overdue": check.expected_overdue,
        "alerted_overdue": check.alerted_overdue,
        "missing_alerts": list(check.missing_alerts),
        "unexpected_alerts": list(check.unexpected_alerts),
        "timing_sensitive": check.timing_sensitive,
    }


def _markdown(
    report: ProvinceReport,
    check: TruthCheck,
    workload: Workload,
    opts: DemoOptions,
    charts: Sequence[Path],
    alerts: Sequence[Alert],
    ran_for: float,
) -> str:
    w = workload.window
    levels = Counter(a.level.value for a in alerts)
    lines = [
        render_markdown(report).rstrip(),
        "",
        "## Charts",
        "",
        *[f"![{c.stem.replace('-', ' ')}]({c.name})" for c in charts],
        "",
        "## The run",
        "",
        "| | |",
        "|---|---|",
        f"| simulated period | {w.start:%Y-%m-%d %H:%M} to {w.end:%Y-%m-%d %H:%M} "
        f"({opts.days} working days) |",
        f"| work in progress at the start | dossiers received from {w.backlog_from:%Y-%m-%d} |",
        f"| scale, seed | {opts.scale:g} (about {80_000 * opts.scale:,.0f} dossiers a quarter), "
        f"{opts.seed} |",
        f"| clock | x{opts.speed:,.0f}, {opts.workers} worker(s) |",
        f"| events published | {len(workload.events()):,} |",
        f"| alerts raised | {len(alerts):,} ("
        + ", ".join(f"{k} {v:,}" for k, v in sorted(levels.items()))
        + ") |",
        f"| wall time | {ran_for:.0f} s from start to the end of the simulated period |",
        "",
        "## Checked against the simulator's ground truth",
        "",
        *[f"- {line}" for line in check.lines()],
        "",
    ]
    return "\n".join(lines)


# --- entry points -------------------------------------------------------------------------


def main_demo(settings: Settings, opts: DemoOptions) -> int:
    return run(settings, opts)


def _worker_main(argv: Sequence[str]) -> int:
    """``python -m agents.demo worker``: ``dossierflow worker`` on the run's clock."""
    import faust

    from agents.app import create_app, run_worker
    from agents.kafka_admin import ensure_topics

    parser = argparse.ArgumentParser(prog="python -m agents.demo worker")
    parser.add_argument("--hold-at", type=datetime.fromisoformat, required=True)
    parser.add_argument("--stop-at", type=datetime.fromisoformat, required=True)
    parser.add_argument("--loglevel", default="info")
    args = parser.parse_args(argv)
    settings = Settings()
    if settings.clock_start is None:
        raise SystemExit("DOSSIERFLOW_CLOCK_START is required")
    clock = RunClock(
        settings.clock_start, settings.clock_speed, hold_at=args.hold_at, stop_at=args.stop_at
    )
    ensure_topics(settings)
    flow = create_app(settings, clock=clock)

    @flow.app.page("/demo/clock")
    class RunClockView(faust.web.View):
        """GET: the run's simulated time; POST {"origin": monotonic}: start it."""

        async def get(self, request: Any) -> Any:
            return self.json({"now": clock.now().isoformat(), "released": clock.released})

        async def post(self, request: Any) -> Any:
            body = await request.json()
            clock.release(float(body["origin"]))
            return self.json({"now": clock.now().isoformat(), "origin": clock.origin})

    run_worker(flow, loglevel=args.loglevel)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        sys.exit(_worker_main(sys.argv[2:]))
    sys.exit("usage: python -m agents.demo worker --hold-at ISO --stop-at ISO")
