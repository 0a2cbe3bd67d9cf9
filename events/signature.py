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

This module has no I/O; ``verify`` asks a ``Keyring`` (``workflows.publishers``
implements it) which public key a publisher's key id had at the broker's timestamp.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from events.topics import DOSSIER_EVENTS

__all__ = [
    "KEY_HEADER",
    "PUBLISHER_HEADER",
    "SIGNATURE_HEADER",
    "SIGNED_TOPIC",
    "Keyring",
    "Unauthenticated",
    "VerifiedSender",
    "public_key_bytes",
    "sign",
    "signed_bytes",
    "verify",
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
_SIGNATURE_BYTES = 64
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


def sign(
    private_key: Ed25519PrivateKey,
    publisher: str,
    key_id: str,
    key: bytes | None,
    value: bytes | None,
) -> list[tuple[str, bytes]]:
    """The three headers that bind (key, value) to ``publisher`` and its key ``key_id``."""
    signature = private_key.sign(signed_bytes(publisher, key_id, key, value))
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


@lru_cache(maxsize=256)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    # Parsed once per key, not once per record.
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public half of ``private_key`` (what the registry lists, base64)."""
    return private_key.public_key().public_bytes_raw()


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


def verify(
    keyring: Keyring,
    headers: Headers,
    key: bytes | None,
    value: bytes | None,
    broker_time: datetime | None,
) -> VerifiedSender | Unauthenticated:
    """Who signed this record, or why it cannot be accepted as anyone's."""
    found = _headers(headers)
    if isinstance(found, Unauthenticated):
        return found
    publisher = _name(found[PUBLISHER_HEADER], PUBLISHER_HEADER)
    if isinstance(publisher, Unauthenticated):
        return publisher
    key_id = _name(found[KEY_HEADER], KEY_HEADER)
    if isinstance(key_id, Unauthenticated):
        return key_id
    raw_key = keyring.public_key(publisher, key_id, broker_time)
    if isinstance(raw_key, str):
        return Unauthenticated(raw_key)
    public = _public_key(raw_key)
    signature = found[SIGNATURE_HEADER]
    if len(signature) != _SIGNATURE_BYTES:
        return Unauthenticated(
            f"header {SIGNATURE_HEADER} is {len(signature)} bytes, not an Ed25519 signature (64)"
        )
    try:
        public.verify(signature, signed_bytes(publisher, key_id, key, value))
    except InvalidSignature:
        return Unauthenticated(
            f"bad signature: key {key_id!r} of publisher {publisher!r} did not sign this "
            "record's key and value (changed, replayed under another key, or another key)"
        )
    return VerifiedSender(publisher, key_id, keyring.agencies(publisher))
