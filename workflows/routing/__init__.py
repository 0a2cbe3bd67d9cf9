"""The routing state machine: ``apply(state, event, ctx, sender) -> (state, effects)``.

``core`` (``apply``, dedupe and bounds around one rule per event type), ``handlers`` (the
rules), ``sheet`` (rows, assignments, deadlines), ``dedupe``, ``sender`` (who sent it, the
seam for a rule), ``authorize`` (the province's rules: who may send what, and when)."""

from workflows.routing.authorize import CLOCK_TOLERANCE, province_rules
from workflows.routing.core import Result, RoutingContext, RoutingPolicy, apply
from workflows.routing.dedupe import event_fingerprint
from workflows.routing.sender import ANYONE, Authorize, Refusal, Sender, allow_all

__all__ = [
    "ANYONE",
    "CLOCK_TOLERANCE",
    "Authorize",
    "Refusal",
    "Result",
    "RoutingContext",
    "RoutingPolicy",
    "Sender",
    "allow_all",
    "apply",
    "event_fingerprint",
    "province_rules",
]
