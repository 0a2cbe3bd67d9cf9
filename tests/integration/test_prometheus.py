"""Dashboards and alert rules against a real Prometheus that scraped a real worker.

One module-wide deployment: a ``dossierflow worker`` on the session broker with a manual
clock; a real Prometheus (own data dir, free port, the real rules file, a 1 s scrape of
the worker); a real Alertmanager with the real routes, its webhook pointed at a receiver
in this process. The worker routes a simulated week of a province (every lifecycle to
its end), a few dossiers left open, and records no agency should send. Then the clock
jumps months ahead: the open dossiers become due, overdue and past their statutory time.

Every number the key panels must show is worked out independently, in this process, by
folding the pure ``workflows.routing.apply`` (and ``apply_tick`` for the clock jump) over
the same events. Every panel query and every rule expression must run through the HTTP
API without error; the statutory-breach rule must fire and reach the webhook.

Skipped only when ``prometheus`` is not installed and ``CI`` is not set; in CI a missing
binary fails (``.ci/run`` runs ``scripts/install-monitoring`` first).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agents.runtime.context import build_context
from agents.settings import Settings
from agents.tools.publisher import Publisher
from events import InboundEvent, TopicNames
from events.internal import DeadlineTick
from workflows.alerts import AlertPolicy, apply_tick, overdue_scopes
from workflows.calendar import VN_TZ
from workflows.effects import Assign, Completed, Rejected
from workflows.routing import RoutingContext, apply
from workflows.simulation import interleave, simulate
from workflows.state import DossierState

from support.harness import REPO, Worker, free_port, manual_clock, wait_for, worker_env
from support.security import login
from support.signing import SENDER, signer

MONITORING = REPO / "monitoring"
RULES = MONITORING / "prometheus" / "rules.yml"
PROMETHEUS_YML = MONITORING / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = MONITORING / "alertmanager" / "alertmanager.yml"
DASHBOARDS = MONITORING / "grafana" / "dashboards"

#: Binaries by role; Debian names Alertmanager's ``prometheus-alertmanager``.
BINARIES = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "amtool": ("amtool",),
}
WORKER_JOB = "dossierflow-worker"  # the job rules.yml and the dashboards select

#: The worker's manual clock starts before the first dossier arrives, so nothing is due
#: while the workload runs; then it jumps to JUMP_TO, past every deadline of March.
CLOCK_START = datetime(2026, 3, 1, 0, 0, tzinfo=VN_TZ)
WORKLOAD_START = datetime(2026, 3, 2, 8, 0, tzinfo=VN_TZ)  # a Monday
JUMP_TO = datetime(2027, 1, 4, 9, 0, tzinfo=VN_TZ)  # a Monday, months later
COMPLETE_DOSSIERS = 100
OPEN_DOSSIERS = 12
OPEN_EVENTS_EACH = 3  # the first 3 events of a lifecycle: received, a step or two, a pause

#: Records no agency should send: (key, value, dead-letter reason).
BAD_RECORDS = [
    ("HS-BAD-1", b'{"schema_version": 1, "type": "dossier.received",', "invalid_json"),
    ("HS-BAD-2", b'{"note": "\xff"}', "invalid_encoding"),
    (
        "HS-BAD-3",
        json.dumps(
            {
                "schema_version": 1,
                "event_id": "bad-3",
                "type": "dossier.teleported",
                "dossier_id": "HS-BAD-3",
                "occurred_at": "2026-03-02T09:00:00+07:00",
                "agency": "SXD",
            }
        ).encode(),
        "unknown_type",
    ),
]

#: Grafana's built-in variables, as Grafana would expand them for a recent, short range.
BUILTINS = {"$__rate_interval": "15s", "$__range": "10m", "$__interval": "5s"}
WAIT_S = 90.0
FORM = "application/x-www-form-urlencoded"


# --- the independent recomputation -------------------------------------------------------


@cache
def routing_context() -> RoutingContext:
    # worker_env drops every DOSSIERFLOW_* variable: the worker runs the defaults (sample
    # catalog, default office hours), and model_construct skips this process' env too.
    return build_context(Settings.model_construct())


def alert_policy() -> AlertPolicy:
    defaults = Settings.model_construct()
    return AlertPolicy(
        due_soon_fraction=defaults.due_soon_fraction,
        due_soon_days_left=defaults.due_soon_days_left,
    )


@dataclass
class Expected:
    """What the worker's metrics must say, from folding the pure functions."""

    records: int = 0
    applied: int = 0
    results: int = 0  # result_ready events published
    completions: Counter[str] = field(default_factory=Counter)
    sectors: set[str] = field(default_factory=set)
    saved: float = 0.0
    overrun: float = 0.0
    agencies: set[str] = field(default_factory=set)
    dead: Counter[str] = field(default_factory=Counter)
    open: Counter[tuple[str, str]] = field(default_factory=Counter)  # (agency, status)
    overdue: Counter[tuple[str, str]] = field(default_factory=Counter)  # (agency, scope)
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (level, scope)

    @property
    def on_time_rate(self) -> float:
        return (self.completions["early"] + self.completions["on_time"]) / sum(
            self.completions.values()
        )


def fold(events: Iterable[InboundEvent], bad: Iterable[str], jump_to: datetime) -> Expected:
    ctx = routing_context()
    expected = Expected()
    states: dict[str, DossierState | None] = {}
    for event in events:
        expected.records += 1
        expected.results += event.type == "dossier.result_ready"
        before = states.get(event.dossier_id)
        state, effects = apply(before, event, ctx, SENDER)
        states[event.dossier_id] = state
        if not any(isinstance(e, Rejected) for e in effects) and state is not before:
            expected.applied += 1
        for effect in effects:
            if isinstance(effect, Completed):
                expected.completions[effect.completion] += 1
                expected.sectors.add(effect.sector)
                if effect.saved_days >= 0:
                    expected.saved += effect.saved_days
                else:
                    expected.overrun -= effect.saved_days
            elif isinstance(effect, Assign):
                expected.agencies.add(effect.agency)
            elif isinstance(effect, Rejected):  # anomalies are applied: not dead letters
                expected.dead[effect.kind.value] += 1
    for reason in bad:
        expected.records += 1
        expected.dead[reason] += 1
    # The clock jump: one tick per open dossier at JUMP_TO raises everything due by then.
    for dossier_id, state in states.items():
        if state is None or state.status.closed:
            continue
        tick = DeadlineTick(dossier_id=dossier_id, detected_at=jump_to)
        after, alerts = apply_tick(state, tick, ctx.catalog, ctx.calendar, alert_policy())
        agency = after.current_agency or "-"
        expected.open[(agency, after.status.value)] += 1
        for scope in overdue_scopes(after):
            expected.overdue[(agency, scope.value)] += 1
        for alert in alerts:
            expected.alerts[(alert.level.value, alert.scope.value)] += 1
    return expected


def first_events(events: Iterable[InboundEvent], n: int) -> list[InboundEvent]:
    """The first ``n`` events of every dossier: lifecycles cut short, left open."""
    taken: Counter[str] = Counter()
    out = []
    for event in events:
        if taken[event.dossier_id] < n:
            taken[event.dossier_id] += 1
            out.append(event)
    return out


def workload(prefix: str) -> list[InboundEvent]:
    ctx = routing_context()
    complete = simulate(
        ctx.catalog, ctx.calendar, WORKLOAD_START, COMPLETE_DOSSIERS, seed=11,
        id_prefix=f"{prefix}HS",
    )  # fmt: skip
    left_open = simulate(
        ctx.catalog, ctx.calendar, WORKLOAD_START, OPEN_DOSSIERS, seed=12,
        id_prefix=f"{prefix}OPEN",
    )  # fmt: skip
    cut = first_events(interleave(left_open), OPEN_EVENTS_EACH)
    events = interleave(complete) + cut
    events.sort(key=lambda e: e.occurred_at)  # stable: each dossier keeps its order
    return events


# --- processes ---------------------------------------------------------------------------


def find_binaries() -> dict[str, str | None]:
    return {
        role: next((path for name in names if (path := shutil.which(name))), None)
        for role, names in BINARIES.items()
    }


# Decided at collection, so that a skip starts nothing (not even the session's broker).
pytestmark = pytest.mark.skipif(
    find_binaries()["prometheus"] is None and not os.environ.get("CI"),
    reason="prometheus is not installed: scripts/install-monitoring installs it",
)


@pytest.fixture(scope="session")
def binaries() -> dict[str, str]:
    """In CI (or with prometheus but not the rest) a missing binary fails every test."""
    found = find_binaries()
    missing = sorted(role for role, path in found.items() if path is None)
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed; in CI, .ci/run must run "
            "scripts/install-monitoring before the tests (Debian packages prometheus and "
            "prometheus-alertmanager)",
            pytrace=False,
        )
    return {role: path for role, path in found.items() if path is not None}


class Process:
    """A server we started; stopped by its pid (TERM, then KILL)."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Hook(ThreadingHTTPServer):
    """The operations webhook: keeps every notification Alertmanager posts."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"

    def alert_names(self) -> set[str]:
        return {a["labels"]["alertname"] for body in self.received for a in body["alerts"]}


def http_json(
    url: str, data: bytes | None = None, content_type: str = "application/json", timeout: float = 10
) -> Any:
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status  # urlopen is typed as returning Any
            return status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def prometheus_config(
    worker_port: int, prometheus_port: int, alertmanager_port: int
) -> dict[str, Any]:
    """The compose stack's prometheus.yml with loopback targets, 1 s intervals, the real rules."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    config["alerting"] = {
        "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
    }
    loopback = {
        WORKER_JOB: worker_port,
        "prometheus": prometheus_port,
        "alertmanager": alertmanager_port,
    }
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [f"127.0.0.1:{loopback[job['job_name']]}"]}]
    return config


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """The real routes, the webhook pointed here, and no 30 s wait before the first send
    (nor 5 min before a send that failed is tried again: the flush after it, on a slow
    machine, must come inside the test's wait)."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_YML.read_text(encoding="utf-8"))
    config["route"]["group_wait"] = "1s"
    config["route"]["group_interval"] = "2s"
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = webhook_url
    return config


# --- Prometheus queries ------------------------------------------------------------------


@dataclass
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at now; raises with Prometheus' error if it does not run."""
        body = urllib.parse.urlencode({"query": expr}).encode()
        try:
            answer = http_json(f"{self.url}/api/v1/query", body, FORM)
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{expr!r}: {err.read().decode(errors='replace')}") from None
        assert answer["status"] == "success", (expr, answer)
        result = answer["data"]["result"]
        if answer["data"]["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        assert isinstance(result, list)
        return result

    def query_range(self, expr: str, seconds: int = 120, step: str = "5s") -> list[dict[str, Any]]:
        now = time.time()
        body = urllib.parse.urlencode(
            {"query": expr, "start": now - seconds, "end": now, "step": step}
        ).encode()
        try:
            answer = http_json(f"{self.url}/api/v1/query_range", body, FORM)
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{expr!r}: {err.read().decode(errors='replace')}") from None
        assert answer["status"] == "success", (expr, answer)
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def values(self, expr: str, *labels: str) -> dict[Any, float]:
        """{label value (or tuple of them, or None): value}; NaN stays NaN."""
        out = {}
        for series in self.query(expr):
            key = tuple(series["metric"].get(label, "") for label in labels)
            out[key[0] if len(key) == 1 else (key or None)] = float(series["value"][1])
        return out

    def scalar(self, expr: str) -> float | None:
        found = self.query(expr)
        assert len(found) <= 1, (expr, found)
        return float(found[0]["value"][1]) if found else None

    def label_values(self, label: str, match: str) -> set[str]:
        query = urllib.parse.urlencode({"match[]": match})
        answer = http_json(f"{self.url}/api/v1/label/{label}/values?{query}")
        return set(answer["data"])


def eventually(check: Any, timeout: float = WAIT_S, what: str = "") -> None:
    """Until ``check()`` returns None (done) or the time is up; then fail with its last say."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is None:
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {last}")


# --- Kafka -------------------------------------------------------------------------------


def lag(bootstrap: str, group: str, topic: str) -> int:
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap], group_id=group, enable_auto_commit=False, **login()
    )
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        end = consumer.end_offsets(tps)
        return sum(end[tp] - (consumer.committed(tp) or 0) for tp in tps)
    finally:
        consumer.close()


def publish_events(bootstrap: str, topic: str, events: list[InboundEvent]) -> None:
    with Publisher([bootstrap], topic, signer=signer(), **login("publisher")) as publisher:
        for event in events:
            publisher.publish(event)
        assert publisher.flush() == len(events)


def publish_bad_records(bootstrap: str, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=[bootstrap], acks="all", **login())
    try:
        for key, value, _ in BAD_RECORDS:
            signed = signer().headers(key.encode(), value)
            producer.send(topic, key=key.encode(), value=value, headers=signed)
        producer.flush()
    finally:
        producer.close()


# --- the deployment ----------------------------------------------------------------------


@dataclass
class Stack:
    prometheus: Prometheus
    prometheus_config: Path
    alertmanager_url: str
    alertmanager_config: Path
    alertmanager: Process
    hook: Hook
    worker: Worker
    expected: Expected
    binaries: dict[str, str]


@pytest.fixture(scope="module")
def stack(
    binaries: dict[str, str], kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("prometheus-stack")
    unique = uuid.uuid4().hex[:8]
    prefix, group = f"t-{unique}-", f"g-{unique}"
    names = TopicNames.with_prefix(prefix)
    started: list[Process] = []
    hook = Hook()
    worker: Worker | None = None
    try:
        am_port, prom_port = free_port(), free_port()
        am_config = base / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_config(hook.url)), encoding="utf-8")
        alertmanager = Process(
            [
                binaries["alertmanager"],
                f"--config.file={am_config}",
                f"--storage.path={base / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",  # no gossip port: one instance, loopback only
                "--log.level=debug",  # each notification attempt, read when a send is missing
            ],
            base / "alertmanager.log",
        )
        started.append(alertmanager)

        env = worker_env(kafka_bootstrap, prefix, group, base / "worker-data", free_port())
        env.update(
            **manual_clock(CLOCK_START),
            DOSSIERFLOW_WORKER_NAME="prometheus-test-worker",
        )
        worker = Worker(env=env, log_path=base / "worker.log").start()

        prom_config = base / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(prometheus_config(worker.port, prom_port, am_port)), encoding="utf-8"
        )
        prometheus = Process(
            [
                binaries["prometheus"],
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={base / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            base / "prometheus.log",
        )
        started.append(prometheus)
        prom_url, am_url = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
        wait_for(lambda: ready(f"{prom_url}/-/ready"), 60, "Prometheus ready", prometheus.proc)
        wait_for(lambda: ready(f"{am_url}/-/ready"), 60, "Alertmanager ready", alertmanager.proc)

        events = workload(prefix)
        expected = fold(events, [reason for _, _, reason in BAD_RECORDS], JUMP_TO)
        prom = Prometheus(prom_url)

        def consumed() -> bool:
            return lag(kafka_bootstrap, group, names.events) == 0

        # In two halves, the second once Prometheus has seen the first: a counter's rate
        # shows only what it counted after its first scrape.
        half = len(events) // 2
        publish_events(kafka_bootstrap, names.events, events[:half])
        wait_for(consumed, WAIT_S, "the first half consumed")
        wait_for(
            lambda: prom.scalar('sum(dossierflow_router_records_total{kind="events"})') == half,
            WAIT_S,
            "Prometheus to scrape the first half",
        )
        publish_events(kafka_bootstrap, names.events, events[half:])
        publish_bad_records(kafka_bootstrap, names.events)
        wait_for(consumed, WAIT_S, "every record consumed")

        status, moved = worker_post(worker, "/clock", {"to": JUMP_TO.isoformat()})
        assert status == 200, moved
        assert moved["ticks"] > 0, moved

        stack = Stack(
            prometheus=prom,
            prometheus_config=prom_config,
            alertmanager_url=am_url,
            alertmanager_config=am_config,
            alertmanager=alertmanager,
            hook=hook,
            worker=worker,
            expected=expected,
            binaries=binaries,
        )
        settle(stack)
        yield stack
    finally:
        if worker is not None:
            worker.stop()
        for process in reversed(started):
            process.stop()
        hook.shutdown()
        hook.server_close()


def worker_post(worker: Worker, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """``POST path`` as the suite's admin (``/clock`` needs an admin token)."""
    reply = worker.call(path, method="POST", body=body)
    return reply.status, reply.body if reply.status == 200 else reply.raw.decode(errors="replace")


def settle(stack: Stack) -> None:
    """Until Prometheus has scraped the final numbers, and a few scrapes of history."""
    prom, expected = stack.prometheus, stack.expected
    raised = sum(expected.alerts.values())
    assert raised > 0 and sum(expected.overdue.values()) > 0, (
        "the workload must leave dossiers overdue"
    )

    def caught_up() -> str | None:
        seen = prom.scalar("sum(dossierflow_alerts_raised_total)")
        overdue = prom.scalar("sum(dossierflow_open_overdue)")
        records = prom.scalar('sum(dossierflow_router_records_total{kind="events"})')
        want = (float(raised), float(sum(expected.overdue.values())), float(expected.records))
        if (seen, overdue, records) == want:
            return None
        return f"(alerts, overdue, records) = {(seen, overdue, records)}, want {want}"

    eventually(caught_up, what="Prometheus to scrape the final numbers")
    eventually(
        lambda: (
            None
            if (prom.scalar(f'count_over_time(up{{job="{WORKER_JOB}"}}[1m])') or 0) >= 10
            else "fewer than 10 scrapes"
        ),
        what="ten scrapes of the worker",
    )


# --- the panels --------------------------------------------------------------------------


@cache
def boards() -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))
    }


def targets() -> list[tuple[str, str, dict[str, Any]]]:
    """(dashboard, panel title, target) of every query on every dashboard."""
    return [
        (name, panel["title"], target)
        for name, board in boards().items()
        for panel in board["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def expand(expr: str, **variables: str) -> str:
    for name, value in BUILTINS.items():
        expr = expr.replace(name, value)
    for name, value in variables.items():
        expr = expr.replace(f"${name}", value)
    assert "$" not in expr, f"a variable was left in {expr!r}"
    return expr


def panel(board: str, title: str, ref: str = "A", **variables: str) -> str:
    """The expanded query of one panel target (variables default to All: ``.*``)."""
    for name, panel_title, target in targets():
        if (name, panel_title, target["refId"]) == (board, title, ref):
            return expand(target["expr"], **({"agency": ".*", "sector": ".*"} | variables))
    raise AssertionError(f"no panel {title!r} ({ref}) on {board}")


# --- tests -------------------------------------------------------------------------------


def test_promtool_checks_the_configs_and_the_rules(stack: Stack) -> None:
    promtool = stack.binaries["promtool"]
    checks = [
        [promtool, "check", "rules", str(RULES)],
        [promtool, "check", "config", str(stack.prometheus_config)],  # loads the real rules
        # The compose file's config names paths inside the container: syntax only.
        [promtool, "check", "config", "--syntax-only", str(PROMETHEUS_YML)],
    ]
    for argv in checks:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}{done.stderr}"
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    count = sum(len(group["rules"]) for group in groups)
    checked = subprocess.run(checks[0], capture_output=True, text=True, check=True).stdout
    assert f"SUCCESS: {count} rules found" in checked


def test_amtool_checks_the_alertmanager_config(stack: Stack) -> None:
    for path in (ALERTMANAGER_YML, stack.alertmanager_config):
        done = subprocess.run(
            [stack.binaries["amtool"], "check-config", str(path)],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"{path}:\n{done.stdout}{done.stderr}"


def test_every_panel_query_runs_for_all_and_for_chosen_values(stack: Stack) -> None:
    prom = stack.prometheus
    agencies = sorted(stack.expected.agencies)
    sectors = sorted(stack.expected.sectors)
    choices = [
        {"agency": ".*", "sector": ".*"},
        {"agency": agencies[0], "sector": sectors[0]},
        {"agency": "|".join(agencies[:2]), "sector": "|".join(sectors[:2])},  # multi-select
    ]
    ran = 0
    for _, _, target in targets():
        for variables in choices:
            expr = expand(target["expr"], **variables)
            prom.query(expr)
            if not target.get("instant"):
                prom.query_range(expr)  # what a time series panel asks for
            ran += 1
    assert ran == 3 * len(targets()) > 100


def test_the_template_variables_offer_every_agency_and_sector(stack: Stack) -> None:
    board = boards()["agency-drilldown"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "datasource":
            continue  # which Prometheus: not a label
        query = variable["query"]["query"]  # label_values(<metric>, <label>)
        metric, label = (s.strip() for s in query.removeprefix("label_values(")[:-1].split(","))
        offered = stack.prometheus.label_values(label, metric)
        want = stack.expected.agencies if label == "agency" else stack.expected.sectors
        assert offered == want, label


def test_the_province_overview_shows_the_workload(stack: Stack) -> None:
    prom, expected = stack.prometheus, stack.expected
    board = "province-overview"
    completed = prom.values(panel(board, "Completed (running workers)"), "completion")
    assert completed == dict(expected.completions)
    # The fold agrees with the events themselves: one completion per result_ready.
    assert sum(completed.values()) == expected.results > COMPLETE_DOSSIERS / 2
    assert prom.scalar(panel(board, "On-time rate (running workers)")) == pytest.approx(
        expected.on_time_rate
    )
    assert prom.scalar(panel(board, "Working days saved (running workers)")) == pytest.approx(
        expected.saved
    )
    open_total = sum(expected.open.values())
    paused = sum(n for (_, status), n in expected.open.items() if status == "paused")
    assert prom.scalar(panel(board, "Open dossiers")) == open_total
    assert 0 < open_total <= OPEN_DOSSIERS
    assert prom.scalar(panel(board, "Waiting for a supplement")) == paused
    for title, scope in (("Overdue dossiers", "dossier"), ("Overdue steps", "step")):
        want = sum(n for (_, s), n in expected.overdue.items() if s == scope)
        assert prom.scalar(panel(board, title)) == want, title
    # The trends have data: two queries' worth of series, no NaN in the counts.
    per_class = prom.query_range(panel(board, "Completions per hour by class"))
    assert {s["metric"]["completion"] for s in per_class} == set(expected.completions)
    statuses = prom.values(panel(board, "Open and overdue dossiers"), "status")
    assert {k: v for k, v in statuses.items() if v} == {
        status: float(sum(n for (_, s), n in expected.open.items() if s == status))
        for status in {s for _, s in expected.open}
    }


def test_the_agency_drilldown_shows_what_each_agency_holds(stack: Stack) -> None:
    prom, expected = stack.prometheus, stack.expected
    held = prom.values(panel("agency-drilldown", "Dossiers held now"), "agency", "status")
    assert {k: v for k, v in held.items() if v} == {k: float(n) for k, n in expected.open.items()}
    (agency, status), count = expected.open.most_common(1)[0]
    one = prom.values(
        panel("agency-drilldown", "Dossiers held now", agency=agency), "agency", "status"
    )
    assert one[(agency, status)] == count and {a for a, _ in one} == {agency}
    assignments = prom.query_range(panel("agency-drilldown", "Assignments per hour"))
    assert {s["metric"]["agency"] for s in assignments} == expected.agencies
    completions = prom.values(
        panel("agency-drilldown", "Completions by sector and class (selected period)"),
        "sector",
    )
    assert set(completions) <= expected.sectors


def test_the_sla_dashboard_shows_the_overdue_agencies_and_the_alerts(stack: Stack) -> None:
    prom, expected = stack.prometheus, stack.expected
    by_agency = prom.values(panel("sla", "Overdue dossiers by agency"), "agency")
    want: Counter[str] = Counter()
    for (agency, scope), n in expected.overdue.items():
        if scope == "dossier":
            want[agency] += n
    assert {k: v for k, v in by_agency.items() if v} == {k: float(n) for k, n in want.items()}
    top = prom.values(panel("sla", "Top 10 agencies by overdue steps"), "agency")
    steps = Counter({a: n for (a, s), n in expected.overdue.items() if s == "step"})
    assert {k: v for k, v in top.items() if v} == {a: float(n) for a, n in steps.most_common(10)}
    levels = prom.query_range(panel("sla", "Deadline alerts per hour by level"))
    assert {s["metric"]["level"] for s in levels} == {level for level, _ in expected.alerts}
    raised = prom.values(
        "sum by (level, scope) (dossierflow_alerts_raised_total)", "level", "scope"
    )
    assert raised == {k: float(n) for k, n in expected.alerts.items()}


def test_the_engine_dashboard_shows_the_worker_and_the_dead_letters(stack: Stack) -> None:
    prom, expected = stack.prometheus, stack.expected
    board = "engine-health"
    assert prom.scalar(panel(board, "Workers up")) == 1
    assert prom.scalar(panel(board, "Workers down")) == 0
    dead = prom.values(panel(board, "Dead letters since the workers started"), "reason")
    assert dead == {k: float(n) for k, n in expected.dead.items()}
    assert set(expected.dead) >= {reason for _, _, reason in BAD_RECORDS}
    throughput = prom.query_range(panel(board, "Router throughput"))
    assert {s["metric"]["kind"] for s in throughput} == {"events", "ticks"}
    assert any(
        float(v) > 0 for s in throughput if s["metric"]["kind"] == "events" for _, v in s["values"]
    ), "the router read events while Prometheus watched"
    for ref in "ABC":  # p50, p90, p99 of batch latency: finite seconds at some point
        latencies = prom.query_range(panel(board, "Batch latency", ref))
        assert any(
            not math.isnan(float(v)) and 0 <= float(v) < 10
            for s in latencies
            for _, v in s["values"]
        ), ref
    watched = prom.values(panel(board, "Watched dossiers by worker"), "worker")
    assert set(watched) == {"prometheus-test-worker"}
    assert prom.scalar("sum(dossierflow_events_consumed_total)") == expected.applied


def test_every_rule_evaluates_and_the_statutory_breach_reaches_the_webhook(stack: Stack) -> None:
    prom = stack.prometheus
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    fired = {rule["alert"] for rule in rules if prom.query(rule["expr"])}
    # Breaches were raised moments ago; the worker is up and routing; deliveries are not
    # wired to a failing channel here; no processing error happened.
    assert "DossierflowStatutoryBreaches" in fired
    assert not fired & {
        "DossierflowWorkerDown",
        "DossierflowNoWorkers",
        "DossierflowProcessingErrors",
    }

    def healthy() -> str | None:
        loaded = [
            r for g in http_json(f"{prom.url}/api/v1/rules")["data"]["groups"] for r in g["rules"]
        ]
        if len(loaded) != len(rules):
            return f"{len(loaded)} rules loaded, want {len(rules)}"
        bad = [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
        return f"unhealthy: {bad}" if bad else None

    eventually(healthy, what="every rule evaluated without error")

    def firing() -> str | None:
        alerts = http_json(f"{prom.url}/api/v1/alerts")["data"]["alerts"]
        states = {a["labels"]["alertname"]: a["state"] for a in alerts}
        if states.get("DossierflowStatutoryBreaches") != "firing":
            return f"Prometheus alerts: {states}"
        routed = {
            a["labels"]["alertname"]: (a["status"]["state"], [r["name"] for r in a["receivers"]])
            for a in http_json(f"{stack.alertmanager_url}/api/v2/alerts")
        }
        if "DossierflowStatutoryBreaches" not in routed:
            return f"Alertmanager has {routed or 'nothing'}"
        if "DossierflowStatutoryBreaches" not in stack.hook.alert_names():
            # What Alertmanager said about its sends, so a failure here can be read.
            sends = [
                line
                for line in stack.alertmanager.log().splitlines()
                if "otif" in line or "level=error" in line or "level=warn" in line
            ]
            return (
                f"webhook got {stack.hook.alert_names() or 'nothing'}; Alertmanager has "
                f"{routed}; its log on sends: {sends[-8:]}"
            )
        return None

    eventually(firing, what="the statutory-breach alert at the webhook")
    (sent,) = [
        a
        for body in stack.hook.received
        for a in body["alerts"]
        if a["labels"]["alertname"] == "DossierflowStatutoryBreaches"
    ][:1]
    assert sent["labels"]["severity"] == "warning"
    assert sent["annotations"]["runbook"] == "docs/monitoring.md#dossierflowstatutorybreaches"


def rule_expr(rules: list[dict[str, Any]], name: str) -> str:
    (rule,) = [r for r in rules if r["alert"] == name]
    expr: str = rule["expr"]
    return expr


def test_a_stopped_worker_shows_as_down(stack: Stack) -> None:
    """Last: stops the module's worker. The rule's expression sees it at the next scrape."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    down = rule_expr([r for g in rules for r in g["rules"]], "DossierflowWorkerDown")
    assert stack.prometheus.query(down) == []
    stack.worker.stop()
    eventually(
        lambda: None if stack.prometheus.query(down) else "still up",
        timeout=30,
        what="up == 0 for the stopped worker",
    )
    assert stack.prometheus.scalar(panel("engine-health", "Workers down")) == 1
