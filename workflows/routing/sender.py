"""Who sent an event, and the pure rule that may refuse it before any transition.

The shell fills ``Sender`` from the record: the publisher whose signature verified, the
agencies it may speak for (the publisher registry) and the broker's timestamp."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from events import InboundEvent, ReasonKind
from workflows.state import DossierState


@dataclass(frozen=True)
class Sender:
    """Where an event came from, as far as the shell could establish it.

    ``principal``: the publisher id whose signature verified (None: not known, e.g. a
    deployment without signing, or a unit test). ``agencies``: the agencies it may speak
    for (None: any). ``broker_time``: the record's broker timestamp (LogAppendTime on the
    events topic: set by the broker, not the publisher), None when not known.
    """

    principal: str | None = None
    agencies: frozenset[str] | None = None
    broker_time: datetime | None = None


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
