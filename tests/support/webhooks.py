"""The test suite's webhook secrets: one secrets file, so every test worker signs its webhooks.

Like the publisher key (``support.signing``), the secrets are fixed and public (tests
only); the file is written once per process, mode 0600, and given to workers by
``worker_env`` (``DOSSIERFLOW_WEBHOOK_SECRETS_PATH``). Receivers in the tests check
signatures with ``agents.notify.verify`` -- the procedure docs/alerts.md documents.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr

from workflows.catalog import Agency, Catalog, Supervisor

#: kid -> secret for the ``default`` secret name: every supervisor the sample catalog has.
DEFAULT_KEYS: Mapping[str, str] = {"test-1": "test-webhook-secret-default-0001"}


def secrets_json(secrets: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The secrets document: name -> {kid: secret} (default: ``default`` only)."""
    chosen = secrets if secrets is not None else {"default": DEFAULT_KEYS}
    return json.dumps(
        {name: [{"kid": k, "secret": s} for k, s in keys.items()] for name, keys in chosen.items()}
    )


def write_secrets(path: Path, secrets: Mapping[str, Mapping[str, str]] | None = None) -> Path:
    """``secrets_json(secrets)`` in ``path``, created 0600 (the notifier refuses others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets_json(secrets))
    os.chmod(path, 0o600)
    return path


@cache
def secrets_path() -> Path:
    """The suite's secrets file (``default`` only), written once per process."""
    folder = Path(tempfile.gettempdir()) / f"dossierflow-test-webhooks-{os.getpid()}"
    return write_secrets(folder / "webhook-secrets.json")


def inline_secrets(secrets: Mapping[str, Mapping[str, str]] | None = None) -> SecretStr:
    """For ``Settings(webhook_secrets=...)``: the same document, without a file."""
    return SecretStr(secrets_json(secrets))


def supervisor(
    *,
    email: str = "giamdoc.sxd@laocai.example",
    webhook: str | None = None,
    name: str = "Hoàng Văn Nam",
    role: str = "department_head",
    secret: str | None = None,
) -> Supervisor:
    """A catalog supervisor (``department_head``: told about step-overdue alerts)."""
    return Supervisor.model_validate(
        {"name": name, "email": email, "webhook": webhook, "role": role, "webhook_secret": secret}
    )


def catalog_of(agencies: Mapping[str, Sequence[Supervisor]]) -> Catalog:
    """A catalog of ``agencies`` (code -> supervisors) and no procedure: what the notifier
    looks recipients up in."""
    return Catalog(
        [
            Agency(code=code, name=f"Agency {code}", level="department", supervisors=tuple(sups))
            for code, sups in agencies.items()
        ],
        [],
    )


@asynccontextmanager
async def local_server(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A real HTTP server on 127.0.0.1 (a free port) answering every method and path with
    ``handle``; yields its base URL, ``http://127.0.0.1:<port>``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
