"""The ``Channel`` protocol: one way of reaching a supervisor, one alert to one address.

A channel builds what it sends once (``prepare``) and the notifier runs the attempt it
returns under the shared retry policy (``agents.notify.retries``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Protocol

from agents.settings import Settings
from events import Alert, Recipient

#: On every webhook request and e-mail: the id receivers dedupe on.
ALERT_ID_HEADER = "X-Dossierflow-Alert-Id"

#: One attempt at a delivery: returns when delivered, raises ``DeliveryError`` when not.
Attempt = Callable[[], Awaitable[None]]


class ChannelName(StrEnum):
    """The names of the channels shipped here (``Target.channel``, failure records, metrics)."""

    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True)
class Target:
    """One delivery: a channel (by name) and an address (URL or e-mail), for a recipient."""

    channel: str
    address: str
    recipient: Recipient


@dataclass(frozen=True)
class DeliveryOutcome:
    """How one delivery ended: delivered or not, after how many attempts, and why not."""

    target: Target
    delivered: bool
    attempts: int
    error: str | None = None


class Channel(Protocol):
    """A delivery channel. Register the class in ``agents.notify.registry.CHANNELS`` and
    subclass ``ChannelContract`` (tests/unit/notify) to test it against a real receiver."""

    #: its name on targets, failure records and the ``channel`` metric label
    name: ClassVar[str]

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None: ...

    @staticmethod
    def enabled(settings: Settings) -> bool:
        """Whether ``settings`` configure this channel (deliveries over it are made)."""
        ...

    @staticmethod
    def address(recipient: Recipient) -> str | None:
        """The recipient's address on this channel, if it has one."""
        ...

    @staticmethod
    def same_address(address: str) -> str:
        """The form two addresses share when they reach the same place (one delivery)."""
        ...

    @staticmethod
    def timeout_s(settings: Settings) -> float:
        """The longest one attempt can take."""
        ...

    def prepare(self, alert: Alert, target: Target) -> Attempt:
        """What one attempt does, built once. Raises ``DeliveryError`` when nothing can be
        sent (no attempt is made)."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the loop that used the channel calls it."""
        ...


def one_line(text: str) -> str:
    """Header safety: a catalog name folded over lines must not become a new header."""
    return re.sub(r"\s+", " ", text).strip()
