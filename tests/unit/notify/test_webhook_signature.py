"""Webhook signatures end to end: the notifier signs a real POST, and a receiver written from
the documented procedure (``agents.notify.verify``, docs/alerts.md) accepts or refuses it.

The receiver is an aiohttp server on 127.0.0.1 that keeps the raw body and the headers of
each request; the checks then run on exactly what crossed the socket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web

from agents.notify import (
    ALERT_ID_HEADER,
    DEFAULT_SECRET,
    SIGNATURE_HEADER,
    Notifier,
    SignatureRejected,
    Target,
    sign,
    verify,
)
from agents.notify import ChannelName as Channel
from agents.settings import Settings
from events import Alert, Recipient, encode

from support.outbound import make_alert
from support.webhooks import catalog_of, inline_secrets, local_server, supervisor

VN = timezone(timedelta(hours=7))
OLD = {"2026-11": "old-secret-of-so-tnmt-0001"}
NEW = {"2026-12": "new-secret-of-so-tnmt-0002"}


def an_alert() -> Alert:
    due = datetime(2026, 5, 4, 17, 30, tzinfo=VN)
    return make_alert(due=due, detected=due + timedelta(hours=2))


# --- the format, pinned -----------------------------------------------------------------


def test_the_header_format_and_what_each_signature_covers() -> None:
    # An independent HMAC over "<t>.<kid>." + body: the documented content, not sign()'s.
    header = sign(b'{"alert_id":"x"}', [("2026-12", "whsec-test-vector-0001")], 1764547200)
    assert header == (
        "t=1764547200,v1=2026-12:00ca95bdf453b12a4a85e5ec0b37785dcee42cc334089d21ec0f4c52c916f8fd"
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b, h, t: (b, h, t + 301), "from now"),  # a replay 5 min 1 s later
        (lambda b, h, t: (b, h, t - 301), "from now"),  # a sender clock far ahead
        (lambda b, h, t: (b + b" ", h, t), "does not match"),  # body tampered
        (lambda b, h, t: (b, h.replace("v1=2026-12:", "v1=2026-13:"), t), "none of which"),  # unknown kid
        (lambda b, h, t: (b, h.replace(f"t={t}", f"t={t - 1}"), t), "does not match"),  # timestamp moved
        (lambda b, h, t: (b, None, t), "no X-Dossierflow-Signature"),
        (lambda b, h, t: (b, h.split(",", 1)[1], t), "no timestamp"),
    ],
)  # fmt: skip
def test_the_receiver_refuses(mutate: Any, reason: str) -> None:
    now = 1764547200
    body = encode(an_alert())
    good = sign(body, list(NEW.items()), now)
    verify(body, good, NEW, now=now + 299)  # still fresh
    b, h, t = mutate(body, good, now)
    with pytest.raises(SignatureRejected, match=reason):
        verify(b, h, NEW, now=t)


# --- a real request -----------------------------------------------------------------------


@asynccontextmanager
async def receiver() -> AsyncIterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    got: list[tuple[bytes, dict[str, str]]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    async with local_server(handle) as base:
        yield base, got


def post(secrets: Mapping[str, Mapping[str, str]], ref: str | None) -> tuple[bytes, dict[str, str]]:
    """One alert delivered to a supervisor whose catalog entry names ``ref``; what arrived."""
    settings = Settings.model_construct(
        webhook_secrets=inline_secrets(secrets), webhook_retries=0, webhook_timeout_seconds=2.0
    )

    async def go() -> tuple[bytes, dict[str, str]]:
        async with receiver() as (base, got):
            catalog = catalog_of({"SXD": [supervisor(webhook=f"{base}/hooks/sxd", secret=ref)]})
            async with Notifier(settings, catalog) as notifier:
                (outcome,) = await notifier.deliver(an_alert())
            assert outcome.delivered, outcome.error
            (request,) = got
            return request

    return asyncio.run(go())


def test_a_fresh_request_is_accepted_and_carries_the_alert_id() -> None:
    body, headers = post({"so-tnmt-hooks": NEW}, "so-tnmt-hooks")
    verify(body, headers[SIGNATURE_HEADER], NEW)
    assert headers[ALERT_ID_HEADER] == an_alert().alert_id
    t = int(headers[SIGNATURE_HEADER].split(",")[0].removeprefix("t="))
    assert abs(time.time() - t) < 60  # real time, whatever clock the alerts run on
    # Replayed six minutes later, the same bytes are refused.
    with pytest.raises(SignatureRejected, match="replay"):
        verify(body, headers[SIGNATURE_HEADER], NEW, now=time.time() + 360)


def test_a_receiver_holding_another_receivers_secret_refuses() -> None:
    body, headers = post({"so-tnmt-hooks": NEW, DEFAULT_SECRET: OLD}, "so-tnmt-hooks")
    with pytest.raises(SignatureRejected, match="none of which is held"):
        verify(body, headers[SIGNATURE_HEADER], OLD)


def test_a_supervisor_without_a_reference_is_signed_with_the_default_secret() -> None:
    body, headers = post({DEFAULT_SECRET: OLD, "so-tnmt-hooks": NEW}, None)
    verify(body, headers[SIGNATURE_HEADER], OLD)
    with pytest.raises(SignatureRejected):
        verify(body, headers[SIGNATURE_HEADER], NEW)


@pytest.mark.parametrize(
    "held",
    [
        OLD,  # a receiver not yet given the new secret
        NEW,  # a receiver that already dropped the old one
        {**OLD, **NEW},  # one holding both
    ],
)
def test_during_rotation_both_keys_sign_and_either_is_enough(held: Mapping[str, str]) -> None:
    body, headers = post({"so-tnmt-hooks": {**NEW, **OLD}}, "so-tnmt-hooks")
    assert headers[SIGNATURE_HEADER].count("v1=") == 2
    verify(body, headers[SIGNATURE_HEADER], held)


def test_each_attempt_is_signed_when_it_is_made() -> None:
    # A retry a minute later must not carry the first attempt's (older) timestamp.
    settings = Settings.model_construct(webhook_secrets=inline_secrets({DEFAULT_SECRET: NEW}))
    notifier = Notifier(settings, catalog_of({}))
    channel = notifier.channels[Channel.WEBHOOK]
    target = Target(Channel.WEBHOOK, "http://127.0.0.1:1/", Recipient(name="x", role="y"), None)
    clock = iter([1000.0, 1060.0])
    channel.wall = lambda: next(clock)  # type: ignore[attr-defined]
    first = notifier.webhook_headers(an_alert(), b"{}", target)[SIGNATURE_HEADER]
    second = notifier.webhook_headers(an_alert(), b"{}", target)[SIGNATURE_HEADER]
    assert first.startswith("t=1000,") and second.startswith("t=1060,")
