"""Parking: events that arrive before their dossier's receipt wait in the ``parked`` table.

The router (``agents.router``) decides when to park, release and expire; this module
holds the bounds, the stored format and the running totals.

A dossier's parked blob is one line per early event, lines joined by ``\\n``::

    #2 <TAB> fingerprint <TAB> topic <TAB> partition <TAB> offset <TAB> parked at (epoch s)
       <TAB> key (base64, ``-`` = none) <TAB> value (base64)

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agents.records import Coordinates
from events import ContractError, parse_event
from workflows.routing import event_fingerprint

__all__ = [
    "Parked",
    "ParkedTotals",
    "ParkingPolicy",
    "entry",
    "full",
    "lines_of",
    "parked_at",
    "read_entry",
]

_V2 = b"#2"
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


def entry(fingerprint: str, raw: bytes, source: Coordinates, now: datetime) -> bytes:
    """The stored line for one early event (the format in the module docstring)."""
    key = _NO_KEY if source.key is None else base64.b64encode(source.key)
    fields = (
        _V2,
        fingerprint.encode("ascii"),
        source.topic.encode("utf-8"),
        str(source.partition).encode(),
        str(source.offset).encode(),
        f"{now.timestamp():.0f}".encode(),
        key,
        base64.b64encode(raw),
    )
    return b"\t".join(fields)


def read_entry(line: bytes, dossier_id: bytes) -> Parked:
    """One stored line back; ``dossier_id`` is the key of old-format lines (they kept none).

    Raises ``ValueError`` for a line in neither format.
    """
    try:
        if line.startswith(_V2 + b"\t"):
            _, fp, topic, partition, offset, at, key, value = line.split(b"\t")
            raw = base64.b64decode(value, validate=True)
            source_key = None if key == _NO_KEY else base64.b64decode(key, validate=True)
            fingerprint: str | None = fp.decode("ascii")
        else:
            topic, partition, offset, at, raw = line.split(b"\t", 4)
            source_key, fingerprint = dossier_id, _old_fingerprint(raw)
        source = Coordinates(topic.decode("utf-8"), int(partition), int(offset), source_key)
        return Parked(raw, source, datetime.fromtimestamp(int(at), UTC), fingerprint)
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


def parked_at(line: bytes) -> datetime:
    """When the line's event was parked; an unreadable line counts as parked long ago
    (so its expiry comes at once and dead-letters it)."""
    try:
        return read_entry(line, b"").parked_at
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


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
