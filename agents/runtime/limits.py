"""The bounds of ``Settings`` as the objects the router and ``apply`` take.

``agents.runtime.app`` builds the router with ``parking_policy(settings)`` and
``max_event_bytes=settings.max_event_bytes``; ``agents.runtime.context`` gives the routing
context ``state_limits(settings)``. docs/routing.md ("Bounds") says what each does.
"""

from __future__ import annotations

from datetime import timedelta

from agents.runtime.parking import ParkingPolicy
from agents.settings import Settings
from workflows.limits import StateLimits


def parking_policy(settings: Settings) -> ParkingPolicy:
    return ParkingPolicy(
        per_dossier=settings.parked_per_dossier,
        per_dossier_bytes=settings.parked_per_dossier_bytes,
        total=settings.parked_dossiers,
        total_bytes=settings.parked_total_bytes,
        wait=timedelta(hours=settings.parked_wait_hours),
    )


def state_limits(settings: Settings) -> StateLimits:
    return StateLimits(
        sheet_rows=settings.max_sheet_rows,
        step_visits=settings.max_step_visits,
        pauses=settings.max_pauses,
        state_bytes=settings.max_state_bytes,
    )
