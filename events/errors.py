"""Why a record was refused: the reason kinds and the error that carries them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class ReasonKind(StrEnum):
    """Why a record went to the dead-letter topic. Public API: dashboards group by it."""

    # The bytes could not become an event.
    TOO_LARGE = "too_large"
    INVALID_ENCODING = "invalid_encoding"
    INVALID_JSON = "invalid_json"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_TYPE = "unknown_type"
    SCHEMA_ERROR = "schema_error"
    # The event was valid but the workflow refused it.
    UNKNOWN_PROCEDURE = "unknown_procedure"
    UNKNOWN_DOSSIER = "unknown_dossier"
    UNKNOWN_STEP = "unknown_step"
    ILLEGAL_TRANSITION = "illegal_transition"
    DOSSIER_CLOSED = "dossier_closed"
    OFF_ROUTE = "off_route"
    PARKED_TIMEOUT = "parked_timeout"
    # Who sent it, and when: refused before anything else is looked at.
    UNAUTHENTICATED = "unauthenticated"  # unsigned, badly signed, unknown publisher or key
    UNAUTHORIZED = "unauthorized"  # a sender that may not do this (agency, step holder)
    IMPLAUSIBLE_TIME = "implausible_time"  # before the dossier's receipt, or in the future
    # The record or the dossier is outside the bounds that keep a worker alive.
    KEY_MISMATCH = "key_mismatch"  # Kafka key is not the dossier_id: wrong state partition
    LIMIT_EXCEEDED = "limit_exceeded"  # the dossier's state would outgrow a bound
    PARKING_FULL = "parking_full"  # no room to wait for the dossier's receipt
    # Our own code failed; the event is kept, not lost.
    PROCESSING_ERROR = "processing_error"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a record: where (dotted field path, ``$`` = whole record) and what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ContractError(ValueError):
    """Bytes that are not a valid v1 event; ``problems`` says which field and why."""

    def __init__(self, kind: ReasonKind, problems: Sequence[Problem]) -> None:
        self.kind = kind
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))
