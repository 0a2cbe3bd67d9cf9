"""Alert delivery: each alert on ``dossier-alerts`` to its supervisors by webhook and e-mail.

The notifier agent reads alerts in batches and delivers every (alert, channel, address)
of a batch concurrently, each with its own retries. What it guarantees (docs/alerts.md):

* **at least once**: an alert is acked only after every delivery of it succeeded or
  its failure record is on ``dossier-alerts-failed`` -- a failure is never silent;
* **once per alert id**, effectively: the ids of handled alerts are kept in a table
  (changelog-backed), so a re-delivered or re-sent alert is not sent again. The one
  window left is a crash after a delivery and before the table write: the alert is
  delivered again, with the same ``X-Dossierflow-Alert-Id`` header (and e-mail
  ``Message-ID``) for receivers to dedupe on.

Pure helpers (signing, retry schedule and classification, e-mail rendering) come first
and are tested without network; ``Notifier`` does the I/O; ``register_notifier`` wires
it into a faust app.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import smtplib
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum
from typing import Any

import aiohttp

from agents.kafka_admin import DELIVERED_RETENTION_MS
from agents.settings import Settings
from events import (
    Alert,
    AlertDeliveryFailed,
    AlertLevel,
    AlertScope,
    ContractError,
    Recipient,
    decode,
    encode,
)
from workflows.calendar import VN_TZ

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Dossierflow-Signature"
ALERT_ID_HEADER = "X-Dossierflow-Alert-Id"
USER_AGENT = "dossierflow-notifier/1"

#: No wait between two attempts is longer than this, whatever the attempt number.
BACKOFF_CAP_S = 30.0
#: Alerts per agent iteration, and how long the agent waits to fill a batch. Alerts are
#: few (one per dossier and level), so batches are small; the batch exists so that a
#: slow receiver delays only the alerts of its own batch, and those run concurrently.
BATCH_MAX = 64
BATCH_WITHIN_S = 0.2
#: smtplib blocks: it runs in this many threads of the notifier's own pool, so a slow
#: mail server never starves the loop's default executor (aiohttp's DNS lookups use it).
SMTP_THREADS = 8
#: Characters of a receiver's error response kept in the failure record.
ERROR_SNIPPET = 300

#: Subject prefix per level (Vietnamese, as supervisors read it).
SUBJECT_PREFIX: dict[AlertLevel, str] = {
    AlertLevel.DUE_SOON: "[SẮP ĐẾN HẠN]",
    AlertLevel.OVERDUE: "[QUÁ HẠN]",
    AlertLevel.STATUTORY_BREACH: "[VI PHẠM THỜI HẠN LUẬT ĐỊNH]",
}
_HEADLINE_VI: dict[AlertLevel, str] = {
    AlertLevel.DUE_SOON: "sắp đến hạn xử lý",
    AlertLevel.OVERDUE: "đã quá hạn xử lý theo thời hạn cam kết",
    AlertLevel.STATUTORY_BREACH: "đã vượt thời hạn giải quyết theo quy định của pháp luật",
}
_HEADLINE_EN: dict[AlertLevel, str] = {
    AlertLevel.DUE_SOON: "is due soon",
    AlertLevel.OVERDUE: "is overdue",
    AlertLevel.STATUTORY_BREACH: "is past its statutory time limit",
}


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


# --- signing ------------------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """The ``X-Dossierflow-Signature`` value: ``sha256=<hex HMAC-SHA256 of body>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver checks (constant-time): ``header`` is ``sign(body, secret)``."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


# --- retries ------------------------------------------------------------------------------


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


def is_retryable_status(status: int) -> bool:
    """HTTP statuses worth another attempt: 5xx and 429. Other 4xx mean the request
    itself is wrong (bad URL, signature refused) and will be refused again; 3xx is
    not followed (a POST must not silently become a GET) and is refused too."""
    return status == 429 or 500 <= status <= 599


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


# --- e-mail rendering ---------------------------------------------------------------------


def _one_line(text: str) -> str:
    # Header safety: a catalog name folded over lines must not become a new header.
    return re.sub(r"\s+", " ", text).strip()


def procedure_label(alert: Alert) -> str:
    return _one_line(alert.procedure_name or "") or alert.procedure


def subject(alert: Alert) -> str:
    """``[QUÁ HẠN] Hồ sơ 000.00.20.H33-260427-0001 — Cấp giấy phép xây dựng``."""
    return f"{SUBJECT_PREFIX[alert.level]} Hồ sơ {alert.dossier_id} — {procedure_label(alert)}"


def local_time(instant: datetime) -> str:
    """``27/04/2026 17:30``, Asia/Ho_Chi_Minh."""
    return instant.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def _split(delta: timedelta) -> tuple[int, int, int]:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return days, hours, mins


def duration_vi(delta: timedelta) -> str:
    """Wall-clock, floored: ``2 ngày 3 giờ``, ``5 giờ``, ``45 phút`` (minutes only under a day)."""
    days, hours, mins = _split(delta)
    parts = [f"{days} ngày"] if days else []
    if hours:
        parts.append(f"{hours} giờ")
    if mins and not days:
        parts.append(f"{mins} phút")
    return " ".join(parts) or "dưới 1 phút"


def duration_en(delta: timedelta) -> str:
    days, hours, mins = _split(delta)

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    parts = [unit(days, "day")] if days else []
    if hours:
        parts.append(unit(hours, "hour"))
    if mins and not days:
        parts.append(unit(mins, "minute"))
    return " ".join(parts) or "less than a minute"


def status_vi(alert: Alert) -> str:
    """``quá hạn 2 ngày 3 giờ`` once the due instant passed, ``còn 5 giờ đến hạn`` before."""
    late = alert.detected_at - alert.due_at
    if late >= timedelta(0):
        return f"quá hạn {duration_vi(late)}"
    return f"còn {duration_vi(-late)} đến hạn"


def status_en(alert: Alert) -> str:
    late = alert.detected_at - alert.due_at
    if late >= timedelta(0):
        return f"late by {duration_en(late)}"
    return f"due in {duration_en(-late)}"


def email_body(alert: Alert, recipient: Recipient) -> str:
    """The plain-text body: Vietnamese, then one English line."""
    what = "Bước xử lý của hồ sơ" if alert.scope is AlertScope.STEP else "Hồ sơ"
    scope = "bước xử lý" if alert.scope is AlertScope.STEP else "toàn bộ hồ sơ"
    step_label = "Bước" if alert.scope is AlertScope.STEP else "Bước hiện tại"
    rows = [
        ("Hồ sơ", alert.dossier_id),
        ("Thủ tục", f"{procedure_label(alert)} ({alert.procedure})"),
        ("Phạm vi", scope),
        *([(step_label, alert.step)] if alert.step else []),
        ("Cơ quan xử lý", alert.agency),
        ("Hạn xử lý", f"{local_time(alert.due_at)} (giờ Việt Nam)"),
        ("Phát hiện lúc", f"{local_time(alert.detected_at)} (giờ Việt Nam)"),
        ("Tình trạng", status_vi(alert)),
        ("Mã cảnh báo", alert.alert_id),
    ]
    width = max(len(label) for label, _ in rows) + 2
    where = f" at step {alert.step}" if alert.step else ""
    english = (
        f"English: dossier {alert.dossier_id} ({alert.procedure}) "
        f"{_HEADLINE_EN[alert.level]}{where}, agency {alert.agency}: due "
        f"{local_time(alert.due_at)} Asia/Ho_Chi_Minh, {status_en(alert)}."
    )
    lines = [
        f"Kính gửi {recipient.name},",
        "",
        f"{what} {alert.dossier_id} {_HEADLINE_VI[alert.level]}.",
        "",
        *(f"{label + ':':<{width}}{value}" for label, value in rows),
        "",
        english,
        "",
        "-- ",
        "Thư tự động từ hệ thống dossierflow; vui lòng không trả lời thư này.",
    ]
    return "\n".join(lines) + "\n"


def build_email(alert: Alert, recipient: Recipient, sender: str, sent_at: datetime) -> EmailMessage:
    """One UTF-8 message to one recipient. ``Message-ID`` is derived from the alert and the
    address, so a re-sent alert carries the same id and mail systems can drop the copy."""
    if recipient.email is None:
        raise ValueError(f"recipient {recipient.name!r} has no e-mail address")
    msg = EmailMessage()
    msg["Subject"] = subject(alert)
    msg["From"] = sender
    msg["To"] = Address(display_name=_one_line(recipient.name), addr_spec=recipient.email)
    msg["Date"] = format_datetime(sent_at.astimezone(UTC))
    tag = hashlib.sha256(recipient.email.lower().encode("utf-8")).hexdigest()[:12]
    msg["Message-ID"] = f"<{alert.alert_id}.{tag}@dossierflow>"
    msg[ALERT_ID_HEADER] = alert.alert_id
    msg.set_content(email_body(alert, recipient), charset="utf-8")
    return msg


# --- delivery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One delivery: a channel and an address (URL or e-mail), for a named recipient."""

    channel: Channel
    address: str
    recipient: Recipient


def targets(alert: Alert, *, email_enabled: bool) -> list[Target]:
    """Each recipient's webhook, and e-mail when enabled; one delivery per distinct address."""
    found: dict[tuple[Channel, str], Target] = {}
    for r in alert.recipients:
        if r.webhook:
            found.setdefault((Channel.WEBHOOK, r.webhook), Target(Channel.WEBHOOK, r.webhook, r))
        if r.email and email_enabled:
            key = (Channel.EMAIL, r.email.lower())
            found.setdefault(key, Target(Channel.EMAIL, r.email, r))
    return list(found.values())


@dataclass(frozen=True)
class Outcome:
    target: Target
    delivered: bool
    attempts: int
    error: str | None = None


async def with_retries(
    target: Target,
    attempt: Callable[[], Awaitable[None]],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
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
            log.exception("delivery attempt crashed: %s %s", target.channel, target.address)
            error = DeliveryError(f"internal error: {type(exc).__name__}: {exc}", retryable=False)
        else:
            return Outcome(target, True, n + 1)
        if not error.retryable:
            return Outcome(target, False, n + 1, str(error))
    assert error is not None
    return Outcome(target, False, policy.attempts, str(error))


def _retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form; an HTTP-date is rare from webhooks and the backoff suffices.
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


class Notifier:
    """Delivers alerts. Create and close it on the loop that uses it (the agent does)."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings)
        self.secret = settings.webhook_secret.get_secret_value()
        self.email_enabled = bool(settings.smtp_host)
        self._sleep = sleep
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._smtp_pool: ThreadPoolExecutor | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._smtp_pool is not None:
            self._smtp_pool.shutdown(wait=False)
            self._smtp_pool = None

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def deliver(self, alert: Alert) -> list[Outcome]:
        """Every delivery of ``alert``, concurrently; one outcome per target."""
        body = encode(alert)
        jobs = [
            self.post_webhook(alert, t, body)
            if t.channel is Channel.WEBHOOK
            else self.email(alert, t)
            for t in targets(alert, email_enabled=self.email_enabled)
        ]
        return list(await asyncio.gather(*jobs))

    # webhook

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    def webhook_headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", ALERT_ID_HEADER: alert.alert_id}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        return headers

    async def post_webhook(self, alert: Alert, target: Target, body: bytes) -> Outcome:
        headers = self.webhook_headers(alert, body)
        timeout = self.settings.webhook_timeout_seconds

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
                        + (f": {_one_line(snippet)}" if snippet.strip() else ""),
                        retryable=is_retryable_status(resp.status),
                        retry_after=_retry_after(resp.headers.get("Retry-After")),
                    )
            except aiohttp.InvalidURL as exc:
                raise DeliveryError(f"invalid URL: {exc}", retryable=False) from None
            except TimeoutError:
                raise DeliveryError(f"timed out after {timeout:g} s", retryable=True) from None
            except aiohttp.ClientError as exc:
                raise DeliveryError(
                    f"connection error: {type(exc).__name__}: {exc}", retryable=True
                ) from None

        return await with_retries(target, attempt, self.policy, self._sleep)

    # e-mail

    async def email(self, alert: Alert, target: Target) -> Outcome:
        try:
            msg = build_email(alert, target.recipient, self.settings.smtp_from, self._clock())
        except Exception as exc:  # e.g. an address the e-mail package refuses
            return Outcome(target, False, 0, f"cannot build the e-mail: {exc}")
        if self._smtp_pool is None:
            self._smtp_pool = ThreadPoolExecutor(SMTP_THREADS, thread_name_prefix="smtp")
        pool = self._smtp_pool

        async def attempt() -> None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(pool, self.send_email_blocking, msg)

        return await with_retries(target, attempt, self.policy, self._sleep)

    def send_email_blocking(self, msg: EmailMessage) -> None:
        """One SMTP session for one message (runs in a thread); errors as DeliveryError."""
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(msg)
        except OSError as exc:  # smtplib.SMTPException is an OSError
            raise classify_smtp_error(exc) from None


# --- failure records ----------------------------------------------------------------------


def failure_record(alert: Alert, outcome: Outcome, failed_at: datetime) -> bytes:
    """The ``dossier-alerts-failed`` value for a delivery that gave up."""
    t = outcome.target
    return encode(
        AlertDeliveryFailed(
            alert_id=alert.alert_id,
            channel=t.channel.value,
            target=t.address,
            recipient=t.recipient.name,
            attempts=outcome.attempts,
            error=outcome.error,
            failed_at=failed_at,
            alert=alert,
        )
    )


def undecodable_record(raw: bytes, error: str, failed_at: datetime) -> bytes:
    """A record on the alerts topic that is not an alert: kept, with the original bytes."""
    return encode(
        AlertDeliveryFailed(
            alert_id=None,
            channel=None,
            target=None,
            recipient=None,
            attempts=0,
            error=f"not a v1 alert: {error}",
            failed_at=failed_at,
            alert=None,
            original_b64=base64.b64encode(raw).decode("ascii"),
        )
    )


# --- one batch, without Kafka -------------------------------------------------------------


@dataclass
class BatchResult:
    """What to produce and what to remember after a batch was delivered."""

    #: (key, value) records for ``dossier-alerts-failed``.
    failed: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    #: (index of the record in the batch, alert id, mark) to write to the delivered table.
    handled: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    outcomes: list[tuple[Alert, Outcome]] = field(default_factory=list)
    duplicates: int = 0


async def deliver_batch(
    notifier: Notifier,
    records: Sequence[tuple[bytes | None, bytes | None]],
    seen: Callable[[bytes], bool],
    now: Callable[[], datetime],
) -> BatchResult:
    """Decode ``records`` (key, value), skip the ids ``seen`` or repeated in the batch,
    deliver the rest concurrently, and say what to produce and remember. Raises only when
    cancelled: a failure of any kind becomes a failure record."""
    result = BatchResult()
    todo: list[tuple[int, Alert]] = []
    batch_ids: set[bytes] = set()
    for index, (key, raw) in enumerate(records):
        try:
            alert = decode(Alert, raw or b"")
        except ContractError as exc:
            log.error("not an alert on the alerts topic, recorded as failed: %s", exc)
            result.failed.append((key, undecodable_record(raw or b"", str(exc), now())))
            continue
        aid = alert.alert_id.encode("utf-8")
        if aid in batch_ids or seen(aid):
            result.duplicates += 1
            continue
        batch_ids.add(aid)
        todo.append((index, alert))

    delivered = await asyncio.gather(
        *(notifier.deliver(alert) for _, alert in todo), return_exceptions=True
    )
    for (index, alert), outcomes in zip(todo, delivered, strict=True):
        if isinstance(outcomes, BaseException):  # a bug in deliver itself: keep the alert
            if not isinstance(outcomes, Exception):
                raise outcomes  # cancellation: the batch is not done
            log.error("delivering alert %s crashed", alert.alert_id, exc_info=outcomes)
            outcomes = [
                Outcome(t, False, 0, f"internal error: {type(outcomes).__name__}: {outcomes}")
                for t in targets(alert, email_enabled=notifier.email_enabled)
            ]
        if not outcomes:
            log.info("alert %s has no webhook or e-mail to deliver to", alert.alert_id)
        sent = failed = 0
        for outcome in outcomes:
            result.outcomes.append((alert, outcome))
            if outcome.delivered:
                sent += 1
                continue
            failed += 1
            log.warning(
                "alert %s: %s delivery to %s failed after %d attempts: %s",
                alert.alert_id,
                outcome.target.channel,
                outcome.target.address,
                outcome.attempts,
                outcome.error,
            )
            result.failed.append(
                (alert.dossier_id.encode("utf-8"), failure_record(alert, outcome, now()))
            )
        mark = f"{now().isoformat()} delivered={sent} failed={failed}".encode()
        result.handled.append((index, alert.alert_id.encode("utf-8"), mark))
    return result


# --- the faust agent ----------------------------------------------------------------------


@dataclass
class NotifierParts:
    """What ``register_notifier`` added to the app."""

    agent: Any
    delivered: Any  # the table of handled alert ids


OutcomeHook = Callable[[Alert, Outcome], None]


def register_notifier(
    app: Any,
    settings: Settings,
    topics: dict[str, Any],
    *,
    on_outcome: OutcomeHook | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> NotifierParts:
    """Add the ``notifier`` agent on ``topics["alerts"]`` and its delivered-ids table.

    ``topics`` are the app's raw-bytes topics (``alerts``, ``alerts_failed``);
    ``on_outcome`` runs for every delivery outcome (metrics).
    """
    # Imported here: faust is heavy, and everything above is usable without it.
    from agents.consumer import exit_unacked, settle_or_withhold
    from agents.tables import BatchedChangelogTable

    if not settings.webhook_secret.get_secret_value():
        log.warning(
            "DOSSIERFLOW_WEBHOOK_SECRET is empty: webhooks are sent without %s", SIGNATURE_HEADER
        )
    if not settings.smtp_host:
        log.warning(
            "DOSSIERFLOW_SMTP_HOST is empty: e-mail is off; recipients without a webhook "
            "see their alerts only on %s",
            settings.topics.alerts,
        )
    delivered = BatchedChangelogTable(
        app,
        name=f"{settings.topics.alerts}-delivered",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        beacon=app.tables.beacon,
        extra_topic_configs={
            "cleanup.policy": "compact,delete",
            "retention.ms": str(DELIVERED_RETENTION_MS),
        },
    )
    app.tables.add(delivered)
    failed_topic = topics["alerts_failed"]

    async def handle(batch: Sequence[Any], notifier: Notifier) -> None:
        records = [(e.message.key, e.message.value) for e in batch]
        result = await deliver_batch(notifier, records, lambda k: k in delivered, clock)
        if on_outcome is not None:
            for alert, outcome in result.outcomes:
                try:
                    on_outcome(alert, outcome)
                except Exception:
                    log.exception("on_outcome hook failed")
        # 1. failure records first, confirmed by the broker: an alert is never remembered
        #    as handled while the news of its failure could still be lost.
        name = failed_topic.get_topic_name()
        pending = [
            await app.producer.send(name, key, value, None, None, None)
            for key, value in result.failed
        ]
        await asyncio.gather(*pending)
        # 2. then the delivered ids; the changelog partition is the alert record's.
        for index, key, mark in result.handled:
            delivered.stage(key, mark, batch[index])
        await delivered.flush_changelog()
        # 3. take_events acks the batch when this returns.

    # One batch at a time, deliveries within it concurrent: the batch is acked only when
    # all of it is handled, so a slow receiver holds back the next batch (bounded by the
    # retry budget) but never the other alerts of its own batch.
    @app.agent(topics["alerts"], name="notifier")  # type: ignore[untyped-decorator]
    async def notify(stream: Any) -> None:
        notifier = Notifier(settings, clock=clock)
        try:
            async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
                # Unfinished (SIGTERM, a failed write): not acked, delivered again later.
                async with settle_or_withhold(batch):
                    try:
                        await handle(batch, notifier)
                    except Exception:
                        # failure records or delivered ids not written (broker gone)
                        exit_unacked("notifier")
        finally:
            await notifier.close()

    return NotifierParts(agent=notify, delivered=delivered)


def retry_budget_s(settings: Settings) -> float:
    """Longest one delivery can take: every attempt times out, every backoff is waited."""
    policy = RetryPolicy.from_settings(settings)
    attempt_s = max(settings.webhook_timeout_seconds, settings.smtp_timeout_seconds)
    return policy.attempts * attempt_s + sum(policy.schedule())


def iter_failure_records(values: Iterable[bytes]) -> list[AlertDeliveryFailed]:
    """Parse ``dossier-alerts-failed`` values (for tools and tests); skips foreign records."""
    parsed = []
    for raw in values:
        try:
            parsed.append(decode(AlertDeliveryFailed, raw))
        except ContractError:
            continue
    return parsed
