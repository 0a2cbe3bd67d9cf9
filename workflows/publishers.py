"""The publisher registry: which systems may publish, for which agencies, with which keys.

A YAML document (``DOSSIERFLOW_PUBLISHERS``; format in docs/security.md)::

    publishers:
      - id: lao-cai-igate             # the dossierflow-publisher header
        agencies: [MOTCUA, STC, SXD]  # the agencies it may speak for ("*": any)
        keys:                         # versioned, so a key can rotate
          - id: "2026-01"             # the dossierflow-key header
            public_key: 3q2+7w...=    # base64 of the raw 32-byte Ed25519 public key
            valid_from: 2026-01-01T00:00:00+07:00
            retired_at: 2026-07-01T00:00:00+07:00   # optional

A key verifies a record whose broker timestamp (LogAppendTime: set by the broker, not
the publisher) is at or after ``valid_from`` and before ``retired_at``. Pure: ``parse``
takes the text and the name to report; the shell reads the file. Every problem is
reported with file, line and path, all of them at once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Protocol, TypeVar

import yaml

from workflows.catalog.problems import listing

__all__ = [
    "ANY_AGENCY",
    "PublisherEntry",
    "PublisherKey",
    "PublisherRegistry",
    "PublisherRegistryError",
    "RegistryProblem",
    "parse",
    "render",
]

PUBLIC_KEY_BYTES = 32


@dataclass(frozen=True)
class PublisherKey:
    id: str
    public_key: bytes
    valid_from: datetime
    retired_at: datetime | None = None


#: In ``agencies``: the publisher may speak for any agency (a test's, or a system that
#: publishes for a whole province and is trusted to: its events are still authorized
#: against the dossier's state).
ANY_AGENCY = "*"


@dataclass(frozen=True)
class PublisherEntry:
    id: str
    agencies: frozenset[str]
    keys: Mapping[str, PublisherKey]

    @property
    def speaks_for(self) -> frozenset[str] | None:
        """The agencies it may speak for; None = any (``ANY_AGENCY``)."""
        return None if ANY_AGENCY in self.agencies else self.agencies


@dataclass(frozen=True)
class PublisherRegistry:
    """Implements ``events.signature.Keyring``; empty = nobody may publish."""

    publishers: Mapping[str, PublisherEntry] = field(default_factory=lambda: MappingProxyType({}))

    def public_key(self, publisher: str, key_id: str, at: datetime | None) -> bytes | str:
        entry = self.publishers.get(publisher)
        if entry is None:
            return f"unknown publisher {publisher!r}: not in the publisher registry"
        key = entry.keys.get(key_id)
        if key is None:
            return f"unknown key {key_id!r} of publisher {publisher!r}"
        if at is None:
            if key.retired_at is not None:
                return (
                    f"key {key_id!r} of {publisher!r} retired at {key.retired_at.isoformat()} "
                    "and the record has no broker timestamp"
                )
            return key.public_key
        if at < key.valid_from:
            return (
                f"key {key_id!r} of {publisher!r} is valid from {key.valid_from.isoformat()}; "
                f"the record was appended at {at.isoformat()}"
            )
        if key.retired_at is not None and at >= key.retired_at:
            return (
                f"key {key_id!r} of {publisher!r} retired at {key.retired_at.isoformat()}; "
                f"the record was appended at {at.isoformat()}"
            )
        return key.public_key

    def agencies(self, publisher: str) -> frozenset[str] | None:
        """The agencies ``publisher`` may speak for (None: any; empty: unknown publisher)."""
        entry = self.publishers.get(publisher)
        return entry.speaks_for if entry is not None else frozenset()


@dataclass(frozen=True)
class RegistryProblem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        at = f":{self.line}" if self.line is not None else ""
        where = f" {self.path}:" if self.path else ""
        return f"{self.file}{at}:{where} {self.message}"


class PublisherRegistryError(Exception):
    """The registry cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[RegistryProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(listing("publisher registry", self.problems))


class _Reader:
    """Walks the composed YAML nodes, so every problem knows its line."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[RegistryProblem] = []

    def problem(self, node: yaml.Node | None, path: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.problems.append(RegistryProblem(self.name, line, path, message))

    def mapping(
        self, node: yaml.Node, path: str, required: set[str], optional: set[str]
    ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, "must be a mapping")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key in out:
                self.problem(key_node, path, f"duplicate field {key!r}")
            elif key not in required | optional:
                known = ", ".join(sorted(required | optional))
                self.problem(key_node, path, f"unknown field {key!r} (known: {known})")
            else:
                out[key] = value_node
        for key in sorted(required - out.keys()):
            self.problem(node, path, f"missing field {key!r}")
        return out

    def text(self, node: yaml.Node, path: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            self.problem(node, path, "must be a non-empty string")
            return None
        value = str(node.value)
        if len(value.encode()) > 128 or any(c.isspace() for c in value):
            self.problem(node, path, "must be 1-128 bytes without spaces")
            return None
        return value

    def instant(self, node: yaml.Node, path: str) -> datetime | None:
        text = node.value if isinstance(node, yaml.ScalarNode) else None
        try:
            value = datetime.fromisoformat(str(text)) if text is not None else None
        except ValueError:
            value = None
        if value is None:
            self.problem(node, path, "must be an ISO 8601 instant, e.g. 2026-01-01T00:00:00+07:00")
            return None
        if value.utcoffset() is None:
            self.problem(node, path, f"{text} has no UTC offset (e.g. +07:00)")
            return None
        return value

    def public_key(self, node: yaml.Node, path: str) -> bytes | None:
        text = node.value if isinstance(node, yaml.ScalarNode) else ""
        try:
            raw = base64.b64decode(str(text), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != PUBLIC_KEY_BYTES:
            self.problem(
                node,
                path,
                "must be the base64 of a raw 32-byte Ed25519 public key "
                "(dossierflow keys new prints it)",
            )
            return None
        return raw


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def _by_id(
    reader: _Reader,
    node: yaml.SequenceNode,
    path: str,
    parse_one: Callable[[_Reader, yaml.Node, str], T | None],
    duplicate: str,
) -> dict[str, T]:
    """The list at ``path`` parsed item by item, by id; a repeated id is a problem."""
    items: dict[str, T] = {}
    for i, item in enumerate(node.value):
        parsed = parse_one(reader, item, f"{path}[{i}]")
        if parsed is None:
            continue
        if parsed.id in items:
            reader.problem(item, f"{path}[{i}].id", f"{duplicate} {parsed.id!r}")
        items[parsed.id] = parsed
    return items


def _key(reader: _Reader, node: yaml.Node, path: str) -> PublisherKey | None:
    fields = reader.mapping(node, path, {"id", "public_key", "valid_from"}, {"retired_at"})
    if fields is None or {"id", "public_key", "valid_from"} - fields.keys():
        return None
    key_id = reader.text(fields["id"], f"{path}.id")
    public = reader.public_key(fields["public_key"], f"{path}.public_key")
    valid_from = reader.instant(fields["valid_from"], f"{path}.valid_from")
    retired = fields.get("retired_at")
    retired_at = reader.instant(retired, f"{path}.retired_at") if retired is not None else None
    if valid_from is not None and retired_at is not None and retired_at <= valid_from:
        reader.problem(retired, f"{path}.retired_at", "must be after valid_from")
        return None
    if key_id is None or public is None or valid_from is None:
        return None
    if retired is not None and retired_at is None:
        return None
    return PublisherKey(key_id, public, valid_from, retired_at)


def _publisher(reader: _Reader, node: yaml.Node, path: str) -> PublisherEntry | None:
    fields = reader.mapping(node, path, {"id", "agencies", "keys"}, set())
    if fields is None or len(fields) != 3:
        return None
    publisher = reader.text(fields["id"], f"{path}.id")
    agencies: set[str] = set()
    agencies_node = fields["agencies"]
    if not isinstance(agencies_node, yaml.SequenceNode) or not agencies_node.value:
        reader.problem(agencies_node, f"{path}.agencies", "must be a non-empty list of codes")
    else:
        for i, item in enumerate(agencies_node.value):
            code = reader.text(item, f"{path}.agencies[{i}]")
            if code is not None:
                agencies.add(code)
    keys: dict[str, PublisherKey] = {}
    keys_node = fields["keys"]
    if not isinstance(keys_node, yaml.SequenceNode) or not keys_node.value:
        reader.problem(keys_node, f"{path}.keys", "must be a non-empty list of keys")
    else:
        keys = _by_id(reader, keys_node, f"{path}.keys", _key, "duplicate key id")
    if publisher is None or not agencies or not keys:
        return None
    return PublisherEntry(publisher, frozenset(agencies), MappingProxyType(keys))


def parse(text: str, name: str = "publishers.yaml") -> PublisherRegistry:
    """The registry in ``text``; raises ``PublisherRegistryError`` listing every problem."""
    reader = _Reader(name)
    try:
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PublisherRegistryError(
            [RegistryProblem(name, line, "", f"not valid YAML: {exc.problem}")]
        ) from None
    if root is None:
        raise PublisherRegistryError([RegistryProblem(name, None, "", "empty document")])
    fields = reader.mapping(root, "", {"publishers"}, set())
    publishers: dict[str, PublisherEntry] = {}
    node = fields.get("publishers") if fields is not None else None
    if node is not None and not isinstance(node, yaml.SequenceNode):
        reader.problem(node, "publishers", "must be a list")
    elif node is not None:
        publishers = _by_id(reader, node, "publishers", _publisher, "duplicate publisher")
    if reader.problems:
        raise PublisherRegistryError(reader.problems)
    return PublisherRegistry(MappingProxyType(publishers))


def render(publishers: Iterable[PublisherEntry]) -> str:
    """The registry document listing ``publishers`` (``parse`` reads it back)."""

    def key(k: PublisherKey) -> dict[str, str]:
        out = {
            "id": k.id,
            "public_key": base64.b64encode(k.public_key).decode("ascii"),
            "valid_from": k.valid_from.isoformat(),
        }
        if k.retired_at is not None:
            out["retired_at"] = k.retired_at.isoformat()
        return out

    doc = {
        "publishers": [
            {"id": p.id, "agencies": sorted(p.agencies), "keys": [key(k) for k in p.keys.values()]}
            for p in publishers
        ]
    }
    return yaml.safe_dump(doc, sort_keys=False)
