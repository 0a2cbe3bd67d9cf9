"""The sender seam of ``workflows.routing.apply``: a pure rule may refuse an event for
who sent it, before any transition; by default everyone is allowed."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from events import DossierReceived, InboundEvent, ReasonKind
from workflows.calendar import WorkingCalendar
from workflows.catalog import load_catalog
from workflows.effects import Rejected
from workflows.routing import Refusal, RoutingContext, Sender, apply, event_fingerprint
from workflows.state import DossierState

CATALOG = load_catalog()
CAL = WorkingCalendar(years=range(2025, 2028))
RECEIVED = DossierReceived(
    event_id="HS-1/1",
    dossier_id="HS-1",
    occurred_at=datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")),
    agency="BAOTHANG.TTPVHCC",
    procedure="1.000656",
    channel="online",
)


def only_the_desk(
    state: DossierState | None, event: InboundEvent, sender: Sender
) -> Refusal | None:
    if sender.principal == event.agency:
        return None
    return Refusal(
        ReasonKind.ILLEGAL_TRANSITION, f"{sender.principal} may not publish for {event.agency}"
    )


def test_default_rule_allows_every_sender() -> None:
    state, effects = apply(None, RECEIVED, RoutingContext(CATALOG, CAL), Sender("someone-else"))
    assert state is not None and state.dossier_id == "HS-1"
    assert not any(isinstance(e, Rejected) for e in effects)


def test_a_custom_rule_refuses_before_the_transition() -> None:
    ctx = RoutingContext(CATALOG, CAL, authorize=only_the_desk)
    state, effects = apply(None, RECEIVED, ctx, Sender("UBND-X"))
    assert state is None  # nothing was created
    assert len(effects) == 1 and isinstance(effects[0], Rejected)
    assert effects[0].kind is ReasonKind.ILLEGAL_TRANSITION
    assert "UBND-X may not publish for BAOTHANG.TTPVHCC" in effects[0].message


def test_a_refusal_on_a_known_dossier_keeps_its_state_and_remembers_the_id() -> None:
    ctx = RoutingContext(CATALOG, CAL, authorize=only_the_desk)
    state, _ = apply(None, RECEIVED, ctx, Sender("BAOTHANG.TTPVHCC"))
    assert state is not None
    again = RECEIVED.model_copy(update={"event_id": "HS-1/2"})
    after, effects = apply(state, again, ctx, Sender("intruder"))
    assert isinstance(effects[0], Rejected)
    assert after is not None and after.status is state.status and after.sheet == state.sheet
    assert event_fingerprint("HS-1/2") in after.applied
