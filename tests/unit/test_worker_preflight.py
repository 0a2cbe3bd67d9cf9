"""``dossierflow worker`` checks everything before it touches Kafka: each problem one line
(what, where, what to do), exit 2, no traceback, no topic created."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.runtime.preflight import bind_problem, preflight
from agents.settings import Settings

from support.cli import run_cli
from support.harness import free_port
from support.webhooks import secrets_path

REPO = Path(__file__).resolve().parents[2]
PREFIX = "dossierflow worker: "


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield int(server.getsockname()[1])


def worker(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[str], str]:
    """Run ``dossierflow worker``; its exit status, its own stderr lines, its stdout. The
    broker's port is closed: a worker that got past its checks would say it cannot reach it."""
    base = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "DOSSIERFLOW_KAFKA_CONNECT_TIMEOUT_SECONDS": "1",
        "DOSSIERFLOW_BROKER": f"127.0.0.1:{free_port()}",
        "DOSSIERFLOW_WEBHOOK_SECRETS_PATH": str(secrets_path()),
        "DOSSIERFLOW_API_CREDENTIALS_PATH": str(tmp_path / "no-tokens.json"),
        "DOSSIERFLOW_DATA_DIR": str(tmp_path / "data"),
        "DOSSIERFLOW_WEB_PORT": str(free_port()),
    }
    done = run_cli("worker", *args, env={**base, **env})
    assert "Traceback" not in done.stderr, done.stderr
    # The loud PLAINTEXT warning is this test's choice, not the error under test.
    lines = [line for line in done.stderr.splitlines() if "KAFKA SECURITY IS OFF" not in line]
    return done.returncode, lines, done.stdout


def test_a_catalog_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "catalog"
    code, lines, out = worker(tmp_path, DOSSIERFLOW_CATALOG_PATH=str(missing))
    assert (code, out) == (2, "")
    assert lines == [
        f"{PREFIX}DOSSIERFLOW_CATALOG_PATH={missing}: the catalog does not load: {missing}: "
        f"no such file or folder; `dossierflow catalog check {missing}` lists every problem"
    ]


@pytest.mark.parametrize("port", ["WEB", "OPS"])  # the status API's, /metrics' own
def test_a_taken_port_is_one_line(tmp_path: Path, taken_port: int, port: str) -> None:
    variable = f"DOSSIERFLOW_{port}_PORT"
    code, lines, _ = worker(tmp_path, **{variable: str(taken_port)})
    assert code == 2
    assert lines == [
        f"{PREFIX}{variable}={taken_port} on 127.0.0.1 cannot be used: the port is taken; "
        f"stop what listens there or set {variable} (and DOSSIERFLOW_{port}_HOST) to a free one"
    ]


def test_a_bad_log_level_is_one_line(tmp_path: Path) -> None:
    code, lines, _ = worker(tmp_path, "--loglevel", "loud")
    assert code == 2
    assert lines == [
        f"{PREFIX}--loglevel 'loud' is not a log level: use one of critical, error, warning, "
        "info, debug"
    ]


def test_a_data_dir_under_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, lines, _ = worker(tmp_path, DOSSIERFLOW_DATA_DIR=str(blocker / "data"))
    assert code == 2
    assert lines == [
        f"{PREFIX}DOSSIERFLOW_DATA_DIR={blocker / 'data'}: {blocker} is a file, not a folder; "
        "set DOSSIERFLOW_DATA_DIR elsewhere"
    ]


def test_every_problem_is_said_at_once(tmp_path: Path, taken_port: int) -> None:
    code, lines, _ = worker(
        tmp_path,
        "--loglevel",
        "LOUD",
        DOSSIERFLOW_CATALOG_PATH=str(tmp_path / "nope"),
        DOSSIERFLOW_WEB_PORT=str(taken_port),
        DOSSIERFLOW_PUBLISHERS_PATH=str(tmp_path / "publishers.yaml"),
    )
    assert code == 2
    assert [line.split(" ", 3)[2] for line in lines] == [
        "--loglevel",
        f"DOSSIERFLOW_CATALOG_PATH={tmp_path / 'nope'}:",
        f"DOSSIERFLOW_WEB_PORT={taken_port}",
        f"DOSSIERFLOW_PUBLISHERS_PATH={tmp_path / 'publishers.yaml'}:",
    ]
    assert lines[-1].endswith(": No such file or directory; fix the file or the setting")


def test_checks_that_pass_get_past_to_the_broker(tmp_path: Path) -> None:
    # A data dir two folders deep that is not there yet is fine: the worker makes it.
    code, lines, _ = worker(tmp_path, DOSSIERFLOW_DATA_DIR=str(tmp_path / "new" / "data"))
    assert code == 3, lines  # the checks passed; the (closed) broker is what stopped it
    assert lines[-1].startswith("dossierflow: cannot reach Kafka at 127.0.0.1:")
    assert (tmp_path / "new" / "data").is_dir()


def test_an_unreadable_ca_file_and_unknown_host_are_named(tmp_path: Path) -> None:
    settings = Settings(
        kafka_security_protocol="PLAINTEXT",
        data_dir=tmp_path,
        smtp_ca_file=tmp_path / "ca.pem",
        web_host="no-such-host.invalid",
    )
    problems = preflight(settings, "info")
    assert len(problems) == 2, problems
    assert problems[0] == (
        "DOSSIERFLOW_WEB_PORT=6066 on no-such-host.invalid cannot be used: the host does not "
        "resolve (Name or service not known); set DOSSIERFLOW_WEB_HOST to an address of this "
        "machine"
    )
    assert problems[1] == (
        f"DOSSIERFLOW_SMTP_CA_FILE={tmp_path / 'ca.pem'}: cannot read it (No such file or "
        "directory); fix the path or permissions"
    )


def test_bind_problem_tells_free_from_taken(taken_port: int) -> None:
    assert bind_problem("127.0.0.1", taken_port) == "the port is taken"
    assert bind_problem("127.0.0.1", free_port()) is None
