"""Read tools never invent state: a missing topic or no engine state is one line and exit 1;
the report's times are in the calendar's zone; ``scripts/kafka-local --help`` is no error."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.settings import Settings
from agents.tools import cli, report
from agents.tools.kafka_read import MissingTopicError
from workflows.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = REPO / "scripts" / "kafka-local"


def settings() -> Settings:
    return Settings(kafka_security_protocol="PLAINTEXT", topic_prefix="t-wrong-", app_id="df")


def run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    for name in [n for n in os.environ if n.startswith("DOSSIERFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    monkeypatch.setenv("DOSSIERFLOW_TOPIC_PREFIX", "t-wrong-")
    return cli.main(list(argv))


def no_topic(*_: Any, **__: Any) -> Iterator[Any]:
    raise MissingTopicError("t-wrong-dossier-assignments")
    yield  # pragma: no cover  (a generator, like the real one)


@pytest.mark.parametrize("follow", [[], ["--follow"]])
def test_a_missing_topic_is_one_line_naming_it_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], follow: list[str]
) -> None:
    monkeypatch.setattr("agents.tools.inbox.follow", no_topic)
    assert run(monkeypatch, "inbox", "SXD", *follow) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert [line for line in out.err.splitlines() if "SECURITY IS OFF" not in line] == [
        "dossierflow: topic 't-wrong-dossier-assignments' is not on 127.0.0.1:19092 (or this "
        "login may not see it): check DOSSIERFLOW_TOPIC_PREFIX ('t-wrong-'), or run "
        "`dossierflow topics` and `dossierflow acls`"
    ]


def test_no_engine_state_is_one_line_naming_the_topics_looked_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def latest(_: list[str], topic: str, **__: Any) -> dict[bytes, bytes]:
        if topic.endswith("-open-changelog"):
            raise MissingTopicError(topic)
        return {}  # there, but nothing in it

    monkeypatch.setattr(report, "latest_values", latest)
    with pytest.raises(report.NoEngineStateError) as caught:
        report.engine_states(settings())
    assert str(caught.value) == (
        "no engine state found on 127.0.0.1:19092 in df-t-wrong-dossier-events-open-changelog "
        "(missing), df-t-wrong-dossier-events-closed-changelog (empty): check "
        "DOSSIERFLOW_TOPIC_PREFIX ('t-wrong-') and DOSSIERFLOW_APP_ID ('df'), or let a worker "
        "process some events first"
    )


def test_the_report_prints_the_calendars_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "engine_states", lambda _: [])
    at = datetime(2026, 3, 2, 2, 5, tzinfo=UTC)
    made = report.build_report(settings(), load_catalog(settings().catalog_path), at)
    assert report.render(made, "table").splitlines()[0] == "Province report at 2026-03-02 09:05 +07"
    assert '"generated_at": "2026-03-02T09:05:00+07:00"' in report.render(made, "json")


def kafka_local(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KAFKA_LOCAL), *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], ["start", "--help"]])
def test_kafka_local_help_is_usage_on_stdout_and_exit_0(args: list[str]) -> None:
    done = kafka_local(*args)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[0].strip().startswith("scripts/kafka-local start  [--port P]")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["start", "--bogus"], "kafka-local: unknown argument: --bogus"),
        (["--bogus"], "kafka-local: unknown command: --bogus"),
    ],
)
def test_kafka_local_unknown_options_stay_exit_2(args: list[str], complaint: str) -> None:
    done = kafka_local(*args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[0] == complaint
    assert "scripts/kafka-local start" in done.stderr


def test_the_local_broker_never_creates_a_topic_a_client_asks_for() -> None:
    template = (REPO / "scripts" / "kafka" / "server.properties.in").read_text()
    settings = [line for line in template.splitlines() if line.startswith("auto.create.topics")]
    assert settings == ["auto.create.topics.enable=false"]
