"""Records for ``dossier-alerts-failed``: a delivery that gave up, or a record that is no
alert; and reading them back."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime

from agents.notify.channel import DeliveryOutcome
from events import Alert, AlertDeliveryFailed, ContractError, decode, encode


def failure_record(alert: Alert, outcome: DeliveryOutcome, failed_at: datetime) -> bytes:
    """The ``dossier-alerts-failed`` value for a delivery that gave up."""
    t = outcome.target
    return encode(
        AlertDeliveryFailed(
            alert_id=alert.alert_id,
            channel=str(t.channel),
            target=t.address,
            recipient=t.recipient.name,
            attempts=outcome.attempts,
            error=outcome.error,
            failed_at=failed_at,
            alert=alert,
        )
    )


def undecodable_record(raw: bytes, error: str, failed_at: datetime) -> bytes:
    """A record on the alerts topic that is not an alert: kept, with the original bytes."""
    return encode(
        AlertDeliveryFailed(
            alert_id=None,
            channel=None,
            target=None,
            recipient=None,
            attempts=0,
            error=f"not a v1 alert: {error}",
            failed_at=failed_at,
            alert=None,
            original_b64=base64.b64encode(raw).decode("ascii"),
        )
    )


def iter_failure_records(values: Iterable[bytes]) -> list[AlertDeliveryFailed]:
    """Parse ``dossier-alerts-failed`` values (for tools and tests); skips foreign records."""
    parsed = []
    for raw in values:
        try:
            parsed.append(decode(AlertDeliveryFailed, raw))
        except ContractError:
            continue
    return parsed
