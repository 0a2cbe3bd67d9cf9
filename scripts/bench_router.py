#!/usr/bin/env python3
"""Router throughput on real Kafka, beside a plain aiokafka consume->produce loop.

Both read the same records (simulated dossier events, ~230-250 B each) from the same
topic in the same run, over the same security; the ratio is the figure that matters
(DESIGN.md targets).

    .venv/bin/python scripts/bench_router.py --events 60000 [--insecure]
    .venv/bin/python scripts/bench_router.py --events 60000 --broker HOST:PORT --credentials F

Secured by default, as in production: without --broker it starts a local Kafka through
scripts/kafka-local (TLS + SASL/SCRAM + ACLs) and stops it; every client logs in with
the project's own settings and the credentials file the broker wrote (the ACLs of this
run's topic prefix are granted first). Records are published signed by a publisher
key and the worker verifies each one against its registry. The baseline loop logs in
over the same TLS + SCRAM (as the super user: its group is not the engine's).

--insecure: PLAINTEXT broker (``kafka-local start --insecure``), unsigned records, a
worker that does not require signatures, the baseline over PLAINTEXT too.

Also measures a worker's restart time with the open dossiers it built (--restart), and
what signing costs in this process (--sign: Ed25519 sign and verify per event).
--py-spy OUT records a py-spy profile (raw format) of the worker while it routes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.access.client import KafkaSecurity  # noqa: E402
from agents.access.credentials import ADMIN  # noqa: E402
from agents.access.provision import grant  # noqa: E402
from agents.access.signing import verify  # noqa: E402
from agents.runtime.kafka_admin import ensure_topics  # noqa: E402
from agents.settings import Settings  # noqa: E402
from agents.tools.signing import Signer, demo_publisher  # noqa: E402
from events import encode  # noqa: E402
from workflows.calendar import VN_TZ, WorkingCalendar  # noqa: E402
from workflows.catalog import load_catalog  # noqa: E402
from workflows.publishers import parse  # noqa: E402
from workflows.simulation import interleave, simulate  # noqa: E402


def log(msg: str) -> None:
    print(msg, flush=True)


@dataclass(frozen=True)
class Security:
    """How this run's clients reach the broker: ``credentials`` None is PLAINTEXT."""

    credentials: Path | None = None

    @property
    def on(self) -> bool:
        return self.credentials is not None

    def settings(self, bootstrap: str, prefix: str, app_id: str) -> Settings:
        if self.credentials is None:
            return Settings(
                broker=bootstrap,
                topic_prefix=prefix,
                app_id=app_id,
                partitions=4,
                kafka_security_protocol="PLAINTEXT",
            )
        return Settings(
            broker=bootstrap,
            topic_prefix=prefix,
            app_id=app_id,
            partitions=4,
            kafka_security_protocol="SASL_SSL",
            kafka_credentials=self.credentials,
        )

    def login(self, role: str = ADMIN) -> KafkaSecurity:
        if self.credentials is None:
            return KafkaSecurity()
        return KafkaSecurity.from_credentials_file(self.credentials, role)

    def kafka_python(self, role: str = ADMIN) -> dict[str, Any]:
        return self.login(role).kafka_python_kwargs() if self.on else {}

    def aiokafka(self, role: str = ADMIN) -> dict[str, Any]:
        return self.login(role).aiokafka_kwargs() if self.on else {}

    def env(self) -> dict[str, str]:
        """The worker's login variables (it logs in as the engine principal)."""
        if self.credentials is None:
            return {"DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
        return {
            "DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "DOSSIERFLOW_KAFKA_CREDENTIALS": str(self.credentials),
        }


PLAINTEXT = Security()


def prepare(security: Security, bootstrap: str, prefix: str) -> Settings:
    """This run's topics (worker group ``<prefix>router``, the baseline's output topic
    ``<prefix>baseline-out``), with their ACLs when secured."""
    settings = security.settings(bootstrap, prefix, f"{prefix}router")
    grant(settings)
    ensure_topics(settings)
    admin = KafkaAdminClient(bootstrap_servers=[bootstrap], **security.kafka_python())
    try:
        admin.create_topics([NewTopic(f"{prefix}baseline-out", 4, 1)])
    finally:
        admin.close()
    return settings


def make_events(n: int, seed: int, open_only: bool = False) -> list[tuple[bytes, bytes]]:
    """``n`` events of simulated lifecycles; ``open_only``: n receipts (n open dossiers)."""
    cat, cal = load_catalog(), WorkingCalendar()
    start = datetime(2026, 9, 1, 8, tzinfo=VN_TZ)
    out: list[tuple[bytes, bytes]] = []
    batch = 0
    while len(out) < n:
        gen = simulate(
            cat,
            cal,
            start,
            2000,
            seed=seed + batch,
            id_prefix=f"B{batch}",
            spread=timedelta(days=20),
        )
        events = interleave(gen)
        if open_only:
            events = [e for e in events if e.type == "dossier.received"]
        out.extend((e.dossier_id.encode(), encode(e)) for e in events)
        batch += 1
    return out[:n]


def produce(
    bootstrap: str,
    topic: str,
    records: list[tuple[bytes, bytes]],
    signer: Signer | None = None,
    security: Security = PLAINTEXT,
) -> None:
    """Publish ``records`` (as the publisher principal when secured; signed by ``signer``)."""
    producer = KafkaProducer(
        bootstrap_servers=[bootstrap],
        acks=1,
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type=None,
        **security.kafka_python("publisher"),
    )
    for n, (k, v) in enumerate(records, 1):
        headers = signer.headers(k, v) if signer is not None else None
        producer.send(topic, key=k, value=v, headers=headers)
        if n % 50_000 == 0:
            log(f"  produced {n}/{len(records)}")
    producer.flush()
    producer.close()


async def aiokafka_loop(
    bootstrap: str, src: str, dst: str, total: int, security: Security = PLAINTEXT
) -> float:
    """The baseline: consume, json-decode, produce each record; the clock stops at the last."""
    login = security.aiokafka()
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        group_id=f"{src}-baseline",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        **login,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **login)
    await consumer.start()
    await producer.start()
    seen = 0
    t0 = None
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                if t0 is None:
                    t0 = time.perf_counter()
                for r in records:
                    doc = json.loads(r.value)
                    await producer.send(dst, key=r.key, value=json.dumps(doc).encode())
                seen += len(records)
        await producer.flush()
        return time.perf_counter() - (t0 or time.perf_counter())
    finally:
        await consumer.stop()
        await producer.stop()


def committed(bootstrap: str, group: str, topic: str, security: Security = PLAINTEXT) -> int:
    c = KafkaConsumer(
        bootstrap_servers=[bootstrap],
        group_id=group,
        enable_auto_commit=False,
        **security.kafka_python(),
    )
    try:
        parts = c.partitions_for_topic(topic) or set()
        return sum(c.committed(TopicPartition(topic, p)) or 0 for p in parts)
    finally:
        c.close()


def ready(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return bool(json.loads(r.read())["ready"])
    except Exception:
        return False


def lag_samples(port: int, topic: str, timeout: float) -> list[str] | None:
    """The worker's ``dossierflow_consumer_lag`` lines of ``topic`` (one per partition it
    owns), from its /metrics; None when it does not answer."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return [
        line
        for line in text.splitlines()
        if line.startswith("dossierflow_consumer_lag{") and f'topic="{topic}"' in line
    ]


def worker_env(
    bootstrap: str,
    prefix: str,
    port: int,
    data_dir: Path,
    store: str,
    security: Security = PLAINTEXT,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """A benchmark worker's environment: group ``<prefix>router``, the clock held still;
    ``extra``: settings of the run's own (``--worker-env``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_")}
    env.update(
        DOSSIERFLOW_BROKER=bootstrap,
        DOSSIERFLOW_TOPIC_PREFIX=prefix,
        DOSSIERFLOW_APP_ID=f"{prefix}router",
        DOSSIERFLOW_WEB_PORT=str(port),
        DOSSIERFLOW_DATA_DIR=str(data_dir),
        DOSSIERFLOW_STORE=store,
        # The workload starts 2026-09-01: hold the worker's clock there, so the router is
        # measured, not an alert storm for dossiers that are "overdue" by today's date.
        DOSSIERFLOW_CLOCK="manual",
        DOSSIERFLOW_CLOCK_START="2026-09-01T07:00:00+07:00",
        # No alert fires with the clock held: the worker needs no webhook secrets.
        DOSSIERFLOW_ALLOW_UNSIGNED_WEBHOOKS="true",
        **security.env(),
    )
    env.update(extra or {})
    return env


def signing_cost(records: list[tuple[bytes, bytes]], signer: Signer, registry: Path) -> None:
    """Ed25519 sign and verify per event over ``records``, in this process, one core."""
    keyring = parse(registry.read_text(), str(registry))
    at = datetime.now(VN_TZ)
    t0 = time.perf_counter()
    signed = [(k, v, signer.headers(k, v)) for k, v in records]
    sign_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ok = sum(not hasattr(verify(keyring, headers, k, v, at), "reason") for k, v, headers in signed)
    verify_s = time.perf_counter() - t0
    assert ok == len(records), f"only {ok} of {len(records)} verified"
    n = len(records)
    log(
        f"signing cost over {n} events: sign {sign_s / n * 1e6:.0f} us/event, "
        f"verify {verify_s / n * 1e6:.0f} us/event ({n / verify_s:,.0f} verifications/s)"
    )


def measure_router(
    bootstrap: str,
    topic: str,
    group: str,
    env: dict[str, str],
    logf: Path,
    total: int,
    security: Security = PLAINTEXT,
    profile: Path | None = None,
) -> tuple[subprocess.Popen[bytes], float, float]:
    """Start a worker on ``env`` and time it through ``total`` records: (proc, startup, s)."""
    port = int(env["DOSSIERFLOW_WEB_PORT"])
    proc, startup = start_worker(env, logf, port)
    spy = py_spy(proc.pid, profile) if profile is not None else None
    t0 = time.perf_counter()
    done = 0
    try:
        while done < total:
            time.sleep(0.5)
            done = committed(bootstrap, group, topic, security)
            if proc.poll() is not None:
                raise SystemExit(f"worker died; see {logf}")
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    return proc, startup, time.perf_counter() - t0


def py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` (every thread, idle included) into ``out`` until SIGINT."""
    exe = os.environ.get("PY_SPY", "py-spy")
    return subprocess.Popen(
        [exe, "record", "-p", str(pid), "-f", "raw", "-o", str(out), "--idle", "-r", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_worker(
    env: dict[str, str], logf: Path, port: int, loglevel: str = "warning"
) -> tuple[subprocess.Popen[bytes], float]:
    t0 = time.perf_counter()
    with logf.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agents.tools.cli", "worker", "--loglevel", loglevel],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    while not ready(port):
        if proc.poll() is not None:
            raise SystemExit(f"worker died, see {logf}")
        time.sleep(0.1)
    return proc, time.perf_counter() - t0


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (every thread)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out (other jobs on the machine run brokers too)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_broker(kafka_dir: Path, insecure: bool) -> str:
    """A local broker for this run (secured unless ``insecure``); its bootstrap address."""
    port, controller_port = free_ports(2)
    out = subprocess.run(
        [
            str(REPO / "scripts" / "kafka-local"),
            "start",
            "--port",
            str(port),
            "--controller-port",
            str(controller_port),
            "--data-dir",
            str(kafka_dir),
            *(["--insecure"] if insecure else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--broker", help="a running broker (secured: give --credentials too)")
    ap.add_argument("--credentials", type=Path, help="clients.json of a secured --broker")
    ap.add_argument(
        "--insecure", action="store_true", help="PLAINTEXT, unsigned records (security off)"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--store", default="memory://", choices=["memory://", "rocksdb://"])
    ap.add_argument("--restart", action="store_true", help="also time a restart of the worker")
    ap.add_argument(
        "--sign", action="store_true", help="also the Ed25519 sign / verify cost per event"
    )
    ap.add_argument(
        "--open-only", action="store_true", help="publish only receipts: --events open dossiers"
    )
    ap.add_argument("--py-spy", type=Path, help="record a py-spy profile of the worker here")
    ap.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the worker, e.g. DOSSIERFLOW_PREDICT_LATE=false (repeatable)",
    )
    args = ap.parse_args()
    if args.broker and not args.insecure and args.credentials is None:
        ap.error("a secured --broker needs --credentials (or --insecure for a PLAINTEXT one)")

    work = Path(tempfile.mkdtemp(prefix="bench-router-"))
    kafka_dir = work / "kafka"
    if args.broker:
        bootstrap = args.broker
        security = PLAINTEXT if args.insecure else Security(args.credentials)
    else:
        bootstrap = start_broker(kafka_dir, args.insecure)
        clients = kafka_dir / "security" / "clients.json"
        security = PLAINTEXT if args.insecure else Security(clients)
    try:
        prefix = f"bench-{int(time.time())}-"
        settings = prepare(security, bootstrap, prefix)
        log(
            f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}"
        )
        log(f"load average: {Path('/proc/loadavg').read_text().strip()}")
        log(
            "security: "
            + (
                "TLS + SASL/SCRAM-SHA-512 + ACLs, records signed (Ed25519), each verified"
                if security.on
                else "OFF: PLAINTEXT, unsigned records, signatures not required"
            )
        )
        log(f"generating {args.events} events ...")
        records = make_events(args.events, args.seed, open_only=args.open_only)
        size = sum(len(v) for _, v in records) / len(records)
        log(
            f"  {len(records)} events, mean value {size:.0f} B, "
            f"{len({k for k, _ in records})} dossiers"
        )
        signer: Signer | None = None
        registry: Path | None = None
        if security.on:
            signer, registry = demo_publisher(work / "publisher")
        produce(bootstrap, settings.topics.events, records, signer, security)
        if args.sign and signer is not None and registry is not None:
            signing_cost(records, signer, registry)

        log("baseline: plain aiokafka consume -> json -> produce ...")
        base_s = asyncio.run(
            aiokafka_loop(
                bootstrap, settings.topics.events, f"{prefix}baseline-out", len(records), security
            )
        )
        base_rate = len(records) / base_s
        log(f"  {len(records)} in {base_s:.1f} s = {base_rate:,.0f} events/s")

        port = 18_000 + os.getpid() % 1000
        extra = dict(kv.split("=", 1) for kv in args.worker_env)
        env = worker_env(bootstrap, prefix, port, work / "worker", args.store, security, extra)
        if registry is not None:
            env["DOSSIERFLOW_PUBLISHERS_PATH"] = str(registry)
        else:
            env["DOSSIERFLOW_REQUIRE_SIGNATURES"] = "false"
        log(f"router: one dossierflow worker, store {args.store} ...")
        proc, startup, router_s = measure_router(
            bootstrap,
            settings.topics.events,
            f"{prefix}router",
            env,
            work / "worker.log",
            len(records),
            security,
            args.py_spy,
        )
        router_rate = len(records) / router_s
        rss = rss_kb(proc.pid)
        log(
            f"  {len(records)} in {router_s:.1f} s = {router_rate:,.0f} events/s "
            f"(commit polling adds up to 0.5 s); worker RSS {rss / 1024:.0f} MiB, "
            f"CPU {cpu_s(proc.pid):.1f} s since start"
        )
        log(f"ratio router / aiokafka baseline: {router_rate / base_rate:.1%}")
        log(f"load average: {Path('/proc/loadavg').read_text().strip()}")
        if args.restart:
            stop(proc)
            log("restart: same group, same data dir ...")
            # INFO: the restart's own log lines (the rebuild summary) are wanted here.
            proc, restart_s = start_worker(env, work / "worker.log", port, loglevel="info")
            log(
                f"  ready again in {restart_s:.1f} s (first start took {startup:.1f} s); "
                f"RSS {rss_kb(proc.pid) / 1024:.0f} MiB"
            )
            # The worker's own account of the index rebuild, the part of the restart that
            # is ours (the rest is faust's recovery: replaying or reopening the tables).
            rebuilt = [
                line.split("] ", 2)[-1].strip()
                for line in (work / "worker.log").read_text(errors="replace").splitlines()
                if "deadline index rebuilt" in line
            ]
            if rebuilt:
                log(f"  worker: {rebuilt[-1]}")
        stop(proc)
    finally:
        if not args.broker:
            stop_broker(kafka_dir)
    return 0


def stop_broker(kafka_dir: Path) -> None:
    """Stop the broker this script started in ``kafka_dir`` (by its pid file)."""
    subprocess.run(
        [str(REPO / "scripts" / "kafka-local"), "stop", "--data-dir", str(kafka_dir)],
        capture_output=True,
        check=False,
    )


if __name__ == "__main__":
    raise SystemExit(main())
