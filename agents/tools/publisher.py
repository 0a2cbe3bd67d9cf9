"""Publishing events for agencies: validate every line, publish the valid ones.

Agency systems use ``Publisher`` directly; ``dossierflow publish`` wraps it.
The producer is idempotent with ``acks=all`` and keys every record by its
dossier id, so one dossier's events stay in order on one partition. With a
``Signer`` every record carries its publisher's Ed25519 signature in its headers
(``events.signature``): the engine refuses what is not signed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from kafka import KafkaProducer

from agents.tools.printable import printable
from agents.tools.signing import Signer
from events import ContractError, InboundEvent, Problem, encode, parse_event_obj
from events.codec import MAX_EVENT_BYTES


@dataclass(frozen=True)
class LineError:
    line: int
    problems: tuple[Problem, ...]

    def render(self) -> list[str]:
        return [printable(f"line {self.line}: {p}") for p in self.problems]


@dataclass(frozen=True)
class Placed:
    """Where the broker put one published event: what ``publish --wait`` looks for."""

    event_id: str
    dossier_id: str
    type: str
    partition: int
    offset: int


@dataclass
class PublishReport:
    published: int = 0
    errors: list[LineError] = field(default_factory=list)
    placed: tuple[Placed, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, topic: str) -> str:
        total = self.published + len(self.errors)
        text = f"published {self.published} of {total} events to {topic}"
        if self.errors:
            bad = len(self.errors)
            text += f"; {bad} invalid line{'s' if bad != 1 else ''} not published (see above)"
        return text


class Publisher:
    """A kafka-python producer that only ever publishes valid v1 events."""

    def __init__(
        self,
        bootstrap_servers: list[str],
        topic: str,
        *,
        client_id: str = "dossierflow-publisher",
        signer: Signer | None = None,
        **producer_config: Any,
    ) -> None:
        self.topic = topic
        self.signer = signer
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=max(MAX_EVENT_BYTES * 4, 1_048_576),
            **producer_config,
        )
        self._futures: list[Any] = []

    def publish(self, event: InboundEvent) -> None:
        """Queue one event; ``flush`` waits until the broker has it."""
        self.publish_raw(event.dossier_id.encode("utf-8"), encode(event))

    def publish_raw(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Unchecked bytes, for tests and replays that must send what they were given;
        signed by the signer unless ``headers`` are given (sent as they are)."""
        if headers is None:
            headers = self.signer.headers(key, value) if self.signer is not None else []
        self._futures.append(
            self._producer.send(self.topic, key=key, value=value, headers=headers or None)
        )

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for every queued event; raises if the broker refused one. Returns the count."""
        return len(self._flush(timeout))

    def _flush(self, timeout: float = 30.0) -> list[Any]:
        """The ``RecordMetadata`` (partition, offset) of every queued record, in order."""
        self._producer.flush(timeout=timeout)
        done, self._futures = self._futures, []
        return [future.get(timeout=timeout) for future in done]

    def publish_lines(self, lines: Iterable[bytes | str]) -> PublishReport:
        """Validate and publish each event; a bad line is reported and skipped, never fatal."""
        return self.publish_checked(*check_lines(lines))

    def publish_checked(
        self, events: Sequence[InboundEvent], errors: Sequence[LineError]
    ) -> PublishReport:
        """Publish ``events`` (``check_lines``' valid ones); ``errors`` go into the report."""
        for event in events:
            self.publish(event)
        sent = self._flush()
        # records queued before these (``publish`` calls of the caller's) come first
        mine = sent[len(sent) - len(events) :]
        placed = tuple(
            Placed(e.event_id, e.dossier_id, e.type, m.partition, m.offset)
            for e, m in zip(events, mine, strict=True)
        )
        return PublishReport(published=len(sent), errors=list(errors), placed=placed)

    def close(self) -> None:
        self._producer.close(timeout=10)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_lines(lines: Iterable[bytes | str]) -> tuple[list[InboundEvent], list[LineError]]:
    """The valid events of a JSON-lines input (or one JSON object), and a ``LineError`` per
    bad line: all of it checked before anything is sent (or a broker is even reached)."""
    events: list[InboundEvent] = []
    errors: list[LineError] = []
    for number, obj_or_error in _events_in(lines):
        if isinstance(obj_or_error, LineError):
            errors.append(obj_or_error)
            continue
        try:
            events.append(parse_event_obj(obj_or_error))
        except ContractError as exc:
            errors.append(LineError(number, exc.problems))
    return events, errors


def _events_in(lines: Iterable[bytes | str]) -> Iterator[tuple[int, Any]]:
    """Yield (line number, decoded JSON or LineError) for a JSON-lines stream.

    A whole input that is one pretty-printed JSON object is accepted too, numbered
    by the line it starts on.
    """
    raw_lines = [ln.encode("utf-8") if isinstance(ln, str) else ln for ln in lines]
    whole = b"".join(raw_lines).strip()
    if whole.startswith(b"{") and b"\n" in whole and len(whole) <= MAX_EVENT_BYTES:
        try:
            doc = json.loads(whole)
        except (json.JSONDecodeError, UnicodeDecodeError):
            doc = None  # not one document: read it as JSON lines below
        if isinstance(doc, dict):
            first = next((n for n, ln in enumerate(raw_lines, 1) if ln.strip()), 1)
            yield first, doc
            return
    for number, line in enumerate(raw_lines, start=1):
        if not line.strip():
            continue
        if len(line.rstrip(b"\r\n")) > MAX_EVENT_BYTES:
            yield number, LineError(number, (Problem("$", f"over {MAX_EVENT_BYTES} bytes"),))
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = Problem(
                "$", f"not UTF-8: byte 0x{line[exc.start]:02x} at column {exc.start + 1}"
            )
            yield number, LineError(number, (problem,))
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            problem = Problem("$", f"invalid JSON: {exc.msg} at column {exc.colno}")
            yield number, LineError(number, (problem,))
