"""The tests' Kafka login: the session broker is secured (TLS + SCRAM + ACLs) like production.

The session fixture calls :func:`configure` with the credentials file scripts/kafka-local
wrote (or none, for an unsecured external broker). Test-side clients log in as the
super user unless they stand for a role (``login("publisher")``); workers and CLI
processes log in as their own principal (:func:`env`), and each test's topic prefix and
group get the ACLs of each role (:func:`grant`) before a worker starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents.access.acls import ROLES, apply_acls
from agents.access.client import KafkaSecurity
from agents.access.credentials import ADMIN, read_clients_file

_state: dict[str, Path | None] = {"credentials": None}
_granted: set[tuple[str, str, str]] = set()


def configure(credentials: Path | None) -> None:
    """Use ``credentials`` (a secured broker) or nothing (PLAINTEXT) from now on; also for
    Settings built in this process and the processes it starts."""
    _state["credentials"] = credentials
    if credentials is None:
        os.environ["DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
        os.environ.pop("DOSSIERFLOW_KAFKA_CREDENTIALS", None)
    else:
        os.environ["DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL"] = "SASL_SSL"
        os.environ["DOSSIERFLOW_KAFKA_CREDENTIALS"] = str(credentials)


@contextmanager
def using(credentials: Path | None) -> Iterator[None]:
    """Within: log in to another broker (a test's own), then back to the session's."""
    before = _state["credentials"]
    configure(credentials)
    try:
        yield
    finally:
        configure(before)


def secured() -> bool:
    return _state["credentials"] is not None


def login(role: str = ADMIN) -> dict[str, Any]:
    """kafka-python kwargs for a test-side client acting as ``role`` (none when unsecured)."""
    credentials = _state["credentials"]
    if credentials is None:
        return {}
    return KafkaSecurity.from_credentials_file(credentials, role).kafka_python_kwargs()


def env() -> dict[str, str]:
    """The DOSSIERFLOW_* login variables for a child process (its command picks its role)."""
    credentials = _state["credentials"]
    if credentials is None:
        return {"DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    return {
        "DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "DOSSIERFLOW_KAFKA_CREDENTIALS": str(credentials),
    }


def grant(bootstrap: str, prefix: str, app_id: str) -> None:
    """The ACLs of every role on ``prefix``'s topics and ``app_id``'s group (once each)."""
    credentials = _state["credentials"]
    if credentials is None or (bootstrap, prefix, app_id) in _granted:
        return
    data = read_clients_file(credentials)
    principals = {role: str(data["principals"][role]["username"]) for role in ROLES}
    apply_acls({"bootstrap_servers": [bootstrap], **login()}, prefix, app_id, principals)
    _granted.add((bootstrap, prefix, app_id))
