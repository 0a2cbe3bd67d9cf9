"""What every alert channel must do, against a real local receiver: one abstract contract,
one subclass per channel registered in ``agents.notify.registry.CHANNELS``.

A new channel passes when its subclass says how to run a receiver that answers each
attempt as told (``Reply``) and reports the alert ids it accepted. Addresses are a catalog
``Supervisor``'s, as the notifier resolves them; the webhook receiver checks signatures
with ``agents.notify.verify``, the procedure docs/alerts.md gives receivers.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any, ClassVar, TypeVar

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from agents.notify import (
    ALERT_ID_HEADER,
    CHANNELS,
    DEFAULT_SECRET,
    SIGNATURE_HEADER,
    Channel,
    DeliveryError,
    EmailChannel,
    RetryPolicy,
    SignatureRejected,
    Target,
    WebhookChannel,
    verify,
    with_retries,
)
from agents.settings import Settings
from events import Alert, Recipient
from workflows.catalog import Supervisor

from support.outbound import make_alert
from support.webhooks import DEFAULT_KEYS, inline_secrets, supervisor

VN = timezone(timedelta(hours=7))
T = TypeVar("T")


class Reply(Enum):
    """How the receiver answers one attempt."""

    OK = "ok"
    TRANSIENT = "transient"  # worth another attempt (HTTP 503, SMTP 451)
    PERMANENT = "permanent"  # refused for good (HTTP 404, SMTP 550)


@dataclass
class Endpoint:
    """A running receiver: the settings and recipient that reach it, and what it accepted."""

    settings: Settings
    contact: Supervisor
    accepted: list[str] = field(default_factory=list)  # alert ids, in arrival order


#: Quick attempts: three of them, 10 ms apart.
QUICK = dict(webhook_retries=2, webhook_backoff_seconds=0.01, webhook_timeout_seconds=2.0)


def settings(**overrides: Any) -> Settings:
    # model_construct: no DOSSIERFLOW_* variable of the machine running the tests leaks in.
    return Settings.model_construct(webhook_secrets=inline_secrets(), **{**QUICK, **overrides})


def an_alert(**fields: Any) -> Alert:
    due = datetime(2026, 5, 4, 17, 30, tzinfo=VN)
    return make_alert(due=due, detected=due + timedelta(hours=2), **fields)


def target_of(channel: type[Channel], contact: Supervisor) -> Target:
    address = channel.address(contact)
    assert address is not None
    named = Recipient(name=contact.name, role=contact.role)
    return Target(channel.name, address, named, contact.webhook_secret or DEFAULT_SECRET)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class ChannelContract(ABC):
    """Subclass once per channel; pytest collects the subclasses (``Test...``)."""

    channel: ClassVar[type[Channel]]

    @abstractmethod
    def receiver(self, replies: Sequence[Reply]) -> AbstractAsyncContextManager[Endpoint]:
        """A real receiver answering attempts with ``replies`` in order, then ``Reply.OK``."""

    @abstractmethod
    def unreachable(self) -> tuple[Settings, Supervisor]:
        """Settings and a supervisor whose address nobody listens on."""

    def _deliver(self, endpoint_settings: Settings, contact: Supervisor, **alert: Any) -> Any:
        async def go() -> Any:
            channel = self.channel(endpoint_settings, lambda: datetime.now(UTC))
            target = target_of(self.channel, contact)
            alert_ = an_alert(**alert)
            try:
                policy = RetryPolicy.from_settings(endpoint_settings)
                return await with_retries(target, channel.prepare(alert_, target), policy)
            finally:
                await channel.close()

        return run(go())

    def test_is_registered_once_under_its_name(self) -> None:
        assert [c.name for c in CHANNELS].count(self.channel.name) == 1
        assert self.channel in CHANNELS

    def test_delivers_an_alert_once_with_its_id(self) -> None:
        async def go() -> tuple[Any, list[str]]:
            async with self.receiver([]) as endpoint:
                assert self.channel.enabled(endpoint.settings)
                outcome = await asyncio.to_thread(
                    self._deliver, endpoint.settings, endpoint.contact
                )
                return outcome, endpoint.accepted

        outcome, accepted = run(go())
        assert (outcome.delivered, outcome.attempts, outcome.error) == (True, 1, None)
        assert accepted == [an_alert().alert_id]

    def test_a_transient_refusal_is_retried_then_delivered(self) -> None:
        async def go() -> tuple[Any, list[str]]:
            async with self.receiver([Reply.TRANSIENT]) as endpoint:
                outcome = await asyncio.to_thread(
                    self._deliver, endpoint.settings, endpoint.contact
                )
                return outcome, endpoint.accepted

        outcome, accepted = run(go())
        assert (outcome.delivered, outcome.attempts) == (True, 2)
        assert len(accepted) == 1

    def test_a_permanent_refusal_is_not_retried(self) -> None:
        async def go() -> tuple[Any, list[str]]:
            async with self.receiver([Reply.PERMANENT] * 5) as endpoint:
                outcome = await asyncio.to_thread(
                    self._deliver, endpoint.settings, endpoint.contact
                )
                return outcome, endpoint.accepted

        outcome, accepted = run(go())
        assert (outcome.delivered, outcome.attempts) == (False, 1)
        assert outcome.error
        assert accepted == []

    def test_an_unreachable_receiver_is_retried_until_the_policy_is_spent(self) -> None:
        conf, contact = self.unreachable()
        outcome = self._deliver(conf, contact)
        assert (outcome.delivered, outcome.attempts) == (False, conf.webhook_retries + 1)

    def test_one_attempt_fails_with_a_classified_delivery_error(self) -> None:
        conf, contact = self.unreachable()

        async def go() -> DeliveryError:
            channel = self.channel(conf, lambda: datetime.now(UTC))
            target = target_of(self.channel, contact)
            try:
                with pytest.raises(DeliveryError) as caught:
                    await channel.prepare(an_alert(), target)()
                return caught.value
            finally:
                await channel.close()

        assert run(go()).retryable

    @pytest.mark.parametrize(
        "alert_id",
        [
            "65e7083802718bdcaa69b7128aeed136\r\nBcc: citizen@evil.example",  # header injection
            "65e7083802718bdcaa69b7128aeed136\n",  # a bare LF starts a header too
            "65e70838\x00",  # NUL
            "65e70838\u2028x",  # a Unicode line separator
        ],
    )
    def test_a_header_with_a_control_character_is_refused_before_any_attempt(
        self, alert_id: str
    ) -> None:
        async def go() -> tuple[DeliveryError, list[str]]:
            async with self.receiver([]) as endpoint:
                channel = self.channel(endpoint.settings, lambda: datetime.now(UTC))
                forged = an_alert().model_copy(update={"alert_id": alert_id})
                try:
                    with pytest.raises(DeliveryError) as caught:
                        channel.prepare(forged, target_of(self.channel, endpoint.contact))
                finally:
                    await channel.close()
                return caught.value, endpoint.accepted

        error, accepted = run(go())
        assert not error.retryable
        assert "header " in str(error) and "control character U+" in str(error)
        assert accepted == []

    def test_close_is_safe_unused_and_twice(self) -> None:
        async def go() -> None:
            channel = self.channel(settings(), lambda: datetime.now(UTC))
            await channel.close()
            await channel.close()

        run(go())


# --- the webhook channel: an aiohttp server checking the signature ------------------------


class TestWebhookChannel(ChannelContract):
    channel = WebhookChannel

    @asynccontextmanager
    async def receiver(self, replies: Sequence[Reply]) -> AsyncIterator[Endpoint]:
        todo = list(replies)
        statuses = {Reply.OK: 200, Reply.TRANSIENT: 503, Reply.PERMANENT: 404}
        accepted: list[str] = []

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                verify(body, request.headers.get(SIGNATURE_HEADER), DEFAULT_KEYS)
            except SignatureRejected:
                return web.Response(status=401)
            status = statuses[todo.pop(0) if todo else Reply.OK]
            if status == 200:
                accepted.append(request.headers[ALERT_ID_HEADER])
            return web.Response(status=status)

        app = web.Application()
        app.router.add_post("/hook", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        contact = supervisor(webhook=f"http://{host}:{port}/hook")
        try:
            yield Endpoint(settings(), contact, accepted)
        finally:
            await runner.cleanup()

    def unreachable(self) -> tuple[Settings, Supervisor]:
        return settings(), supervisor(webhook=f"http://127.0.0.1:{free_port()}/hook")


# --- the e-mail channel: an aiosmtpd server -----------------------------------------------


class _Mailbox:
    def __init__(self, replies: Sequence[Reply], accepted: list[str]) -> None:
        self.todo = list(replies)
        self.accepted = accepted

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.todo.pop(0) if self.todo else Reply.OK
        if reply is Reply.TRANSIENT:
            return "451 4.3.0 try again later"
        if reply is Reply.PERMANENT:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.accepted.append(str(msg[ALERT_ID_HEADER]))
        return "250 Message accepted for delivery"


class TestEmailChannel(ChannelContract):
    channel = EmailChannel

    @asynccontextmanager
    async def receiver(self, replies: Sequence[Reply]) -> AsyncIterator[Endpoint]:
        accepted: list[str] = []
        controller = Controller(_Mailbox(replies, accepted), hostname="127.0.0.1", port=free_port())
        controller.start()
        conf = settings(smtp_host="127.0.0.1", smtp_port=controller.port)
        try:
            yield Endpoint(conf, supervisor(email="nam@sxd.example"), accepted)
        finally:
            controller.stop()

    def unreachable(self) -> tuple[Settings, Supervisor]:
        conf = settings(smtp_host="127.0.0.1", smtp_port=free_port())
        return conf, supervisor(email="nam@sxd.example")
