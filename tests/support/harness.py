"""Running real workers and reading real topics in integration tests."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition

from agents.runtime.api_auth import issue
from agents.tools.kafka_read import consumer_lag

from support import security
from support.security import login
from support.signing import registry_path
from support.webhooks import secrets_path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_api: dict[str, Any] = {}


def api_admin() -> tuple[Path, str]:
    """The suite's status-API credentials file (one admin principal, ``tests-admin``) and
    the admin's token; made once per test process, removed at its exit."""
    if "path" not in _api:
        folder = Path(tempfile.mkdtemp(prefix="dossierflow-api-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "api-tokens.json"
        _api["token"] = issue(path, "tests-admin", "admin", ())
        _api["path"] = path
    return _api["path"], _api["token"]


def admin_headers() -> dict[str, str]:
    """``Authorization`` for the suite's admin: what ``/dossiers``, ``/clock`` and
    ``/routes`` need (docs/security.md "Reads")."""
    return {"Authorization": f"Bearer {api_admin()[1]}"}


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or None when the body is not JSON
    raw: bytes
    headers: dict[str, str]


def worker_env(
    bootstrap: str, prefix: str, group: str, data_dir: Path, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIERFLOW_")}
    env.update(
        DOSSIERFLOW_BROKER=bootstrap,
        DOSSIERFLOW_TOPIC_PREFIX=prefix,
        DOSSIERFLOW_APP_ID=group,
        DOSSIERFLOW_DATA_DIR=str(data_dir),
        DOSSIERFLOW_WEB_PORT=str(port),
        # Every test publisher signs (support.signing); the worker trusts that key.
        DOSSIERFLOW_PUBLISHERS_PATH=str(registry_path()),
        # The worker signs every webhook with the suite's secrets (support.webhooks).
        DOSSIERFLOW_WEBHOOK_SECRETS_PATH=str(secrets_path()),
        # the status API's tokens: the suite's admin (tests may name a file of their own)
        DOSSIERFLOW_API_CREDENTIALS_PATH=str(api_admin()[0]),
        PYTHONUNBUFFERED="1",
        **security.env(),
    )
    # the worker logs in as the engine principal: it may touch only its own topics
    security.grant(bootstrap, prefix, group)
    return env


def start_worker(
    bootstrap: str,
    prefix: str,
    group: str,
    tmp_path: Path,
    *,
    clock_at: datetime | None = None,
    log: str = "worker.log",
    **extra: str,
) -> Worker:
    """A ``dossierflow worker`` on ``tmp_path / "data"`` and a free port, started and ready:
    ``worker_env`` plus ``extra``; ``clock_at``: a manual clock held there (no deadline
    ticks unless the test moves it), else the real clock."""
    env = worker_env(bootstrap, prefix, group, tmp_path / "data", free_port())
    env.update(**(manual_clock(clock_at) if clock_at is not None else {}), **extra)
    return Worker(env=env, log_path=tmp_path / log).start()


class StartWorker(Protocol):
    """The ``start_worker`` fixture: ``start_worker`` with the test's broker, prefix, group
    and tmp_path already given."""

    def __call__(
        self, *, clock_at: datetime | None = None, log: str = "worker.log", **extra: str
    ) -> Worker: ...


@dataclass
class Worker:
    """A ``dossierflow worker`` process (or a test entry point) we started and will stop by pid."""

    env: dict[str, str]
    log_path: Path
    argv: list[str] = field(
        default_factory=lambda: [sys.executable, "-m", "agents.tools.cli", "worker"]
    )
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.env["DOSSIERFLOW_WEB_PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 90.0) -> Worker:
        self.launch()
        self.wait_ready(ready_timeout)
        return self

    def launch(self, note: str = "") -> Worker:
        """Start the process without waiting for it (a supervisor's restart); ``note`` goes
        to the log first, so the lines of each run of one worker can be told apart."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            if note:
                log.write(f"=== test: {note} ===\n".encode())
                log.flush()
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Until ``/health`` says ready; returns the seconds waited."""
        started = time.monotonic()
        wait_for(
            lambda: self.health() is True,
            timeout,
            f"worker ready ({self.log_path})",
            alive=self.proc,
        )
        return time.monotonic() - started

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def ops_url(self) -> str:
        """Where /metrics and /health are: the ops address when the worker has one."""
        ops_port = self.env.get("DOSSIERFLOW_OPS_PORT")
        return f"http://127.0.0.1:{ops_port}" if ops_port else self.url

    def health(self) -> bool | None:
        try:
            with urllib.request.urlopen(f"{self.ops_url}/health", timeout=2) as resp:
                return bool(json.loads(resp.read())["ready"])
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """``GET path`` as the suite's admin unless ``headers`` say otherwise ({}: none)."""
        reply = self.call(path, headers=headers)
        return reply.status, reply.body

    def call(
        self,
        path: str,
        *,
        method: str = "GET",
        body: object = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        """One HTTP request; ``headers`` None: the admin's token; a JSON ``body`` if given."""
        sent = admin_headers() if headers is None else dict(headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, headers=sent, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                status, raw, got = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, raw, got = err.code, err.read(), dict(err.headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return Reply(status, parsed, raw, got)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code (-9: it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.thaw()  # a frozen process would not act on SIGTERM
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return self.proc.returncode

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets and its group membership, but does nothing."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_for(
    check: Callable[[], object],
    timeout: float,
    what: str,
    alive: subprocess.Popen[bytes] | None = None,
    interval: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"process exited ({alive.returncode}) while waiting for {what}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool] | None = None,
    count: int | None = None,
    timeout: float = 60.0,
    quiet: float = 0.0,
) -> list[Any]:
    """Every record of ``topic`` from the beginning (as ConsumerRecords).

    Stops when ``count`` records were read or ``until(records)`` holds, then keeps
    reading ``quiet`` more seconds to catch records that should NOT be there.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=500,
        **login(),
    )
    try:
        deadline = time.monotonic() + timeout
        while not consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                return []
            time.sleep(0.2)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[Any] = []
        done = (lambda rs: len(rs) >= count) if count is not None else (until or (lambda rs: False))
        while time.monotonic() < deadline and not done(records):
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
        end = time.monotonic() + quiet
        while time.monotonic() < end:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def read_json(bootstrap: str, topic: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_topic(bootstrap, topic, **kwargs)]


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on ``topic`` (how many records it acked)."""
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap], group_id=group, enable_auto_commit=False, **login()
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        total = 0
        for p in parts:
            offset = consumer.committed(TopicPartition(topic, p))
            total += offset or 0
        return total
    finally:
        consumer.close()


def child_pids(pid: int) -> list[int]:
    """Pids of the live processes whose parent is ``pid`` (Linux /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry.name))
    return children


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def group_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records of ``topic`` the group has not committed yet (1 while the topic is missing)."""
    return consumer_lag(bootstrap, group, [topic], missing=1, **login())


KAFKA_LOCAL = REPO / "scripts" / "kafka-local"


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel just handed out (free-ish, as ``free_port``)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class LocalBroker:
    """A broker of the test's own (``scripts/kafka-local``), to kill and restart in place.

    The ports and the data dir stay the same across restarts, so clients reconnect to the
    same address and the broker recovers its own logs. Never the session's shared broker.
    """

    data_dir: Path
    port: int = 0
    controller_port: int = 0

    def __post_init__(self) -> None:
        if not self.port:
            self.port, self.controller_port = free_ports(2)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def credentials(self) -> Path:
        """The principals scripts/kafka-local made for this broker (it is secured too)."""
        return self.data_dir / "security" / "clients.json"

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KAFKA_LOCAL), *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, timeout: float = 300.0) -> float:
        """Start (or restart on the same data dir and ports); the seconds until it answered."""
        started = time.monotonic()
        ports = ("--port", str(self.port), "--controller-port", str(self.controller_port))
        done = self._run("start", *ports, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"scripts/kafka-local start failed:\n{done.stderr[-3000:]}")
        return time.monotonic() - started

    def pid(self) -> int | None:
        """The broker JVM's pid as kafka-local recorded it, while that process runs."""
        try:
            pid = int((self.data_dir / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def kill9(self) -> int:
        """SIGKILL the broker JVM (by its recorded pid) and wait until it is gone."""
        pid = self.pid()
        assert pid is not None, f"no running broker recorded in {self.data_dir}"
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), 30, f"broker pid {pid} to die")
        return pid

    def stop(self) -> None:
        if self.pid() is not None:
            self._run("stop", timeout=60)


def manual_clock(start: datetime) -> dict[str, str]:
    """Worker settings for a manual clock held at ``start`` (moved by ``POST /clock``)."""
    return {"DOSSIERFLOW_CLOCK": "manual", "DOSSIERFLOW_CLOCK_START": start.isoformat()}
