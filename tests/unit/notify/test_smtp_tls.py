"""E-mail exits: SMTP AUTH only over TLS (STARTTLS or implicit), the server's certificate
checked against a CA file, and header values built from data refused when they hold a
control character -- against a real aiosmtpd server with a certificate from a CA made
for the test (``agents.access.certs``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import events as ev
from agents.notify import DeliveryOutcome, Notifier, deliver_batch, iter_failure_records
from agents.settings import Settings
from events import encode

from support.mail import LOGIN, Mailbox, server_tls, smtp_server
from support.outbound import make_alert
from support.webhooks import catalog_of, inline_secrets, supervisor

VN = timezone(timedelta(hours=7))
NOW = datetime(2026, 5, 6, 13, 46, tzinfo=UTC)
CATALOG = catalog_of({"SXD": [supervisor(email="giamdoc.sxd@laocai.example")]})


def settings(port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "webhook_secrets": inline_secrets(),
        "webhook_retries": 0,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_timeout_seconds": 5.0,
        "smtp_username": LOGIN[0].decode(),
        "smtp_password": SecretStr(LOGIN[1].decode()),
        **overrides,
    }
    return Settings.model_construct(**values)


def an_alert(**fields: Any) -> ev.Alert:
    due = datetime(2026, 5, 4, 17, 30, tzinfo=VN)
    return make_alert(due=due, detected=due + timedelta(hours=2), **fields)


def deliver(conf: Settings, alert: ev.Alert | None = None) -> DeliveryOutcome:
    async def go() -> DeliveryOutcome:
        async with Notifier(conf, CATALOG) as notifier:
            (outcome,) = await notifier.deliver(alert or an_alert())
            return outcome

    return asyncio.run(go())


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    yield server_tls(tmp_path / "pki")


def test_settings_refuse_a_login_without_tls() -> None:
    with pytest.raises(ValidationError, match="over plaintext: set DOSSIERFLOW_SMTP_STARTTLS"):
        Settings(smtp_host="mail.example.vn", smtp_username="notifier")
    with pytest.raises(ValidationError, match="pick one"):
        Settings(smtp_starttls=True, smtp_implicit_tls=True)
    Settings(smtp_host="mail.example.vn", smtp_username="notifier", smtp_starttls=True)
    Settings(smtp_host="mail.example.vn")  # no login: plaintext relay allowed


def test_a_login_without_tls_is_refused_at_send_time_too() -> None:
    # Settings built without validation (model_construct) must not leak the password.
    mailbox = Mailbox()
    with smtp_server(mailbox, authenticator=mailbox.authenticate, auth_require_tls=False) as port:
        outcome = deliver(settings(port))
    assert (outcome.delivered, outcome.attempts) == (False, 0)
    assert outcome.error is not None and "in the clear" in outcome.error
    assert mailbox.logins == [] and mailbox.messages == []


def test_starttls_with_the_ca_file_logs_in_and_delivers(tls: tuple[Any, Path]) -> None:
    context, ca = tls
    mailbox = Mailbox()
    server = dict(
        tls_context=context,
        require_starttls=True,
        authenticator=mailbox.authenticate,
        auth_require_tls=True,
    )
    with smtp_server(mailbox, **server) as port:
        ok = deliver(settings(port, smtp_starttls=True, smtp_ca_file=ca))
        wrong = deliver(
            settings(port, smtp_starttls=True, smtp_ca_file=ca, smtp_password=SecretStr("x"))
        )
    assert (ok.delivered, ok.attempts, ok.error) == (True, 1, None)
    assert (wrong.delivered, wrong.attempts) == (False, 1)
    assert wrong.error is not None and wrong.error.startswith("SMTP 535")
    # smtplib tries each mechanism the server offers before it gives up on a password
    assert mailbox.logins[0] == LOGIN and set(mailbox.logins[1:]) == {(LOGIN[0], b"x")}
    assert len(mailbox.messages) == 1


def test_a_certificate_from_another_ca_is_refused_before_the_login(
    tls: tuple[Any, Path], tmp_path: Path
) -> None:
    context, _ = tls
    _, other_ca = server_tls(tmp_path / "other-pki")
    mailbox = Mailbox()
    server = dict(tls_context=context, require_starttls=True, authenticator=mailbox.authenticate)
    with smtp_server(mailbox, **server) as port:
        outcome = deliver(settings(port, smtp_starttls=True, smtp_ca_file=other_ca))
    assert (outcome.delivered, outcome.attempts) == (False, 1)  # not retried: configuration
    assert outcome.error is not None and outcome.error.startswith("TLS certificate refused")
    assert mailbox.logins == [] and mailbox.messages == []


def test_implicit_tls_logs_in_and_delivers(tls: tuple[Any, Path]) -> None:
    context, ca = tls
    mailbox = Mailbox()
    # aiosmtpd only counts STARTTLS as TLS for its auth_require_tls; here every byte is TLS.
    server = dict(ssl_context=context, authenticator=mailbox.authenticate, auth_require_tls=False)
    with smtp_server(mailbox, **server) as port:
        outcome = deliver(settings(port, smtp_implicit_tls=True, smtp_ca_file=ca))
    assert (outcome.delivered, outcome.error) == (True, None)
    assert mailbox.logins == [LOGIN]


@pytest.mark.parametrize(
    ("update", "header"),
    [
        # ids and codes are printable by the wire contract; the alert id and the procedure
        # name are free text a forged record can fill
        ({"alert_id": "65e70838\r\nBcc: citizen@evil.example"}, "Message-ID"),
        ({"procedure_name": "Cấp phép\x1b[2J"}, "Subject"),  # a terminal escape
        ({"procedure_name": "Cấp phép\x00"}, "Subject"),  # a NUL
    ],
)
def test_a_header_with_a_control_character_fails_that_message_with_a_record(
    update: dict[str, str], header: str
) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        conf = settings(port, smtp_username="", smtp_password=SecretStr(""))
        alert = an_alert().model_copy(update=update)
        records = [(b"k", encode(alert))]

        async def go() -> Any:
            async with Notifier(conf, CATALOG) as notifier:
                return await deliver_batch(notifier, records, lambda k: False, lambda: NOW)

        result = asyncio.run(go())
    (failure,) = iter_failure_records(v for _, v in result.failed)
    assert (failure.channel, failure.target, failure.attempts) == (
        "email",
        "giamdoc.sxd@laocai.example",
        0,  # refused before any attempt: never retried
    )
    assert f"header {header} would hold the control character U+" in failure.error
    assert mailbox.messages == []
