"""The access log: one record per read of a dossier through the status API, on the
``dossier-audit`` topic (kept 400 days: personal-data rules want system logs >= 12 months)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.inbound import SCHEMA_VERSION

#: Longest dossier id or path an audit record keeps: a URL is the reader's input, not
#: the contract's, and must not grow the log without bound (longer ones are cut).
AUDIT_TEXT_MAX = 256
#: ``principal`` of a read without a valid token, and of a lookup-code read.
ANONYMOUS = "anonymous"
CITIZEN = "citizen"


class ReadOutcome(StrEnum):
    ALLOWED = "allowed"  # the view was shown
    REFUSED = "refused"  # no or a bad token, another agency's dossier, a wrong lookup code
    UNKNOWN = "unknown"  # no such dossier (after a valid login)


class ReadView(StrEnum):
    SHEET = "sheet"  # GET /dossiers/{id}: the process control sheet, for principals
    PUBLIC = "public"  # GET /public/dossiers/{id}: the citizen's minimal view


class DossierRead(BaseModel):
    """Who looked (or tried to look) at which dossier, when, from where, and what they got.

    ``remote`` is the TCP peer of the worker that answered; when another worker forwarded
    the request to the dossier's owner, ``forwarded_for`` is the address the first worker
    saw (set by the engine's own router, docs/security.md "Reads").
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    record: Literal["dossier.read"] = "dossier.read"
    read_id: str = Field(min_length=1, max_length=64)
    at: AwareDatetime
    principal: str = Field(min_length=1, max_length=AUDIT_TEXT_MAX)
    role: str | None = None
    dossier_id: str = Field(max_length=AUDIT_TEXT_MAX)
    view: ReadView
    path: str = Field(max_length=AUDIT_TEXT_MAX)
    outcome: ReadOutcome
    status: int = Field(ge=100, le=599)
    detail: str | None = Field(None, max_length=AUDIT_TEXT_MAX)
    remote: str | None = Field(None, max_length=AUDIT_TEXT_MAX)
    forwarded_for: str | None = Field(None, max_length=AUDIT_TEXT_MAX)
    worker: str = Field(max_length=AUDIT_TEXT_MAX)
