"""A real worker that dies between its table writes and its offset commit, for the crash test.

Run as ``python tests/integration/crash_worker.py`` with the usual ``DOSSIERFLOW_*``
environment plus ``CRASH_AFTER_EVENT=<event id>``. Everything is the production app
(same factory, topics, tables and runner) until that event is applied; from then on:

1. the consumer commits nothing more, so the offsets of the event's batch stay
   uncommitted;
2. at the first commit faust attempts once the event's batch is completely written
   (the dossier's stored state remembers the event and no table has changelog
   records waiting to be sent), the worker flushes its producer, so every output
   and changelog record of the batch is on the broker, and calls ``os._exit``:
   no shutdown, no commit, no goodbye to the group, as a power cut would.

``CRASH_BETWEEN_TABLES=<event id>`` instead: the worker dies after the first table
changelog of that event's batch is confirmed, before the next one is sent
(``CrashBetweenTables``).

That is the one crash window ``agents/runtime/router.py`` reasons about ("a crash after 3
re-delivers events whose ids the state already remembers"); the test restarts a
normal worker on the same group and checks nothing is applied twice.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from agents.runtime.app import Dossierflow, create_app, run_worker
from agents.runtime.kafka_admin import ensure_topics
from agents.settings import Settings
from events import InboundEvent
from workflows.routing import event_fingerprint
from workflows.state import DossierState

CRASH_ENV = "CRASH_AFTER_EVENT"
#: Distinct from faust's own failure exits, so the test knows the crash was this one.
CRASH_EXIT_CODE = 86
#: Printed (to the worker log) right before the exit, with the event id after it.
CRASH_MARKER = "crash_worker: batch written and flushed, exiting before the offset commit"


class CrashAfterWrite:
    """Arms on the chosen event, then turns the next possible commit into a crash."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        self.fingerprint = event_fingerprint(event_id)
        self.flow: Dossierflow | None = None
        self.dossier_key: bytes | None = None

    def on_event(self, event: InboundEvent, state: DossierState | None) -> None:
        # Runs inside RouterCore.run_batch, before the batch's outputs are sent.
        if event.event_id != self.event_id or self.dossier_key is not None:
            return
        assert self.flow is not None, "attach() the app first"
        self.dossier_key = event.dossier_id.encode("utf-8")
        # An instance attribute shadows faust's Consumer.commit for the periodic commit
        # timer and every other caller in this process.
        self.flow.app.consumer.commit = self._commit_or_crash  # type: ignore[method-assign]

    def attach(self, flow: Dossierflow) -> Dossierflow:
        self.flow = flow
        return flow

    def _batch_written(self) -> bool:
        assert self.flow is not None and self.dossier_key is not None
        tables = self.flow.tables
        raw = tables["open"].get(self.dossier_key) or tables["closed"].get(self.dossier_key)
        if raw is None or self.fingerprint not in DossierState.from_bytes(raw).applied:
            return False
        # The router writes a batch's keys without yielding to the event loop, so once
        # one of them is visible they all are; a table that batches its changelog keeps
        # it here until the agent sends it.
        return all(getattr(table, "pending", 0) == 0 for table in tables.values())

    async def _commit_or_crash(self, *args: Any, **kwargs: Any) -> bool:
        assert self.flow is not None
        if not self._batch_written():
            return False  # mid-batch: commit nothing, try again at the next commit
        await self.flow.app.producer.flush()
        print(f"{CRASH_MARKER}: {self.event_id}", flush=True)
        sys.stderr.flush()
        os._exit(CRASH_EXIT_CODE)


class CrashBetweenTables:
    """Arms on the chosen event, then dies right after the first table changelog of that
    event's batch is confirmed, before the next table's is sent (``CRASH_BETWEEN_TABLES``).

    With a dossier that closes in the batch, that is the instant between its closed state
    and the open table's tombstone (agents/runtime/tables.py FLUSH_ORDER): the test checks
    a restart brings the dossier back, closed, whichever table went first.
    """

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        self.armed = False

    def on_event(self, event: InboundEvent, state: DossierState | None) -> None:
        if event.event_id == self.event_id:
            self.armed = True

    def attach(self, flow: Dossierflow) -> Dossierflow:
        for table in flow.tables.values():
            flush = table.flush_changelog

            async def flush_or_crash(
                generation: int | None = None, _flush: Any = flush, _name: str = table.name
            ) -> int:
                written: int = await _flush(generation)
                if self.armed and written:
                    await flow.app.producer.flush()
                    print(f"{CRASH_MARKER}: {self.event_id} after {_name}", flush=True)
                    sys.stderr.flush()
                    os._exit(CRASH_EXIT_CODE)
                return written

            table.flush_changelog = flush_or_crash
        return flow


BETWEEN_ENV = "CRASH_BETWEEN_TABLES"


def main() -> None:
    # A test entry point, not the engine: its own knob comes from its own variable.
    settings = Settings()
    ensure_topics(settings)
    if BETWEEN_ENV in os.environ:
        between = CrashBetweenTables(os.environ[BETWEEN_ENV])
        run_worker(between.attach(create_app(settings, on_event=between.on_event)))
        return
    crash = CrashAfterWrite(os.environ[CRASH_ENV])
    run_worker(crash.attach(create_app(settings, on_event=crash.on_event)))


if __name__ == "__main__":
    main()
