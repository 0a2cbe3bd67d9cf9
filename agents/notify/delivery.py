"""``Notifier``: every delivery of an alert to the recipients the catalog gives it, over the
enabled channels, concurrently, each under the shared retry policy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from agents.notify.channel import Channel, ChannelName, DeliveryOutcome, Target
from agents.notify.recipients import Resolution, resolve
from agents.notify.registry import CHANNELS, enabled_channels
from agents.notify.retries import DeliveryError, RetryPolicy, with_retries
from agents.notify.webhook import WebhookChannel
from agents.settings import Settings
from events import Alert
from workflows.catalog import Catalog


class Notifier:
    """Delivers alerts. Create and close it on the loop that uses it (the agent does)."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.policy = RetryPolicy.from_settings(settings)
        self._sleep = sleep
        self._kinds = enabled_channels(settings)
        self.channels: dict[str, Channel] = {k.name: k(settings, clock) for k in self._kinds}

    @property
    def email_enabled(self) -> bool:
        return ChannelName.EMAIL in self.channels

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def resolve(self, alert: Alert) -> Resolution:
        """The catalog's deliveries of ``alert`` over the enabled channels, and the record's
        own addresses refused (on every registered channel: a forged e-mail address leaves a
        trace even where e-mail is off). Raises ``UnresolvableAlert``."""
        return resolve(alert, self.catalog, self._kinds, CHANNELS)

    def targets(self, alert: Alert) -> list[Target]:
        """The deliveries of ``alert`` the catalog gives, over the enabled channels."""
        return list(self.resolve(alert).targets)

    async def deliver(self, alert: Alert) -> list[DeliveryOutcome]:
        """Every delivery of ``alert``, concurrently; one outcome per target, refusals first.
        Raises ``UnresolvableAlert`` when the catalog does not know the alert's agency."""
        plan = self.resolve(alert)
        jobs = [self.deliver_one(plan.alert, t) for t in plan.targets]
        return [*plan.refused, *await asyncio.gather(*jobs)]

    async def deliver_one(self, alert: Alert, target: Target) -> DeliveryOutcome:
        try:
            attempt = self.channels[target.channel].prepare(alert, target)
        except DeliveryError as exc:  # nothing to send: no attempt made
            return DeliveryOutcome(target, False, 0, str(exc))
        return await with_retries(target, attempt, self.policy, self._sleep)

    # The webhook channel's own steps, for callers that give the body themselves.

    def _webhook(self) -> WebhookChannel:
        channel = self.channels[ChannelName.WEBHOOK]
        assert isinstance(channel, WebhookChannel)
        return channel

    def webhook_headers(self, alert: Alert, body: bytes, target: Target) -> dict[str, str]:
        return self._webhook().headers(alert, body, target)

    async def post_webhook(self, alert: Alert, target: Target, body: bytes) -> DeliveryOutcome:
        attempt = self._webhook().post(alert, target, body)
        return await with_retries(target, attempt, self.policy, self._sleep)
