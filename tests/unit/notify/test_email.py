"""The e-mail channel without Kafka: what supervisors read (subjects, bodies, headers) and
delivery to a real aiosmtpd server on 127.0.0.1 (retries, refusals, an unreachable server).
TLS and AUTH are in test_smtp_tls.py."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest

import events as ev
from agents.notify import (
    ALERT_ID_HEADER,
    DeliveryOutcome,
    Notifier,
    build_email,
    duration_en,
    duration_vi,
    email_body,
    subject,
)
from agents.notify import ChannelName as Channel

from support.mail import Mailbox, free_port, smtp_server
from support.notify import DOSSIER, SENT_AT, VN, Sleeps, head, make_alert, settings, sxd
from support.webhooks import catalog_of, supervisor

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


# --- a real SMTP server -------------------------------------------------------------------


def test_email_is_delivered_with_subject_and_utf8_body() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        conf = settings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_from="dossierflow@laocai.example"
        )
        alert = make_alert(recipients=(head(),))

        async def run() -> list[DeliveryOutcome]:
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

        async def run() -> tuple[DeliveryOutcome, DeliveryOutcome]:
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

    async def run() -> DeliveryOutcome:
        async with Notifier(conf, sxd(email="a@b.example"), sleep=sleeps) as notifier:
            return (await notifier.deliver(make_alert(recipients=(head(),))))[0]

    outcome = asyncio.run(run())
    assert (outcome.delivered, outcome.attempts) == (False, 3)
    assert outcome.error is not None and "ConnectionRefusedError" in outcome.error
    assert sleeps.waits == [0.5, 1.0]
