"""Records for ``dossier-alerts-failed``: a delivery that gave up or was refused, an alert
nobody can be found for, or a record that is no alert; and reading them back.

Webhook URLs appear masked (``scheme://host:port/…``): their paths often carry tokens."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime

from agents.notify.channel import DeliveryOutcome, masked_url
from agents.notify.recipients import scrubbed
from agents.notify.registry import CHANNELS
from events import Alert, AlertDeliveryFailed, ContractError, decode, encode


def shown_target(channel: str, address: str) -> str:
    """``address`` as its channel lets records and logs show it (unknown channel: masked)."""
    for kind in CHANNELS:
        if kind.name == channel:
            return kind.shown(address)
    return masked_url(address)


def failure_record(alert: Alert, outcome: DeliveryOutcome, failed_at: datetime) -> bytes:
    """The ``dossier-alerts-failed`` value for a delivery that gave up or was refused."""
    t = outcome.target
    return encode(
        AlertDeliveryFailed(
            alert_id=alert.alert_id,
            channel=str(t.channel),
            target=shown_target(t.channel, t.address),
            recipient=t.recipient.name,
            attempts=outcome.attempts,
            error=outcome.error or "not delivered",
            failed_at=failed_at,
            alert=scrubbed(alert),
        )
    )


def unresolvable_record(alert: Alert, error: str, failed_at: datetime) -> bytes:
    """An alert the catalog cannot say who is for: nothing was sent anywhere."""
    return encode(
        AlertDeliveryFailed(
            alert_id=alert.alert_id,
            channel=None,
            target=None,
            recipient=None,
            attempts=0,
            error=error,
            failed_at=failed_at,
            alert=scrubbed(alert),
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
