"""Ed25519 over the signed bytes of events/signature.py: sign (publishers), verify (the router).

The wire format (headers, the exact bytes covered) is the contract's, in ``events``; the
cryptography is the shell's.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from events.signature import (
    Headers,
    Keyring,
    Unauthenticated,
    VerifiedSender,
    signature_headers,
    signed_by,
    signed_bytes,
)


def sign(
    private_key: Ed25519PrivateKey,
    publisher: str,
    key_id: str,
    key: bytes | None,
    value: bytes | None,
) -> list[tuple[str, bytes]]:
    """The three headers that bind (key, value) to ``publisher`` and its key ``key_id``."""
    signature = private_key.sign(signed_bytes(publisher, key_id, key, value))
    return signature_headers(publisher, key_id, signature)


@lru_cache(maxsize=256)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    # Parsed once per key, not once per record.
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public half of ``private_key`` (what the registry lists, base64)."""
    return private_key.public_key().public_bytes_raw()


def verify(
    keyring: Keyring,
    headers: Headers,
    key: bytes | None,
    value: bytes | None,
    broker_time: datetime | None,
) -> VerifiedSender | Unauthenticated:
    """Who signed this record, or why it cannot be accepted as anyone's."""
    claimed = signed_by(headers)
    if isinstance(claimed, Unauthenticated):
        return claimed
    publisher, key_id = claimed.publisher, claimed.key_id
    raw_key = keyring.public_key(publisher, key_id, broker_time)
    if isinstance(raw_key, str):
        return Unauthenticated(raw_key)
    try:
        _public_key(raw_key).verify(claimed.signature, signed_bytes(publisher, key_id, key, value))
    except InvalidSignature:
        return Unauthenticated(
            f"bad signature: key {key_id!r} of publisher {publisher!r} did not sign this "
            "record's key and value (changed, replayed under another key, or another key)"
        )
    return VerifiedSender(publisher, key_id, keyring.agencies(publisher))
