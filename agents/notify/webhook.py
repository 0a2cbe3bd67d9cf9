"""The webhook channel: the alert's JSON POSTed to a catalog URL on the allowed hosts,
signed with a timestamp and the receiver's key id (``agents.notify.signature``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar
from urllib.parse import urlsplit

import aiohttp

from agents.notify.channel import (
    ALERT_ID_HEADER,
    Attempt,
    ChannelName,
    Contact,
    Target,
    checked_header,
    masked_url,
    one_line,
)
from agents.notify.retries import DeliveryError
from agents.notify.secrets import WebhookKeys, load_webhook_keys
from agents.notify.signature import SIGNATURE_HEADER, SignatureRejected, sign, verify
from agents.settings import Settings
from events import Alert, encode

__all__ = [
    "SIGNATURE_HEADER",
    "SignatureRejected",
    "WebhookChannel",
    "destination_refused",
    "is_retryable_status",
    "verify",
]

log = logging.getLogger(__name__)

USER_AGENT = "dossierflow-notifier/1"
#: Characters of a receiver's error response kept in the failure record.
ERROR_SNIPPET = 300
_DEFAULT_PORTS = {"http": 80, "https": 443}


def destination_refused(url: str, allowed_hosts: str) -> str | None:
    """Why ``url`` may not be POSTed to under ``DOSSIERFLOW_WEBHOOK_ALLOWED_HOSTS``
    (``host[:port],...``; no port: the scheme's default port only), or None when it may.
    An empty list allows any host: the URL is one the catalog names already."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"refused: invalid URL {masked_url(url)}"
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is None or not parts.hostname:
        return f"refused: {masked_url(url)} is not an http(s) URL with a host"
    allowed = [_host_port(e) for e in allowed_hosts.split(",") if e.strip()]
    if not allowed:
        return None
    host, port = parts.hostname.lower(), port or default
    if any(h == host and (p == port or (p is None and port == default)) for h, p in allowed):
        return None
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"refused: {shown} is not in DOSSIERFLOW_WEBHOOK_ALLOWED_HOSTS"


def _host_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> (lower-case host, port)."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return entry, None


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
    """POSTs over one aiohttp session, created on first use on the loop that delivers.

    Each attempt is signed when it is made (``wall``: real Unix time, whatever clock the
    alerts run on), so a retry a minute later carries a fresh timestamp.
    """

    name: ClassVar[str] = ChannelName.WEBHOOK

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.keys: WebhookKeys = load_webhook_keys(settings)
        self.allow_unsigned = settings.allow_unsigned_webhooks
        self.allowed_hosts = settings.webhook_allowed_hosts
        self.wall: Callable[[], float] = time.time
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def enabled(settings: Settings) -> bool:
        return True

    @staticmethod
    def address(contact: Contact) -> str | None:
        return contact.webhook

    @staticmethod
    def same_address(address: str) -> str:
        return address

    @staticmethod
    def shown(address: str) -> str:
        return masked_url(address)

    @staticmethod
    def timeout_s(settings: Settings) -> float:
        return settings.webhook_timeout_seconds

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, alert: Alert, body: bytes, target: Target) -> dict[str, str]:
        """The request's headers, signed now with the keys of ``target.secret_ref``."""
        headers = {
            "Content-Type": "application/json",
            ALERT_ID_HEADER: checked_header(ALERT_ID_HEADER, alert.alert_id),
        }
        keys = self.keys.get(target.secret_ref)
        if keys:
            pairs = [(k.kid, k.secret) for k in keys]
            headers[SIGNATURE_HEADER] = sign(body, pairs, int(self.wall()))
        elif not self.allow_unsigned:
            # The start-up check makes this unreachable unless the catalog changed since.
            raise DeliveryError(
                f"no webhook secret {target.secret_ref!r} to sign with: not sent unsigned "
                "(DOSSIERFLOW_ALLOW_UNSIGNED_WEBHOOKS is off)",
                retryable=False,
            )
        return headers

    def prepare(self, alert: Alert, target: Target) -> Attempt:
        refused = destination_refused(target.address, self.allowed_hosts)
        if refused is not None:
            raise DeliveryError(refused, retryable=False)
        body = encode(alert)
        try:
            self.headers(alert, body, target)  # a bad header fails now, not once per attempt
        except ValueError as exc:
            raise DeliveryError(str(exc), retryable=False) from None
        return self.post(alert, target, body)

    def post(self, alert: Alert, target: Target, body: bytes) -> Attempt:
        """One attempt at POSTing ``body`` (the encoded alert) to ``target``, signed when made."""
        shown = masked_url(target.address)

        async def attempt() -> None:
            headers = self.headers(alert, body, target)
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
            except aiohttp.InvalidURL:
                raise DeliveryError(f"invalid URL {shown}", retryable=False) from None
            except TimeoutError:
                raise DeliveryError(f"timed out after {self.timeout:g} s", retryable=True) from None
            except aiohttp.ClientError as exc:
                # Some aiohttp errors quote the whole URL, token and all.
                text = str(exc).replace(target.address, shown)
                raise DeliveryError(
                    f"connection error: {type(exc).__name__}: {text}", retryable=True
                ) from None

        return attempt

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session
