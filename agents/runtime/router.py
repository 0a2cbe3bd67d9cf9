"""The router: the imperative shell around ``workflows.routing.apply``.

``RouterCore.run_batch`` turns a batch of raw records into the records to send
and the table writes to make, without touching Kafka, so it is tested without a
broker. The faust agent in ``agents.runtime.app`` feeds it batches and performs the
I/O in the order that keeps the guarantees:

1. compute every new state and output in memory;
2. send the outputs and wait until the broker has them;
3. only then write the tables (their changelog is flushed before the offsets
   are committed).

A crash after 2 and before 3 re-delivers the batch and re-sends the outputs
(same deterministic ids, consumers dedupe); a crash after 3 re-delivers events
whose ids the state already remembers, so nothing is applied twice. Never the
reverse: state never records an event whose outputs were not delivered.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agents.runtime.parking import Parked, ParkedTotals, ParkingLot, ParkingPolicy
from agents.runtime.prediction import SketchBook, run_predictions
from agents.runtime.prepared import PreparedTicks
from agents.runtime.records import (
    Coordinates,
    Outgoing,
    anomaly_record,
    assignment_record,
    contract_dead_letter,
    crash_dead_letter,
    dead_letter,
    key_mismatch,
)
from agents.runtime.senders import SenderCheck
from events import (
    MAX_EVENT_BYTES,
    Alert,
    ContractError,
    DossierReceived,
    InboundEvent,
    ReasonKind,
    encode,
    parse_event,
)
from events.internal import DeadlineTick
from events.signature import Unauthenticated
from events.topics import CLOSED_TABLE, OPEN_TABLE, SKETCH_TABLE
from workflows.alerts import AlertPolicy, apply_tick, unstamped, watch_key
from workflows.effects import Anomaly, Assign, Effect, Rejected
from workflows.prediction import PredictionPolicy
from workflows.routing import RoutingContext, Sender, apply
from workflows.state import DossierState

__all__ = ["BatchResult", "ParkingPolicy", "RawRecord", "RouterCore", "Tables"]

log = logging.getLogger(__name__)

StateTable = MutableMapping[bytes, bytes]


@dataclass
class Tables:
    """The router's tables: open dossiers, closed ones, parked early events, and the
    learnt step working times (``agents/runtime/prediction.py``)."""

    open: StateTable
    closed: StateTable
    parked: StateTable
    sketches: StateTable = field(default_factory=dict)

    def apply(self, writes: dict[str, dict[bytes, tuple[bytes | None, int]]]) -> None:
        """Do a batch's ``writes`` (None deletes) here, as the runtime does to its faust
        tables: for runs without faust (benchmarks, tests)."""
        for name, table_writes in writes.items():
            table = getattr(self, name)
            for key, (value, _) in table_writes.items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value


@dataclass
class BatchResult:
    outgoing: list[Outgoing] = field(default_factory=list)
    #: table name -> key -> new value (None = delete), and the index of the record that
    #: last touched the key (its partition is the changelog partition).
    writes: dict[str, dict[bytes, tuple[bytes | None, int]]] = field(default_factory=dict)
    effects: list[tuple[int, Effect]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    #: Every dossier a record of this batch was about, with its partition, and its state
    #: after the batch: the deadline watcher re-schedules them.
    touched: dict[bytes, int] = field(default_factory=dict)
    states: dict[bytes, DossierState | None] = field(default_factory=dict)
    #: each touched open dossier's state before the batch (gauges move by the difference)
    before: dict[bytes, DossierState | None] = field(default_factory=dict)
    #: dossiers with parked events after the batch, and when those expire
    parked_until: dict[bytes, datetime] = field(default_factory=dict)
    #: applied events by (type, publishing agency)
    consumed: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: this worker's parked table after the batch: dossiers waiting, bytes (the gauges)
    parked: ParkedTotals = field(default_factory=ParkedTotals)

    applied: int = 0
    dead_lettered: int = 0

    def write(self, table: str, key: bytes, value: bytes | None, index: int) -> None:
        self.writes.setdefault(table, {})[key] = (value, index)

    def dead_letter(self, record: Outgoing) -> None:
        """Send ``record`` to the DLQ and count the event as dead-lettered."""
        self.outgoing.append(record)
        self.dead_lettered += 1


@dataclass(frozen=True)
class RawRecord:
    value: bytes | None
    source: Coordinates
    #: the Kafka record's headers (a publisher's identity and signature travel there)
    headers: tuple[tuple[str, bytes], ...] = ()
    #: the broker's timestamp (LogAppendTime; None when unknown or set by the producer)
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Accepted:
    """An event past authentication and decoding: its bytes, where it came from, its sender."""

    event: InboundEvent
    raw: bytes
    source: Coordinates
    sender: Sender


class RouterCore:
    def __init__(
        self,
        ctx: RoutingContext,
        tables: Tables,
        parking: ParkingPolicy | None = None,
        on_event: Callable[[InboundEvent, DossierState | None], None] | None = None,
        *,
        ticks_topic: str | None = None,
        alerts: AlertPolicy | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
        senders: SenderCheck | None = None,
        prediction: PredictionPolicy | None = None,
    ) -> None:
        """``senders``: how records are authenticated; None = not at all (every sender is
        unknown: tests of the core). ``create_app`` always gives one."""
        self.ctx = ctx
        self.senders = senders
        self.ticks_topic = ticks_topic
        self.alerts = alerts if alerts is not None else AlertPolicy()
        self.watch_key = watch_key(ctx.calendar, self.alerts)
        self.prepared = PreparedTicks(ctx, self.alerts, self.watch_key)  # ticks computed ahead
        self.tables = tables
        self.parking = parking if parking is not None else ParkingPolicy()
        self.max_event_bytes = max_event_bytes
        self.parked = ParkingLot(tables.parked, self.parking, ctx.calendar, max_event_bytes)
        self._on_event = on_event
        #: predicted-late warnings: off unless given (create_app gives the settings')
        self.prediction = prediction if prediction is not None else PredictionPolicy(enabled=False)
        self.sketches = SketchBook(tables.sketches)
        self.predictions_evaluated = 0

    def run_batch(self, records: Sequence[RawRecord], now: datetime) -> BatchResult:
        try:
            result = self._run_batch(records, now)
        except BaseException:
            # The shell will not write this batch's tables: totals moved by it are wrong.
            self.parked.forget()
            self.sketches.reset()
            raise
        result.parked = ParkedTotals(**vars(self.parked.totals()))
        return result

    def _run_batch(self, records: Sequence[RawRecord], now: datetime) -> BatchResult:
        result = BatchResult()
        # States touched in this batch, decoded once and written once at the end.
        cache: dict[bytes, DossierState | None] = {}
        self._last_index: dict[bytes, int] = {}
        self._before: dict[bytes, DossierState | None] = {}
        self._seen_at: dict[bytes, int] = {}  # the last record of the batch about each key
        self._ticked: dict[bytes, datetime] = {}  # a tick's instant, for ticked dossiers
        self._result = result
        for index, record in enumerate(records):
            raw = record.value if record.value is not None else b""
            if record.source.topic == self.ticks_topic:
                self._tick(raw, record.source, index, cache, result)
                continue
            # Before anything else: bytes nobody vouches for are not even decoded.
            sender = self._sender(record)
            if isinstance(sender, Unauthenticated):
                reason = ReasonKind.UNAUTHENTICATED
                result.dead_letter(dead_letter(raw, record.source, reason, sender.reason, now))
                continue
            try:
                event = parse_event(raw, self.max_event_bytes)
            except ContractError as exc:
                result.dead_letter(contract_dead_letter(raw, record.source, exc, now))
                continue
            key = event.dossier_id.encode("utf-8")
            if record.source.key != key:
                # Its state would be written to the changelog partition of another key,
                # and a restart would restore it from the wrong one (docs/routing.md).
                result.dead_letter(key_mismatch(event, raw, record.source, now))
                continue
            result.touched[key] = record.source.partition
            self._seen_at[key] = index
            try:
                self._route(_Accepted(event, raw, record.source, sender), index, now, cache, result)
            except Exception as exc:  # a bug must dead-letter the event, not ack-and-lose it
                log.exception("router failed on %s", record.source)
                result.dead_letter(
                    crash_dead_letter(
                        raw,
                        record.source,
                        exc,
                        now,
                        event_id=event.event_id,
                        dossier_id=event.dossier_id,
                    )
                )
        self._predict(now, cache, result)
        for key, index in self._last_index.items():
            state = cache[key]
            if state is None:
                continue
            if state.status.closed:
                # Closed dossiers leave the hot set; the closed table has a retention.
                result.write(CLOSED_TABLE, key, state.to_bytes(), index)
                if key in self.tables.open:
                    result.write(OPEN_TABLE, key, None, index)
            else:
                # Stored with its next watch instant, so a restart need not recompute it.
                cache[key], value = self.prepared.stamp(key, state)
                result.write(OPEN_TABLE, key, value, index)
        self.prepared.forget(self._last_index)  # written: their prepared ticks are stale
        result.states = {key: cache.get(key) for key in result.touched}
        result.before = {key: self._before.get(key) for key in result.touched}
        return result

    # --- deadline ticks -----------------------------------------------------------------

    def _tick(
        self,
        raw: bytes,
        source: Coordinates,
        index: int,
        cache: dict[bytes, DossierState | None],
        result: BatchResult,
    ) -> None:
        """A watch point passed: raise what is due now, once (the state remembers)."""
        try:
            tick = DeadlineTick.model_validate_json(raw)
        except ValueError:
            log.error("ignoring a malformed deadline tick at %s", source)
            return
        key = tick.dossier_id.encode("utf-8")
        result.touched[key] = source.partition
        self._seen_at[key] = index
        self._ticked[key] = tick.detected_at
        if key not in cache and self.prepared.emit(self, key, tick.detected_at, index, cache):
            return  # computed ahead from the same stored state (agents/runtime/prepared.py)
        state = self._load(key, cache)
        if state is None:
            # Closed since the watcher looked, or events parked without their receipt.
            self.parked.expire(key, tick.detected_at, index, result)
            return
        new, alerts = apply_tick(state, tick, self.ctx.catalog, self.ctx.calendar, self.alerts)
        if new is not state:
            cache[key] = new
            self._last_index[key] = index
        for alert in alerts:
            result.outgoing.append(Outgoing("alerts", key, encode(alert)))
            result.alerts.append(alert)

    # --- predicted-late warnings (agents/runtime/prediction.py) ---------------------------

    def _predict(
        self, now: datetime, cache: dict[bytes, DossierState | None], result: BatchResult
    ) -> None:
        """Learn from the steps the batch completed, then evaluate each touched open
        dossier (at its tick's instant for a tick); the alert is remembered in the state."""
        if not self.prediction.enabled:
            return
        run = run_predictions(
            self.sketches,
            self.ctx.catalog,
            self.ctx.calendar,
            self.prediction,
            result.touched,
            self._last_index,
            self._before,
            cache,
            now,
            when=lambda key: self._ticked.get(key, now),
        )
        self.predictions_evaluated += run.evaluated
        for key, table_key, value in run.writes:
            result.write(SKETCH_TABLE, table_key, value, self._seen_at[key])
        for key, state in run.states.items():
            cache[key] = state
            self._last_index[key] = self._seen_at[key]
        for key, alert in run.alerts:
            result.outgoing.append(Outgoing("alerts", key, encode(alert)))
            result.alerts.append(alert)

    # --- one event ----------------------------------------------------------------------

    def _route(
        self,
        accepted: _Accepted,
        index: int,
        now: datetime,
        cache: dict[bytes, DossierState | None],
        result: BatchResult,
    ) -> None:
        event = accepted.event
        key = event.dossier_id.encode("utf-8")
        state = self._load(key, cache)
        if state is None:
            # Not open: maybe closed (every event type, a repeated receipt included,
            # must meet the closed state, or a re-delivery would re-open the dossier).
            closed = self.tables.closed.get(key)
            if closed is not None:
                state = DossierState.from_bytes(closed)
                cache[key] = state
            elif not isinstance(event, DossierReceived):
                self.parked.park(
                    event, accepted.raw, accepted.source, index, now, result, accepted.sender
                )
                return
        new = self._apply(key, state, accepted, index, now, cache, result)
        if isinstance(event, DossierReceived) and new is not None:
            self._release_parked(key, index, now, cache, result)

    def _apply(
        self,
        key: bytes,
        state: DossierState | None,
        accepted: _Accepted,
        index: int,
        now: datetime,
        cache: dict[bytes, DossierState | None],
        result: BatchResult,
    ) -> DossierState | None:
        event = accepted.event
        new, effects = apply(state, event, self.ctx, accepted.sender)
        if self._on_event is not None:
            self._on_event(event, new)
        if not any(isinstance(e, Rejected) for e in effects) and new is not state:
            result.consumed[(event.type, event.agency)] += 1
        if new is not None and new is not state:
            cache[key] = new
            self._last_index[key] = index
        self._emit(effects, accepted.raw, accepted.source, index, now, result)
        result.applied += 1
        return new

    def _sender(self, record: RawRecord) -> Sender | Unauthenticated:
        if self.senders is None:
            return Sender(broker_time=record.timestamp)
        return self.senders.sender_of(
            record.headers, record.source.key, record.value, record.timestamp
        )

    def _parked_sender(self, parked: Parked) -> Sender | Unauthenticated:
        """The sender a parked event was verified as when it arrived."""
        if self.senders is None:
            return Sender(broker_time=parked.broker_time)
        if parked.principal is None:
            if self.senders.require_signatures:
                return Unauthenticated("parked before its sender was verified")
            return Sender(broker_time=parked.broker_time)
        agencies = self.senders.registry.agencies(parked.principal)
        return Sender(parked.principal, agencies, parked.broker_time)

    def _load(self, key: bytes, cache: dict[bytes, DossierState | None]) -> DossierState | None:
        if key in cache:
            return cache[key]
        raw = self.tables.open.get(key)
        # Without its stored watch instant: states derived from it must not inherit it.
        state = unstamped(DossierState.from_bytes(raw)) if raw is not None else None
        cache[key] = state
        self._before[key] = state
        return state

    def _emit(
        self,
        effects: Sequence[Effect],
        raw: bytes,
        source: Coordinates,
        index: int,
        now: datetime,
        result: BatchResult,
    ) -> None:
        for effect in effects:
            result.effects.append((index, effect))
            if isinstance(effect, Assign):
                result.outgoing.append(assignment_record(effect))
            elif isinstance(effect, Anomaly):
                result.outgoing.append(anomaly_record(effect, source, now))
            elif isinstance(effect, Rejected):
                result.outgoing.append(
                    dead_letter(
                        raw,
                        source,
                        effect.kind,
                        effect.message,
                        now,
                        event_id=effect.event_id,
                        dossier_id=effect.dossier_id,
                    )
                )
                result.dead_lettered += 1

    # --- parking (agents/runtime/parking.py) ---------------------------------------------------

    def parked_expiry(self, lines: Sequence[bytes]) -> datetime:
        """When a dossier's parked events (its blob's lines) expire."""
        return self.parked.expiry(lines)

    def _release_parked(
        self,
        key: bytes,
        index: int,
        now: datetime,
        cache: dict[bytes, DossierState | None],
        result: BatchResult,
    ) -> None:
        for event, parked in self.parked.take(key, now, index, result):
            sender = self._parked_sender(parked)
            if isinstance(sender, Unauthenticated):
                reason = ReasonKind.UNAUTHENTICATED
                result.dead_letter(
                    dead_letter(parked.raw, parked.source, reason, sender.reason, now)
                )
                continue
            state = cache.get(key)
            accepted = _Accepted(event, parked.raw, parked.source, sender)
            self._apply(key, state, accepted, index, now, cache, result)
