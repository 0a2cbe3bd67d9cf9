"""Parking: events that arrive before their dossier's receipt wait in the ``parked`` table.

``ParkingLot`` parks, releases and expires them for the router (``agents.runtime.router``),
within ``ParkingPolicy``'s bounds, and keeps the running totals the gauges show.

A dossier's parked blob is one line per early event, lines joined by ``\\n``::

    #3 <TAB> fingerprint <TAB> topic <TAB> partition <TAB> offset <TAB> parked at (epoch s)
       <TAB> key (base64, ``-`` = none)
       <TAB> publisher (base64 of the verified publisher id, ``-`` = none)
       <TAB> broker time (epoch ms, ``-`` = unknown) <TAB> value (base64)

The publisher is the one whose signature verified when the event arrived (the table is
the engine's own: nobody else may write its changelog), so a released event is judged
for the sender that sent it. ``#2`` lines (without publisher and broker time) are still read.

The value is the original record's bytes, exactly as read, so a parked event later
refused or expired is dead-lettered with its own bytes and coordinates. Base64 keeps
any bytes (newlines, tabs, invalid UTF-8) out of the line structure; ``#`` cannot start
a Kafka topic name, so the version mark cannot be mistaken for the older format,
``topic <TAB> partition <TAB> offset <TAB> parked at <TAB> json``, which is still read
(its value is the event re-encoded when it was parked: the original bytes were not kept).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from agents.runtime.records import Coordinates, contract_dead_letter, dead_letter
from events import MAX_EVENT_BYTES, ContractError, InboundEvent, ReasonKind, parse_event
from events.topics import PARKED_TABLE
from workflows.calendar import WorkingCalendar
from workflows.routing import Sender, event_fingerprint

if TYPE_CHECKING:
    from agents.runtime.router import BatchResult

log = logging.getLogger(__name__)

__all__ = [
    "Parked",
    "ParkedTotals",
    "ParkingLot",
    "ParkingPolicy",
    "entry",
    "full",
    "lines_of",
    "parked_at",
    "read_entry",
]

_V2 = b"#2"
_V3 = b"#3"
#: The expiry of a parked blob with a damaged line: the first tick deals with it.
_AT_ONCE = datetime(1976, 1, 2, tzinfo=UTC)
_NO_KEY = b"-"


@dataclass(frozen=True)
class ParkingPolicy:
    """Events for a dossier not received yet wait here, within bounds (docs/routing.md).

    They are applied, in occurred_at order, when the receipt arrives; after ``wait`` of
    working time without it they go to the dead-letter topic (``parked_timeout``). An
    event that would break a bound goes there at once (``parking_full``). Bytes are
    the stored ones (base64 and line headers included): what the table holds.
    """

    per_dossier: int = 32
    #: a dossier's parked blob (one changelog record): room for one 64 KiB event
    per_dossier_bytes: int = 128 * 1024
    total: int = 20_000
    total_bytes: int = 32 * 1024 * 1024
    wait: timedelta = timedelta(hours=16)  # two working days


@dataclass(frozen=True)
class Parked:
    """One parked early event: its original record and when it was parked."""

    raw: bytes
    source: Coordinates
    parked_at: datetime
    #: ``workflows.routing.event_fingerprint`` of its event id (None: an unparsable old line)
    fingerprint: str | None
    #: the publisher whose signature verified (None: not verified, or an older line)
    principal: str | None = None
    #: the record's broker timestamp, when known
    broker_time: datetime | None = None


def entry(
    fingerprint: str,
    raw: bytes,
    source: Coordinates,
    now: datetime,
    principal: str | None = None,
    broker_time: datetime | None = None,
) -> bytes:
    """The stored line for one early event (the format in the module docstring)."""
    key = _NO_KEY if source.key is None else base64.b64encode(source.key)
    who = _NO_KEY if principal is None else base64.b64encode(principal.encode("utf-8"))
    at = _NO_KEY if broker_time is None else str(round(broker_time.timestamp() * 1000)).encode()
    fields = (
        _V3,
        fingerprint.encode("ascii"),
        source.topic.encode("utf-8"),
        str(source.partition).encode(),
        str(source.offset).encode(),
        f"{now.timestamp():.0f}".encode(),
        key,
        who,
        at,
        base64.b64encode(raw),
    )
    return b"\t".join(fields)


def read_entry(line: bytes, dossier_id: bytes) -> Parked:
    """One stored line back; ``dossier_id`` is the key of old-format lines (they kept none).

    Raises ``ValueError`` for a line in neither format.
    """
    principal: str | None = None
    broker_time: datetime | None = None
    try:
        if line.startswith(_V3 + b"\t"):
            _, fp, topic, partition, offset, at, key, who, ms, value = line.split(b"\t")
            raw = base64.b64decode(value, validate=True)
            source_key = None if key == _NO_KEY else base64.b64decode(key, validate=True)
            fingerprint: str | None = fp.decode("ascii")
            if who != _NO_KEY:
                principal = base64.b64decode(who, validate=True).decode("utf-8")
            if ms != _NO_KEY:
                broker_time = datetime.fromtimestamp(int(ms) / 1000, UTC)
        elif line.startswith(_V2 + b"\t"):
            _, fp, topic, partition, offset, at, key, value = line.split(b"\t")
            raw = base64.b64decode(value, validate=True)
            source_key = None if key == _NO_KEY else base64.b64decode(key, validate=True)
            fingerprint = fp.decode("ascii")
        else:
            topic, partition, offset, at, raw = line.split(b"\t", 4)
            source_key, fingerprint = dossier_id, _old_fingerprint(raw)
        source = Coordinates(topic.decode("utf-8"), int(partition), int(offset), source_key)
        parked = datetime.fromtimestamp(int(at), UTC)
        return Parked(raw, source, parked, fingerprint, principal, broker_time)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"unreadable parked entry {line[:60]!r}...: {exc}") from None


def full(
    policy: ParkingPolicy,
    totals: ParkedTotals,
    waiting: int,
    blob: bytes | None,
    new_blob: bytes,
) -> str | None:
    """Which bound parking one more event breaks (a dossier with ``waiting`` events parked
    in ``blob``, ``new_blob`` after): said for the dead letter; None when it fits."""
    if waiting >= policy.per_dossier:
        return f"{policy.per_dossier} events already wait for this dossier"
    if len(new_blob) > policy.per_dossier_bytes:
        return (
            f"its parked events would take {len(new_blob)} bytes; "
            f"the limit is {policy.per_dossier_bytes} per dossier"
        )
    if not blob and totals.dossiers >= policy.total:
        return f"{policy.total} dossiers already have parked events"
    grown = totals.size + len(new_blob) - len(blob or b"")
    if grown > policy.total_bytes:
        return (
            f"parked events would take {grown} bytes in this worker; "
            f"the limit is {policy.total_bytes}"
        )
    return None


def _old_fingerprint(raw: bytes) -> str | None:
    try:
        return event_fingerprint(parse_event(raw).event_id)
    except ContractError:
        return None


def parked_at(line: bytes) -> datetime | None:
    """When the line's event was parked; None for an unreadable line."""
    try:
        return read_entry(line, b"").parked_at
    except ValueError:
        return None


def lines_of(blob: bytes | None) -> list[bytes]:
    return [line for line in blob.split(b"\n") if line] if blob else []


@dataclass
class ParkedTotals:
    """How many dossiers have parked events and how many bytes they take, in this worker.

    Kept up to date by the router's writes and rebuilt from the table when unknown: at
    start, and after each rebalance (the table's content changes with its partitions).
    """

    dossiers: int = 0
    size: int = 0

    @classmethod
    def of(cls, table: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]]) -> ParkedTotals:
        items = table.items() if isinstance(table, Mapping) else table
        totals = cls()
        for _, blob in items:
            if blob:
                totals.dossiers += 1
                totals.size += len(blob)
        return totals

    def change(self, old: bytes | None, new: bytes | None) -> None:
        """A dossier's blob goes from ``old`` to ``new`` (None or empty = no entry)."""
        self.dossiers += bool(new) - bool(old)
        self.size += len(new or b"") - len(old or b"")


class ParkingLot:
    """The router's parked table: what waits, within the policy's bounds.

    Every method takes the batch's ``result``: writes go there (the shell makes them
    after the batch's outputs are delivered), as do dead letters and expiry instants.
    """

    def __init__(
        self,
        table: MutableMapping[bytes, bytes],
        policy: ParkingPolicy,
        calendar: WorkingCalendar,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.table = table
        self.policy = policy
        self.calendar = calendar
        self.max_event_bytes = max_event_bytes
        # The running totals; None = unknown, counted from the table when next needed. A
        # faust table calls back after each rebalance's recovery: its content changed
        # with its partitions, so the totals are counted again.
        self._totals: ParkedTotals | None = None
        on_recover = getattr(table, "on_recover", None)
        if on_recover is not None:
            on_recover(self._forget_async)

    async def _forget_async(self) -> None:
        self.forget()

    def forget(self) -> None:
        """The totals are unknown (a rebalance, or a batch whose writes will not be made)."""
        self._totals = None

    def totals(self) -> ParkedTotals:
        if self._totals is None:
            self._totals = ParkedTotals.of(self.table.items())
        return self._totals

    def blob(self, key: bytes, result: BatchResult) -> bytes | None:
        pending = result.writes.get(PARKED_TABLE, {}).get(key)
        return pending[0] if pending is not None else self.table.get(key)

    def _write(self, key: bytes, blob: bytes | None, index: int, result: BatchResult) -> None:
        self.totals().change(self.blob(key, result), blob)
        result.write(PARKED_TABLE, key, blob, index)

    def park(
        self,
        event: InboundEvent,
        raw: bytes,
        source: Coordinates,
        index: int,
        now: datetime,
        result: BatchResult,
        sender: Sender | None = None,
    ) -> None:
        """Keep ``raw`` until its dossier's receipt, or dead-letter it if that breaks a bound.

        ``sender``: who it was verified as (stored with it, see the module docstring)."""
        key = event.dossier_id.encode("utf-8")
        blob = self.blob(key, result)
        lines = lines_of(blob)
        if lines:
            # Whatever becomes of this event, the dossier stays watched for its expiry
            # (the shell unschedules a touched dossier with no state and no expiry).
            result.parked_until[key] = self.expiry(lines)
        fingerprint = event_fingerprint(event.event_id)
        if any(read_entry(line, key).fingerprint == fingerprint for line in lines):
            return  # the same early event delivered twice
        who = sender.principal if sender is not None else None
        at = sender.broker_time if sender is not None else None
        line = entry(fingerprint, raw, source, now, who, at)
        new_blob = blob + b"\n" + line if blob else line
        why = full(self.policy, self.totals(), len(lines), blob, new_blob)
        if why is not None:
            result.dead_letter(
                dead_letter(
                    raw,
                    source,
                    ReasonKind.PARKING_FULL,
                    f"{event.type}: no dossier.received yet and parking is full: {why}",
                    now,
                    event_id=event.event_id,
                    dossier_id=event.dossier_id,
                )
            )
            return
        self._write(key, new_blob, index, result)
        result.parked_until[key] = self.expiry([*lines, line])

    def expiry(self, lines: Sequence[bytes]) -> datetime:
        """When the oldest parked event of a dossier has waited ``policy.wait`` (working).

        With an unreadable line: at once, so that its expiry dead-letters it."""
        times = [parked_at(line) for line in lines if line]
        if None in times or not times:
            return _AT_ONCE
        first = min(t for t in times if t is not None)
        return self.calendar.add_working_time(first, self.policy.wait)

    def _read(
        self, key: bytes, now: datetime, result: BatchResult
    ) -> list[tuple[InboundEvent, Parked]]:
        """A dossier's parked events; any that cannot be read back are dead-lettered."""
        waiting = []
        for line in lines_of(self.blob(key, result)):
            try:
                parked = read_entry(line, key)
            except ValueError as exc:  # a damaged table entry: keep its bytes, say so
                log.error("%s (dossier %r)", exc, key)
                where = Coordinates(PARKED_TABLE, -1, -1, key)
                reason = ReasonKind.PROCESSING_ERROR
                result.dead_letter(dead_letter(line, where, reason, str(exc), now))
                continue
            try:
                waiting.append((parse_event(parked.raw, self.max_event_bytes), parked))
            except ContractError as exc:  # parked under other limits: still not lost
                result.dead_letter(contract_dead_letter(parked.raw, parked.source, exc, now))
        return waiting

    def expire(self, key: bytes, now: datetime, index: int, result: BatchResult) -> None:
        """A tick for a dossier with no state: dead-letter its parked events if they waited
        long enough (``parked_timeout``), else say when they will have."""
        lines = lines_of(self.blob(key, result))
        if not lines:
            return
        if None in map(parked_at, lines):
            # Damaged lines are dead-lettered now (by _read); the others wait on.
            waiting = self._read(key, now, result)
            lines = [
                entry(
                    event_fingerprint(e.event_id),
                    p.raw,
                    p.source,
                    p.parked_at,
                    p.principal,
                    p.broker_time,
                )
                for e, p in waiting
            ]
            self._write(key, b"\n".join(lines) or None, index, result)
            if not lines:
                return
        expiry = self.expiry(lines)
        if expiry > now:
            result.parked_until[key] = expiry
            return
        hours = self.policy.wait.total_seconds() / 3600
        for event, parked in self._read(key, now, result):
            result.dead_letter(
                dead_letter(
                    parked.raw,
                    parked.source,
                    ReasonKind.PARKED_TIMEOUT,
                    f"{event.type}: no dossier.received within {hours:g} working hours",
                    now,
                    event_id=event.event_id,
                    dossier_id=event.dossier_id,
                )
            )
        self._write(key, None, index, result)

    def take(
        self, key: bytes, now: datetime, index: int, result: BatchResult
    ) -> list[tuple[InboundEvent, Parked]]:
        """The receipt came: a dossier's parked events, in ``occurred_at`` order, unparked."""
        waiting = self._read(key, now, result)
        if self.blob(key, result):
            self._write(key, None, index, result)
        waiting.sort(key=lambda item: item[0].occurred_at)
        return waiting
