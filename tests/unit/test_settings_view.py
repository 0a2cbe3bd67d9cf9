"""Settings a person can find and fix: one line per bad variable, unknown names with the
closest real one, and the settings table (docs/settings.md is its --defaults form)."""

from __future__ import annotations

import os
import re

import pytest

from agents.tools import cli
from agents.tools.settings_view import KAFKA_LOCAL_VARIABLES, render, unknown_variables

from support.cli import run_cli
from support.harness import REPO


def run(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *argv: str) -> int:
    for name in [n for n in os.environ if n.startswith("DOSSIERFLOW_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cli.main(list(argv))


@pytest.mark.parametrize(
    ("env", "line"),
    [
        # not a number: the variable, the value, what is expected
        (
            {"DOSSIERFLOW_PARTITIONS": "abc"},
            "dossierflow: DOSSIERFLOW_PARTITIONS='abc': Input should be a valid integer, "
            "unable to parse string as an integer",
        ),
        # out of range
        (
            {"DOSSIERFLOW_WEB_PORT": "99999"},
            "dossierflow: DOSSIERFLOW_WEB_PORT='99999': Input should be less than or equal to 65535",
        ),
        # one of a few names
        (
            {"DOSSIERFLOW_CLOCK": "weird"},
            "dossierflow: DOSSIERFLOW_CLOCK='weird': Input should be 'real', 'accelerated' or 'manual'",
        ),
    ],
)
def test_a_bad_variable_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    line: str,
) -> None:
    assert run(monkeypatch, env, "settings") == 2
    assert capsys.readouterr().err.splitlines() == [line]


def test_an_unknown_variable_is_warned_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, {"DOSSIERFLOW_BROKR": "x:1"}, "settings", "--defaults") == 0
    assert capsys.readouterr().err.splitlines() == [
        "dossierflow: warning: DOSSIERFLOW_BROKR is not a dossierflow setting and is ignored; "
        "did you mean DOSSIERFLOW_BROKER?"
    ]


def test_the_table_masks_secrets_and_takes_broker_after_the_subcommand(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"DOSSIERFLOW_KAFKA_PASSWORD": "hunter2-very-secret"}
    assert run(monkeypatch, env, "settings", "--broker", "10.0.0.9:9093") == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert "| `DOSSIERFLOW_KAFKA_PASSWORD` | `(empty)` | `(set, hidden)` |" in out
    assert "| `DOSSIERFLOW_BROKER` | `127.0.0.1:19092` | `10.0.0.9:9093` |" in out


def test_docs_settings_is_the_defaults_table() -> None:
    docs = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    assert docs.endswith(render(None)), "run: dossierflow settings --defaults >> docs/settings.md"


def test_a_subprocess_with_a_bad_variable_says_it_in_one_line() -> None:
    env = {"DOSSIERFLOW_PARTITIONS": "many", "PATH": "/usr/bin:/bin"}
    done = run_cli("report", env={**env, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "dossierflow: DOSSIERFLOW_PARTITIONS='many': Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_kafka_local_variables_are_known_not_warned() -> None:
    # The names scripts/kafka-local documents in its header are its own, not typos.
    header = (REPO / "scripts" / "kafka-local").read_text(encoding="utf-8").split("set -euo")[0]
    documented = set(re.findall(r"^#\s+(DOSSIERFLOW_[A-Z_]+)", header, flags=re.MULTILINE))
    assert documented == KAFKA_LOCAL_VARIABLES
    assert unknown_variables(dict.fromkeys(documented, "1")) == []


def test_help_with_a_bad_variable_says_so_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, {"DOSSIERFLOW_PARTITIONS": "abc"}, "--help") == 2
    assert capsys.readouterr().err.splitlines() == [
        "dossierflow: DOSSIERFLOW_PARTITIONS='abc': Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    with pytest.raises(SystemExit) as done:  # with good settings, help is help
        run(monkeypatch, {}, "--help")
    assert done.value.code == 0
