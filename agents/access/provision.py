"""Grant each principal of a credentials file what its role needs on one deployment's topics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.access.acls import ROLES, Binding, apply_acls
from agents.access.client import KafkaSecurity
from agents.access.credentials import ADMIN, read_clients_file

if TYPE_CHECKING:
    from agents.settings import Settings


def grant(settings: Settings) -> list[Binding]:
    """Create the ACLs of the engine, publisher and reader for ``settings``' topic prefix and
    app id, as the credentials file's admin. Nothing to do (empty) on an unsecured broker.

    Needs ``kafka_credentials`` (or the default file): that is where the principals are.
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return []
    path = settings.credentials_file()
    data = read_clients_file(path)
    principals = {role: str(data["principals"][role]["username"]) for role in ROLES}
    admin = KafkaSecurity.from_credentials_file(path, ADMIN)
    config = {"bootstrap_servers": settings.bootstrap_servers, **admin.kafka_python_kwargs()}
    return apply_acls(config, settings.topic_prefix, settings.app_id, principals)
