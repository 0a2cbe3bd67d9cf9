"""The secure broker of scripts/kafka-local refuses strangers and holds each role to its ACLs.

One secured broker for this module (own ports, own data dir), ACLs applied for one prefix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from agents.access.acls import ROLES, apply_acls
from agents.access.client import KafkaSecurity
from events.topics import TopicNames

from support.harness import KAFKA_LOCAL, free_ports

APP_ID = f"secapp-{uuid.uuid4().hex[:6]}"
PREFIX = f"t-{uuid.uuid4().hex[:8]}-"
NAMES = TopicNames.with_prefix(PREFIX)
#: created by the admin at setup (a table's changelog the engine already has)
CHANGELOG = f"{APP_ID}-{NAMES.events}-open-changelog"
#: created by the engine itself in its test
NEW_CHANGELOG = f"{APP_ID}-{NAMES.events}-parked-changelog"
REFUSED_FAST = {"request_timeout_ms": 3000, "bootstrap_timeout_ms": 2500}
#: what the broker's Selector logs for a SCRAM login with a wrong password
INVALID_CREDENTIALS = "invalid credentials with SASL mechanism SCRAM-SHA-512"


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    credentials: Path

    def security(self, role: str) -> KafkaSecurity:
        return KafkaSecurity.from_credentials_file(self.credentials, role)


def _kafka_local(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KAFKA_LOCAL), *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    data_dir = tmp_path_factory.mktemp("kafka-secure")
    port, controller_port = free_ports(2)
    started = _kafka_local(
        "start", "--port", str(port), "--controller-port", str(controller_port),
        "--data-dir", data_dir,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        bootstrap = started.stdout.strip().splitlines()[-1]
        assert bootstrap == f"127.0.0.1:{port}"
        found = SecureBroker(bootstrap, data_dir / "security" / "clients.json")
        admin = found.security("admin")
        config = {"bootstrap_servers": [bootstrap], **admin.kafka_python_kwargs()}
        data = json.loads(found.credentials.read_text())
        apply_acls(config, PREFIX, APP_ID, {r: data["principals"][r]["username"] for r in ROLES})
        client = KafkaAdminClient(**config)
        try:
            topics = [*NAMES.all(), CHANGELOG]
            client.create_topics({name: {"num_partitions": 1} for name in topics})
            client.wait_for_topics(topics, timeout_ms=30_000)
        finally:
            client.close()
        yield found
    finally:
        stopped = _kafka_local("stop", "--data-dir", data_dir)
        assert stopped.returncode == 0, stopped.stderr


def _produce(
    broker: SecureBroker, role: str, topic: str, value: bytes = b"v", idempotent: bool = True
) -> Any:
    producer = KafkaProducer(
        bootstrap_servers=[broker.bootstrap],
        # as agents/publisher.py: needs no IdempotentWrite ACL, only WRITE on some topic
        enable_idempotence=idempotent,
        max_block_ms=5000,
        request_timeout_ms=5000,
        **broker.security(role).kafka_python_kwargs(),
    )
    try:
        return producer.send(topic, value, key=b"k").get(timeout=10)
    finally:
        producer.close()


def _consume(broker: SecureBroker, role: str, topic: str, group: str) -> list[bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[broker.bootstrap],
        group_id=group,
        auto_offset_reset="earliest",
        **broker.security(role).kafka_python_kwargs(),
    )
    try:
        values: list[bytes] = []
        for _ in range(20):
            for records in consumer.poll(timeout_ms=500).values():
                values += [r.value for r in records]
            if values:
                break
        return values
    finally:
        consumer.close()


def _read_partition(broker: SecureBroker, role: str, topic: str) -> list[bytes]:
    """Fetch partition 0 from the start without a group (as tools that commit nothing)."""
    from kafka import TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=[broker.bootstrap], **broker.security(role).kafka_python_kwargs()
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        batch = consumer.poll(timeout_ms=3000)
        return [r.value for records in batch.values() for r in records]
    finally:
        consumer.close()


def _assert_cannot_read(
    broker: SecureBroker, role: str, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``role`` gets nothing from ``topic`` although it holds a record.

    Without DESCRIBE the topic is hidden from metadata (kafka-python logs "not authorized" and
    fetches nothing); with DESCRIBE but no READ the fetch itself fails.
    """
    _produce(broker, "admin", topic, b"secret")
    caplog.set_level(logging.ERROR, logger="kafka")
    try:
        got = _read_partition(broker, role, topic)
    except TopicAuthorizationFailedError:
        return
    assert got == []
    assert f"Topic {topic} is not authorized for this client" in caplog.text


def test_files_are_private_and_name_every_role(broker: SecureBroker) -> None:
    security_dir = broker.credentials.parent
    for path in [security_dir, *security_dir.iterdir()]:
        if path.name == "ca.pem":
            continue  # the CA certificate is public
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    data = json.loads(broker.credentials.read_text())
    assert data["bootstrap"] == broker.bootstrap
    assert set(data["principals"]) == {"admin", *ROLES}
    props = (security_dir.parent / "server.properties").read_text()
    assert stat.S_IMODE((security_dir.parent / "server.properties").stat().st_mode) == 0o600
    assert "allow.everyone.if.no.acl.found=false" in props


def test_status_and_probe_log_in_as_admin(broker: SecureBroker) -> None:
    data_dir = broker.credentials.parent.parent
    status = _kafka_local("status", "--data-dir", data_dir)
    assert status.returncode == 0 and "secure" in status.stdout, status
    port = broker.bootstrap.rsplit(":", 1)[1]
    probe = _kafka_local("probe", "--port", port, "--data-dir", data_dir)
    assert probe.returncode == 0 and f"broker 1 127.0.0.1:{port}" in probe.stdout, probe


def _refused(broker: SecureBroker, caplog: pytest.LogCaptureFixture, **security: Any) -> str:
    """Open an admin client with ``security``; it must fail; return what kafka-python logged."""
    caplog.set_level(logging.WARNING, logger="kafka")
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        KafkaAdminClient(bootstrap_servers=[broker.bootstrap], **REFUSED_FAST, **security)
    return caplog.text


def test_plaintext_to_the_tls_port_is_refused(
    broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    assert "socket disconnected" in _refused(broker, caplog, security_protocol="PLAINTEXT")


def test_tls_without_credentials_is_refused(
    broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    context = broker.security("admin").ssl_context()
    _refused(broker, caplog, security_protocol="SSL", ssl_context=context)


def test_wrong_password_is_refused(broker: SecureBroker, caplog: pytest.LogCaptureFixture) -> None:
    real = broker.security("engine")
    wrong = KafkaSecurity(
        real.protocol, real.sasl_mechanism, real.username, SecretStr("not-it"), real.ca_file
    )
    broker_log = broker.credentials.parent.parent / "broker.log"
    logged_before = broker_log.read_text(errors="replace").count(INVALID_CREDENTIALS)
    client_log = _refused(broker, caplog, **wrong.kafka_python_kwargs())
    # The reason is the password, not the handshake: the broker says so. (kafka-python may
    # see the connection close before it reads the SASL error: "socket disconnected".)
    logged = broker_log.read_text(errors="replace").count(INVALID_CREDENTIALS)
    assert logged > logged_before or "SaslAuthenticationFailedError" in client_log, client_log


def test_a_broker_not_signed_by_the_ca_is_not_trusted(
    broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    real = broker.security("admin")
    system_trust = KafkaSecurity(real.protocol, real.sasl_mechanism, real.username, real.password)
    log = _refused(broker, caplog, **system_trust.kafka_python_kwargs())
    assert "CERTIFICATE_VERIFY_FAILED" in log


def test_publisher_writes_events_only(broker: SecureBroker) -> None:
    assert _produce(broker, "publisher", NAMES.events).topic == NAMES.events
    for forbidden in (NAMES.alerts, NAMES.assignments, NAMES.dlq, CHANGELOG):
        with pytest.raises(TopicAuthorizationFailedError):
            _produce(broker, "publisher", forbidden)


@pytest.mark.parametrize("topic", [NAMES.dlq, NAMES.alerts, NAMES.events, CHANGELOG])
def test_publisher_reads_nothing(
    broker: SecureBroker, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    _assert_cannot_read(broker, "publisher", topic, caplog)
    with pytest.raises(GroupAuthorizationFailedError):  # and it has no group of its own
        _consume(broker, "publisher", topic, f"{APP_ID}-tools-pub")


def test_reader_reads_what_it_shows_and_writes_nothing(
    broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    _produce(broker, "engine", NAMES.alerts, b"alert-1")
    assert b"alert-1" in _consume(broker, "reader", NAMES.alerts, f"{APP_ID}-tools-r1")
    # An idempotent producer is stopped at InitProducerId (no WRITE anywhere) ...
    with pytest.raises(KafkaError, match="ClusterAuthorizationFailed"):
        _produce(broker, "reader", NAMES.alerts)
    # ... a plain one at the topic.
    for forbidden in (NAMES.alerts, NAMES.assignments, NAMES.events):
        with pytest.raises(TopicAuthorizationFailedError):
            _produce(broker, "reader", forbidden, idempotent=False)
    with pytest.raises(GroupAuthorizationFailedError):  # not the engine's group
        _consume(broker, "reader", NAMES.alerts, APP_ID)
    _assert_cannot_read(broker, "reader", NAMES.events, caplog)  # not the agencies' events
    assert b"alert-1" in _read_partition(broker, "reader", NAMES.alerts)


def test_engine_consumes_events_writes_outputs_and_owns_its_changelog(
    broker: SecureBroker,
) -> None:
    _produce(broker, "publisher", NAMES.events, b"event-1")
    assert b"event-1" in _consume(broker, "engine", NAMES.events, APP_ID)
    assert _produce(broker, "engine", NAMES.assignments).topic == NAMES.assignments
    engine = broker.security("engine")
    admin = KafkaAdminClient(bootstrap_servers=[broker.bootstrap], **engine.kafka_python_kwargs())
    try:
        admin.create_topics({NEW_CHANGELOG: {"num_partitions": 1}})
        admin.wait_for_topics([NEW_CHANGELOG], timeout_ms=30_000)
    finally:
        admin.close()
    assert _produce(broker, "engine", NEW_CHANGELOG).topic == NEW_CHANGELOG
    assert _produce(broker, "engine", CHANGELOG).topic == CHANGELOG
    with pytest.raises(TopicAuthorizationFailedError):  # it never speaks for an agency
        _produce(broker, "engine", NAMES.events)


def test_faust_app_credentials_connect_with_scram_sha_512(broker: SecureBroker) -> None:
    import faust
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    app = faust.App(
        APP_ID,
        broker=f"kafka://{broker.bootstrap}",
        autodiscover=False,
        env={},
        **broker.security("engine").faust_app_kwargs(),
    )
    # What faust's aiokafka driver hands every consumer and producer it builds.
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert (auth["security_protocol"], auth["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    _produce(broker, "publisher", NAMES.events, b"for-faust")

    async def roundtrip() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, **auth)
        await producer.start()
        try:
            await producer.send_and_wait(NAMES.assignments, b"from-faust", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            NAMES.events,
            bootstrap_servers=broker.bootstrap,
            group_id=APP_ID,
            auto_offset_reset="earliest",
            **auth,
        )
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=10_000)
            return [r.value for records in batch.values() for r in records]
        finally:
            await consumer.stop()

    assert b"for-faust" in asyncio.run(asyncio.wait_for(roundtrip(), 60))


def test_aiokafka_kwargs_match_faust(broker: SecureBroker) -> None:
    engine = broker.security("engine")
    kwargs = engine.aiokafka_kwargs()
    assert kwargs["sasl_plain_username"] == engine.username
    assert kwargs["ssl_context"].check_hostname is True
