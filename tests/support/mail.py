"""A real local mail server for the tests: aiosmtpd on 127.0.0.1, optionally with STARTTLS
(a certificate from a CA made for the test) and AUTH."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from agents.access.certs import ensure_pki

#: The only login ``Mailbox.authenticate`` accepts.
LOGIN = (b"notifier", b"pw-123")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Mailbox:
    """aiosmtpd handler: keeps every message; ``refuse[address]`` lists RCPT replies to give
    that address before accepting it."""

    def __init__(self, refuse: dict[str, list[str]] | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = {k: list(v) for k, v in (refuse or {}).items()}
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        replies = self.refuse.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == LOGIN
        # handled=False: aiosmtpd sends the 535 reply itself
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(mailbox: Mailbox, **smtp_kwargs: Any) -> Iterator[int]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **smtp_kwargs)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def server_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a certificate for 127.0.0.1 and localhost, from a CA made
    in ``directory``; and that CA's certificate, for the client to trust."""
    files, _ = ensure_pki(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.broker_pem)  # key, certificate and CA in one file
    return context, files.ca_cert
