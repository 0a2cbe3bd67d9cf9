"""The ``Channel`` protocol: one way of reaching a supervisor, one alert to one address.

A channel builds what it sends once (``prepare``) and the notifier runs the attempt it
returns under the shared retry policy (``agents.notify.retries``). Addresses come from
the catalog (``agents.notify.recipients``); a header built from data is checked here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Protocol
from urllib.parse import urlsplit

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


class Contact(Protocol):
    """Where someone can be reached: a catalog ``Supervisor`` (what is delivered to) or a
    record's ``Recipient`` (whose addresses are only ever refused)."""

    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def webhook(self) -> str | None: ...


@dataclass(frozen=True)
class Target:
    """One delivery: a channel (by name) and an address (URL or e-mail), for a recipient.

    ``secret_ref`` names the webhook secret to sign with (the catalog's, or ``default``).
    """

    channel: str
    address: str
    recipient: Recipient
    secret_ref: str | None = None


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
    def address(contact: Contact) -> str | None:
        """The contact's address on this channel, if it has one."""
        ...

    @staticmethod
    def same_address(address: str) -> str:
        """The form two addresses share when they reach the same place (one delivery)."""
        ...

    @staticmethod
    def shown(address: str) -> str:
        """The address as logs and failure records may show it (no tokens)."""
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


#: C0 controls (CR, LF, TAB, NUL, ESC, ...), DEL, C1 controls and the Unicode line and
#: paragraph separators: none belongs in a header value, and CR/LF would start a new one.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class HeaderValueError(ValueError):
    """A header value built from an alert's data holds a control character."""


def checked_header(name: str, value: str) -> str:
    """``value`` unchanged when it has no control character; raises ``HeaderValueError``
    naming the header, the character and its position otherwise (never cleaned up
    silently: a dossier id with a CR/LF in it is an attack or a bug, and says so)."""
    found = _CONTROL.search(value)
    if found is not None:
        raise HeaderValueError(
            f"header {name} would hold the control character U+{ord(found.group()):04X} at "
            f"position {found.start()} (from the alert's data): refused, not sent"
        )
    return value


def masked_url(url: str) -> str:
    """``scheme://host:port/…``: a webhook URL as logs and records may show it (its path
    and query often carry a token)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not parts.hostname:
        return "<invalid URL>"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/…"
