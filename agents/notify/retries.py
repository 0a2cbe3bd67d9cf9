"""The retry policy every channel shares: backoff schedule, and running attempts under it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.notify.channel import Attempt, DeliveryOutcome, Target
from agents.settings import Settings

log = logging.getLogger(__name__)

#: No wait between two attempts is longer than this, whatever the attempt number.
BACKOFF_CAP_S = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first; before retry n (0-based), wait
    ``backoff_s * 2**n``, at most ``cap_s`` (or the receiver's Retry-After, same cap)."""

    retries: int
    backoff_s: float
    cap_s: float = BACKOFF_CAP_S

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.webhook_retries, settings.webhook_backoff_seconds)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        wait = self.backoff_s * 2.0**retry
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.cap_s)

    def schedule(self) -> list[float]:
        """Every wait, in order, when all attempts fail."""
        return [self.delay(n) for n in range(self.retries)]


class DeliveryError(Exception):
    """One attempt failed. ``retryable`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


async def with_retries(
    target: Target,
    attempt: Attempt,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DeliveryOutcome:
    """Run ``attempt`` until it succeeds, fails for good, or the policy is spent. Never raises
    (except cancellation): a bug in an attempt is a non-retryable failure, not a lost alert."""
    error: DeliveryError | None = None
    for n in range(policy.attempts):
        if error is not None:
            await sleep(policy.delay(n - 1, error.retry_after))
        try:
            await attempt()
        except DeliveryError as exc:
            error = exc
        except Exception as exc:
            log.exception(
                "delivery attempt crashed: %s to %s", target.channel, target.recipient.name
            )
            error = DeliveryError(f"internal error: {type(exc).__name__}: {exc}", retryable=False)
        else:
            return DeliveryOutcome(target, True, n + 1)
        if not error.retryable:
            return DeliveryOutcome(target, False, n + 1, str(error))
    assert error is not None
    return DeliveryOutcome(target, False, policy.attempts, str(error))
