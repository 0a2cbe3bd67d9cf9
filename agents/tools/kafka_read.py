"""Reading Kafka for the tools and the demo (kafka-python, no group unless given): a
topic's partitions, every record up to its end, new records as they come, a group's lag."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` in order; none when it does not exist."""
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def read_all(
    bootstrap: list[str], topic: str, timeout_s: float = 30.0, **security: Any
) -> list[bytes]:
    """The values of every record of ``topic`` up to its current end (no group, nothing
    committed); ``security``: the login, ``KafkaSecurity.kafka_python_kwargs()``."""
    records = read_records(bootstrap, topic, timeout_s, **security)
    return [r.value for r in records if r.value is not None]


def read_records(
    bootstrap: list[str], topic: str, timeout_s: float = 30.0, **security: Any
) -> list[Any]:
    """Every record of ``topic`` (kafka-python ``ConsumerRecord``s) up to its end offsets as
    they are now; a ``TimeoutError`` when they are not reached in ``timeout_s``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **security)
    try:
        tps = partitions(consumer, topic)
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end in {timeout_s:.0f}s")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def values(consumer: KafkaConsumer, stop: Callable[[], bool]) -> Iterator[bytes | None]:
    """The values ``consumer`` fetches, as they come, until ``stop()`` is true."""
    while not stop():
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                yield record.value


def consumer_lag(bootstrap: str, group: str, topics: Sequence[str], **security: Any) -> int:
    """Records on ``topics`` the group has not committed yet."""
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap], group_id=group, enable_auto_commit=False, **security
    )
    try:
        tps = [tp for topic in topics for tp in partitions(consumer, topic)]
        if not tps:
            return 0
        ends = consumer.end_offsets(tps)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in tps)
    finally:
        consumer.close()
