"""Outbound records for the tests: one alert and one assignment builder with the usual values."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import events as ev
from events.outbound import alert_id

#: The building permit every alert test uses unless it says otherwise.
PERMIT = "1.013225"
PERMIT_NAME = "Cấp giấy phép xây dựng"


def make_alert(
    *,
    due: datetime,
    detected: datetime,
    dossier: str = "D-1",
    scope: ev.AlertScope = ev.AlertScope.STEP,
    step: str | None = "tham-dinh",
    level: ev.AlertLevel = ev.AlertLevel.OVERDUE,
    deadline_version: int = 0,
    procedure: str = PERMIT,
    name: str | None = PERMIT_NAME,
    agency: str = "SXD",
    recipients: tuple[ev.Recipient, ...] = (),
) -> ev.Alert:
    """An alert whose id is derived the way every worker derives it."""
    return ev.Alert(
        alert_id=alert_id(dossier, scope, step, level, deadline_version),
        dossier_id=dossier,
        procedure=procedure,
        procedure_name=name,
        scope=scope,
        level=level,
        agency=agency,
        step=step,
        due_at=due,
        detected_at=detected,
        deadline_version=deadline_version,
        recipients=recipients,
    )


def make_assignment(
    *,
    dossier: str,
    step_due_at: datetime,
    dossier_due_in: timedelta = timedelta(0),
    cause: str,
    **fields: Any,
) -> ev.Assignment:
    """An assignment (``fields``: its other fields); the dossier is due ``dossier_due_in``
    after the step."""
    return ev.Assignment(
        dossier_id=dossier,
        step_due_at=step_due_at,
        dossier_due_at=step_due_at + dossier_due_in,
        cause_event_id=cause,
        **fields,
    )
