"""Alert delivery without Kafka: rendering, retries, batches, and real local receivers.

The webhook receivers are aiohttp servers on 127.0.0.1 that check each signature with
``agents.notify.verify`` (the receivers' documented procedure); the mail server is
aiosmtpd. Recipients come from a small catalog built around the receivers' addresses.
Backoff waits are recorded, not slept: the fake ``sleep`` proves which schedule the
notifier followed. Signing, recipients, secrets and TLS have their own modules in
tests/unit/notify/.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web

import events as ev
from agents.notify import (
    ALERT_ID_HEADER,
    DEFAULT_SECRET,
    SIGNATURE_HEADER,
    Notifier,
    RetryPolicy,
    SignatureRejected,
    Target,
    build_email,
    classify_smtp_error,
    deliver_batch,
    duration_en,
    duration_vi,
    email_body,
    is_retryable_status,
    iter_failure_records,
    retry_budget_s,
    subject,
    verify,
)
from agents.notify import ChannelName as Channel
from agents.notify import DeliveryOutcome as Outcome
from agents.settings import Settings
from agents.tools.alerts_view import Dedupe, parse_alerts, render, select
from events import decode, encode
from workflows.catalog import Catalog

from support import outbound
from support.mail import Mailbox, free_port, smtp_server
from support.webhooks import DEFAULT_KEYS, catalog_of, inline_secrets, local_server, supervisor

VN = timezone(timedelta(hours=7))
DOSSIER = "000.00.20.H33-260427-0001"
# Due Monday 04/05/2026 17:30 Hanoi; detected Wednesday 20:45: 2 days 3 h 15 min late.
DUE = datetime(2026, 5, 4, 17, 30, tzinfo=VN)
DETECTED = datetime(2026, 5, 6, 20, 45, tzinfo=VN)
SENT_AT = datetime(2026, 5, 6, 13, 46, tzinfo=UTC)


def make_alert(
    *,
    dossier: str = DOSSIER,
    due: datetime = DUE,
    detected: datetime = DETECTED,
    **fields: Any,
) -> ev.Alert:
    return outbound.make_alert(dossier=dossier, due=due, detected=detected, **fields)


def head() -> ev.Recipient:
    """The recipient as an alert names it: name and role (the catalog has the addresses)."""
    return ev.Recipient(name="Hoàng Văn Nam", role="department_head")


def sxd(*, email: str = "giamdoc.sxd@laocai.example", webhook: str | None = None) -> Catalog:
    """A catalog whose SXD department head (told about step-overdue alerts) is reached there."""
    return catalog_of({"SXD": [supervisor(email=email, webhook=webhook)]})


#: For tests that give the target themselves: nobody to look up.
NOBODY = catalog_of({})


def settings(**overrides: Any) -> Settings:
    # model_construct: no DOSSIERFLOW_* variable of the machine running the tests leaks in.
    values: dict[str, Any] = {
        "webhook_secrets": inline_secrets(),
        "webhook_timeout_seconds": 2.0,
        "webhook_retries": 4,
        "webhook_backoff_seconds": 0.5,
        "smtp_host": "",
        "smtp_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return Settings.model_construct(**values)


class Sleeps:
    """A fake ``asyncio.sleep`` that records the waits and yields to the loop once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


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


# --- rendering ----------------------------------------------------------------------------


def test_subject_of_an_overdue_construction_licence() -> None:
    assert subject(make_alert()) == (
        "[QUÁ HẠN] Hồ sơ 000.00.20.H33-260427-0001 — Cấp giấy phép xây dựng"
    )


@pytest.mark.parametrize(
    ("level", "name", "expected"),
    [
        (ev.AlertLevel.DUE_SOON, "Cấp giấy phép xây dựng", "[SẮP ĐẾN HẠN] Hồ sơ {d} — Cấp giấy phép xây dựng"),
        (ev.AlertLevel.STATUTORY_BREACH, "Cấp giấy phép xây dựng", "[VI PHẠM THỜI HẠN LUẬT ĐỊNH] Hồ sơ {d} — Cấp giấy phép xây dựng"),
        # no name in the alert: the national code stands in
        (ev.AlertLevel.OVERDUE, None, "[QUÁ HẠN] Hồ sơ {d} — 1.013225"),
        (ev.AlertLevel.OVERDUE, "   ", "[QUÁ HẠN] Hồ sơ {d} — 1.013225"),
        # a name folded over lines (YAML >-) must not inject a header line
        (ev.AlertLevel.OVERDUE, "Cấp giấy phép\n  xây dựng\r\nBcc: x@y", "[QUÁ HẠN] Hồ sơ {d} — Cấp giấy phép xây dựng Bcc: x@y"),
    ],
)  # fmt: skip
def test_subject_per_level_and_fallbacks(
    level: ev.AlertLevel, name: str | None, expected: str
) -> None:
    assert subject(make_alert(level=level, name=name)) == expected.format(d=DOSSIER)


@pytest.mark.parametrize(
    ("delta", "vi", "en"),
    [
        (timedelta(days=2, hours=3, minutes=15), "2 ngày 3 giờ", "2 days 3 hours"),  # minutes dropped past a day
        (timedelta(days=1), "1 ngày", "1 day"),
        (timedelta(hours=5, minutes=59, seconds=59), "5 giờ 59 phút", "5 hours 59 minutes"),  # floored
        (timedelta(minutes=45), "45 phút", "45 minutes"),
        (timedelta(seconds=30), "dưới 1 phút", "less than a minute"),
        (timedelta(days=12, minutes=5), "12 ngày", "12 days"),
    ],
)  # fmt: skip
def test_durations(delta: timedelta, vi: str, en: str) -> None:
    assert duration_vi(delta) == vi
    assert duration_en(delta) == en


def test_body_of_an_overdue_step_in_vietnamese_with_one_english_line() -> None:
    body = email_body(make_alert(), head())
    lines = body.splitlines()
    assert lines[0] == "Kính gửi Hoàng Văn Nam,"
    assert "Bước xử lý của hồ sơ 000.00.20.H33-260427-0001 đã quá hạn xử lý" in body
    fields = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[4:13])}
    assert fields == {
        "Hồ sơ": DOSSIER,
        "Thủ tục": "Cấp giấy phép xây dựng (1.013225)",
        "Phạm vi": "bước xử lý",
        "Bước": "tham-dinh",
        "Cơ quan xử lý": "SXD",
        "Hạn xử lý": "04/05/2026 17:30 (giờ Việt Nam)",
        "Phát hiện lúc": "06/05/2026 20:45 (giờ Việt Nam)",
        "Tình trạng": "quá hạn 2 ngày 3 giờ",
        "Mã cảnh báo": make_alert().alert_id,
    }
    english = [ln for ln in lines if ln.startswith("English:")]
    assert english == [
        f"English: dossier {DOSSIER} (1.013225) is overdue at step tham-dinh, agency SXD: "
        "due 04/05/2026 17:30 Asia/Ho_Chi_Minh, late by 2 days 3 hours."
    ]


def test_body_converts_utc_instants_to_hanoi_time_and_says_time_left_when_due_soon() -> None:
    # 10:30Z is 17:30 in Hanoi; detected 12:30 Hanoi: 5 hours left.
    alert = make_alert(
        level=ev.AlertLevel.DUE_SOON,
        scope=ev.AlertScope.DOSSIER,
        due=datetime(2026, 5, 4, 10, 30, tzinfo=UTC),
        detected=datetime(2026, 5, 4, 12, 30, tzinfo=VN),
    )
    body = email_body(alert, head())
    assert "Hồ sơ 000.00.20.H33-260427-0001 sắp đến hạn xử lý." in body
    assert "04/05/2026 17:30 (giờ Việt Nam)" in body
    assert "còn 5 giờ đến hạn" in body
    assert "Phạm vi:" in body and "toàn bộ hồ sơ" in body
    assert "Bước hiện tại:" in body
    assert "is due soon at step tham-dinh" in body and "due in 5 hours" in body


def test_email_message_headers_and_deterministic_message_id() -> None:
    alert = make_alert()
    msg = build_email(
        alert, head(), "GiamDoc.SXD@example.vn", "dossierflow@laocai.example", SENT_AT
    )
    again = build_email(alert, head(), "giamdoc.sxd@example.vn", "x@y.example", SENT_AT)
    other = build_email(alert, head(), "pho.giamdoc@example.vn", "x@y.example", SENT_AT)
    assert msg["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert msg["Message-ID"].startswith(f"<{alert.alert_id}.")
    assert msg[ALERT_ID_HEADER] == alert.alert_id
    assert msg["Date"] == "Wed, 06 May 2026 13:46:00 +0000"
    # What goes over the wire is 7-bit clean: headers as encoded words, body encoded.
    wire = msg.as_bytes()
    assert wire.isascii()
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed["Subject"] == subject(alert)
    assert parsed["To"].addresses[0].display_name == "Hoàng Văn Nam"
    assert parsed.get_content_charset() == "utf-8"


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

    async def run() -> Outcome:
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

    async def run() -> Outcome:
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

    async def run() -> tuple[Outcome, Outcome]:
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

    async def run() -> tuple[Outcome, Outcome]:
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


# --- a real SMTP server -------------------------------------------------------------------


def test_email_is_delivered_with_subject_and_utf8_body() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        conf = settings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_from="dossierflow@laocai.example"
        )
        alert = make_alert(recipients=(head(),))

        async def run() -> list[Outcome]:
            async with Notifier(conf, sxd(), sleep=Sleeps()) as notifier:
                return await notifier.deliver(alert)

        outcomes = asyncio.run(run())
    assert [(o.target.channel, o.delivered, o.attempts) for o in outcomes] == [
        (Channel.EMAIL, True, 1)
    ]
    assert mailbox.envelopes == [("dossierflow@laocai.example", ["giamdoc.sxd@laocai.example"])]
    (msg,) = mailbox.messages
    assert msg["Subject"] == "[QUÁ HẠN] Hồ sơ 000.00.20.H33-260427-0001 — Cấp giấy phép xây dựng"
    assert str(msg["To"]) == "Hoàng Văn Nam <giamdoc.sxd@laocai.example>"
    assert msg[ALERT_ID_HEADER] == alert.alert_id
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert text == email_body(alert, alert.recipients[0])
    assert "Tình trạng:" in text and "quá hạn 2 ngày 3 giờ" in text


def test_email_retries_a_4xx_and_gives_up_at_once_on_a_5xx() -> None:
    mailbox = Mailbox(
        refuse={
            "a@laocai.example": ["451 4.3.0 try again later"],
            "b@laocai.example": ["550 5.1.1 no such user"] * 10,
        }
    )
    sleeps = Sleeps()
    with smtp_server(mailbox) as port:
        conf = settings(smtp_host="127.0.0.1", smtp_port=port)
        first = make_alert(recipients=(head(),))
        second = make_alert(dossier="D-2", agency="B", recipients=(head(),))
        catalog = catalog_of(
            {
                "SXD": [supervisor(email="a@laocai.example")],
                "B": [supervisor(email="b@laocai.example")],
            }
        )

        async def run() -> tuple[Outcome, Outcome]:
            async with Notifier(conf, catalog, sleep=sleeps) as notifier:
                return (await notifier.deliver(first))[0], (await notifier.deliver(second))[0]

        retried, refused = asyncio.run(run())
    assert (retried.delivered, retried.attempts) == (True, 2)
    assert (refused.delivered, refused.attempts) == (False, 1)
    assert refused.error == "recipient refused: b@laocai.example: 550 5.1.1 no such user"
    assert sleeps.waits == [0.5]
    assert len(mailbox.messages) == 1


def test_unreachable_smtp_server_fails_after_every_retry() -> None:
    conf = settings(smtp_host="127.0.0.1", smtp_port=free_port(), webhook_retries=2)
    sleeps = Sleeps()

    async def run() -> Outcome:
        async with Notifier(conf, sxd(email="a@b.example"), sleep=sleeps) as notifier:
            return (await notifier.deliver(make_alert(recipients=(head(),))))[0]

    outcome = asyncio.run(run())
    assert (outcome.delivered, outcome.attempts) == (False, 3)
    assert outcome.error is not None and "ConnectionRefusedError" in outcome.error
    assert sleeps.waits == [0.5, 1.0]


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
