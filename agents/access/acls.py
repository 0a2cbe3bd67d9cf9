"""The ACLs of each role (engine, publisher, reader), computed per topic prefix and app id.

``bindings_for`` is pure; ``apply_acls`` creates them (idempotent); ``python -m agents.access.acls``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from events.topics import TopicNames

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("engine", "publisher", "reader")
#: the tables `dossierflow report` reads from their changelogs (faust names them
#: ``<app_id>-<events topic>-<table>-changelog``)
REPORT_TABLES: tuple[str, ...] = ("open", "closed", "parked")


class Resource(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"
    CLUSTER = "CLUSTER"


class Pattern(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


@dataclass(frozen=True, order=True)
class Binding:
    """One ALLOW rule: ``principal`` may do ``operation`` on the resource (from any host)."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: str

    def __str__(self) -> str:
        return (
            f"{self.principal} ALLOW {self.operation} on {self.resource.value} "
            f"{self.pattern.value}:{self.name}"
        )


@dataclass(frozen=True)
class Scope:
    """What one deployment's names are: its topic prefix and faust app id (= engine group)."""

    topic_prefix: str = ""
    app_id: str = "dossierflow"

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)

    @property
    def engine_internal_prefix(self) -> str:
        """Every changelog of this deployment's tables (faust: ``<app_id>-<table>-changelog``,
        the tables named after prefixed topics), present and future."""
        return f"{self.app_id}-{self.topic_prefix}"

    @property
    def assignor_topic(self) -> str:
        """faust's leader-election topic: ``<app_id>-__assignor-__leader`` (no topic prefix)."""
        return f"{self.app_id}-__assignor-__leader"

    def report_changelogs(self) -> tuple[str, ...]:
        events = self.topics.events
        return tuple(f"{self.app_id}-{events}-{t}-changelog" for t in REPORT_TABLES)

    def tool_group_prefixes(self) -> tuple[str, ...]:
        """Consumer groups read-only tools may use: the inbox's ``<app_id>-inbox-<agency>``
        and any ``<app_id>-tools-…``; never the engine's own group (``<app_id>``)."""
        return (f"{self.app_id}-inbox-", f"{self.app_id}-tools-")


_ENGINE_TOPIC_OPS = ("READ", "WRITE", "DESCRIBE", "CREATE")


def _grants(
    principal: str, resource: Resource, name: str, pattern: Pattern, ops: Sequence[str]
) -> list[Binding]:
    return [Binding(principal, resource, name, pattern, op) for op in ops]


def engine_bindings(principal: str, scope: Scope) -> list[Binding]:
    """The worker: consumes events and ticks, writes every output, owns its changelogs."""
    names = scope.topics
    out: list[Binding] = []
    # Agencies' events: the engine reads (and may declare) them but never writes one.
    out += _grants(principal, Resource.TOPIC, names.events, Pattern.LITERAL,
                   ("READ", "DESCRIBE", "CREATE"))  # fmt: skip
    outputs = (names.dlq, names.anomalies, names.assignments, names.alerts, names.alerts_failed)
    for topic in (*outputs, names.ticks):
        out += _grants(principal, Resource.TOPIC, topic, Pattern.LITERAL, _ENGINE_TOPIC_OPS)
    # The access log: the engine appends (and declares) it, never reads it back.
    out += _grants(principal, Resource.TOPIC, names.audit, Pattern.LITERAL,
                   ("WRITE", "DESCRIBE", "CREATE"))  # fmt: skip
    out += _grants(principal, Resource.TOPIC, scope.engine_internal_prefix, Pattern.PREFIXED,
                   _ENGINE_TOPIC_OPS)  # fmt: skip
    out += _grants(principal, Resource.TOPIC, scope.assignor_topic, Pattern.LITERAL,
                   _ENGINE_TOPIC_OPS)  # fmt: skip
    out += _grants(principal, Resource.GROUP, scope.app_id, Pattern.LITERAL, ("READ", "DESCRIBE"))
    return out


def publisher_bindings(principal: str, scope: Scope) -> list[Binding]:
    """A publisher system: produces to the events topic and nothing else.

    Its idempotent producer needs no IdempotentWrite on the cluster: since Kafka 3.0
    (KIP-679) WRITE on a topic is enough for InitProducerId.
    """
    return _grants(principal, Resource.TOPIC, scope.topics.events, Pattern.LITERAL,
                   ("WRITE", "DESCRIBE"))  # fmt: skip


def reader_bindings(principal: str, scope: Scope) -> list[Binding]:
    """Read-only tools (inbox, alerts, dead letters, report, the access log): READ what they
    show, DESCRIBE where the router is, no WRITE."""
    names = scope.topics
    out: list[Binding] = []
    shown = (
        names.assignments, names.alerts, names.alerts_failed, names.dlq, names.anomalies,
        names.audit,
    )  # fmt: skip
    for topic in (*shown, *scope.report_changelogs()):
        out += _grants(principal, Resource.TOPIC, topic, Pattern.LITERAL, ("READ", "DESCRIBE"))
    for group in scope.tool_group_prefixes():
        out += _grants(principal, Resource.GROUP, group, Pattern.PREFIXED, ("READ", "DESCRIBE"))
    # `publish --wait`: how far the router's group has committed on the events topic
    # (OffsetFetch needs DESCRIBE on both). No READ: the reader sees no event's content
    # and cannot join or commit for the engine's group.
    out += _grants(principal, Resource.TOPIC, names.events, Pattern.LITERAL, ("DESCRIBE",))
    out += _grants(principal, Resource.GROUP, scope.app_id, Pattern.LITERAL, ("DESCRIBE",))
    return out


_BY_ROLE = {"engine": engine_bindings, "publisher": publisher_bindings, "reader": reader_bindings}


def bindings_for(role: str, username: str, scope: Scope) -> list[Binding]:
    """The ALLOW bindings of ``role`` for the SCRAM user ``username`` in ``scope``."""
    try:
        compute = _BY_ROLE[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}: expected one of {ROLES}") from None
    return compute(f"User:{username}", scope)


def all_bindings(scope: Scope, principals: Mapping[str, str]) -> list[Binding]:
    """Every binding for ``principals`` (role → username), sorted, without duplicates."""
    found = {b for role, user in principals.items() for b in bindings_for(role, user, scope)}
    return sorted(found)


def to_kafka_acl(binding: Binding) -> Any:
    """The kafka-python ``ACL`` for ``binding``."""
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    name = "kafka-cluster" if binding.resource is Resource.CLUSTER else binding.name
    return ACL(
        principal=binding.principal,
        host="*",
        operation=ACLOperation[binding.operation],
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(
            ResourceType[binding.resource.value],
            name,
            ACLResourcePatternType[binding.pattern.value],
        ),
    )


def apply_acls(
    admin_config: Mapping[str, Any],
    topic_prefix: str,
    app_id: str,
    principals: Mapping[str, str],
) -> list[Binding]:
    """Create the bindings of ``principals`` (role → username); returns them.

    ``admin_config`` is kafka-python ``KafkaAdminClient`` kwargs for a principal allowed to
    alter ACLs (the super user): ``bootstrap_servers`` plus ``KafkaSecurity.kafka_python_kwargs``.
    Idempotent: Kafka treats creating an existing ACL as success.
    """
    from kafka import KafkaAdminClient

    bindings = all_bindings(Scope(topic_prefix, app_id), principals)
    admin = KafkaAdminClient(client_id="dossierflow-acls", **dict(admin_config))
    try:
        result = admin.create_acls([to_kafka_acl(b) for b in bindings])
    finally:
        admin.close()
    if result["failed"]:
        raise RuntimeError(f"the broker refused {len(result['failed'])} ACL(s): {result['failed']}")
    log.info("ACLs in place: %d bindings for %s", len(bindings), ", ".join(sorted(principals)))
    return bindings


def main(argv: Sequence[str] | None = None) -> int:
    from agents.access.client import KafkaSecurity, bootstrap_from_credentials_file
    from agents.access.credentials import ADMIN, read_clients_file

    parser = argparse.ArgumentParser(prog="python -m agents.access.acls")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, text in (("apply", "create the ACLs"), ("show", "print them, change nothing")):
        p = sub.add_parser(command, help=text)
        p.add_argument("--prefix", default="", help="topic prefix (tests: t-1a2b3c4d-)")
        p.add_argument("--app-id", default="dossierflow", help="faust app id")
        p.add_argument("--credentials", type=Path, required=True, help="clients.json")
        p.add_argument("--bootstrap", help="host:port (default: the file's)")
    args = parser.parse_args(argv)
    try:
        data = read_clients_file(args.credentials)
        principals = {r: str(data["principals"][r]["username"]) for r in ROLES}
        if args.command == "show":
            bindings = all_bindings(Scope(args.prefix, args.app_id), principals)
        else:
            admin = KafkaSecurity.from_credentials_file(args.credentials, ADMIN)
            bootstrap = args.bootstrap or bootstrap_from_credentials_file(args.credentials)
            config = {"bootstrap_servers": [bootstrap], **admin.kafka_python_kwargs()}
            bindings = apply_acls(config, args.prefix, args.app_id, principals)
    except (KeyError, ValueError, RuntimeError, OSError) as exc:
        print(f"acls: error: {exc}", file=sys.stderr)
        return 1
    for binding in bindings:
        print(binding)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
