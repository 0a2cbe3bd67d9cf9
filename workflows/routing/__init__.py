"""The routing state machine: ``apply(state, event, ctx, sender) -> (state, effects)``.

``core`` (``apply``, dedupe and bounds around one rule per event type), ``handlers`` (the
rules), ``sheet`` (rows, assignments, deadlines), ``dedupe``, ``sender`` (who may send)."""

from workflows.routing.core import Result, RoutingContext, RoutingPolicy, apply
from workflows.routing.dedupe import event_fingerprint
from workflows.routing.sender import ANYONE, Authorize, Refusal, Sender, allow_all

__all__ = [
    "ANYONE",
    "Authorize",
    "Refusal",
    "Result",
    "RoutingContext",
    "RoutingPolicy",
    "Sender",
    "allow_all",
    "apply",
    "event_fingerprint",
]
