"""The read tools on the secured broker: ``dlq`` lists and filters what the router refused,
``publish --wait`` names the refused events, and a wrong prefix is one line and an exit 1,
never an empty report or a topic made by asking for it.

One worker serves the module; its refusals are published once, by ``publish --wait``."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kafka import KafkaAdminClient

import events as ev
from agents.access.credentials import ADMIN

from support import security
from support.cli import cli_env, run_cli
from support.dossiers import DESK, MOTCUA, receipt
from support.fleet import Fleet
from support.harness import REPO
from support.kafka_io import produce
from support.security import login
from support.signing import publisher_env
from support.time import vn

WAIT_S = 30  # publish --wait: a batch and a commit interval (2.8 s) fit many times over
FOLLOW_S = 40.0  # the longest a --follow command may run in a test
MONDAY = vn(2026, 3, 2, 9)


class Province:
    """The module's worker, its names, and the three events published to it."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet, self.names = fleet, fleet.names
        self.applied = receipt("HS-RT-OK", str(uuid.uuid4()), MONDAY)
        self.unknown = receipt("HS-RT-PROC", str(uuid.uuid4()), MONDAY, procedure="9.999999")
        # 2.001610 is received at MOTCUA: a receipt at the ward's desk is not allowed
        self.elsewhere = receipt("HS-RT-DESK", str(uuid.uuid4()), MONDAY, agency=DESK)
        self.published: subprocess.CompletedProcess[str] | None = None

    def cli(
        self, *args: str, prefix: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env(prefix, **env))

    @contextmanager
    def following(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        """A ``--follow`` command, killed (by pid) after ``FOLLOW_S`` so that a line that
        never comes ends the test's ``readline`` instead of hanging it."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "agents.tools.cli", *args],
            env=self.env(),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        watchdog = threading.Timer(FOLLOW_S, proc.kill)
        watchdog.start()
        try:
            yield proc
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def env(self, prefix: str | None = None, **extra: str) -> dict[str, str]:
        return cli_env(
            self.fleet.bootstrap,
            self.fleet.prefix if prefix is None else prefix,
            DOSSIERFLOW_APP_ID=self.fleet.group,
            **publisher_env(),
            **extra,
        )


@pytest.fixture(scope="module")
def province(module_fleet: Fleet) -> Province:
    fleet = module_fleet
    fleet.provision()
    fleet.start(fleet.worker("router"))
    province = Province(fleet)
    path = fleet.base / "events.jsonl"
    lines = [province.applied, province.unknown, province.elsewhere]
    path.write_bytes(b"".join(ev.encode(e) + b"\n" for e in lines))
    province.published = province.cli("publish", "--wait", str(WAIT_S), str(path))
    return province


def test_publish_wait_names_each_refused_event_and_its_reason(province: Province) -> None:
    done = province.published
    assert done is not None
    a, u, e = province.applied, province.unknown, province.elsewhere
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"published 3 of 3 events to {province.names.events}"
    assert lines[1] == f"applied  HS-RT-OK  {a.event_id}  dossier.received"
    assert lines[2].startswith(f"refused  HS-RT-PROC  {u.event_id}  dossier.received  "
                               "unknown_procedure: ")  # fmt: skip
    assert "9.999999" in lines[2]
    assert lines[3].startswith(f"refused  HS-RT-DESK  {e.event_id}  dossier.received  "
                               "unauthorized: ")  # fmt: skip
    assert lines[4:] == [f"router (group {province.fleet.group}): 1 applied, 2 refused"]


def test_dlq_lists_and_filters_what_the_router_refused(province: Province) -> None:
    every = province.cli("dlq")
    assert (every.returncode, every.stderr.splitlines()) == (0, ["2 dead letters"])
    assert sorted(line.split("  ")[1:4] for line in every.stdout.splitlines()) == [
        ["unauthorized", "HS-RT-DESK", province.elsewhere.event_id],
        ["unknown_procedure", "HS-RT-PROC", province.unknown.event_id],
    ]
    for option, wanted in [
        (("--reason", "unauthorized"), "HS-RT-DESK"),
        (("--dossier", "HS-RT-PROC"), "HS-RT-PROC"),
        (("--agency", MOTCUA), "HS-RT-PROC"),  # the agency in the refused event itself
        (("--agency", DESK), "HS-RT-DESK"),
    ]:
        one = province.cli("dlq", *option)
        assert (one.returncode, one.stderr.splitlines()) == (0, ["1 dead letter"]), option
        assert [line.split("  ")[2] for line in one.stdout.splitlines()] == [wanted], option
    none = province.cli("dlq", "--reason", "too_large")
    assert (none.returncode, none.stdout, none.stderr) == (0, "", "0 dead letters\n")

    shown = province.cli("dlq", "--dossier", "HS-RT-PROC", "--original")
    original = ev.encode(province.unknown)
    assert shown.stdout.splitlines()[1] == (
        f"    original ({len(original)} bytes): {original.decode('utf-8')}"
    )


def test_dlq_follow_shows_the_history_then_new_refusals_escaped(province: Province) -> None:
    with province.following("dlq", "--follow", "--original") as follow:
        assert follow.stdout is not None and follow.stderr is not None
        history = [follow.stdout.readline() for _ in range(4)]  # two letters, two originals
        assert follow.stderr.readline() == "2 dead letters\n"
        assert follow.stderr.readline() == (
            f"following dead letters on {province.names.dlq}; Ctrl-C to stop\n"
        )
        # A terminal escape in a record that is not JSON: shown, never sent to the terminal.
        produce(province.fleet.bootstrap, province.names.events, [("HS-RT-ESC", b"\x1b[2J{")])
        line, original = follow.stdout.readline(), follow.stdout.readline()
        assert "  invalid_json  HS-RT-ESC  -  " in line
        assert original == "    original (5 bytes): \\x1b[2J{\n"
        assert sorted(h.split("  ")[2] for h in history[::2]) == ["HS-RT-DESK", "HS-RT-PROC"]
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=15) == 0


def test_report_with_a_wrong_prefix_is_one_line_and_exit_1(province: Province) -> None:
    wrong = f"t-{uuid.uuid4().hex[:8]}-"
    done = province.cli("report", prefix=wrong)
    group, broker = province.fleet.group, province.fleet.bootstrap
    tables = [f"{group}-{wrong}dossier-events-{t}-changelog" for t in ("open", "closed")]
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"dossierflow report: no engine state found on {broker} in {tables[0]} (missing), "
        f"{tables[1]} (missing): check DOSSIERFLOW_TOPIC_PREFIX ({wrong!r}) and "
        f"DOSSIERFLOW_APP_ID ({group!r}), or let a worker process some events first"
    ]
    right = province.cli("report")
    assert right.returncode == 0, right.stderr
    assert right.stdout.startswith("Province report at ") and " +07\n" in right.stdout


@pytest.mark.parametrize("follow", [False, True])
def test_inbox_with_a_wrong_prefix_creates_no_topic(province: Province, follow: bool) -> None:
    wrong = f"t-{uuid.uuid4().hex[:8]}-"
    topic = ev.TopicNames.with_prefix(wrong).assignments
    # The reader may never create a topic; the engine's login may, on its own prefix: as
    # the engine, the inbox could create one by asking for it, if it asked the wrong way.
    security.grant(province.fleet.bootstrap, wrong, province.fleet.group)
    args = ["inbox", "SXD", *(["--follow"] if follow else [])]
    done = province.cli(*args, prefix=wrong, DOSSIERFLOW_KAFKA_ROLE="engine")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"dossierflow: topic {topic!r} is not on {province.fleet.bootstrap} (or this login "
        f"may not see it): check DOSSIERFLOW_TOPIC_PREFIX ({wrong!r}), or run "
        "`dossierflow topics` and `dossierflow acls`"
    ]
    admin = KafkaAdminClient(bootstrap_servers=province.fleet.bootstrap, **login(ADMIN))
    try:
        assert topic not in admin.list_topics()
    finally:
        admin.close()


def test_inbox_follow_shows_the_inbox_first_with_a_banner(province: Province) -> None:
    with province.following("inbox", MOTCUA, "--follow") as follow:
        assert follow.stdout is not None and follow.stderr is not None
        assert "  HS-RT-OK  2.001610  step receive" in follow.stdout.readline()
        assert follow.stderr.readline() == f"1 dossier at {MOTCUA}\n"
        assert follow.stderr.readline() == (
            f"following assignments for {MOTCUA} on {province.names.assignments}; Ctrl-C to stop\n"
        )
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=15) == 0
