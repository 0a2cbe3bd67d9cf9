"""Reading Kafka for the tools and the demo (kafka-python, no group unless given): a
topic's partitions, every record up to its end, new records as they come, a group's lag."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel

from events import ContractError, decode

M = TypeVar("M", bound=BaseModel)


def decoded(model: type[M], records: Iterable[bytes | None]) -> Iterator[M]:
    """The ``model`` records among ``records``; anything else (a tombstone, a newer schema,
    garbage) is skipped: a read tool shows what it can read."""
    for raw in records:
        if raw is None:
            continue
        try:
            yield decode(model, raw)
        except ContractError:
            continue


class MissingTopicError(LookupError):
    """A topic a read tool needs is not there (or its login may not see it)."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist (or this login may not see it)")
        self.topic = topic


def consumer(bootstrap: list[str], **config: Any) -> KafkaConsumer:
    """A consumer that commits nothing and never creates a topic by asking for it: a read tool on a wrong prefix must find nothing, not make empty topics."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        **config,
    )


def partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` in order; none when it does not exist."""
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def existing_partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``; a ``MissingTopicError`` when it has none."""
    tps = partitions(consumer, topic)
    if not tps:
        raise MissingTopicError(topic)
    return tps


def read_all(
    bootstrap: list[str],
    topic: str,
    timeout_s: float = 30.0,
    *,
    must_exist: bool = False,
    **security: Any,
) -> list[bytes]:
    """The values of every record of ``topic`` up to its current end (no group, nothing
    committed); ``security``: the login, ``KafkaSecurity.kafka_python_kwargs()``."""
    records = read_records(bootstrap, topic, timeout_s, must_exist=must_exist, **security)
    return [r.value for r in records if r.value is not None]


def read_records(
    bootstrap: list[str],
    topic: str,
    timeout_s: float = 30.0,
    *,
    must_exist: bool = False,
    **security: Any,
) -> list[Any]:
    """Every record of ``topic`` (kafka-python ``ConsumerRecord``s) up to its end offsets as
    they are now; a ``TimeoutError`` when they are not reached in ``timeout_s``. A missing
    topic has no records, or is a ``MissingTopicError`` with ``must_exist``."""
    reader = consumer(bootstrap, **security)
    try:
        tps = existing_partitions(reader, topic) if must_exist else partitions(reader, topic)
        if not tps:
            return []
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        return read_to_end(reader, topic, tps, timeout_s)
    finally:
        reader.close()


def read_to_end(
    reader: KafkaConsumer, topic: str, tps: list[TopicPartition], timeout_s: float
) -> list[Any]:
    """The records from ``reader``'s positions on ``tps`` (of ``topic``) up to their end
    offsets as they are now; a ``TimeoutError`` when they are not reached in ``timeout_s``."""
    end = reader.end_offsets(tps)
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while any(reader.position(tp) < end[tp] for tp in tps):
        if time.monotonic() > deadline:
            raise TimeoutError(f"reading {topic} did not reach its end in {timeout_s:.0f}s")
        for batch in reader.poll(timeout_ms=500, max_records=10_000).values():
            records.extend(batch)
    return records


def read_and_follow(
    bootstrap: list[str],
    topic: str,
    stop: Callable[[], bool],
    timeout_s: float = 30.0,
    **security: Any,
) -> Generator[list[Any]]:
    """Every record of ``topic`` up to its end as one list first, then each poll's new
    records until ``stop()``: one consumer, so nothing falls between the two or comes twice.
    A ``MissingTopicError`` when the topic is not there (it is never created)."""
    reader = consumer(bootstrap, **security)
    try:
        tps = existing_partitions(reader, topic)
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        yield read_to_end(reader, topic, tps, timeout_s)
        while not stop():
            yield from reader.poll(timeout_ms=500).values()
    finally:
        reader.close()


def values(consumer: KafkaConsumer, stop: Callable[[], bool]) -> Iterator[bytes | None]:
    """The values ``consumer`` fetches, as they come, until ``stop()`` is true."""
    while not stop():
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                yield record.value


def consumer_lag(
    bootstrap: str, group: str, topics: Sequence[str], *, missing: int = 0, **security: Any
) -> int:
    """Records on ``topics`` the group has not committed yet; ``missing`` when none exists."""
    reader = consumer([bootstrap], group_id=group, **security)
    try:
        tps = [tp for topic in topics for tp in partitions(reader, topic)]
        if not tps:
            return missing
        ends = reader.end_offsets(tps)
        return sum(ends[tp] - (reader.committed(tp) or 0) for tp in tps)
    finally:
        reader.close()
