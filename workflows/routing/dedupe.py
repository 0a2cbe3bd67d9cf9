"""Dedupe: what a dossier remembers of the events it has seen (a 64-bit fingerprint of
each id, the most recent ones only), so a re-delivery is recognised and not applied twice."""

from __future__ import annotations

import binascii
import hashlib

from events import InboundEvent
from workflows.state import DossierState

_blake2b = hashlib.blake2b
_b64 = binascii.b2a_base64
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def event_fingerprint(event_id: str) -> str:
    """What a dossier remembers of an event id: 64 bits, 11 characters, whatever the id's size.

    A collision between two events of one dossier (the only place ids are compared)
    has odds around 2**-58 even at the remembered limit.
    """
    digest = _blake2b(event_id.encode("utf-8"), digest_size=8).digest()
    # base64url of 8 bytes without its padding: the first 11 of 12 characters
    return _b64(digest, newline=False).translate(_URLSAFE)[:11].decode("ascii")


def remembered_update(
    new: DossierState, event: InboundEvent, fingerprint: str, remembered: int, refused: bool
) -> dict[str, object]:
    """What remembering the event changes in ``new``: its fingerprint added (the newest
    ``remembered`` are kept) and, unless refused, its instant. ``apply`` makes these and
    the signed sheet one copy of the state."""
    keep = remembered - 1
    update: dict[str, object] = {
        "applied": (*(new.applied[-keep:] if keep > 0 else ()), fingerprint)
    }
    if not refused:
        occurred = event.occurred_at
        update["last_event_at"] = occurred if occurred > new.last_event_at else new.last_event_at
    return update
