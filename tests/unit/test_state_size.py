"""How big a dossier's serialized state is (DESIGN.md: memory <= 2 KB per open dossier).

The figures printed here are the ones recorded in docs/routing.md; run with
``pytest -s tests/unit/test_state_size.py`` to see them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import events as ev
from workflows.calendar import VN_TZ
from workflows.routing import RoutingPolicy, apply
from workflows.state import DossierState

from support.context import routing_context

CTX = routing_context(range(2026, 2027))
#: The national portal's dossier code format: receiving unit, date, sequence.
DOSSIER_ID = "000.00.12.H34-260302-000123"
BUDGET = 2048


class Sizes:
    def __init__(self) -> None:
        self.state: DossierState | None = None
        self.sizes: list[int] = []
        # Agencies stamp events with microseconds; those cost the most bytes, so keep them.
        self.at = datetime(2026, 3, 2, 8, 3, 17, 482913, tzinfo=VN_TZ)

    def send(self, cls: type[Any], agency: str, hours: float = 1.0, **fields: Any) -> None:
        self.at += timedelta(hours=hours, microseconds=137)
        event: ev.InboundEvent = cls(
            event_id=str(uuid.uuid4()),
            dossier_id=DOSSIER_ID,
            occurred_at=self.at,
            agency=agency,
            actor="canbo.nguyenvana",
            **fields,
        )
        self.state, effects = apply(self.state, event, CTX)
        assert self.state is not None
        assert not [e for e in effects if type(e).__name__ == "Rejected"], effects
        raw = self.state.to_bytes()
        assert DossierState.from_bytes(raw) == self.state
        self.sizes.append(len(raw))


def typical_five_step_dossier() -> Sizes:
    """SAMPLE-BTXH-01: receive (desk) -> review -> assess -> decide (health dept) -> return.

    Every hand-over is also confirmed by the receiving agency, and one supplement is
    requested: 14 events, more than most dossiers see.
    """
    s = Sizes()
    s.send(ev.DossierReceived, "MOTCUA", procedure="SAMPLE-BTXH-01", channel="online")
    route = [("receive", "MOTCUA", "SYT"), ("review", "SYT", "SYT"), ("assess", "SYT", "SYT")]
    route += [("decide", "SYT", "MOTCUA")]
    next_step = {"receive": "review", "review": "assess", "assess": "decide", "decide": "return"}
    for step, agency, to in route:
        s.send(ev.StepCompleted, agency, hours=20, step=step)
        s.send(ev.DossierHandedOff, to, step=next_step[step], to_agency=to, from_agency=agency)
        if step == "review":
            s.send(ev.SupplementRequested, "SYT", reason="Bổ sung giấy xác nhận của UBND xã")
            s.send(ev.SupplementReceived, "MOTCUA", hours=30)
    s.send(ev.StepCompleted, "MOTCUA", hours=3, step="return")
    s.send(ev.ResultReady, "MOTCUA", outcome="approved")
    s.send(ev.DossierReturned, "MOTCUA")
    return s


def test_typical_five_step_dossier_fits_the_budget() -> None:
    s = typical_five_step_dossier()
    assert s.state is not None and s.state.status.closed
    assert len(s.state.sheet) == 5 and len(s.state.pauses) == 1
    largest = max(s.sizes)
    print(
        f"\nstate size, typical 5-step dossier ({len(s.sizes)} events): "
        f"received {s.sizes[0]} B, largest {largest} B, closed {s.sizes[-1]} B"
    )
    assert largest < BUDGET


def test_dossier_at_the_dedupe_limit() -> None:
    # The worst the dedupe memory can do: 48 remembered fingerprints of 14 bytes each.
    s = typical_five_step_dossier()
    state = s.state
    assert state is not None
    limit = RoutingPolicy().remembered_events
    full = state.model_copy(update={"applied": state.applied * (limit // len(state.applied) + 1)})
    full = full.model_copy(update={"applied": full.applied[:limit]})
    size = len(full.to_bytes())
    print(f"\nstate size at the dedupe limit ({limit} event ids): {size} B")
    assert size < BUDGET
