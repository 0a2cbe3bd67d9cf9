"""One batch of alert records, without Kafka: decode, skip the ones already handled, deliver
the rest concurrently, and say what to produce and what to remember."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agents.notify.channel import DeliveryOutcome
from agents.notify.delivery import Notifier
from agents.notify.failures import (
    failure_record,
    shown_target,
    undecodable_record,
    unresolvable_record,
)
from agents.notify.recipients import UnresolvableAlert
from events import Alert, ContractError, decode

log = logging.getLogger(__name__)


@dataclass
class DeliveredBatch:
    """What to produce and what to remember after a batch was delivered."""

    #: (key, value) records for ``dossier-alerts-failed``.
    failed: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    #: (index of the record in the batch, alert id, mark) to write to the delivered table.
    handled: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    outcomes: list[tuple[Alert, DeliveryOutcome]] = field(default_factory=list)
    #: alerts skipped: already handled, or repeated in the batch
    duplicates: int = 0


async def deliver_batch(
    notifier: Notifier,
    records: Sequence[tuple[bytes | None, bytes | None]],
    seen: Callable[[bytes], bool],
    now: Callable[[], datetime],
) -> DeliveredBatch:
    """Decode ``records`` (key, value), skip the ids ``seen`` or repeated in the batch,
    deliver the rest concurrently, and say what to produce and remember. Raises only when
    cancelled: a failure of any kind becomes a failure record."""
    result = DeliveredBatch()
    todo: list[tuple[int, Alert]] = []
    batch_ids: set[bytes] = set()
    for index, (key, raw) in enumerate(records):
        try:
            alert = decode(Alert, raw or b"")
        except ContractError as exc:
            log.error("not an alert on the alerts topic, recorded as failed: %s", exc)
            result.failed.append((key, undecodable_record(raw or b"", str(exc), now())))
            continue
        aid = alert.alert_id.encode("utf-8")
        if aid in batch_ids or seen(aid):
            result.duplicates += 1
            continue
        batch_ids.add(aid)
        todo.append((index, alert))

    delivered = await asyncio.gather(
        *(notifier.deliver(alert) for _, alert in todo), return_exceptions=True
    )
    for (index, alert), outcomes in zip(todo, delivered, strict=True):
        key = alert.dossier_id.encode("utf-8")
        sent = failed = 0
        if isinstance(outcomes, UnresolvableAlert):
            log.error("alert %s: %s", alert.alert_id, outcomes)
            result.failed.append((key, unresolvable_record(alert, str(outcomes), now())))
            failed, outcomes = 1, []
        elif isinstance(outcomes, BaseException):  # a bug in deliver itself: keep the alert
            if not isinstance(outcomes, Exception):
                raise outcomes  # cancellation: the batch is not done
            log.error("delivering alert %s crashed", alert.alert_id, exc_info=outcomes)
            error = f"internal error: {type(outcomes).__name__}: {outcomes}"
            try:
                planned = notifier.targets(alert)
            except UnresolvableAlert:
                planned = []
            outcomes = [DeliveryOutcome(t, False, 0, error) for t in planned]
        if not outcomes and not failed:
            log.info("alert %s: the catalog gives it no webhook or e-mail", alert.alert_id)
        for outcome in outcomes:
            result.outcomes.append((alert, outcome))
            if outcome.delivered:
                sent += 1
                continue
            failed += 1
            log.warning(
                "alert %s: %s delivery to %s failed after %d attempts: %s",
                alert.alert_id,
                outcome.target.channel,
                shown_target(outcome.target.channel, outcome.target.address),
                outcome.attempts,
                outcome.error,
            )
            result.failed.append((key, failure_record(alert, outcome, now())))
        mark = f"{now().isoformat()} delivered={sent} failed={failed}".encode()
        result.handled.append((index, alert.alert_id.encode("utf-8"), mark))
    return result
