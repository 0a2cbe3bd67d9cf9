"""Deadline ticks prepared ahead of their instant (issue 18: a 17:30 burst inside one tick).

Deadlines are known in advance: the watcher's index says which dossiers come due in the
next minutes. In the worker's idle time before that instant (``Deadlines.prepare_ahead``,
in slices that yield to the loop) each such dossier's tick is computed as the router would
compute it — ``apply_tick`` on the state ``_load`` gives, the alerts encoded, the new state
stamped and encoded — and kept here with the exact stored bytes it was computed from.

When the tick is routed (``RouterCore._tick``) and the stored state is still those bytes,
the catalog the same object, and the tick's instant inside the entry's window, the router
emits the prepared records instead of computing them; otherwise (an event in between, a
rebalance, another instant) it computes as before. ``apply_tick`` is a pure function of
the state, the instant, the catalog, the calendar and the policy, so the prepared records
are the computed ones byte for byte (tests/unit/test_prepared.py): the cache can be missed,
never wrong. Nothing is sent early: the records leave only with the routed tick.

**The window.** An entry prepared for instant ``at`` (the index entry's) is valid for any
tick instant ``t`` with ``at <= t < until``, ``until`` being the dossier's next watch point
after those due at ``at``: the same points are due, so the same alerts and the same new
state follow; only each alert's ``detected_at`` is the tick's, and it is spliced into the
prepared bytes (and the alert objects copied with it). A dossier whose due points include
a reminder is not prepared (a late reminder's number depends on the tick's instant).

**Dropped** when used, when the router writes the dossier's state (``forget``), on every
rebalance (``clear``), and when its window is past or its tick is overdue by more than the
look-ahead (``sweep``). **Bounded** by ``max_entries`` and the look-ahead window.
"""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from agents.runtime.records import Outgoing
from events import Alert, encode
from events.internal import DeadlineTick
from workflows.alerts import (
    AlertPolicy,
    apply_tick,
    due_points,
    is_overdue,
    stamp_watch,
    unstamped,
    watch_points,
)
from workflows.routing import RoutingContext
from workflows.state import DossierState

if TYPE_CHECKING:
    from agents.runtime.router import RouterCore
    from agents.runtime.watcher import DeadlineIndex

__all__ = ["COLLECT_AFTER", "DEFAULT_AHEAD_S", "DEFAULT_MAX_ENTRIES", "Prepared", "PreparedTicks"]

#: How far ahead of the clock ticks are prepared, and how many dossiers at most.
DEFAULT_AHEAD_S = 300.0
DEFAULT_MAX_ENTRIES = 30_000

#: After a preparation pass that prepared at least this many dossiers, a full garbage
#: collection, in the idle time before their instant: the entries (tens of objects each)
#: otherwise make the next full collection fall due in the burst tick itself (it took
#: 0.37 s of a 1.1 s burst tick at 100,000 open dossiers).
COLLECT_AFTER = 2_000

_DETECTED = b',"detected_at":"'


@dataclass(frozen=True, slots=True)
class Prepared:
    """One dossier's tick, computed ahead for the instants ``at <= t < until``."""

    #: the stored state value it was computed from (the open table's bytes)
    raw: bytes
    #: ``at`` and ``until`` as naive UTC: a tick's instant (another tzinfo object) is
    #: compared in that form, ~10x cheaper than two aware datetimes with different zones
    at: datetime
    #: the next watch point after those due at ``at`` (None: none)
    until: datetime | None
    #: the index instant it was planned for (``at`` as epoch seconds)
    instant: float
    catalog: object
    #: the state as the router loads it (unstamped), the one ``apply_tick`` returns, that
    #: one stamped with its next watch instant, and the stamped state's bytes (the two new
    #: states cost ~2.5 KB an entry; copying them when used cost ~10 us a tick)
    before: DossierState
    after: DossierState
    stamped: DossierState
    value: bytes
    alerts: tuple[Alert, ...]
    #: each alert's encoded bytes, and where its ``detected_at`` value lies in them
    records: tuple[tuple[bytes, int, int], ...]
    #: that value (the same in every alert: ``at``)
    detected: bytes


def _naive_utc(at: datetime) -> datetime:
    offset = at.utcoffset()
    assert offset is not None
    return at.replace(tzinfo=None) - offset


def _detected_span(record: bytes) -> tuple[int, int]:
    """Where the value of ``detected_at`` is in an encoded alert (without its quotes).

    ``,"detected_at":"`` can only be the key: inside a JSON string a quote is escaped."""
    start = record.index(_DETECTED) + len(_DETECTED)
    return start, record.index(b'"', start)


class PreparedTicks:
    """The prepared ticks of one worker's router, keyed by dossier key."""

    def __init__(
        self,
        ctx: RoutingContext,
        policy: AlertPolicy,
        watch_key: str,
        *,
        ahead_s: float = DEFAULT_AHEAD_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.ctx, self.policy, self.watch_key = ctx, policy, watch_key
        self.ahead_s, self.max_entries = ahead_s, max_entries
        self._entries: dict[bytes, Prepared] = {}
        #: entries used in the router's current batch (their stamped state is written)
        self._batch: dict[bytes, Prepared] = {}
        #: a detected_at instant's serialization in an alert, for the last instant seen
        self._detected: tuple[datetime, timedelta | None, bytes] | None = None
        #: bumped by ``clear``: a preparation pass that sees it move stops
        self.generation = 0
        #: counters: prepared, used by a tick, computed instead (a stale entry)
        self.prepared = self.used = self.missed = 0

    def __len__(self) -> int:
        return len(self._entries)

    def counts(self) -> dict[str, int]:
        """Entries held, and since the start: prepared, used by their tick, stale."""
        return {
            "held": len(self._entries),
            "prepared": self.prepared,
            "used": self.used,
            "missed": self.missed,
        }

    # --- preparing ---------------------------------------------------------------------

    def plan(self, index: DeadlineIndex, now: float) -> list[tuple[bytes, float]]:
        """The dossiers to prepare now: index entries due in (now, now + ahead] and not
        prepared for that instant yet, earliest first, as many as there is room for."""
        room = self.max_entries - len(self._entries)
        if room <= 0 or self.ahead_s <= 0:
            return []
        entries = self._entries
        todo = [
            (key, instant)
            for instant, key in index.upcoming(now, now + self.ahead_s)
            if (found := entries.get(key)) is None or found.instant != instant
        ]
        todo.sort(key=lambda item: item[1])
        return todo[:room]

    def prepare(self, key: bytes, instant: float, raw: bytes | None) -> Prepared | None:
        """Compute and keep ``key``'s tick at ``instant`` (epoch seconds) from its stored
        ``raw`` state; None when there is nothing to prepare (closed, nothing due then, a
        reminder due, no room)."""
        if raw is None or (len(self._entries) >= self.max_entries and key not in self._entries):
            return None
        entry = self.compute(raw, instant)
        if entry is None:
            self._entries.pop(key, None)
            return None
        self._entries[key] = entry
        self.prepared += 1
        return entry

    def compute(self, raw: bytes, instant: float) -> Prepared | None:
        """What the router's tick path gives for the state ``raw`` at ``instant``: the same
        calls as ``RouterCore._load``, ``_tick`` and the end of its batch."""
        cal, policy = self.ctx.calendar, self.policy
        at = datetime.fromtimestamp(instant, cal.tz)
        before = unstamped(DossierState.from_bytes(raw))
        due = due_points(before, at, cal, policy)
        if not due or any(p.reminder for p in due):
            return None
        after, alerts = apply_tick(
            before, DeadlineTick(dossier_id=before.dossier_id, detected_at=at), self.ctx.catalog,
            cal, policy,
        )  # fmt: skip
        if after is before or not alerts:
            return None
        until = min((p.at for p in watch_points(before, cal, policy) if not is_overdue(p.at, at)),
                    default=None)  # fmt: skip
        stamped = stamp_watch(after, cal, policy, self.watch_key)
        records = []
        for alert in alerts:
            record = encode(alert)
            records.append((record, *_detected_span(record)))
        first, start, end = records[0]
        return Prepared(
            raw, _naive_utc(at), None if until is None else _naive_utc(until), instant,
            self.ctx.catalog, before, after, stamped, stamped.to_bytes(), tuple(alerts),
            tuple(records), first[start:end],
        )  # fmt: skip

    # --- using (RouterCore) ------------------------------------------------------------

    def emit(
        self,
        core: RouterCore,
        key: bytes,
        detected_at: datetime,
        index: int,
        cache: MutableMapping[bytes, DossierState | None],
    ) -> bool:
        """``core``'s tick of ``key`` at ``detected_at`` (record ``index`` of its batch) from
        the prepared entry, if it is still valid: what ``RouterCore._tick`` does — the
        loaded and the new state into ``cache`` and the core's batch maps, the alerts into
        its batch result. False: compute it (the entry, if any, is dropped unless it is for
        a later instant)."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        offset = detected_at.utcoffset()
        assert offset is not None  # DeadlineTick.detected_at is an AwareDatetime
        local = detected_at.replace(tzinfo=None)
        utc = local - offset
        if utc < entry.at:
            return False
        del self._entries[key]
        if (
            (entry.until is not None and utc >= entry.until)
            or entry.catalog is not self.ctx.catalog
            or core.tables.open.get(key) != entry.raw
        ):
            self.missed += 1
            return False
        cache[key] = entry.after
        core._before[key] = entry.before
        core._last_index[key] = index
        self._batch[key] = entry
        result = core._result
        self.used += 1
        value = self._serialized(detected_at, local, offset, entry)
        same = value == entry.detected
        for alert, (record, start, end) in zip(entry.alerts, entry.records, strict=True):
            if not same:
                record = record[:start] + value + record[end:]
                alert = alert.model_copy(update={"detected_at": detected_at})
            result.outgoing.append(Outgoing("alerts", key, record))
            result.alerts.append(alert)
        return True

    def stamp(self, key: bytes, state: DossierState) -> tuple[DossierState, bytes]:
        """``state`` stamped with its next watch instant, and its bytes (what the router
        writes to the open table): the prepared ones if ``state`` is a prepared tick's."""
        entry = self._batch.pop(key, None)
        if entry is not None and entry.after is state:
            return entry.stamped, entry.value
        stamped = stamp_watch(state, self.ctx.calendar, self.policy, self.watch_key)
        return stamped, stamped.to_bytes()

    def _serialized(
        self, detected_at: datetime, local: datetime, offset: timedelta, entry: Prepared
    ) -> bytes:
        """``detected_at`` (``local`` + ``offset``) as an alert's JSON holds it, taken from
        a real encoding; remembered for the last instant (a tick's records share it)."""
        last = self._detected
        if last is not None and last[0] == local and last[1] == offset:
            return last[2]
        record = encode(entry.alerts[0].model_copy(update={"detected_at": detected_at}))
        start, end = _detected_span(record)
        value = record[start:end]
        self._detected = (local, offset, value)
        return value

    # --- dropping ----------------------------------------------------------------------

    def forget(self, keys: Collection[bytes]) -> None:
        """The router wrote these dossiers' states: their entries are stale."""
        entries = self._entries
        if entries:
            for key in keys:
                entries.pop(key, None)
        self._batch.clear()

    def clear(self) -> None:
        """A rebalance: every entry goes (and a preparation pass under way stops)."""
        self._entries.clear()
        self._batch.clear()
        self.generation += 1

    def sweep(self, now: float) -> int:
        """Drop entries no tick can use any more: their window is past, or their tick is
        later than the look-ahead (the dossier left the index); how many went."""
        late = now - max(self.ahead_s, 1.0)
        limit = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
        gone = [
            key
            for key, e in self._entries.items()
            if e.instant < late or (e.until is not None and e.until <= limit)
        ]
        for key in gone:
            del self._entries[key]
        return len(gone)
