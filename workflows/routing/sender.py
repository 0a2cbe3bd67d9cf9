"""Who sent an event, and the pure rule that may refuse it before any transition.

Unused for now (every sender is allowed); the publisher's identity will fill ``Sender``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from events import InboundEvent, ReasonKind
from workflows.state import DossierState


@dataclass(frozen=True)
class Sender:
    """The caller an event came from; ``principal`` None: not known (no identity yet)."""

    principal: str | None = None


ANYONE = Sender()


@dataclass(frozen=True)
class Refusal:
    """Why an event is refused for its sender; it is rejected with ``kind`` and ``reason``."""

    kind: ReasonKind
    reason: str


#: (state before, event, sender) -> a refusal, or None to go on with the transition
Authorize = Callable[[DossierState | None, InboundEvent, Sender], Refusal | None]


def allow_all(state: DossierState | None, event: InboundEvent, sender: Sender) -> Refusal | None:
    """The default rule: every sender may send every event."""
    return None
