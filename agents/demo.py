"""``dossierflow demo``: a province's dossiers flowing through a real local Kafka.

Starts Apache Kafka from its jars (unless ``--broker``), one worker, publishes a
simulated workload (plus a few bad records, to show the dead-letter topic),
waits until the worker has consumed everything, prints what happened, and stops
everything it started, also on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from agents.context import build_calendar
from agents.publisher import Publisher
from agents.settings import Settings
from events import Assignment, DeadLetter, decode, encode
from workflows.calendar import VN_TZ
from workflows.catalog import load_catalog
from workflows.simulation import interleave, simulate

REPO = Path(__file__).resolve().parents[1]
KAFKA_LOCAL = REPO / "scripts" / "kafka-local"


def say(text: str) -> None:
    print(text, flush=True)


@contextmanager
def local_kafka(data_dir: Path, port: int) -> Iterator[str]:
    say(f"· starting Apache Kafka (scripts/kafka-local, data in {data_dir}) ...")
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
    if started.returncode != 0:
        raise SystemExit(f"could not start Kafka:\n{started.stderr}")
    bootstrap = started.stdout.strip().splitlines()[-1]
    say(f"  Kafka ready at {bootstrap}")
    try:
        yield bootstrap
    finally:
        subprocess.run(
            [str(KAFKA_LOCAL), "stop", "--data-dir", str(data_dir)],
            capture_output=True,
            check=False,
        )
        say("· Kafka stopped")


@contextmanager
def worker_process(
    env: dict[str, str], log_path: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    say(f"· starting a worker (log {log_path}) ...")
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agents.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not _ready(port):
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited ({proc.returncode}); see {log_path}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the worker was not ready in 120 s; see {log_path}")
            time.sleep(0.3)
        say(f"  worker ready: http://127.0.0.1:{port}/health")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        say("· worker stopped")


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("ready"))
    except (OSError, ValueError):
        return False


def _get(port: int, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError:
        return None


def _lag(bootstrap: str, group: str, topic: str) -> int:
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap], group_id=group, enable_auto_commit=False
    )
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(tps)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in tps)
    finally:
        consumer.close()


def _read(bootstrap: str, topic: str) -> list[bytes]:
    from agents.inbox import read_all

    return read_all([bootstrap], topic)


def run(settings: Settings, *, dossiers: int, seed: int, out_dir: Path, use_broker: bool) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(VN_TZ).strftime("%Y%m%d-%H%M%S")
    prefix = f"demo-{stamp}-"
    port = settings.web_port
    try:
        with _maybe_kafka(settings, out_dir, use_broker) as bootstrap:
            env = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_")}
            env.update(
                DOSSIERFLOW_BROKER=bootstrap,
                DOSSIERFLOW_TOPIC_PREFIX=prefix,
                DOSSIERFLOW_APP_ID=f"{prefix}router",
                DOSSIERFLOW_WEB_PORT=str(port),
                DOSSIERFLOW_DATA_DIR=str(out_dir / "worker"),
                PYTHONUNBUFFERED="1",
            )
            names = Settings(broker=bootstrap, topic_prefix=prefix).topics
            with worker_process(env, out_dir / "worker.log", port):
                return _workload(bootstrap, names, prefix, port, dossiers, seed, settings)
    except KeyboardInterrupt:
        say("\ninterrupted: everything started was stopped")
        return 130


@contextmanager
def _maybe_kafka(settings: Settings, out_dir: Path, use_broker: bool) -> Iterator[str]:
    if use_broker:
        yield settings.bootstrap_servers[0]
        return
    with local_kafka(out_dir / "kafka", 19092) as bootstrap:
        yield bootstrap


def _workload(
    bootstrap: str, names: Any, prefix: str, port: int, dossiers: int, seed: int, settings: Settings
) -> int:
    catalog = load_catalog(settings.catalog_path)
    calendar = build_calendar(settings)
    start = calendar.add_working_time(datetime.now(VN_TZ) - timedelta(days=21), timedelta(0))
    generated = simulate(catalog, calendar, start, dossiers, seed=seed, spread=timedelta(days=10))
    events = interleave(generated)
    say(
        f"· publishing {len(events)} events for {len(generated)} dossiers "
        f"across {len({g.procedure for g in generated})} procedures, plus 3 bad records ..."
    )
    with Publisher([bootstrap], names.events) as publisher:
        for n, event in enumerate(events, 1):
            publisher.publish(event)
            if n % 2000 == 0:
                publisher.flush()
                say(f"  {n}/{len(events)} published")
        bad = [b"not json at all", b"\xff\xfe", encode(events[0]).replace(b"+07:00", b"")]
        for raw in bad:
            publisher.publish_raw(b"bad", raw)
        publisher.flush()
    total = len(events) + len(bad)
    say("· waiting for the worker to route everything ...")
    t0 = time.monotonic()
    while (lag := _lag(bootstrap, f"{prefix}router", names.events)) > 0:
        say(
            f"  {total - lag}/{total} consumed ({(total - lag) / max(time.monotonic() - t0, 0.1):.0f}/s)"
        )
        time.sleep(1)
    assignments = [decode(Assignment, raw) for raw in _read(bootstrap, names.assignments)]
    letters = [decode(DeadLetter, raw) for raw in _read(bootstrap, names.dlq)]
    states = [_get(port, f"/dossiers/{g.dossier_id}") for g in generated]
    _report(generated, assignments, letters, [s for s in states if s])
    return 0


def _report(
    generated: Any,
    assignments: list[Assignment],
    letters: list[DeadLetter],
    states: list[dict[str, Any]],
) -> None:
    say("")
    say(f"dossiers generated      {len(generated)}")
    say(
        f"assignments routed      {len(assignments)} to {len({a.agency for a in assignments})} agencies"
    )
    status = Counter(s["status"] for s in states)
    say("status                  " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    done = [s["outcome"] for s in states if s.get("outcome")]
    classes = Counter(o["completion"] for o in done)
    if done:
        on_time = (classes["early"] + classes["on_time"]) / len(done)
        saved = sum(o["saved_days"] for o in done)
        say(
            f"completed               {len(done)}: early {classes['early']}, on time "
            f"{classes['on_time']}, late {classes['late']} -> on-time rate {on_time:.1%}"
        )
        say(f"working days saved      {saved:.1f} against statutory times")
    by_agency = Counter(a.agency for a in assignments).most_common(5)
    say("busiest inboxes         " + ", ".join(f"{a} {n}" for a, n in by_agency))
    say(
        "dead letters            "
        + (
            ", ".join(f"{k} {v}" for k, v in Counter(d.reason.value for d in letters).items())
            or "none"
        )
    )
    for d in letters[:3]:
        say(
            f"  {d.reason.value:18} {d.source_topic}[{d.source_partition}]@{d.source_offset}: {d.error[:80]}"
        )
    if states:
        s = states[0]
        say(f"\nprocess control sheet of {s['dossier_id']} ({s['procedure']}):")
        for row in s["sheet"]:
            say(
                f"  {row['step']:24} {row['agency']:18} used {row.get('used_hours') or 0:6.1f} h "
                f"of {row['allotted_hours']:5.1f} h  {row.get('result') or 'open'}"
            )


def main_demo(settings: Settings, dossiers: int, seed: int, out: str, broker_given: bool) -> int:
    with suppress(KeyboardInterrupt):
        return run(
            settings, dossiers=dossiers, seed=seed, out_dir=Path(out), use_broker=broker_given
        )
    return 130
