"""The CLI's errors a new user meets first: one line each, what and where, a non-zero exit,
and nothing waits 30 s for a broker that is not there."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from support.cli import run_cli
from support.harness import REPO


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


def dossierflow(
    *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "DOSSIERFLOW_KAFKA_CONNECT_TIMEOUT_SECONDS": "1",
    }
    return run_cli(*args, env={**base, **env}, stdin=stdin)


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    # The loud PLAINTEXT warning is the suite's own choice, not the error under test.
    return [line for line in done.stderr.splitlines() if "KAFKA SECURITY IS OFF" not in line]


@pytest.mark.parametrize("command", [("inbox", "SXD"), ("alerts",), ("report",)])
def test_a_broker_that_is_not_there_is_one_line_within_the_timeout(
    command: tuple[str, ...],
) -> None:
    port = closed_port()
    started = time.monotonic()
    done = dossierflow("--broker", f"127.0.0.1:{port}", *command)
    assert time.monotonic() - started < 15  # not kafka-python's 30 s
    assert done.returncode == 3
    assert errors(done) == [
        f"dossierflow: cannot reach Kafka at 127.0.0.1:{port} within 1 s: is it running? "
        "(`scripts/kafka-local start`, or set DOSSIERFLOW_BROKER)"
    ]


def test_publish_checks_every_line_before_it_needs_the_broker() -> None:
    port = closed_port()
    lines = '{"type": "dossier.withdrawn"}\nnot json\n'
    done = dossierflow(
        "--broker", f"127.0.0.1:{port}", "publish", "-", stdin=lines,
        DOSSIERFLOW_REQUIRE_SIGNATURES="false",
    )  # fmt: skip
    assert done.returncode == 3
    got = errors(done)
    assert got[0].startswith("line 1: ") and "schema_version" in got[0]
    assert got[-2] == "line 2: $: invalid JSON: Expecting value at column 1"
    assert got[-1].startswith(f"dossierflow: cannot reach Kafka at 127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (
            "/nonexistent/events.jsonl",
            "cannot read /nonexistent/events.jsonl: No such file or directory",
        ),
        ("/", "cannot read /: it is a directory, not a file of events"),
    ],
)
def test_publish_of_a_file_that_is_not_there_or_a_folder(path: str, line: str) -> None:
    done = dossierflow("publish", path)
    assert done.returncode == 2
    assert errors(done) == [f"dossierflow publish: {line}"]
