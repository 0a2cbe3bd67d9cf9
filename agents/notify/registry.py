"""The registered channels, in delivery order: the one place a new channel is added."""

from __future__ import annotations

from collections.abc import Iterable

from agents.notify.channel import Channel, ChannelName, Target
from agents.notify.email import EmailChannel
from agents.notify.retries import RetryPolicy
from agents.notify.webhook import WebhookChannel
from agents.settings import Settings
from events import Alert

CHANNELS: tuple[type[Channel], ...] = (WebhookChannel, EmailChannel)


def plan(alert: Alert, channels: Iterable[type[Channel]]) -> list[Target]:
    """Each recipient's address on each of ``channels``; one delivery per distinct address."""
    kinds = tuple(channels)
    found: dict[tuple[str, str], Target] = {}
    for r in alert.recipients:
        for kind in kinds:
            address = kind.address(r)
            if address:
                key = (kind.name, kind.same_address(address))
                found.setdefault(key, Target(kind.name, address, r))
    return list(found.values())


def targets(alert: Alert, *, email_enabled: bool) -> list[Target]:
    """``plan`` over the registered channels, e-mail only when enabled (an SMTP host set)."""
    return plan(alert, (c for c in CHANNELS if email_enabled or c.name != ChannelName.EMAIL))


def enabled_channels(settings: Settings) -> list[type[Channel]]:
    return [c for c in CHANNELS if c.enabled(settings)]


def retry_budget_s(settings: Settings) -> float:
    """Longest one delivery can take: every attempt times out, every backoff is waited."""
    policy = RetryPolicy.from_settings(settings)
    attempt_s = max(c.timeout_s(settings) for c in CHANNELS)
    return policy.attempts * attempt_s + sum(policy.schedule())
