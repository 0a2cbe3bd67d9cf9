"""The processes the demo starts (Kafka, workers) and stops: in order on exit, and all of
them from a stopper thread after Ctrl-C (``Started``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from agents.demo.output import say
from agents.settings import Settings

REPO = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = REPO / "scripts" / "kafka-local"
#: How long workers get to stop after Ctrl-C before they are killed (SIGKILL, by pid).
CLEANUP_LIMIT_S = 15.0


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: stop what was started, in order, then exit 130."""


@dataclass
class Started:
    """What the demo runs now, for the stopper thread after Ctrl-C: worker pids by name,
    and how to stop Kafka."""

    worker_pids: dict[str, int] = field(default_factory=dict)
    shutdown: dict[str, Callable[[], None]] = field(default_factory=dict)

    def interrupt(self, signum: int, frame: FrameType | None) -> None:
        """The SIGINT/SIGTERM handler while the demo runs."""
        # Once only: a second Ctrl-C must not cut the clean-up short and leave a worker behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\n· interrupted: stopping everything the demo started ...", flush=True)
        threading.Thread(target=self.stop_everything, name="demo-stopper", daemon=True).start()
        raise Interrupted

    def stop_everything(self) -> None:
        """After Ctrl-C, in its own thread: the main thread may be inside a Kafka client call
        that swallows the KeyboardInterrupt and keeps trying. Ask the workers to stop, kill
        the ones that do not in time, stop Kafka, and end the process."""
        workers = dict(self.worker_pids)
        for pid in workers.values():
            with suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + CLEANUP_LIMIT_S
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers.values()):
            time.sleep(0.2)
        for pid in workers.values():
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for stop in list(self.shutdown.values()):
            with suppress(Exception):
                stop()
        print("· interrupted: everything the demo started is stopped", flush=True)
        os._exit(130)


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False  # already reaped (by the orderly stop)
    return done == 0


@contextmanager
def local_kafka(data_dir: Path, port: int, running: Started) -> Iterator[str]:
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
    running.shutdown["kafka"] = stop
    try:
        yield bootstrap
    finally:
        stop()
        running.shutdown.pop("kafka", None)
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
    envs: Sequence[dict[str, str]], argv: Sequence[str], out_dir: Path, running: Started
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
            running.worker_pids[name] = proc.pid
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
            running.worker_pids.pop(w.name, None)
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


def post_json(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the worker's web server does: a port in TIME_WAIT after a previous run is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def worker_env(settings: Settings, name: str, port: int, out: Path) -> dict[str, str]:
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
        # the workers log in as the engine principal
        "KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "KAFKA_CREDENTIALS": settings.kafka_credentials,
        "KAFKA_ROLE": "engine" if settings.kafka_credentials else None,
        "KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "KAFKA_USERNAME": settings.kafka_username or None,
        "KAFKA_PASSWORD": settings.kafka_password.get_secret_value() or None,
        "KAFKA_CA_FILE": settings.kafka_ca_file,
        "PUBLISHERS_PATH": settings.publishers_path,
        "WEBHOOK_SECRETS_PATH": settings.webhook_secrets_path,
    }
    env.update({f"DOSSIERFLOW_{k}": str(v) for k, v in values.items() if v is not None})
    env["PYTHONUNBUFFERED"] = "1"
    return env
