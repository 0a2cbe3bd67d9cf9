"""Predicted-late warnings in the worker: the sketch table, learning from each batch, and
the evaluation of each dossier a batch touched (``workflows.prediction`` decides).

The sketches live in a changelog-backed table (``SKETCH_TABLE``), one entry per
(partition, sketch key): a partition's sketches are learnt from its own dossiers and
written to its own changelog partition, so whoever owns the partition after a restart or
a rebalance restores them with it. A worker predicts from the merge of the partitions it
holds (``Sketch.merge``). Writes go with the batch's other table writes (router, "write
order"): a crash before them re-delivers the batch, which teaches the same steps again.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from agents.runtime.watcher import DeadlineIndex
from agents.settings import Settings
from events import Alert
from workflows.alerts import is_overdue
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog
from workflows.prediction import (
    PredictionPolicy,
    QuantileCache,
    Sketch,
    SketchError,
    has_history,
    learnt,
    predicted_mark,
    predicted_mark_of,
    raise_predicted_late,
)
from workflows.state import DossierState, Status
from workflows.state_header import StateHeader

__all__ = [
    "Checks",
    "PredictionRun",
    "SketchBook",
    "check_instant",
    "prediction_policy",
    "run_predictions",
    "table_key",
]

log = logging.getLogger(__name__)


def table_key(partition: int, key: str) -> bytes:
    return f"{partition}|{key}".encode()


def _parse(raw_key: bytes) -> tuple[int, str] | None:
    text = raw_key.decode("utf-8", "replace")
    partition, sep, key = text.partition("|")
    if not sep or not partition.isdigit():
        return None
    return int(partition), key


class SketchBook:
    """The sketches of the partitions this worker holds: per partition as stored, and
    merged per key for predicting. Rebuilt from the table after a rebalance (``reset``)."""

    def __init__(self, table: Mapping[bytes, bytes]) -> None:
        self.table = table
        self.tables = QuantileCache()
        self._own: dict[bytes, Sketch] = {}
        self._merged: dict[str, Sketch] = {}
        self._owned: set[int] | None = None
        self._built = False

    def reset(self, owned: set[int] | None = None) -> None:
        """Forget what is cached: the next use reads the table again (for ``owned``
        partitions only, when given)."""
        self._owned = owned
        self._built = False

    def __len__(self) -> int:
        self._build()
        return len(self._merged)

    def _build(self) -> None:
        if self._built:
            return
        self._own, self._merged = {}, {}
        self.tables.clear()
        for raw_key, raw in self.table.items():
            parsed = _parse(raw_key)
            if parsed is None or raw is None:
                continue
            partition, key = parsed
            if self._owned is not None and partition not in self._owned:
                continue
            try:
                sketch = Sketch.from_bytes(raw)
            except SketchError as exc:
                log.error("sketch table: ignoring %r: %s", raw_key[:80], exc)
                continue
            self._own[raw_key] = sketch
            self._merged.setdefault(key, Sketch()).merge(sketch)
        self._built = True

    def lookup(self, key: str) -> Sketch | None:
        self._build()
        return self._merged.get(key)

    def learn(self, partition: int, key: str, seconds: float) -> tuple[bytes, bytes]:
        """Teach ``key`` one duration seen on ``partition``: (table key, its new value)."""
        self._build()
        raw_key = table_key(partition, key)
        own = self._own.get(raw_key)
        if own is None:
            own = self._own[raw_key] = Sketch()
        own.add(seconds)
        self._merged.setdefault(key, Sketch()).add(seconds)
        return raw_key, own.to_bytes()


def check_instant(
    cal: WorkingCalendar, policy: PredictionPolicy, state: DossierState | None, now: datetime
) -> datetime | None:
    """When the watcher should look at an open dossier again for a prediction (None:
    never: not open, predictions off, or already warned under this deadline version)."""
    if not policy.enabled or state is None or state.status is not Status.OPEN:
        return None
    if state.current_row is None or predicted_mark(state) in state.alerted:
        return None
    if is_overdue(state.committed_due_at, now):
        return None
    return cal.add_working_time(now, timedelta(hours=policy.check_every_hours))


@dataclass
class PredictionRun:
    """What one batch's predictions did: table writes, alerts, how each evaluation went."""

    writes: list[tuple[bytes, bytes, bytes]]  # (dossier key, table key, value)
    alerts: list[tuple[bytes, Alert]]
    states: dict[bytes, DossierState]
    evaluated: int = 0
    learnt: int = 0


def run_predictions(
    book: SketchBook,
    catalog: Catalog,
    cal: WorkingCalendar,
    policy: PredictionPolicy,
    touched: Mapping[bytes, int],
    changed: Collection[bytes],
    before: Mapping[bytes, DossierState | None],
    after: MutableMapping[bytes, DossierState | None],
    now: datetime,
    when: Callable[[bytes], datetime] | None = None,
) -> PredictionRun:
    """Learn from the steps each ``changed`` dossier completed in the batch (``before``:
    its state when the batch began), then evaluate each touched one still open (at
    ``when(key)``: a tick's instant; else ``now``)."""
    run = PredictionRun([], [], {})
    if not policy.enabled:
        return run
    for key, partition in touched.items():
        state = after.get(key)
        if state is None:
            continue
        learning = learnt(before.get(key), state, catalog) if key in changed else []
        for sketch_key, seconds in learning:
            table_key_, value = book.learn(partition, sketch_key, seconds)
            run.writes.append((key, table_key_, value))
            run.learnt += 1
        if state.status is not Status.OPEN:
            continue
        at = when(key) if when is not None else now
        run.evaluated += 1
        new, alerts, _ = raise_predicted_late(
            state, catalog, cal, book.lookup, at, policy, book.tables
        )
        if new is not state:
            run.states[key] = new
        run.alerts.extend((key, a) for a in alerts)
    return run


def prediction_policy(settings: Settings) -> PredictionPolicy:
    return PredictionPolicy(
        threshold=settings.predict_threshold,
        min_history=settings.predict_min_history,
        check_every_hours=settings.predict_check_every_hours,
        enabled=settings.predict_late,
    )


class Checks:
    """Re-evaluation of quiet open dossiers through the deadline index: a dossier is
    watched at the earlier of its next alert instant and its next check, so a tick costs
    what expires, and each open dossier is evaluated at most once per check interval
    (plus once per batch that touches it)."""

    def __init__(
        self,
        index: DeadlineIndex,
        catalog: Catalog,
        cal: WorkingCalendar,
        policy: PredictionPolicy,
        book: SketchBook,
    ) -> None:
        self.index, self.catalog, self.cal, self.policy = index, catalog, cal, policy
        self.book = book

    def after_batch(
        self,
        key: bytes,
        partition: int,
        state: DossierState | None,
        watch_at: datetime | None,
        now: datetime,
    ) -> None:
        self._earlier(key, partition, self._check(state, now, self.policy), watch_at)

    def after_rebuild(
        self, key: bytes, partition: int, state: DossierState | StateHeader, now: datetime
    ) -> None:
        """Spread the first checks after a rebalance over one interval (by a hash of the
        dossier id), not all at the first tick.

        From a header alone (the rebuild does not decode a stamped state) the route's
        history cannot be asked: an open dossier at a step, not yet warned under its
        deadline version, is looked at once at its spread instant — a tick, which the
        router evaluates like any batch-touched dossier, scheduling its checks from then on.
        """
        spread = (zlib.crc32(key) % 1000) / 1000
        policy = replace(self.policy, check_every_hours=self.policy.check_every_hours * spread)
        if isinstance(state, DossierState):
            first = self._check(state, now, policy)
        elif (
            policy.enabled
            and state.status is Status.OPEN
            and state.current_step is not None
            and predicted_mark_of(state.deadline_version) not in state.alerted
        ):
            first = self.cal.add_working_time(now, timedelta(hours=policy.check_every_hours))
        else:
            first = None
        self._earlier(key, partition, first, self.index.instant_of(key))

    def _check(
        self, state: DossierState | None, now: datetime, policy: PredictionPolicy
    ) -> datetime | None:
        # A dossier whose route lacks history is not looked at on the clock: the
        # prediction would say nothing, and a tick for nothing is work for nothing (it is
        # evaluated again at its next event or watch point, when the history may be there).
        at = check_instant(self.cal, policy, state, now)
        if at is None or state is None:
            return None
        proc = self.catalog.procedure(
            state.procedure, at=date.fromisoformat(state.procedure_version)
        )
        if proc is None or not has_history(state, proc, self.book.lookup, policy.min_history):
            return None
        return at

    def _earlier(
        self, key: bytes, partition: int, check: datetime | None, watch_at: datetime | None
    ) -> None:
        if check is not None and (watch_at is None or check < watch_at):
            self.index.schedule(key, partition, check)
