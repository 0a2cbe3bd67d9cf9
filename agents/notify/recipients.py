"""Who an alert goes to: resolved from the catalog at delivery time, never from the record.

An alert on ``dossier-alerts`` names an agency, a scope and a level; the catalog says who
hears about that (``Catalog.recipients``) and where they are reached. Addresses inside
the record (``Recipient.email``/``webhook``, written by engines before this rule) are
never used: one that is not among the catalog's targets is refused, with a failure
record, so a forged alert leaves a trace on ``dossier-alerts-failed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agents.notify.channel import Channel, DeliveryOutcome, Target, masked_url
from agents.notify.secrets import DEFAULT_SECRET
from events import Alert, Recipient
from workflows.catalog import Catalog
from workflows.prediction import ESCALATES_AS


class UnresolvableAlert(Exception):
    """The catalog cannot say who an alert is for (an agency it does not know)."""


@dataclass(frozen=True)
class Resolution:
    """The deliveries the catalog gives an alert, and the record's addresses refused."""

    alert: Alert  # what is sent: the alert with the catalog's recipients (names, roles)
    targets: tuple[Target, ...]
    refused: tuple[DeliveryOutcome, ...]


def resolve(
    alert: Alert,
    catalog: Catalog,
    deliver_over: Iterable[type[Channel]],
    scan_over: Iterable[type[Channel]],
) -> Resolution:
    """The catalog's targets for ``alert`` on the ``deliver_over`` channels (one per
    distinct address), and a refusal for every address the record carries on the
    ``scan_over`` channels that is not one of the catalog's for this alert."""
    if alert.agency not in catalog.agencies:
        raise UnresolvableAlert(
            f"agency {alert.agency!r} is not in the catalog: nothing delivered (a forged "
            "alert, or one raised under another catalog)"
        )
    level = ESCALATES_AS.get(alert.level, alert.level)  # predicted_late: told as due_soon
    supervisors = catalog.recipients(level.value, alert.scope.value, alert.agency)
    named = tuple(Recipient(name=s.name, role=s.role) for s in supervisors)
    found: dict[tuple[str, str], Target] = {}
    for kind in deliver_over:
        for s, recipient in zip(supervisors, named, strict=True):
            address = kind.address(s)
            if address:
                ref = s.webhook_secret or DEFAULT_SECRET  # used by the webhook channel only
                found.setdefault(
                    (kind.name, kind.same_address(address)),
                    Target(kind.name, address, recipient, ref),
                )
    # Every address of the catalog's own supervisors for this alert, on every channel:
    # a record from before this rule that repeats them is not an attack.
    legit = {
        (kind.name, kind.same_address(address))
        for kind in scan_over
        for s in supervisors
        if (address := kind.address(s))
    }
    refused: dict[tuple[str, str], DeliveryOutcome] = {}
    for r in alert.recipients:
        for kind in scan_over:
            address = kind.address(r)
            key = (kind.name, kind.same_address(address)) if address else None
            if address and key is not None and key not in legit and key not in refused:
                target = Target(kind.name, address, Recipient(name=r.name, role=r.role))
                error = (
                    f"refused: {kind.shown(address)} is not from the catalog (addresses in "
                    "an alert record are never used; the catalog names "
                    f"{', '.join(s.name for s in supervisors) or 'nobody'} for this alert)"
                )
                refused[key] = DeliveryOutcome(target, False, 0, error)
    sent = alert.model_copy(update={"recipients": named})
    return Resolution(sent, tuple(found.values()), tuple(refused.values()))


def scrubbed(alert: Alert) -> Alert:
    """``alert`` as a failure record may keep it: the record's webhook URLs masked (their
    tokens must not spread to another topic), the rest as it came (the trace)."""
    if not any(r.webhook for r in alert.recipients):
        return alert
    recipients = tuple(
        r.model_copy(update={"webhook": masked_url(r.webhook)}) if r.webhook else r
        for r in alert.recipients
    )
    return alert.model_copy(update={"recipients": recipients})
