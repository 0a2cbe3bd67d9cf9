"""The deadline watcher's shell: the index rebuilt after each rebalance, ticks sent on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Mapping
from typing import Any, cast

import faust
from faust.tables.manager import TableManager
from mode.types.signals import BaseSignalT

from agents.clock import Clock
from agents.runtime.acks import OffsetGuard
from agents.runtime.prediction import Checks
from agents.runtime.prepared import COLLECT_AFTER
from agents.runtime.router import RouterCore
from agents.runtime.tables import BatchedChangelogTable
from agents.runtime.telemetry import OpenGauges
from agents.runtime.watcher import Watcher, partition_of, tick_values
from events.topics import OPEN_TABLE, PARKED_TABLE, TopicNames
from workflows.state import DossierState
from workflows.state_header import StateHeader

log = logging.getLogger(__name__)

#: Dossiers prepared between two yields to the loop (~300 us each: ~20 ms a slice); after
#: each slice the pass sleeps as long as the slice took, so it takes at most half the loop.
PREPARE_SLICE = 64


def is_recovered(app: faust.App) -> bool:
    """The tables are restored from their changelogs (faust's recovery completed)."""
    manager = cast(TableManager, app.tables)
    return manager.recovery.completed.is_set()


class Deadlines:
    """Keeps the watcher's index for this worker's partitions and sends the due ticks."""

    def __init__(
        self,
        app: faust.App,
        watcher: Watcher,
        router: RouterCore,
        tables: Mapping[str, BatchedChangelogTable],
        gauges: OpenGauges,
        guard: OffsetGuard,
        clock: Clock,
        names: TopicNames,
        partitions: int,
    ) -> None:
        self.app, self.watcher, self.router, self.tables = app, watcher, router, tables
        self.gauges, self.guard, self.clock = gauges, guard, clock
        self.names, self.partitions = names, partitions
        #: predicted-late re-evaluations (agents/runtime/prediction.py); None: off
        self.checks: Checks | None = None
        #: the preparation pass under way (agents/runtime/prepared.py), if any
        self._preparing: asyncio.Task[int] | None = None

    def register(self, tick_seconds: float) -> None:
        # mypy cannot match an ``async def`` to mode's SignalHandlerT union (mode-streaming
        # 0.7): the signature is the one mode calls (``receiver(sender, *args, signal=...)``).
        self.app.on_rebalance_complete.connect(self.rebuild_index)  # type: ignore[arg-type]
        self.app.on_partitions_revoked.connect(self.drop_prepared)  # type: ignore[arg-type]
        self.app.on_before_shutdown.connect(self.stop_preparing)  # type: ignore[arg-type]
        self.app.timer(interval=tick_seconds)(self.tick)

    def owned_partitions(self) -> set[int]:
        consumer = self.app.consumer
        assignment = consumer.assignment() if consumer is not None else set()
        return {tp.partition for tp in assignment if tp.topic == self.names.events}

    async def rebuild_index(
        self, sender: Any, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        # After recovery: index this worker's partitions; anything that expired while
        # nobody owned them is due at the first tick (alerted once: the state remembers).
        owned = self.owned_partitions()
        self.guard.reset()
        self.router.prepared.clear()
        started = time.perf_counter()
        self.gauges.reset(owned)
        now = self.clock.now()
        checks = self.checks
        self.router.sketches.reset(owned)

        def each(key: bytes, partition: int, state: DossierState | StateHeader) -> None:
            self.gauges.move(partition, None, state)
            if checks is not None:
                checks.after_rebuild(key, partition, state, now)

        # A stamped state is read as far as its header, the prediction's first checks too.
        count = self.watcher.rebuild(self.tables[OPEN_TABLE], owned, each=each)
        for key, blob in self.tables[PARKED_TABLE].items():
            partition = partition_of(key, self.partitions)
            if partition in owned and blob:
                expiry = self.router.parked_expiry([line for line in blob.split(b"\n") if line])
                self.watcher.index.schedule(key, partition, expiry)
        self.gauges.export()
        log.info(
            "deadline index rebuilt in %.1f s: %d open dossiers watched "
            "(%d stored watch instants used, %d computed)",
            time.perf_counter() - started,
            count,
            self.watcher.stamped,
            self.watcher.computed,
        )

    async def drop_prepared(
        self, sender: Any, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        """Partitions revoked: no prepared tick survives a rebalance."""
        self.router.prepared.clear()

    async def stop_preparing(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """Stopping: cancel a preparation pass under way (nothing of it is ever needed)."""
        task, self._preparing = self._preparing, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def tick(self) -> None:
        await self.watch_once()
        if self._preparing is None or self._preparing.done():
            self._preparing = asyncio.ensure_future(self.prepare_ahead())

    async def prepare_ahead(self) -> int:
        """Compute ahead the ticks due within the look-ahead (``agents/runtime/prepared.py``),
        in slices that yield to the loop; how many were prepared. It stops at a rebalance."""
        app, prepared = self.app, self.router.prepared
        if prepared.ahead_s <= 0 or app.rebalancing or not is_recovered(app):
            return 0
        generation = prepared.generation
        now = self.clock.now().timestamp()
        prepared.sweep(now)
        todo = prepared.plan(self.watcher.index, now)
        table, done = self.tables[OPEN_TABLE], 0
        for start in range(0, len(todo), PREPARE_SLICE):
            if app.rebalancing or prepared.generation != generation:
                break
            began = time.perf_counter()
            for key, instant in todo[start : start + PREPARE_SLICE]:
                try:
                    done += prepared.prepare(key, instant, table.get(key)) is not None
                except Exception:  # only an optimization: the router computes it instead
                    log.exception("could not prepare the tick of %r", key)
            await asyncio.sleep(time.perf_counter() - began)
        if done >= COLLECT_AFTER:
            gc.collect()  # now, in idle time, rather than in the burst tick (COLLECT_AFTER)
        return done

    async def watch_once(self) -> int:
        """Send a tick for every watched dossier due now; how many were sent."""
        app, watcher = self.app, self.watcher
        if app.rebalancing or not is_recovered(app):
            return 0
        now = self.clock.now()
        open_table, parked = self.tables[OPEN_TABLE], self.tables[PARKED_TABLE]
        due = [(k, p) for k, p in watcher.index.pop_due(now) if k in open_table or k in parked]
        try:
            sent = [
                await app.producer.send(self.names.ticks, key, value, partition, None, None)
                for (key, partition), value in zip(
                    due, tick_values((k for k, _ in due), now), strict=True
                )
            ]
            await asyncio.gather(*sent)
        except Exception:
            # Not sent: keep watching them, the next tick tries again.
            for key, partition in due:
                watcher.index.schedule(key, partition, now)
            log.warning("deadline ticks not sent; retrying next tick", exc_info=True)
            return 0
        return len(due)
