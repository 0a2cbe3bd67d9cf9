"""The catalog's frozen models: supervisors, agencies, steps and procedure versions.

Field types refuse what YAML would silently misread (unquoted codes, base-60 times)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from typing import Annotated, Final, Literal, TypeAlias
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from workflows.catalog.checks import (
    DEFER_ROUTE_CHECKS,
    procedure_problems,
    render_path,
)

TimeUnit: TypeAlias = Literal["working_days", "working_hours", "calendar_days"]
AgencyLevel: TypeAlias = Literal["province", "department", "commune", "service_centre"]
AuthorityLevel: TypeAlias = Literal["province", "department", "commune"]
OnlineLevel: TypeAlias = Literal["full", "partial", "none"]
SupervisorRole: TypeAlias = Literal[
    "department_officer", "department_head", "centre_director", "province_leader"
]

DEFAULT_OUTCOME: Final = "ok"
WORKING_HOURS_PER_DAY: Final = Decimal(8)

_AGENCY_CODE = re.compile(r"[A-Z][A-Z0-9]*(?:[._-][A-Z0-9]+)*")
_SLUG = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_IDENT = re.compile(r"[a-z][a-z0-9_]*")
#: A webhook secret reference: a name in the notifier's secrets file, never the secret.
SECRET_REF = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def _quoted_string(value: object) -> object:
    # YAML turns an unquoted 1.010730 into a number and drops the trailing zero: refuse it
    # here rather than look up the wrong procedure at run time.
    if isinstance(value, bool | int | float | Decimal):
        raise ValueError(f"expected a quoted string, got the number {value}: write it in quotes")
    return value


def _non_empty(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be empty")
    return stripped


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return check


#: a string the YAML quoted (``_quoted_string``): what every text type below starts from
_Quoted = Annotated[str, BeforeValidator(_quoted_string)]
NonEmptyStr = Annotated[_Quoted, AfterValidator(_non_empty)]
AgencyCode = Annotated[
    _Quoted,
    AfterValidator(_pattern(_AGENCY_CODE, "agency code (upper-case letters, digits, . - _)")),
]
StepId = Annotated[
    _Quoted, AfterValidator(_pattern(_IDENT, "step id (lower-case letters, digits, _)"))
]
StepOutcome = Annotated[
    _Quoted, AfterValidator(_pattern(_IDENT, "outcome (lower-case letters, digits, _)"))
]
SectorSlug = Annotated[
    _Quoted, AfterValidator(_pattern(_SLUG, "sector slug (lower-case words joined by -)"))
]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- models -------------------------------------------------------------------------------


class Supervisor(_Frozen):
    """A person (or team mailbox) told about delays; ``role`` decides which alerts.

    ``webhook_secret`` names the secret the notifier signs this supervisor's webhooks
    with (an entry of its secrets file, docs/alerts.md); the secret itself is never in
    the catalog. None: the entry ``default``.
    """

    name: NonEmptyStr
    email: str
    webhook: str | None = None
    webhook_secret: str | None = None
    role: SupervisorRole

    @field_validator("webhook_secret")
    @classmethod
    def _valid_secret_ref(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_REF.fullmatch(value):
            raise ValueError(
                f"invalid webhook_secret {value!r}: expected the name of an entry in the "
                "webhook secrets file (lower-case letters, digits, . _ -), not a secret"
            )
        return value

    @model_validator(mode="after")
    def _secret_needs_a_webhook(self) -> Supervisor:
        if self.webhook_secret is not None and self.webhook is None:
            raise ValueError("webhook_secret is set but there is no webhook to sign for")
        return self

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError(f"invalid e-mail address {value!r}")
        return value

    @field_validator("webhook")
    @classmethod
    def _valid_webhook(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = f"invalid webhook URL {value!r}: expected http:// or https:// and a host"
        if any(ch.isspace() for ch in value):
            raise ValueError(problem)
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises on a malformed port
        except ValueError:
            raise ValueError(problem) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(problem)
        return value


class Agency(_Frozen):
    """A body that handles steps: desk, department, People's Committee, service centre.

    ``escalation`` lists agency codes to try, nearest first, when this agency has no
    supervisor with the role an alert needs; the ``parent`` chain is tried after it.
    """

    code: AgencyCode
    name: NonEmptyStr
    name_en: str | None = None
    level: AgencyLevel
    parent: AgencyCode | None = None
    supervisors: tuple[Supervisor, ...] = ()
    escalation: tuple[AgencyCode, ...] = ()

    def supervisors_with(self, role: str) -> tuple[Supervisor, ...]:
        return tuple(s for s in self.supervisors if s.role == role)


class UnknownOutcomeError(ValueError):
    """A step was completed with an outcome its route does not define."""

    def __init__(self, step_id: str, outcome: str, allowed: Sequence[str]) -> None:
        self.step_id = step_id
        self.outcome = outcome
        self.allowed = tuple(allowed)
        super().__init__(
            f"step {step_id!r} has no outcome {outcome!r} (expected one of: {', '.join(allowed)})"
        )


class Step(_Frozen):
    """One hand-off on a route. ``allotment`` is in the procedure's ``time_unit``; 0 means
    by the close of the working day the step starts on.

    Leave by ``next`` (one way on, outcome ``ok``) or by ``on`` (outcome -> step id);
    a step with neither is terminal (its only outcome, ``ok``, ends the route).

    ``delegates`` are agencies that may act for the step's holder: complete it or hand it
    on (workflows.routing.authorize). On the entry step they are further receiving desks.
    """

    id: StepId
    name: NonEmptyStr
    agency: AgencyCode
    allotment: NonNegativeDecimal
    next: StepId | None = None
    on: Mapping[StepOutcome, StepId] | None = None
    delegates: tuple[AgencyCode, ...] = ()

    @model_validator(mode="after")
    def _one_way_out(self) -> Step:
        if self.next is not None and self.on is not None:
            raise ValueError("give either 'next' (one way on) or 'on' (outcome: step), not both")
        if self.on is not None and not self.on:
            raise ValueError("'on' must map at least one outcome to a step")
        return self

    @property
    def is_terminal(self) -> bool:
        return self.next is None and self.on is None

    def outcomes(self) -> tuple[str, ...]:
        """The outcomes ``next_step`` accepts."""
        return tuple(self.on) if self.on is not None else (DEFAULT_OUTCOME,)

    def targets(self) -> tuple[str, ...]:
        """Step ids this step can lead to, in declaration order, without repeats."""
        if self.on is not None:
            return tuple(dict.fromkeys(self.on.values()))
        return () if self.next is None else (self.next,)

    def next_step(self, outcome: str = DEFAULT_OUTCOME) -> str | None:
        """The step id that follows ``outcome``; ``None`` when the route ends here.

        Raises ``UnknownOutcomeError`` for an outcome this step does not define.
        """
        if self.on is not None:
            if outcome not in self.on:
                raise UnknownOutcomeError(self.id, outcome, tuple(self.on))
            return self.on[outcome]
        if outcome != DEFAULT_OUTCOME:
            raise UnknownOutcomeError(self.id, outcome, (DEFAULT_OUTCOME,))
        return self.next


class UnknownStepError(KeyError):
    """No step with that id in the procedure (a KeyError that prints as a sentence)."""

    def __init__(self, procedure: str, step_id: str) -> None:
        self.procedure = procedure
        self.step_id = step_id
        super().__init__(f"procedure {procedure!r} has no step {step_id!r}")

    def __str__(self) -> str:
        return str(self.args[0])


def _time_of_day(value: object) -> object:
    # Unquoted 15:00 is the base-60 integer 900 in YAML 1.1; pydantic would read 900 as
    # 00:15:00. Our loader keeps it a string, but plain yaml.safe_load does not.
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        raise ValueError(f'expected a time of day such as "15:00", got the number {value}')
    return value


class Procedure(_Frozen):
    """One version of an administrative procedure (thủ tục hành chính), in force from
    ``effective_from`` until the next version of the same code.

    ``steps[0]`` is the entry step. Along every route from it to a terminal step the
    allotments add up to exactly ``committed_time``.
    """

    code: NonEmptyStr
    code_is_sample: bool = False
    name_vi: NonEmptyStr
    name_en: NonEmptyStr
    sector: SectorSlug
    sector_name_vi: NonEmptyStr
    level: AuthorityLevel
    effective_from: date
    statutory_time: NonNegativeDecimal
    committed_time: NonNegativeDecimal
    time_unit: TimeUnit
    same_day_cutoff: Annotated[time | None, BeforeValidator(_time_of_day)] = None
    online_level: OnlineLevel
    legal_basis: tuple[NonEmptyStr, ...] = Field(min_length=1)
    steps: tuple[Step, ...] = Field(min_length=1)
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Procedure:
        # The loader defers these checks so it can report each one at its own path and line.
        if info.context and info.context.get(DEFER_ROUTE_CHECKS):
            return self
        problems = procedure_problems(self)
        if problems:
            raise ValueError("; ".join(f"{render_path(p)}: {m}" for p, m in problems))
        return self

    @property
    def entry(self) -> Step:
        return self.steps[0]

    @property
    def reduced(self) -> bool:
        """The province committed to less than the law's maximum."""
        return self.committed_time < self.statutory_time

    @property
    def reduction(self) -> Decimal:
        """statutory_time - committed_time, in ``time_unit``."""
        return self.statutory_time - self.committed_time

    @property
    def same_day(self) -> bool:
        """Committed time 0: due at the close of the working day the count starts on
        (the next working day when received after ``same_day_cutoff``)."""
        return self.committed_time == 0

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise UnknownStepError(self.code, step_id)


# --- route checks (shared by the model validator and the loader) --------------------------
