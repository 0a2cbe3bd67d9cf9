"""The webhook channel: the alert's JSON POSTed to the recipient's URL, signed with HMAC."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

import aiohttp

from agents.notify.channel import ALERT_ID_HEADER, Attempt, ChannelName, Target, one_line
from agents.notify.retries import DeliveryError
from agents.settings import Settings
from events import Alert, Recipient, encode

SIGNATURE_HEADER = "X-Dossierflow-Signature"
USER_AGENT = "dossierflow-notifier/1"
#: Characters of a receiver's error response kept in the failure record.
ERROR_SNIPPET = 300


def sign(body: bytes, secret: str) -> str:
    """The ``X-Dossierflow-Signature`` value: ``sha256=<hex HMAC-SHA256 of body>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver checks (constant-time): ``header`` is ``sign(body, secret)``."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


def is_retryable_status(status: int) -> bool:
    """HTTP statuses worth another attempt: 5xx and 429. Other 4xx mean the request
    itself is wrong (bad URL, signature refused) and will be refused again; 3xx is
    not followed (a POST must not silently become a GET) and is refused too."""
    return status == 429 or 500 <= status <= 599


def _retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form; an HTTP-date is rare from webhooks and the backoff suffices.
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


class WebhookChannel:
    """POSTs over one aiohttp session, created on first use on the loop that delivers."""

    name: ClassVar[str] = ChannelName.WEBHOOK

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.secret = settings.webhook_secret.get_secret_value()
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def enabled(settings: Settings) -> bool:
        return True

    @staticmethod
    def address(recipient: Recipient) -> str | None:
        return recipient.webhook

    @staticmethod
    def same_address(address: str) -> str:
        return address

    @staticmethod
    def timeout_s(settings: Settings) -> float:
        return settings.webhook_timeout_seconds

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", ALERT_ID_HEADER: alert.alert_id}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        return headers

    def prepare(self, alert: Alert, target: Target) -> Attempt:
        return self.post(alert, target, encode(alert))

    def post(self, alert: Alert, target: Target, body: bytes) -> Attempt:
        """One attempt at POSTing ``body`` (the encoded alert) to ``target``."""
        headers = self.headers(alert, body)

        async def attempt() -> None:
            try:
                async with self._client().post(
                    target.address, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    if 200 <= resp.status < 300:
                        return
                    snippet = (await resp.content.read(ERROR_SNIPPET)).decode("utf-8", "replace")
                    raise DeliveryError(
                        f"HTTP {resp.status} {resp.reason or ''}".rstrip()
                        + (f": {one_line(snippet)}" if snippet.strip() else ""),
                        retryable=is_retryable_status(resp.status),
                        retry_after=_retry_after(resp.headers.get("Retry-After")),
                    )
            except aiohttp.InvalidURL as exc:
                raise DeliveryError(f"invalid URL: {exc}", retryable=False) from None
            except TimeoutError:
                raise DeliveryError(f"timed out after {self.timeout:g} s", retryable=True) from None
            except aiohttp.ClientError as exc:
                raise DeliveryError(
                    f"connection error: {type(exc).__name__}: {exc}", retryable=True
                ) from None

        return attempt

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session
