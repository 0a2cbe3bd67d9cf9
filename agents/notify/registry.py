"""The registered channels, in delivery order: the one place a new channel is added."""

from __future__ import annotations

from agents.notify.channel import Channel
from agents.notify.email import EmailChannel
from agents.notify.retries import RetryPolicy
from agents.notify.webhook import WebhookChannel
from agents.settings import Settings

CHANNELS: tuple[type[Channel], ...] = (WebhookChannel, EmailChannel)


def enabled_channels(settings: Settings) -> list[type[Channel]]:
    return [c for c in CHANNELS if c.enabled(settings)]


def retry_budget_s(settings: Settings) -> float:
    """Longest one delivery can take: every attempt times out, every backoff is waited."""
    policy = RetryPolicy.from_settings(settings)
    attempt_s = max(c.timeout_s(settings) for c in CHANNELS)
    return policy.attempts * attempt_s + sum(policy.schedule())
