"""What reaches aiokafka's consumer: session, heartbeat, rebalance timeouts and static membership.

faust turns its ``broker_*`` settings into ``AIOKafkaConsumer`` arguments in its aiokafka
driver; these tests build the worker app with ``create_app`` and record the arguments the
driver passes, so a faust upgrade that renames or drops one fails here, not in production.
"""

from __future__ import annotations

import socket
from typing import Any

import aiokafka
import pytest
from pydantic import ValidationError

from agents.runtime.app import create_app
from agents.settings import Settings


def consumer_kwargs(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def record(*topics: str, **kwargs: Any) -> object:
        seen.update(kwargs)
        return object()

    # faust's driver looks the class up on the module at each call.
    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", record)
    flow = create_app(settings)
    thread = flow.app.consumer._thread  # type: ignore[attr-defined]
    thread._create_worker_consumer(flow.app.transport)
    return seen


def test_defaults_detect_a_dead_worker_in_ten_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = consumer_kwargs(Settings(), monkeypatch)
    assert kwargs["session_timeout_ms"] == 10_000
    assert kwargs["heartbeat_interval_ms"] == 2_000
    assert kwargs["rebalance_timeout_ms"] == 60_000
    # Dynamic membership by default: a stopped worker leaves the group at once, so its
    # partitions (and the table routes of /dossiers) move to the others at once.
    assert kwargs["group_instance_id"] is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # "auto": one id per worker slot; two workers on one host differ by their web port
        ({"instance_id": "auto"}, f"dossierflow-{socket.gethostname()}-6066"),
        ({"instance_id": "auto", "web_port": 6067}, f"dossierflow-{socket.gethostname()}-6067"),
        # empty, the default: dynamic membership
        ({}, None),
        # given: used as it is
        ({"instance_id": "slot-3"}, "slot-3"),
    ],
)
def test_the_instance_id_is_one_per_worker_slot_or_none(
    fields: dict[str, Any], expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings(**fields).group_instance_id == expected
    assert consumer_kwargs(Settings(**fields), monkeypatch)["group_instance_id"] == expected


def test_settings_reach_the_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        session_timeout_seconds=7.5,
        heartbeat_interval_seconds=1.5,
        rebalance_timeout_seconds=20,
        instance_id="worker-a",
    )
    kwargs = consumer_kwargs(settings, monkeypatch)
    assert kwargs["session_timeout_ms"] == 7_500
    assert kwargs["heartbeat_interval_ms"] == 1_500
    assert kwargs["rebalance_timeout_ms"] == 20_000
    assert kwargs["group_instance_id"] == "worker-a"
    # faust refuses a session timeout over its request timeout: ours stays under it.
    assert kwargs["request_timeout_ms"] >= kwargs["session_timeout_ms"]


@pytest.mark.parametrize(
    "fields",
    [
        {"session_timeout_seconds": 5},  # under the broker's group.min.session.timeout.ms
        {"session_timeout_seconds": 120},  # over faust's request timeout (90 s)
        {"heartbeat_interval_seconds": 4},  # over a third of the 10 s session
        {"session_timeout_seconds": 6, "heartbeat_interval_seconds": 2.5},  # same, at 6 s
    ],
)
def test_unsafe_timeouts_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Settings(**fields)  # type: ignore[arg-type]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSSIERFLOW_SESSION_TIMEOUT_SECONDS", "8")
    monkeypatch.setenv("DOSSIERFLOW_HEARTBEAT_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("DOSSIERFLOW_INSTANCE_ID", "host-1")
    settings = Settings()
    assert (settings.session_timeout_seconds, settings.heartbeat_interval_seconds) == (8, 1)
    assert settings.instance_id == "host-1"


def test_faust_environment_variables_do_not_override_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # faust would let these win over create_app's arguments, behind Settings' back.
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "33")
    monkeypatch.setenv("CONSUMER_GROUP_INSTANCE_ID", "from-faust-env")
    kwargs = consumer_kwargs(Settings(), monkeypatch)
    assert kwargs["session_timeout_ms"] == 10_000
    assert kwargs["group_instance_id"] == Settings().group_instance_id != "from-faust-env"
