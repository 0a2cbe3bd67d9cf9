"""Inbound events, wire contract v1: what agencies publish to ``dossier-events``.

Every event is one JSON object in one Kafka record, keyed by ``dossier_id``.
Models are frozen; names are the past-tense facts agencies report. The
registered name of each type is its ``type`` string, never a Python path.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
)

SCHEMA_VERSION: Literal[1] = 1


def _printable(value: str) -> str:
    # Ids and codes reach supervisors' terminals, e-mail headers and log lines: a control
    # character (an escape sequence, a CR LF) or a bidi override there can fake or break
    # what is around it. isprintable() is False for exactly those (and True for "Đ", "ồ").
    if not value.isprintable():
        at, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
        raise ValueError(
            f"unprintable character {char!r} (U+{ord(char):04X}) at offset {at}: ids and "
            "codes take printable characters only"
        )
    return value


_Id = StringConstraints(strict=True, min_length=1, max_length=64)
Code = Annotated[str, _Id, AfterValidator(_printable)]
DossierId = Annotated[str, _Id, AfterValidator(_printable)]
EventId = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=128), AfterValidator(_printable)
]
Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=2000)]


class FilingChannel(StrEnum):
    ONLINE = "online"
    IN_PERSON = "in_person"
    POSTAL = "postal"


class Applicant(StrEnum):
    CITIZEN = "citizen"
    BUSINESS = "business"


class ResultOutcome(StrEnum):
    APPROVED = "approved"
    REFUSED = "refused"


class _Event(BaseModel):
    """The envelope every inbound event carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # StrictInt, not Literal[1]: a literal would take JSON `true` for 1.
    schema_version: Annotated[StrictInt, Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)] = (
        SCHEMA_VERSION
    )
    event_id: EventId
    dossier_id: DossierId
    occurred_at: AwareDatetime
    agency: Code
    actor: Code | None = None


#: A receipt's lookup code: letters, digits and dashes only, so it fits a header as is.
LookupCode = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9-]{6,32}$")]


class DossierReceived(_Event):
    """Accepted at the one-stop desk: the clock starts."""

    type: Literal["dossier.received"] = "dossier.received"
    procedure: Code
    channel: FilingChannel
    applicant: Applicant | None = None
    #: printed on the receipt: with the dossier id, the citizen's key to the public view;
    #: the engine keeps only a salted hash of it (workflows.reads)
    lookup_code: LookupCode | None = None


class StepCompleted(_Event):
    """An agency finished its step; the engine routes to the next one by ``outcome``."""

    type: Literal["step.completed"] = "step.completed"
    step: Code
    outcome: Code = "ok"
    to_agency: Code | None = None


class StepStarted(_Event):
    """The agency holding the current step took the dossier up: its inbox wait ends here.

    Optional: a dossier without it is judged and attributed by the step as a whole.
    """

    type: Literal["step.started"] = "step.started"
    step: Code


class DossierHandedOff(_Event):
    """An explicit hand-off; checked against the route, tracked even when off-route."""

    type: Literal["dossier.handed_off"] = "dossier.handed_off"
    to_agency: Code
    step: Code
    from_agency: Code | None = None


class SupplementRequested(_Event):
    """The dossier went back to the applicant: the clock pauses."""

    type: Literal["dossier.supplement_requested"] = "dossier.supplement_requested"
    reason: Text


class SupplementReceived(_Event):
    """The applicant supplied what was missing: the clock resumes."""

    type: Literal["dossier.supplement_received"] = "dossier.supplement_received"


class DossierRescheduled(_Event):
    """Apology letter: one new due date for the whole dossier."""

    type: Literal["dossier.rescheduled"] = "dossier.rescheduled"
    new_due_at: AwareDatetime
    reason: Text


class ResultReady(_Event):
    """Processing ended: the clock stops, early / on time / late is decided."""

    type: Literal["dossier.result_ready"] = "dossier.result_ready"
    outcome: ResultOutcome


class DossierReturned(_Event):
    """The result was handed to the applicant; the dossier is closed."""

    type: Literal["dossier.returned"] = "dossier.returned"


class DossierWithdrawn(_Event):
    """The applicant withdrew; the dossier is closed."""

    type: Literal["dossier.withdrawn"] = "dossier.withdrawn"
    reason: Text


class DossierRejected(_Event):
    """Refused at intake or stopped; the dossier is closed."""

    type: Literal["dossier.rejected"] = "dossier.rejected"
    reason: Text


InboundEvent = Annotated[
    DossierReceived
    | StepCompleted
    | StepStarted
    | DossierHandedOff
    | SupplementRequested
    | SupplementReceived
    | DossierRescheduled
    | ResultReady
    | DossierReturned
    | DossierWithdrawn
    | DossierRejected,
    Field(discriminator="type"),
]

#: Registered name -> class, read off the union above: a new event type is added there once.
EVENT_TYPES: dict[str, type[_Event]] = {
    cls.model_fields["type"].default: cls for cls in get_args(get_args(InboundEvent)[0])
}
