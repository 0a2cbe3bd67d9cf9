"""``dossierflow whatif`` over the secured broker: the events topic read from its beginning
as the reader, every record's signature verified, gives the same replay as the same events
from a file; a record the router would refuse (unsigned, undecodable) is left out."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import events as ev
from workflows.calendar import WorkingCalendar
from workflows.catalog import load_catalog
from workflows.simulation import interleave, simulate

from support.cli import cli_env, run_cli
from support.fleet import Fleet
from support.kafka_io import produce, publish
from support.signing import registry_path
from support.time import vn

LICENCE = "1.013225"  # construction licence: 10 calendar days committed, 15 statutory


class Recorded:
    def __init__(self, fleet: Fleet, path: Path, events: list[ev.InboundEvent]) -> None:
        self.fleet, self.path, self.events = fleet, path, events

    def run(self, *args: str, role: str = "engine") -> subprocess.CompletedProcess[str]:
        """``whatif --format json ARGS`` as ``role`` (the reader may not read events)."""
        env = cli_env(
            self.fleet.bootstrap,
            self.fleet.prefix,
            DOSSIERFLOW_APP_ID=self.fleet.group,
            DOSSIERFLOW_KAFKA_ROLE=role,
            # the registry the worker verifies signatures by: so does whatif
            DOSSIERFLOW_PUBLISHERS_PATH=str(registry_path()),
        )
        return run_cli("whatif", "--format", "json", *args, env=env, timeout=300)

    def whatif(self, *args: str) -> dict[str, Any]:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        out: dict[str, Any] = json.loads(done.stdout)
        return out


@pytest.fixture(scope="module")
def recorded(kafka_bootstrap: str, module_fleet: Fleet) -> Recorded:
    fleet = module_fleet
    catalog, calendar = load_catalog(), WorkingCalendar()
    generated = simulate(
        catalog, calendar, vn(2026, 3, 2, 8), 120, seed=5, spread=timedelta(days=10)
    )
    events = interleave(generated)
    path = fleet.base / "events.jsonl"
    path.write_bytes(b"".join(ev.encode(e) + b"\n" for e in events))
    fleet.provision()  # no worker: whatif reads the topic, nothing is routed
    topic = fleet.names.events
    # What the router would refuse, and so must the replay: whole lifecycles, results
    # included, without a signature, and bytes that are no event at all (signed).
    strays = interleave(
        simulate(catalog, calendar, vn(2026, 3, 2, 8), 20, seed=6, id_prefix="STRAY")
    )
    assert any(isinstance(e, ev.ResultReady) for e in strays)
    produce(kafka_bootstrap, topic, [(e.dossier_id, ev.encode(e)) for e in strays], headers=[])
    produce(kafka_bootstrap, topic, [(events[0].dossier_id, b"{not json")])
    assert publish(kafka_bootstrap, topic, events) == len(events)
    return Recorded(fleet, path, events)


def test_the_topic_from_its_beginning_replays_as_the_same_events_from_a_file(
    recorded: Recorded,
) -> None:
    from_kafka = recorded.whatif()
    from_file = recorded.whatif("--events", str(recorded.path))
    # unchanged catalog: nothing flips, and the figures are those of the file's replay
    assert from_kafka["flips"] == {"to_late": 0, "to_on_time": 0}
    assert from_kafka["actual"] == from_kafka["whatif"] == from_file["actual"]
    # the unsigned lifecycles were left out, or more dossiers would have completed
    assert from_kafka["actual"]["completed"] > 20


def test_a_changed_commitment_judges_the_recorded_history_as_the_file_does(
    recorded: Recorded,
) -> None:
    cut = ("--commit", f"{LICENCE}=1")
    from_kafka = recorded.whatif(*cut)
    from_file = recorded.whatif("--events", str(recorded.path), *cut)
    assert from_kafka == from_file
    assert from_kafka["changes"][0]["procedure"] == LICENCE
    # a shorter commitment can only make dossiers later
    assert from_kafka["flips"]["to_on_time"] == 0
    assert from_kafka["whatif"]["on_time"] <= from_kafka["actual"]["on_time"]


def test_as_the_reader_it_says_who_may_read_the_events_in_one_line(recorded: Recorded) -> None:
    done = recorded.run(role="reader")
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # no traceback
    assert "may not read" in lines[0] and "DOSSIERFLOW_KAFKA_ROLE=engine" in lines[0]
