"""The local broker works end to end: records survive a round trip with their keys."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.partitioner.default import murmur2

from support.harness import KAFKA_LOCAL
from support.security import login

PARTITIONS = 4


def kafka_local_status(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KAFKA_LOCAL), "status", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_keyed_records_round_trip(
    kafka_bootstrap: str,
    topic_prefix: str,
    consumer_group: str,
    create_topics: Callable[..., list[str]],
) -> None:
    (topic,) = create_topics(kafka_bootstrap, [f"{topic_prefix}dossier-events"], PARTITIONS)
    # Two events per dossier: same key, so same partition and kept in order.
    sent = [
        (f"HS-{n:04d}".encode(), f'{{"dossier":{n},"seq":{seq}}}'.encode())
        for seq in range(2)
        for n in range(6)
    ]

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", retries=5, **login())
    try:
        sent_to: dict[bytes, int] = {}
        for key, value in sent:
            meta = producer.send(topic, key=key, value=value).get(timeout=30)
            assert sent_to.setdefault(key, meta.partition) == meta.partition
        producer.flush()
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=consumer_group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **login(),
    )
    received: list[Any] = []
    try:
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend(records)
    finally:
        consumer.close()

    assert sorted((r.key, r.value) for r in received) == sorted(sent)
    for record in received:
        assert record.partition == sent_to[record.key]
    # Keys are spread as the Java client does (positive murmur2 modulo partitions), so faust,
    # aiokafka and kafka-python producers agree on which partition (and worker) owns a dossier.
    for key, partition in sent_to.items():
        assert partition == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS, key
    assert len(set(sent_to.values())) > 1, "six keys all landed on one partition"
    for key in sent_to:
        seqs = [r.value for r in received if r.key == key]
        assert seqs == [v for k, v in sent if k == key], f"{key!r} reordered"


def test_status_reports_the_fixture_broker(
    kafka_bootstrap: str, kafka_local_data_dir: Path | None
) -> None:
    if kafka_local_data_dir is None:
        pytest.skip("the session uses an external broker (DOSSIERFLOW_BROKER/KAFKA_BOOTSTRAP)")
    status = kafka_local_status(kafka_local_data_dir)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.startswith(f"running {kafka_bootstrap} "), status.stdout


def test_status_reports_not_running_for_an_unused_data_dir(tmp_path: Path) -> None:
    status = kafka_local_status(tmp_path)
    assert status.returncode == 1, status.stdout + status.stderr
    assert status.stdout.startswith("not running"), status.stdout
