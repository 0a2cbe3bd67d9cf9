"""Reading and writing the broker's topics from a test: whole topics, lags, coordinates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2

from agents.tools.kafka_read import read_records
from agents.tools.publisher import Publisher
from agents.tools.signing import Signer
from events import AnomalyReport, Assignment, DeadLetter, InboundEvent, TopicNames, decode

from support.harness import wait_for
from support.security import login
from support.signing import signer

PARTITIONS = 4  # Settings.partitions: what the worker's ensure_topics creates
#: Waits on one worker's progress: a batch, a commit interval (2.8 s), under a loaded CI box.
WAIT_S = 60.0


def publish(bootstrap: str, topic: str, events: Iterable[InboundEvent]) -> int:
    """Publish ``events`` signed by the suite's test publisher."""
    with Publisher([bootstrap], topic, signer=signer(), **login("publisher")) as publisher:
        for event in events:
            publisher.publish(event)
        return publisher.flush()


def read_to_end(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Any]:
    """Every record of ``topic`` up to its end offsets as they are now (ConsumerRecords)."""
    return read_records([bootstrap], topic, timeout, **login())


def assignments(bootstrap: str, names: TopicNames) -> list[Assignment]:
    return [decode(Assignment, r.value) for r in read_to_end(bootstrap, names.assignments)]


def dead_letters(bootstrap: str, names: TopicNames) -> list[DeadLetter]:
    return [decode(DeadLetter, r.value) for r in read_to_end(bootstrap, names.dlq)]


def anomalies(bootstrap: str, names: TopicNames) -> list[AnomalyReport]:
    return [decode(AnomalyReport, r.value) for r in read_to_end(bootstrap, names.anomalies)]


def lag(bootstrap: str, group: str, topic: str, partitions: Iterable[int] | None = None) -> int:
    """Records of ``topic`` (or of these ``partitions``) the group has not committed yet."""
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap], group_id=group, enable_auto_commit=False, **login()
    )
    try:
        wanted = partitions if partitions is not None else consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in wanted or ()]
        end = consumer.end_offsets(tps)
        return sum(end[tp] - (consumer.committed(tp) or 0) for tp in tps)
    finally:
        consumer.close()


def wait_consumed(bootstrap: str, group: str, topic: str, timeout: float = WAIT_S) -> None:
    """Until the group has committed every record published so far (so their outputs are out)."""
    wait_for(lambda: lag(bootstrap, group, topic) == 0, timeout, f"{group} to commit all {topic}")


def committed(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap], group_id=group, enable_auto_commit=False, **login()
    )
    try:
        offset: int | None = consumer.committed(TopicPartition(topic, partition))
        return offset
    finally:
        consumer.close()


def partition_of(dossier_id: str) -> int:
    hashed: int = murmur2(dossier_id.encode("utf-8"))
    return (hashed & 0x7FFFFFFF) % PARTITIONS


@dataclass(frozen=True)
class Sent:
    """One record we produced, and where the broker put it."""

    key: bytes
    value: bytes | None
    partition: int
    offset: int


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[str, bytes | None]],
    *,
    signed_by: Signer | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> list[Sent]:
    """Send each (dossier id, value) in order and wait for the broker's coordinates of each.

    A plain producer, so malformed bytes go out untouched (the worker must cope with them),
    signed by ``signed_by`` (default: the suite's test publisher) so they reach the checks
    after the signature's; ``headers`` instead sends exactly those headers (``[]``: unsigned).
    """
    signing = signed_by if signed_by is not None else signer()
    producer = KafkaProducer(
        bootstrap_servers=[bootstrap], acks="all", enable_idempotence=True, linger_ms=0, **login()
    )
    try:
        sent = []
        for dossier, value in records:
            key = dossier.encode("utf-8")
            sent_headers = headers if headers is not None else signing.headers(key, value)
            future = producer.send(topic, key=key, value=value, headers=sent_headers or None)
            meta = future.get(timeout=30)
            sent.append(Sent(key, value, meta.partition, meta.offset))
        return sent
    finally:
        producer.close(timeout=10)
