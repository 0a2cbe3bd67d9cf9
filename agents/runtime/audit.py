"""The access log's writer: one ``DossierRead`` per status-API read, acknowledged by the
broker before the reader gets an answer (no ack, no answer: the API fails closed)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from events import AUDIT_TEXT_MAX, DossierRead, ReadOutcome, ReadView

log = logging.getLogger(__name__)

#: Set by the engine's router on a request it forwards to the dossier's owner (see
#: agents/runtime/forwarding.py): the address the first worker saw.
FORWARDED_FOR = "X-Dossierflow-Forwarded-For"


class AuditUnavailable(RuntimeError):
    """The audit record was not acknowledged: the read must not be answered."""


def _cut(text: str | None) -> str | None:
    return None if text is None else text[:AUDIT_TEXT_MAX]


class AuditLog:
    """Writes read records to the audit topic through the worker's producer."""

    def __init__(
        self,
        send: Callable[[str, bytes, bytes], Any],
        topic: str,
        worker: str,
        timeout_s: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # ``send(topic, key, value)`` awaits the broker's ack (acks=-1: every in-sync
        # replica); the wall clock, not the engine's clock: the log records real time
        # even when the engine runs a simulated or manual one.
        self._send, self.topic, self.worker = send, topic, worker
        self.timeout_s, self._now = timeout_s, now

    def record(
        self,
        request: Any,
        *,
        principal: str,
        role: str | None,
        dossier_id: str,
        view: ReadView,
        outcome: ReadOutcome,
        status: int,
        detail: str | None = None,
    ) -> DossierRead:
        """The record of one answer to ``request`` (an aiohttp request)."""
        return DossierRead(
            read_id=uuid.uuid4().hex,
            at=self._now(),
            principal=principal[:AUDIT_TEXT_MAX],
            role=role,
            dossier_id=dossier_id[:AUDIT_TEXT_MAX],
            view=view,
            path=str(request.path)[:AUDIT_TEXT_MAX],
            outcome=outcome,
            status=status,
            detail=_cut(detail),
            remote=_cut(request.remote),
            forwarded_for=_cut(request.headers.get(FORWARDED_FOR)),
            worker=self.worker[:AUDIT_TEXT_MAX],
        )

    async def write(self, read: DossierRead) -> None:
        """Append ``read`` and wait for the ack; ``AuditUnavailable`` when it does not come."""
        value = read.model_dump_json().encode("utf-8")
        try:
            await asyncio.wait_for(
                self._send(self.topic, read.dossier_id.encode("utf-8"), value), self.timeout_s
            )
        except Exception as exc:  # any failure to log the read refuses the read
            log.error(
                "audit record not written, read refused: topic=%s dossier=%r error=%r",
                self.topic,
                read.dossier_id,
                exc,
            )
            raise AuditUnavailable(str(exc)) from exc
