"""The e-mail channel: one UTF-8 message per recipient over SMTP; TLS (STARTTLS or
implicit) verified against the system CAs or ``DOSSIERFLOW_SMTP_CA_FILE``; AUTH only over TLS."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import ClassVar

from agents.notify.channel import (
    ALERT_ID_HEADER,
    Attempt,
    ChannelName,
    Contact,
    Target,
    checked_header,
    one_line,
)
from agents.notify.messages import email_body, subject
from agents.notify.retries import DeliveryError
from agents.settings import Settings
from events import Alert, Recipient

#: smtplib blocks: it runs in this many threads of the channel's own pool, so a slow
#: mail server never starves the loop's default executor (aiohttp's DNS lookups use it).
SMTP_THREADS = 8


def classify_smtp_error(exc: BaseException) -> DeliveryError:
    """The SMTP analogue of ``is_retryable_status``: 4xx replies and lost connections are
    transient; 5xx replies, a refused certificate, or a missing extension are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        replies = "; ".join(
            f"{rcpt}: {code} {msg.decode('utf-8', 'replace')}"
            for rcpt, (code, msg) in exc.recipients.items()
        )
        return DeliveryError(
            f"recipient refused: {replies}", retryable=all(400 <= c < 500 for c in codes)
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return DeliveryError(f"SMTP {exc.smtp_code} {text}", retryable=400 <= exc.smtp_code < 500)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(f"TLS certificate refused: {exc}", retryable=False)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"connection lost: {exc}", retryable=True)
    if isinstance(exc, smtplib.SMTPException):
        # No reply code: a client-side refusal such as "STARTTLS extension not supported
        # by server" or "No suitable authentication method found" -- configuration.
        return DeliveryError(f"SMTP error: {type(exc).__name__}: {exc}", retryable=False)
    if isinstance(exc, OSError):  # refused, reset, DNS, socket timeout
        return DeliveryError(f"connection error: {type(exc).__name__}: {exc}", retryable=True)
    return DeliveryError(f"SMTP error: {type(exc).__name__}: {exc}", retryable=False)


def build_email(
    alert: Alert, recipient: Recipient, address: str, sender: str, sent_at: datetime
) -> EmailMessage:
    """One UTF-8 message to ``recipient`` at ``address``. ``Message-ID`` is derived from the
    alert and the address, so a re-sent alert carries the same id and mail systems can drop
    the copy. Raises ``HeaderValueError`` when a header built from the alert's data holds a
    control character (a CR/LF in a dossier id would otherwise start a new header)."""
    tag = hashlib.sha256(address.lower().encode("utf-8")).hexdigest()[:12]
    msg = EmailMessage()
    msg["Subject"] = checked_header("Subject", subject(alert))
    msg["From"] = sender
    msg["To"] = Address(
        display_name=checked_header("To", one_line(recipient.name)), addr_spec=address
    )
    msg["Date"] = format_datetime(sent_at.astimezone(UTC))
    msg["Message-ID"] = checked_header("Message-ID", f"<{alert.alert_id}.{tag}@dossierflow>")
    msg[ALERT_ID_HEADER] = checked_header(ALERT_ID_HEADER, alert.alert_id)
    msg.set_content(email_body(alert, recipient), charset="utf-8")
    return msg


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the mail server's certificate and name: against ``smtp_ca_file`` when set
    (a province's own CA), else the system CAs."""
    ca = settings.smtp_ca_file
    return ssl.create_default_context(cafile=str(ca) if ca is not None else None)


class EmailChannel:
    """One SMTP session per message, in a thread of the channel's pool (made on first use)."""

    name: ClassVar[str] = ChannelName.EMAIL

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None

    @staticmethod
    def enabled(settings: Settings) -> bool:
        return bool(settings.smtp_host)

    @staticmethod
    def address(contact: Contact) -> str | None:
        return contact.email

    @staticmethod
    def same_address(address: str) -> str:
        return address.lower()

    @staticmethod
    def shown(address: str) -> str:
        return address

    @staticmethod
    def timeout_s(settings: Settings) -> float:
        return settings.smtp_timeout_seconds

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def prepare(self, alert: Alert, target: Target) -> Attempt:
        s = self.settings
        if s.smtp_username and not (s.smtp_starttls or s.smtp_implicit_tls):
            # Settings refuse this too; settings built without validation must not leak it.
            raise DeliveryError(
                "refused: SMTP AUTH without TLS would send the password in the clear; set "
                "DOSSIERFLOW_SMTP_STARTTLS or DOSSIERFLOW_SMTP_IMPLICIT_TLS",
                retryable=False,
            )
        try:
            msg = build_email(alert, target.recipient, target.address, s.smtp_from, self._clock())
        except Exception as exc:  # a control character in a header, an address refused, ...
            raise DeliveryError(f"cannot build the e-mail: {exc}", retryable=False) from None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SMTP_THREADS, thread_name_prefix="smtp")
        pool = self._pool

        async def attempt() -> None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(pool, self.send_blocking, msg)

        return attempt

    def send_blocking(self, msg: EmailMessage) -> None:
        """One SMTP session for one message (runs in a thread); errors as DeliveryError."""
        s = self.settings
        timeout = s.smtp_timeout_seconds
        try:
            smtp = (
                smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=timeout, context=tls_context(s))
                if s.smtp_implicit_tls
                else smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
            )
            with smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=tls_context(s))
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(msg)
        except OSError as exc:  # smtplib.SMTPException is an OSError
            raise classify_smtp_error(exc) from None
