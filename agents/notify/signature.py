"""Webhook signatures: what the notifier sends, and ``verify``, the receiver's side as
docs/alerts.md ("Verifying a webhook") tells receivers to write it.

``X-Dossierflow-Signature: t=<unix seconds>,v1=<key id>:<hex>[,v1=<key id>:<hex>]``, each
hex = HMAC-SHA256(secret, f"{t}.{key id}.".encode() + raw body). The timestamp and the key
id are inside what is signed, so a captured request cannot be replayed later or passed
off under another key. Two ``v1`` entries while a secret is rotated: a receiver holding
either the old or the new secret accepts. ``verify`` uses the standard library only, so
receivers can copy it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

SIGNATURE_HEADER = "X-Dossierflow-Signature"
#: A signature older (or newer) than this is refused: a replay, or a clock far off.
TOLERANCE_S = 300
SCHEME = "v1"


class SignatureRejected(ValueError):
    """A webhook request whose signature a receiver must refuse; the message says why."""


def signed_content(timestamp: int, key_id: str, body: bytes) -> bytes:
    """What one ``v1`` signature covers: ``"<t>.<key id>."`` then the raw body."""
    return f"{timestamp}.{key_id}.".encode() + body


def sign(body: bytes, keys: Sequence[tuple[str, str]], timestamp: int) -> str:
    """The header value signing ``body`` at ``timestamp`` with every (key id, secret)."""
    if not keys:
        raise ValueError("no key to sign with")
    entries = [f"t={timestamp}"]
    for key_id, secret in keys:
        digest = hmac.new(secret.encode(), signed_content(timestamp, key_id, body), hashlib.sha256)
        entries.append(f"{SCHEME}={key_id}:{digest.hexdigest()}")
    return ",".join(entries)


def verify(
    body: bytes,
    header: str | None,
    secrets: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> None:
    """Accept ``body`` (the raw bytes received) or raise ``SignatureRejected``.

    ``secrets``: key id -> secret, the keys this receiver holds (one, or two while rotating).
    Refused: no header; a timestamp more than ``tolerance_s`` from ``now`` (a replay); no
    ``v1`` entry under a key id the receiver holds; no such entry whose HMAC matches
    (compared in constant time).
    """
    if not header:
        raise SignatureRejected(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[tuple[str, str]] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME:
            key_id, _, digest = value.partition(":")
            candidates.append((key_id, digest))
    if timestamp is None:
        raise SignatureRejected("no timestamp t=<unix seconds> in the signature")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureRejected(
            f"timestamp {timestamp} is {current - timestamp:+.0f} s from now "
            f"(more than {tolerance_s:g} s): a replay or a wrong clock"
        )
    known = [(k, d) for k, d in candidates if k in secrets]
    if not known:
        held = ", ".join(sorted(secrets)) or "none"
        raise SignatureRejected(
            f"signed with key ids {[k for k, _ in candidates]}, none of which is held here ({held})"
        )
    for key_id, digest in known:
        expected = hmac.new(
            secrets[key_id].encode(), signed_content(timestamp, key_id, body), hashlib.sha256
        ).hexdigest()
        if hmac.compare_digest(expected, digest):
            return
    raise SignatureRejected("signature does not match the body (tampered, or a wrong secret)")
