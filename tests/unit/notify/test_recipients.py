"""Alerts go only where the catalog says: a forged alert's own addresses are never reached,
each refusal leaves a failure record, and webhooks go only to allowed hosts.

Real receivers on 127.0.0.1: an aiohttp server counting the hits on every path (the
"attacker" paths included) and an aiosmtpd mailbox recording every envelope.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web

import events as ev
from agents.notify import (
    Notifier,
    UnresolvableAlert,
    deliver_batch,
    destination_refused,
    iter_failure_records,
    masked_url,
)
from agents.settings import Settings
from events import encode
from workflows.catalog import Catalog

from support.mail import Mailbox, smtp_server
from support.notify import settings as quick_settings
from support.outbound import make_alert
from support.webhooks import catalog_of, local_server, supervisor

VN = timezone(timedelta(hours=7))
NOW = datetime(2026, 5, 6, 13, 46, tzinfo=UTC)
LEGIT_MAIL = "giamdoc.sxd@laocai.example"
TOKEN = "tok-3f9a"  # in the catalog's URL path: must never reach a log or a record


def settings(**overrides: Any) -> Settings:
    return quick_settings(**{"webhook_retries": 0, **overrides})  # one attempt: hits count


def forged(**fields: Any) -> ev.Alert:
    due = datetime(2026, 5, 4, 17, 30, tzinfo=VN)
    return make_alert(due=due, detected=due + timedelta(days=2), **fields)


@asynccontextmanager
async def hits() -> AsyncIterator[tuple[str, Counter[str]]]:
    """A server on 127.0.0.1 answering 204 on every path, counting the hits per path."""
    counted: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        counted[request.path] += 1
        return web.Response(status=204)

    async with local_server(handle) as base:
        yield base, counted


def run_batch(conf: Settings, catalog_for: Any, alert_for: Any) -> tuple[Any, Counter[str], str]:
    """Deliver one alert (``alert_for(base)``) under ``catalog_for(base)``; what happened."""

    async def go() -> tuple[Any, Counter[str], str]:
        async with hits() as (base, counted):
            alert = alert_for(base)
            async with Notifier(conf, catalog_for(base)) as notifier:
                records = [(alert.dossier_id.encode(), encode(alert))]
                result = await deliver_batch(notifier, records, lambda k: False, lambda: NOW)
            return result, counted, base

    return asyncio.run(go())


def sxd_catalog(base: str) -> Catalog:
    return catalog_of({"SXD": [supervisor(email=LEGIT_MAIL, webhook=f"{base}/hooks/sxd/{TOKEN}")]})


def test_a_forged_alert_reaches_only_the_catalog_and_its_own_addresses_leave_a_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        conf = settings(smtp_host="127.0.0.1", smtp_port=port)

        def alert_for(base: str) -> ev.Alert:
            attacker = ev.Recipient(
                name="Hoàng Văn Nam",
                role="department_head",
                email="citizen@evil.example",
                webhook=f"{base}/internal/admin?key=s3cr3t",
            )
            return forged(recipients=(attacker,))

        with caplog.at_level(logging.INFO):
            result, counted, base = run_batch(conf, sxd_catalog, alert_for)

    assert counted == Counter({f"/hooks/sxd/{TOKEN}": 1})  # nothing at /internal/admin
    assert [rcpts for _, rcpts in mailbox.envelopes] == [[LEGIT_MAIL]]
    failures = iter_failure_records(v for _, v in result.failed)
    refused = {(f.channel, f.target): f for f in failures}
    assert set(refused) == {
        ("webhook", base + "/…"),  # masked: host and port kept as the trace, path dropped
        ("email", "citizen@evil.example"),
    }
    for f in failures:
        assert f.attempts == 0 and "not from the catalog" in f.error, f.error
        assert f.alert is not None and f.alert.alert_id == forged().alert_id
        # the record keeps the forged alert, its URL masked too
        assert f.alert.recipients[0].webhook == base + "/…"
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("agents"))
    assert "not from the catalog" in ours  # the refusals are logged ...
    assert TOKEN not in ours and "s3cr3t" not in ours  # ... without a URL's path
    assert all(TOKEN not in v.decode() and b"s3cr3t" not in v for _, v in result.failed)


def test_what_a_webhook_receives_names_the_catalog_recipients_not_the_records() -> None:
    got: list[bytes] = []

    async def keep(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response(status=204)

    async def go() -> None:
        async with local_server(keep) as base:
            fake = ev.Recipient(name="Kẻ giả mạo", role="department_head", webhook="http://x/")
            async with Notifier(settings(), sxd_catalog(base)) as notifier:
                await notifier.deliver(forged(recipients=(fake,)))

    asyncio.run(go())
    (body,) = got
    sent = ev.decode(ev.Alert, body)
    assert sent.recipients == (ev.Recipient(name="Hoàng Văn Nam", role="department_head"),)
    assert b"http://x/" not in body and TOKEN.encode() not in body


def test_an_old_record_repeating_the_catalogs_own_address_is_delivered_once_not_refused() -> None:
    def alert_for(base: str) -> ev.Alert:
        old = ev.Recipient(
            name="Hoàng Văn Nam", role="department_head", webhook=f"{base}/hooks/sxd/{TOKEN}"
        )
        return forged(recipients=(old,))

    result, counted, _ = run_batch(settings(), sxd_catalog, alert_for)
    assert counted == Counter({f"/hooks/sxd/{TOKEN}": 1})
    assert result.failed == []


def test_an_alert_for_an_agency_the_catalog_does_not_know_is_sent_nowhere() -> None:
    def alert_for(base: str) -> ev.Alert:
        attacker = ev.Recipient(name="x", role="y", webhook=f"{base}/internal/admin")
        return forged(agency="NOT-IN-CATALOG", recipients=(attacker,))

    result, counted, _ = run_batch(settings(), sxd_catalog, alert_for)
    assert counted == Counter()
    (failure,) = iter_failure_records(v for _, v in result.failed)
    assert failure.channel is None and failure.target is None and failure.attempts == 0
    assert "'NOT-IN-CATALOG' is not in the catalog" in failure.error
    assert [k for _, k, _ in result.handled] == [forged().alert_id.encode()]  # handled once

    with pytest.raises(UnresolvableAlert):
        Notifier(settings(), sxd_catalog("http://127.0.0.1:1")).resolve(
            forged(agency="NOT-IN-CATALOG")
        )


def test_a_catalog_webhook_outside_the_allowed_hosts_is_refused_with_a_record() -> None:
    result, counted, _ = run_batch(
        settings(webhook_allowed_hosts="hooks.laocai.gov.vn, 10.0.0.7:8443"),
        sxd_catalog,
        lambda base: forged(),
    )
    assert counted == Counter()
    (failure,) = iter_failure_records(v for _, v in result.failed)
    assert failure.channel == "webhook" and failure.attempts == 0
    assert "is not in DOSSIERFLOW_WEBHOOK_ALLOWED_HOSTS" in failure.error
    assert TOKEN not in failure.error and TOKEN not in (failure.target or "")


def test_an_allowed_host_and_port_is_delivered_to() -> None:
    async def go() -> Counter[str]:
        async with hits() as (base, counted):
            hostport = base.removeprefix("http://")
            conf = settings(webhook_allowed_hosts=f"hooks.laocai.gov.vn,{hostport}")
            async with Notifier(conf, sxd_catalog(base)) as notifier:
                (outcome,) = await notifier.deliver(forged())
            assert outcome.delivered, outcome.error
            return counted

    assert sum(asyncio.run(go()).values()) == 1


@pytest.mark.parametrize(
    ("url", "allowed", "refused"),
    [
        ("https://hooks.laocai.gov.vn/a", "", False),  # no list: any catalog URL
        ("https://hooks.laocai.gov.vn/a", "hooks.laocai.gov.vn", False),  # default port 443
        ("https://HOOKS.laocai.gov.vn:443/a", "hooks.laocai.gov.vn", False),  # case, explicit default
        ("https://hooks.laocai.gov.vn:8443/a", "hooks.laocai.gov.vn", True),  # no port: default only
        ("http://127.0.0.1:6066/clock", "hooks.laocai.gov.vn", True),  # the worker's own web port
        ("http://127.0.0.1:8099/hooks/x", "127.0.0.1:8099", False),
        ("http://127.0.0.1:8100/hooks/x", "127.0.0.1:8099", True),
        ("http://[::1]:8099/x", "[::1]:8099", False),
        ("http://hooks.laocai.gov.vn.evil.example/", "hooks.laocai.gov.vn", True),  # suffix trick
        ("ftp://hooks.laocai.gov.vn/", "", True),  # not http(s)
    ],
)  # fmt: skip
def test_allowed_destinations(url: str, allowed: str, refused: bool) -> None:
    assert (destination_refused(url, allowed) is not None) is refused


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.vn/t/abc?key=1", "https://hooks.example.vn/…"),
        ("http://127.0.0.1:8099/hooks/sxd", "http://127.0.0.1:8099/…"),
        ("http://user:pw@h.example:81/x", "http://h.example:81/…"),  # credentials dropped
        ("http://[::1]:8099/x", "http://[::1]:8099/…"),
        ("not a url", "<invalid URL>"),
    ],
)
def test_masked_url(url: str, shown: str) -> None:
    assert masked_url(url) == shown
