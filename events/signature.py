"""Signed events: the header format and the exact bytes an Ed25519 signature covers.

Kafka does not tell a consumer which principal produced a record, so each publisher
system signs what it publishes (docs/security.md, "Signed events"). Three headers::

    dossierflow-publisher   the publisher id (UTF-8), as in the publisher registry
    dossierflow-key         the id of the key that signed (UTF-8), e.g. "2026-01"
    dossierflow-sig         the 64-byte Ed25519 signature, raw

The signature covers ``signed_bytes``: a version tag, the topic's *logical* name
(``dossier-events``, never the deployment's prefixed name: a prefix is a tenant or a
test run, not a different contract), the publisher and key ids, the record key (the
dossier id) and the value, each length-prefixed so no field can borrow bytes from its
neighbour. Binding the key stops a valid record being replayed under another dossier;
binding the topic stops a signature made for another purpose being accepted here.

This module is the format only (pydantic-free, no I/O, no cryptography): ``signed_by``
reads a record's claimed signer; the Ed25519 ``sign``/``verify`` are the shell's
(agents/access/signing.py), which ask a ``Keyring`` (``workflows.publishers`` implements
it) which public key a publisher's key id had at the broker's timestamp.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from events.topics import DOSSIER_EVENTS

__all__ = [
    "KEY_HEADER",
    "PUBLISHER_HEADER",
    "SIGNATURE_BYTES",
    "SIGNATURE_HEADER",
    "SIGNED_TOPIC",
    "Headers",
    "Keyring",
    "Signed",
    "Unauthenticated",
    "VerifiedSender",
    "signature_headers",
    "signed_by",
    "signed_bytes",
]

PUBLISHER_HEADER = "dossierflow-publisher"
KEY_HEADER = "dossierflow-key"
SIGNATURE_HEADER = "dossierflow-sig"
_HEADERS = (PUBLISHER_HEADER, KEY_HEADER, SIGNATURE_HEADER)

#: The version tag at the start of the signed bytes: a new layout gets a new tag.
VERSION_TAG = b"dossierflow-sig-v1"
#: The topic every signature is bound to (its logical name, see the module docstring).
SIGNED_TOPIC = DOSSIER_EVENTS
#: Length prefix of an absent field (a record without key or a tombstone value).
_ABSENT = b"\xff" * 8
SIGNATURE_BYTES = 64
#: Ids are short printable names; a longer header is refused before any lookup.
MAX_ID_BYTES = 128

Headers = Sequence[tuple[str, bytes]]


def _field(data: bytes | None) -> bytes:
    if data is None:
        return _ABSENT
    return struct.pack(">Q", len(data)) + data


def signed_bytes(
    publisher: str, key_id: str, key: bytes | None, value: bytes | None, topic: str = SIGNED_TOPIC
) -> bytes:
    """What the signature covers: tag, topic, publisher, key id, record key, record value."""
    parts = (topic.encode(), publisher.encode(), key_id.encode(), key, value)
    return _field(VERSION_TAG) + b"".join(_field(p) for p in parts)


def signature_headers(publisher: str, key_id: str, signature: bytes) -> list[tuple[str, bytes]]:
    """The three headers that bind a record to ``publisher`` and its key ``key_id``."""
    return [
        (PUBLISHER_HEADER, publisher.encode()),
        (KEY_HEADER, key_id.encode()),
        (SIGNATURE_HEADER, signature),
    ]


@dataclass(frozen=True)
class VerifiedSender:
    """A record whose signature verified: who signed it and what they may speak for."""

    publisher: str
    key_id: str
    #: None: any agency (the registry says ``"*"``)
    agencies: frozenset[str] | None


@dataclass(frozen=True)
class Unauthenticated:
    """Why a record's signature was not accepted: one line, for the dead letter."""

    reason: str


class Keyring(Protocol):
    """Where ``verify`` finds publishers' keys (``workflows.publishers.PublisherRegistry``)."""

    def public_key(self, publisher: str, key_id: str, at: datetime | None) -> bytes | str:
        """The raw 32-byte key ``key_id`` of ``publisher`` valid at broker time ``at``, or
        why there is none (a one-line reason)."""
        ...

    def agencies(self, publisher: str) -> frozenset[str] | None:
        """The agencies ``publisher`` may speak for; None = any."""
        ...


def _headers(headers: Headers) -> dict[str, bytes] | Unauthenticated:
    found: dict[str, bytes] = {}
    for name, value in headers:
        if name not in _HEADERS:
            continue
        if name in found:
            # Two signatures on one record: which one a consumer reads would be a choice.
            return Unauthenticated(f"header {name} appears more than once")
        found[name] = value
    if not found:
        return Unauthenticated(
            f"unsigned: no {SIGNATURE_HEADER} header; publish with a publisher key "
            "(dossierflow keys new, DOSSIERFLOW_PUBLISHER_KEY_FILE)"
        )
    missing = [name for name in _HEADERS if name not in found]
    if missing:
        return Unauthenticated(f"incomplete signature: missing header {', '.join(missing)}")
    return found


def _name(raw: bytes, header: str) -> str | Unauthenticated:
    if not raw or len(raw) > MAX_ID_BYTES:
        return Unauthenticated(f"header {header} must be 1-{MAX_ID_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return Unauthenticated(f"header {header} is not UTF-8")


@dataclass(frozen=True)
class Signed:
    """A record's signature headers, well formed (not yet checked against a key)."""

    publisher: str
    key_id: str
    signature: bytes


def signed_by(headers: Headers) -> Signed | Unauthenticated:
    """The publisher, key id and signature a record claims, or why its headers are not a
    well-formed signature (the cryptographic check is the shell's: agents/access/signing.py)."""
    found = _headers(headers)
    if isinstance(found, Unauthenticated):
        return found
    publisher = _name(found[PUBLISHER_HEADER], PUBLISHER_HEADER)
    if isinstance(publisher, Unauthenticated):
        return publisher
    key_id = _name(found[KEY_HEADER], KEY_HEADER)
    if isinstance(key_id, Unauthenticated):
        return key_id
    signature = found[SIGNATURE_HEADER]
    if len(signature) != SIGNATURE_BYTES:
        return Unauthenticated(
            f"header {SIGNATURE_HEADER} is {len(signature)} bytes, not an Ed25519 signature (64)"
        )
    return Signed(publisher, key_id, signature)
