"""An alert as the record a tick or a prediction raises: its id, what it names, and who is
told (names and roles from the catalog, never addresses)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from events import Alert, AlertLevel, AlertScope, Recipient, alert_id
from workflows.catalog import Catalog
from workflows.state import DossierState

if TYPE_CHECKING:
    from workflows.alerts import WatchPoint
    from workflows.prediction.estimator import Prediction


#: (catalog, level, scope, agency) -> the recipients an alert names; the catalog is part of
#: the key by identity (a reloaded catalog is another key). Cleared when full.
_RECIPIENTS: dict[tuple[object, ...], tuple[Recipient, ...]] = {}


def point_alert(
    state: DossierState,
    p: WatchPoint,
    detected_at: datetime,
    procedure_name: str | None,
    recipients: tuple[Recipient, ...],
    prediction: Prediction | None = None,
) -> Alert:
    """The alert ``p`` raises for ``state``, its id derived from what it is about (the same
    on every worker); a ``predicted_late`` one also names the bottleneck (``prediction``)."""
    return Alert(
        alert_id=alert_id(
            state.dossier_id, p.scope, p.step, p.level, p.deadline_version, p.reminder
        ),
        dossier_id=state.dossier_id,
        procedure=state.procedure,
        procedure_name=procedure_name,
        scope=p.scope,
        level=p.level,
        agency=p.agency,
        step=p.step if prediction is None else prediction.bottleneck_step,
        due_at=p.due_at,
        detected_at=detected_at,
        deadline_version=p.deadline_version,
        reminder=p.reminder,
        recipients=recipients,
        probability_late=None if prediction is None else prediction.probability,
        predicted_finish_at=None if prediction is None else prediction.finish_at,
        bottleneck_agency=None if prediction is None else prediction.bottleneck_agency,
    )


def alert_recipients(
    catalog: Catalog, level: AlertLevel, scope: AlertScope, agency: str
) -> tuple[Recipient, ...]:
    """Names and roles only: addresses are the notifier's to look up in the catalog when it
    delivers, so a record on the alerts topic can never choose where mail goes."""
    key = (catalog, level, scope, agency)
    found = _RECIPIENTS.get(key)
    if found is None:
        found = (
            tuple(
                Recipient(name=s.name, role=s.role)
                for s in catalog.recipients(level.value, scope.value, agency)
            )
            if agency in catalog.agencies
            else ()
        )
        if len(_RECIPIENTS) >= 4096:
            _RECIPIENTS.clear()
        _RECIPIENTS[key] = found
    return found
