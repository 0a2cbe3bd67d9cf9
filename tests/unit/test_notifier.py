"""Alert delivery without Kafka: webhook headers, retries, batches, the alerts view, and
real local webhook receivers.

The receivers are aiohttp servers on 127.0.0.1 that check each signature with
``agents.notify.verify`` (the receivers' documented procedure); recipients come from a
small catalog built around their addresses. Backoff waits are recorded, not slept: the
fake ``sleep`` proves which schedule the notifier followed. E-mail, signing, recipients,
secrets and TLS have their own modules in tests/unit/notify/.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

import events as ev
from agents.notify import (
    ALERT_ID_HEADER,
    DEFAULT_SECRET,
    SIGNATURE_HEADER,
    DeliveryOutcome,
    Notifier,
    RetryPolicy,
    SignatureRejected,
    Target,
    classify_smtp_error,
    deliver_batch,
    is_retryable_status,
    iter_failure_records,
    retry_budget_s,
    verify,
)
from agents.notify import ChannelName as Channel
from agents.tools.alerts_view import Dedupe, parse_alerts, render, select
from events import decode, encode

from support.notify import DETECTED, NOBODY, SENT_AT, Sleeps, head, make_alert, settings, sxd
from support.webhooks import DEFAULT_KEYS, catalog_of, local_server, supervisor

# --- webhook headers ----------------------------------------------------------------------


def test_webhook_headers_carry_content_type_alert_id_and_a_fresh_signature() -> None:
    alert = make_alert()
    body = encode(alert)
    target = hook_target("http://127.0.0.1:1/hook")
    headers = Notifier(settings(), NOBODY).webhook_headers(alert, body, target)
    assert set(headers) == {"Content-Type", ALERT_ID_HEADER, SIGNATURE_HEADER}
    assert headers["Content-Type"] == "application/json"
    assert headers[ALERT_ID_HEADER] == alert.alert_id
    verify(body, headers[SIGNATURE_HEADER], DEFAULT_KEYS)  # signed just now, default key
    with pytest.raises(SignatureRejected):
        verify(body, headers[SIGNATURE_HEADER], DEFAULT_KEYS, now=time.time() + 301)


# --- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "schedule"),
    [
        (RetryPolicy(4, 0.5), [0.5, 1.0, 2.0, 4.0]),  # the defaults: 5 attempts, 7.5 s of waiting
        (RetryPolicy(6, 1.0, cap_s=10.0), [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]),  # capped
        (RetryPolicy(0, 0.5), []),  # one attempt, no wait
    ],
)  # fmt: skip
def test_backoff_schedule(policy: RetryPolicy, schedule: list[float]) -> None:
    assert policy.schedule() == schedule
    assert policy.attempts == len(schedule) + 1


def test_retry_after_lengthens_a_wait_but_not_past_the_cap() -> None:
    policy = RetryPolicy(4, 0.5, cap_s=30.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(3, retry_after=1.0) == 4.0  # the backoff is longer
    assert policy.delay(0, retry_after=3600.0) == 30.0


def test_retry_budget_counts_every_timeout_and_every_wait() -> None:
    # 5 attempts x max(5 s webhook, 10 s smtp) + 0.5 + 1 + 2 + 4
    assert retry_budget_s(settings(webhook_timeout_seconds=5.0, smtp_timeout_seconds=10.0)) == 57.5


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True), (502, True), (503, True), (504, True), (599, True),
        (429, True),  # too many requests: wait and try again
        (400, False), (401, False), (403, False), (404, False), (410, False), (422, False),
        (301, False), (307, False),  # redirects are not followed for a signed POST
    ],
)  # fmt: skip
def test_http_retry_classification(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (smtplib.SMTPResponseException(451, b"4.3.0 try again later"), True),
        (smtplib.SMTPSenderRefused(452, b"4.3.1 insufficient storage", "a@b"), True),
        (smtplib.SMTPDataError(554, b"5.7.1 rejected as spam"), False),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), False),
        (smtplib.SMTPConnectError(421, b"service not available"), True),
        (smtplib.SMTPRecipientsRefused({"a@b": (450, b"mailbox busy")}), True),
        (smtplib.SMTPRecipientsRefused({"a@b": (550, b"no such user")}), False),
        (smtplib.SMTPRecipientsRefused({"a@b": (450, b"busy"), "c@d": (550, b"no")}), False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."), False),
        (smtplib.SMTPException("No suitable authentication method found."), False),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError("timed out"), True),
        (socket.gaierror(-2, "Name or service not known"), True),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), False),
    ],
)  # fmt: skip
def test_smtp_retry_classification(exc: BaseException, retryable: bool) -> None:
    assert classify_smtp_error(exc).retryable is retryable


# --- a real webhook receiver --------------------------------------------------------------


class Receiver:
    """Records what each path received; ``plan[path]`` lists statuses to answer, then 200."""

    def __init__(self, plan: dict[str, list[int]] | None = None) -> None:
        self.plan = {k: list(v) for k, v in (plan or {}).items()}
        self.got: list[tuple[str, bytes, dict[str, str]]] = []
        self.bad_signatures = 0
        self.handlers: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            verify(body, request.headers.get(SIGNATURE_HEADER), DEFAULT_KEYS)
        except SignatureRejected:
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        self.got.append((request.path, body, dict(request.headers)))
        special = self.handlers.get(request.path)
        if special is not None:
            return await special(request)
        statuses = self.plan.get(request.path, [])
        status = statuses.pop(0) if statuses else 200
        return web.Response(status=status, text="ok" if status == 200 else "receiver down")

    def bodies(self, path: str) -> list[bytes]:
        return [body for p, body, _ in self.got if p == path]


def serve(receiver: Receiver) -> AbstractAsyncContextManager[str]:
    return local_server(receiver.handle)


def hook_target(url: str) -> Target:
    return Target(Channel.WEBHOOK, url, head(), DEFAULT_SECRET)


def test_webhook_fails_twice_with_500_then_is_delivered_once_after_3_attempts() -> None:
    receiver = Receiver({"/flaky": [500, 500]})
    sleeps = Sleeps()

    async def run() -> DeliveryOutcome:
        async with serve(receiver) as base:
            notifier = Notifier(settings(), sxd(webhook=f"{base}/flaky"), sleep=sleeps)
            async with notifier:
                outcomes = await notifier.deliver(make_alert(recipients=(head(),)))
            assert len(outcomes) == 1
            return outcomes[0]

    outcome = asyncio.run(run())
    assert (outcome.delivered, outcome.attempts, outcome.error) == (True, 3, None)
    alert = make_alert(recipients=(head(),))
    # Three signed requests, each the exact encoded alert; two waits of the schedule.
    assert receiver.bodies("/flaky") == [encode(alert)] * 3
    assert receiver.bad_signatures == 0
    assert sleeps.waits == [0.5, 1.0]
    _, _, headers = receiver.got[0]
    assert headers["Content-Type"] == "application/json"
    assert headers[ALERT_ID_HEADER] == alert.alert_id


def test_webhook_that_always_fails_gives_up_after_every_retry() -> None:
    receiver = Receiver({"/down": [503] * 10})
    sleeps = Sleeps()

    async def run() -> DeliveryOutcome:
        async with serve(receiver) as base, Notifier(settings(), NOBODY, sleep=sleeps) as notifier:
            return await notifier.post_webhook(make_alert(), hook_target(f"{base}/down"), b"{}")

    outcome = asyncio.run(run())
    assert not outcome.delivered
    assert outcome.attempts == 5
    assert outcome.error == "HTTP 503 Service Unavailable: receiver down"
    assert sleeps.waits == [0.5, 1.0, 2.0, 4.0]


def test_webhook_4xx_is_not_retried_and_429_honours_retry_after() -> None:
    receiver = Receiver({"/gone": [404]})

    async def busy(request: web.Request) -> web.Response:
        calls = sum(1 for p, _, _ in receiver.got if p == "/busy")
        if calls == 1:
            return web.Response(status=429, headers={"Retry-After": "3"})
        return web.Response(status=204)

    receiver.handlers["/busy"] = busy
    sleeps = Sleeps()

    async def run() -> tuple[DeliveryOutcome, DeliveryOutcome]:
        async with serve(receiver) as base, Notifier(settings(), NOBODY, sleep=sleeps) as notifier:
            alert = make_alert()
            gone = await notifier.post_webhook(alert, hook_target(f"{base}/gone"), encode(alert))
            busy = await notifier.post_webhook(alert, hook_target(f"{base}/busy"), encode(alert))
            return gone, busy

    gone, busy_outcome = asyncio.run(run())
    assert (gone.delivered, gone.attempts) == (False, 1)
    assert gone.error is not None and gone.error.startswith("HTTP 404")
    assert (busy_outcome.delivered, busy_outcome.attempts) == (True, 2)
    assert sleeps.waits == [3.0]  # Retry-After beat the 0.5 s backoff


def test_webhook_timeouts_and_refused_connections_are_retried() -> None:
    receiver = Receiver()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.6)  # 3x the timeout; the server's cleanup waits this out
        return web.Response(status=200)

    receiver.handlers["/slow"] = slow
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    quick = settings(webhook_timeout_seconds=0.2, webhook_retries=1)

    async def run() -> tuple[DeliveryOutcome, DeliveryOutcome]:
        async with serve(receiver) as base, Notifier(quick, NOBODY, sleep=Sleeps()) as notifier:
            alert = make_alert()
            return await asyncio.gather(
                notifier.post_webhook(alert, hook_target(f"{base}/slow"), encode(alert)),
                notifier.post_webhook(alert, hook_target(closed), encode(alert)),
            )

    slow_outcome, refused = asyncio.run(run())
    assert (slow_outcome.delivered, slow_outcome.attempts) == (False, 2)
    assert slow_outcome.error == "timed out after 0.2 s"
    assert (refused.delivered, refused.attempts) == (False, 2)
    assert refused.error is not None and refused.error.startswith("connection error:")


# --- a batch: dedupe, failure records, concurrency ----------------------------------------


def test_batch_dedupes_records_failures_and_keeps_garbage() -> None:
    receiver = Receiver({"/down": [500] * 10})
    sleeps = Sleeps()
    clock = lambda: SENT_AT  # noqa: E731

    ok = make_alert(recipients=(head(),))
    down = make_alert(dossier="D-2", agency="DOWN", recipients=(head(),))
    known = make_alert(dossier="D-3", recipients=(head(),))

    async def run() -> tuple[Any, str]:
        async with serve(receiver) as base:
            catalog = catalog_of(
                {
                    "SXD": [supervisor(webhook=f"{base}/ok")],
                    "DOWN": [supervisor(webhook=f"{base}/down")],
                }
            )
            notifier = Notifier(settings(), catalog, sleep=sleeps)
            records = [
                (b"k1", encode(ok)),
                (b"k2", encode(down)),
                (b"k1", encode(ok)),  # the same alert again in the batch
                (b"k3", encode(known)),  # delivered by an earlier batch
                (b"k4", b"\xff not json"),
                (b"k5", None),
            ]
            already = {known.alert_id.encode()}
            async with notifier:
                result = await deliver_batch(notifier, records, lambda k: k in already, clock)
            return result, base

    result, base = asyncio.run(run())
    assert receiver.bodies("/ok") == [encode(ok)]
    assert len(receiver.bodies("/down")) == 5
    assert result.duplicates == 2
    # Both alerts that were tried are remembered -- also the one whose delivery failed,
    # since its failure record is the outcome: a re-delivered copy must not retry forever.
    assert [(i, k) for i, k, _ in result.handled] == [
        (0, ok.alert_id.encode()),
        (1, down.alert_id.encode()),
    ]
    assert result.handled[1][2] == b"2026-05-06T13:46:00+00:00 delivered=0 failed=1"
    records = [(k, decode(ev.AlertDeliveryFailed, v)) for k, v in result.failed]
    assert [k for k, _ in records] == [b"k4", b"k5", b"D-2"]
    assert records[2][1] == ev.AlertDeliveryFailed(
        alert_id=down.alert_id,
        channel="webhook",
        target=base + "/…",  # masked: a webhook's path often carries its token
        recipient="Hoàng Văn Nam",
        attempts=5,
        error="HTTP 500 Internal Server Error: receiver down",
        failed_at=datetime(2026, 5, 6, 13, 46, tzinfo=UTC),
        alert=down,
    )
    garbage = records[0][1]
    assert garbage.alert_id is None and garbage.alert is None and garbage.channel is None
    assert garbage.original_b64 == "/yBub3QganNvbg=="
    assert garbage.error.startswith("not a v1 alert:")
    # What tools read back: both kinds, and nothing else from a shared topic.
    assert iter_failure_records([v for _, v in result.failed] + [b"{}", b"\xff"]) == [
        r for _, r in records
    ]


def test_batch_deliveries_run_concurrently() -> None:
    # Each receiver call waits until all five are in flight at once; delivered one after
    # the other, the first would wait in vain and get a non-retryable 409.
    n = 5
    receiver = Receiver()
    arrived = 0
    everyone = asyncio.Event()

    async def gather_all(request: web.Request) -> web.Response:
        nonlocal arrived
        arrived += 1
        if arrived == n:
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), timeout=5)
        except TimeoutError:
            return web.Response(status=409, text="alone")
        return web.Response(status=200)

    receiver.handlers["/together"] = gather_all

    async def run() -> Any:
        async with serve(receiver) as base:
            notifier = Notifier(settings(), sxd(webhook=f"{base}/together"), sleep=Sleeps())
            alerts = [make_alert(dossier=f"D-{i}", recipients=(head(),)) for i in range(n)]
            records = [(a.dossier_id.encode(), encode(a)) for a in alerts]
            async with notifier:
                return await deliver_batch(notifier, records, lambda k: False, lambda: SENT_AT)

    started = time.monotonic()
    result = asyncio.run(run())
    assert time.monotonic() - started < 5
    assert result.failed == []
    assert all(o.delivered and o.attempts == 1 for _, o in result.outcomes)


# --- the alerts view (pure parts) ---------------------------------------------------------


def test_alerts_view_dedupes_filters_sorts_and_renders_one_line() -> None:
    early = make_alert(recipients=(head(),))
    late = make_alert(
        dossier="D-9",
        level=ev.AlertLevel.STATUTORY_BREACH,
        scope=ev.AlertScope.DOSSIER,
        step=None,
        detected=DETECTED + timedelta(hours=1),
    )
    elsewhere = early.model_copy(update={"agency": "STNMT", "alert_id": "x" * 32})
    records = [encode(late), encode(early), b"garbage", None, encode(early), encode(elsewhere)]
    chosen = select(parse_alerts(records), agency="SXD")
    assert chosen == [early, late]
    assert render(early) == (
        "2026-05-06 20:45  overdue    step     000.00.20.H33-260427-0001  step tham-dinh  SXD"
        "  due 2026-05-04 17:30  -> Hoàng Văn Nam (department_head)"
    )
    assert render(late) == (
        "2026-05-06 21:45  statutory  dossier  D-9  -  SXD  due 2026-05-04 17:30  -> nobody"
    )
    assert len(select(parse_alerts(records))) == 3
    dedupe = Dedupe()
    assert [dedupe.first_time(a) for a in (early, early, late)] == [True, False, True]
