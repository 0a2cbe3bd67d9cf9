"""The procedure catalog: each procedure's route, times, legal basis and who hears about delays.

Four parts, all pure (no clock, no I/O beyond reading the catalog files):

- frozen pydantic models: ``Supervisor``, ``Agency``, ``Step``, ``Procedure``;
- ``Catalog``: lookups (the procedure version in force on a date, agencies, escalation
  recipients), built only from a consistent set of models;
- ``load_catalog``: reads a folder (or one file) of YAML, checks everything and raises one
  ``CatalogError`` listing every problem, each with file, path inside the file and line;
- ``summarize``: the figures province leadership is judged on (reduced times, online share).

The YAML schema and the conventions (same-day procedures, escalation) are in docs/catalog.md.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

TimeUnit: TypeAlias = Literal["working_days", "working_hours", "calendar_days"]
AgencyLevel: TypeAlias = Literal["province", "department", "commune", "service_centre"]
AuthorityLevel: TypeAlias = Literal["province", "department", "commune"]
OnlineLevel: TypeAlias = Literal["full", "partial", "none"]
SupervisorRole: TypeAlias = Literal[
    "department_officer", "department_head", "centre_director", "province_leader"
]
AlertLevel: TypeAlias = Literal["due_soon", "overdue", "statutory_breach"]
AlertScope: TypeAlias = Literal["step", "dossier"]

DEFAULT_OUTCOME: Final = "ok"
WORKING_HOURS_PER_DAY: Final = Decimal(8)
SAMPLE_CODE_PREFIX: Final = "SAMPLE-"
DEFAULT_CATALOG_DIR: Final = Path(__file__).with_name("catalog")

# Who is told, by alert scope and level. Public: docs/catalog.md and the notifier rely on it.
ESCALATION_ROLES: Final[Mapping[tuple[str, str], SupervisorRole]] = MappingProxyType(
    {
        ("step", "due_soon"): "department_officer",
        ("step", "overdue"): "department_head",
        ("step", "statutory_breach"): "province_leader",
        ("dossier", "due_soon"): "department_head",
        ("dossier", "overdue"): "centre_director",
        ("dossier", "statutory_breach"): "province_leader",
    }
)

_NATIONAL_CODE = re.compile(r"\d\.\d{6}")
_AGENCY_CODE = re.compile(r"[A-Z][A-Z0-9]*(?:[._-][A-Z0-9]+)*")
_SLUG = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_IDENT = re.compile(r"[a-z][a-z0-9_]*")
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


# --- field types -------------------------------------------------------------------------


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


NonEmptyStr = Annotated[str, BeforeValidator(_quoted_string), AfterValidator(_non_empty)]
AgencyCode = Annotated[
    str,
    BeforeValidator(_quoted_string),
    AfterValidator(_pattern(_AGENCY_CODE, "agency code (upper-case letters, digits, . - _)")),
]
StepId = Annotated[
    str,
    BeforeValidator(_quoted_string),
    AfterValidator(_pattern(_IDENT, "step id (lower-case letters, digits, _)")),
]
Outcome = Annotated[
    str,
    BeforeValidator(_quoted_string),
    AfterValidator(_pattern(_IDENT, "outcome (lower-case letters, digits, _)")),
]
SectorSlug = Annotated[
    str,
    BeforeValidator(_quoted_string),
    AfterValidator(_pattern(_SLUG, "sector slug (lower-case words joined by -)")),
]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- models -------------------------------------------------------------------------------


class Supervisor(_Frozen):
    """A person (or team mailbox) told about delays; ``role`` decides which alerts."""

    name: NonEmptyStr
    email: str
    webhook: str | None = None
    role: SupervisorRole

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
    """

    id: StepId
    name: NonEmptyStr
    agency: AgencyCode
    allotment: NonNegativeDecimal
    next: StepId | None = None
    on: Mapping[Outcome, StepId] | None = None

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


_DEFER_ROUTE_CHECKS: Final = "dossierflow.catalog.defer_route_checks"


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
        if info.context and info.context.get(_DEFER_ROUTE_CHECKS):
            return self
        problems = _procedure_problems(self)
        if problems:
            raise ValueError("; ".join(f"{_render_path(p)}: {m}" for p, m in problems))
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

_Parts: TypeAlias = tuple[str | int, ...]


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _procedure_problems(p: Procedure) -> list[tuple[_Parts, str]]:
    """Everything wrong inside one procedure, as (path inside the procedure, message)."""
    problems: list[tuple[_Parts, str]] = []
    if p.code_is_sample and not p.code.startswith(SAMPLE_CODE_PREFIX):
        problems.append(
            (
                ("code",),
                f"sample codes start with {SAMPLE_CODE_PREFIX!r} so they cannot pass for "
                f"national codes (got {p.code!r})",
            )
        )
    elif not p.code_is_sample and not _NATIONAL_CODE.fullmatch(p.code):
        problems.append(
            (
                ("code",),
                f"{p.code!r} is not a national procedure code (d.dddddd); for a procedure "
                f"without one set code_is_sample: true and a {SAMPLE_CODE_PREFIX!r} code",
            )
        )
    if p.committed_time > p.statutory_time:
        problems.append(
            (
                ("committed_time",),
                f"committed_time {_fmt(p.committed_time)} exceeds statutory_time "
                f"{_fmt(p.statutory_time)}",
            )
        )
    if p.same_day_cutoff is not None and p.same_day_cutoff.tzinfo is not None:
        problems.append(
            (
                ("same_day_cutoff",),
                'write the cut-off as a local wall-clock time such as "15:00", without an offset',
            )
        )
    if p.time_unit == "calendar_days":
        # A calendar day has no working hours to split, so fractions have no meaning.
        times: list[tuple[_Parts, Decimal]] = [
            (("statutory_time",), p.statutory_time),
            (("committed_time",), p.committed_time),
        ]
        times.extend((("steps", i, "allotment"), s.allotment) for i, s in enumerate(p.steps))
        for parts, value in times:
            if value != value.to_integral_value():
                problems.append(
                    (parts, f"{_fmt(value)}: calendar_days times must be whole numbers")
                )
    problems.extend(_route_problems(p))
    return problems


def _route_problems(p: Procedure) -> list[tuple[_Parts, str]]:
    problems: list[tuple[_Parts, str]] = []
    index: dict[str, int] = {}
    for i, step in enumerate(p.steps):
        if step.id in index:
            problems.append(
                (
                    ("steps", i, "id"),
                    f"duplicate step id {step.id!r} (also steps[{index[step.id]}])",
                )
            )
        else:
            index[step.id] = i
    known = ", ".join(index)
    edges: dict[int, list[tuple[int, _Parts]]] = {i: [] for i in range(len(p.steps))}
    for i, step in enumerate(p.steps):
        exits: list[tuple[str, _Parts]] = []
        if step.next is not None:
            exits.append((step.next, ("steps", i, "next")))
        for outcome, target in (step.on or {}).items():
            exits.append((target, ("steps", i, "on", outcome)))
        for target, where in exits:
            if target not in index:
                problems.append((where, f"unknown step {target!r} (steps: {known})"))
            else:
                edges[i].append((index[target], where))
    if problems:
        return problems  # a graph with dangling edges would only produce echoes below

    order = _topological_order(p, edges, problems)
    reachable = {0}
    for i in order or range(len(p.steps)):
        if i in reachable:
            reachable.update(t for t, _ in edges[i])
    for i, step in enumerate(p.steps):
        if i not in reachable:
            problems.append(
                (
                    ("steps", i),
                    f"step {step.id!r} cannot be reached from the entry step {p.steps[0].id!r}",
                )
            )
    if problems or order is None:
        return problems
    problems.extend(_allotment_problems(p, edges, order))
    return problems


def _topological_order(
    p: Procedure, edges: Mapping[int, list[tuple[int, _Parts]]], problems: list[tuple[_Parts, str]]
) -> list[int] | None:
    """Steps in route order (entry first); ``None`` after reporting each cycle found."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    finished: list[int] = []
    found_cycle = False
    for start in edges:
        if colour[start] != white:
            continue
        stack: list[tuple[int, int]] = [(start, 0)]
        trail = [start]
        colour[start] = grey
        while stack:
            node, nxt = stack[-1]
            if nxt < len(edges[node]):
                stack[-1] = (node, nxt + 1)
                target, where = edges[node][nxt]
                if colour[target] == grey:
                    loop = [*trail[trail.index(target) :], target]
                    route = " → ".join(p.steps[i].id for i in loop)
                    problems.append((where, f"route loops back: {route}"))
                    found_cycle = True
                elif colour[target] == white:
                    colour[target] = grey
                    stack.append((target, 0))
                    trail.append(target)
            else:
                colour[node] = black
                finished.append(node)
                stack.pop()
                trail.pop()
    return None if found_cycle else finished[::-1]


def _allotment_problems(
    p: Procedure, edges: Mapping[int, list[tuple[int, _Parts]]], order: list[int]
) -> list[tuple[_Parts, str]]:
    # Shortest and longest route sums by dynamic programming over the DAG: every route adds
    # up to committed_time exactly when both extremes do.
    low: dict[int, tuple[Decimal, int | None]] = {}
    high: dict[int, tuple[Decimal, int | None]] = {}
    for i in reversed(order):
        own = p.steps[i].allotment
        successors = [t for t, _ in edges[i]]
        if not successors:
            low[i] = high[i] = (own, None)
            continue
        lo = min(successors, key=lambda t: low[t][0])
        hi = max(successors, key=lambda t: high[t][0])
        low[i] = (own + low[lo][0], lo)
        high[i] = (own + high[hi][0], hi)

    def route(table: Mapping[int, tuple[Decimal, int | None]]) -> str:
        ids: list[str] = []
        node: int | None = 0
        while node is not None:
            ids.append(p.steps[node].id)
            node = table[node][1]
        return " → ".join(ids)

    problems: list[tuple[_Parts, str]] = []
    committed = p.committed_time
    extremes = [high] if high[0][0] == low[0][0] else [high, low]
    for table in extremes:
        total = table[0][0]
        if total != committed:
            problems.append(
                (
                    ("steps",),
                    f"allotments along {route(table)} add up to {_fmt(total)} {p.time_unit}, "
                    f"committed_time is {_fmt(committed)}",
                )
            )
    return problems


# --- problems and errors ------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong in the catalog: file, path inside the file, what, and the line."""

    file: str
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        if self.line is None:
            at = ""
        elif self.column is None:
            at = f" (line {self.line})"
        else:
            at = f" (line {self.line}, column {self.column})"
        return f"{where}{self.message}{at}"


class CatalogError(Exception):
    """The catalog cannot be used; ``problems`` lists every reason found, not just the first."""

    def __init__(self, problems: Iterable[CatalogProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"catalog has {count} problem{'s' if count != 1 else ''}:\n{lines}")


class UnknownProcedureError(KeyError):
    """No such procedure code, or no version of it in force on the date asked."""

    def __init__(self, code: str, at: date | None = None, earliest: date | None = None) -> None:
        self.code = code
        self.at = at
        if at is None or earliest is None:
            message = f"unknown procedure {code!r}"
        else:
            message = (
                f"procedure {code!r} has no version in force on {at.isoformat()} "
                f"(the earliest is effective from {earliest.isoformat()})"
            )
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownAgencyError(KeyError):
    """No agency with that code in the catalog."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown agency {code!r}")

    def __str__(self) -> str:
        return str(self.args[0])


def _render_path(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class _Source:
    """One catalog file as shown to the operator, with the line of every node in it."""

    name: str
    lines: Mapping[_Parts, int]

    def problem(self, parts: _Parts, message: str) -> CatalogProblem:
        line = None
        for end in range(len(parts), -1, -1):
            line = self.lines.get(parts[:end])
            if line is not None:
                break
        return CatalogProblem(self.name, _render_path(parts), message, line)


@dataclass(frozen=True)
class _Where:
    source: _Source
    parts: _Parts

    def problem(self, message: str, *more: str | int) -> CatalogProblem:
        return self.source.problem((*self.parts, *more), message)

    def __str__(self) -> str:
        return f"{self.source.name}: {_render_path(self.parts)}"


# --- the catalog --------------------------------------------------------------------------


def escalation_role(level: str, scope: str) -> SupervisorRole:
    """The supervisor role told about an alert of ``level`` for a ``scope`` (step/dossier)."""
    try:
        return ESCALATION_ROLES[(str(scope), str(level))]
    except KeyError:
        raise ValueError(
            f"no escalation for scope {scope!r} and level {level!r} "
            f"(scopes: {', '.join(get_args(AlertScope))}; "
            f"levels: {', '.join(get_args(AlertLevel))})"
        ) from None


class Catalog:
    """Agencies and procedure versions that passed every check.

    Build it with ``load_catalog`` or ``Catalog(agencies, procedures)`` (which runs the
    same cross-checks and raises ``CatalogError``).
    """

    __slots__ = ("_agencies", "_procedures")

    _agencies: Mapping[str, Agency]
    _procedures: Mapping[str, tuple[Procedure, ...]]

    def __init__(self, agencies: Iterable[Agency], procedures: Iterable[Procedure]) -> None:
        memory = _Source("<memory>", {})
        located_agencies = [(a, _Where(memory, ("agencies", i))) for i, a in enumerate(agencies)]
        located_procedures = [
            (p, _Where(memory, ("procedures", i))) for i, p in enumerate(procedures)
        ]
        problems = _cross_check(located_agencies, located_procedures)
        if problems:
            raise CatalogError(problems)
        self._fill((a for a, _ in located_agencies), (p for p, _ in located_procedures))

    @classmethod
    def _checked(cls, agencies: Iterable[Agency], procedures: Iterable[Procedure]) -> Catalog:
        catalog = cls.__new__(cls)
        catalog._fill(agencies, procedures)
        return catalog

    def _fill(self, agencies: Iterable[Agency], procedures: Iterable[Procedure]) -> None:
        by_code: dict[str, list[Procedure]] = {}
        for p in procedures:
            by_code.setdefault(p.code, []).append(p)
        self._agencies = MappingProxyType({a.code: a for a in agencies})
        self._procedures = MappingProxyType(
            {
                code: tuple(sorted(versions, key=lambda v: v.effective_from))
                for code, versions in sorted(by_code.items())
            }
        )

    @property
    def agencies(self) -> Mapping[str, Agency]:
        return self._agencies

    @property
    def procedures(self) -> Mapping[str, tuple[Procedure, ...]]:
        """Every version of every procedure by code, oldest version first."""
        return self._procedures

    def __contains__(self, code: object) -> bool:
        return code in self._procedures

    def __len__(self) -> int:
        return len(self._procedures)

    def procedure(self, code: str, at: date | None = None) -> Procedure | None:
        """The version of ``code`` in force on ``at`` (the local date the dossier was
        received); the newest version when ``at`` is None.

        ``None`` for an unknown code or a date before its first version; ``require_procedure``
        raises instead, saying which.
        """
        versions = self._procedures.get(code)
        if not versions:
            return None
        if at is None:
            return versions[-1]
        if isinstance(at, datetime):
            raise TypeError(
                "pass the local date of receipt, e.g. received_at.astimezone(tz).date(), "
                "not a datetime"
            )
        i = bisect_right(versions, at, key=lambda v: v.effective_from)
        return versions[i - 1] if i else None

    def require_procedure(self, code: str, at: date | None = None) -> Procedure:
        """Like ``procedure`` but raises ``UnknownProcedureError`` instead of returning None."""
        found = self.procedure(code, at)
        if found is None:
            versions = self._procedures.get(code)
            raise UnknownProcedureError(code, at, versions[0].effective_from if versions else None)
        return found

    def in_force(self, at: date | None = None) -> tuple[Procedure, ...]:
        """One version per code: the one in force on ``at`` (newest when None), by code."""
        chosen = (self.procedure(code, at) for code in self._procedures)
        return tuple(p for p in chosen if p is not None)

    def agency(self, code: str) -> Agency:
        try:
            return self._agencies[code]
        except KeyError:
            raise UnknownAgencyError(code) from None

    def supervisors_for(self, agency_code: str, role: str) -> tuple[Supervisor, ...]:
        """Supervisors of ``agency_code`` itself with ``role`` (no escalation)."""
        return self.agency(agency_code).supervisors_with(role)

    def escalation_path(self, agency_code: str) -> tuple[str, ...]:
        """Agencies tried for a role, in order: the agency, its escalation list, its parents."""
        return _escalation_path(self._agencies, self.agency(agency_code))

    def recipients(self, level: str, scope: str, agency_code: str) -> tuple[Supervisor, ...]:
        """Who to notify about an alert: the supervisors with the role ``ESCALATION_ROLES``
        gives for (scope, level), on the first agency along ``escalation_path`` that has any.

        ``agency_code`` is the step's agency for step alerts and the agency holding the
        dossier for dossier alerts. The loader guarantees a non-empty answer for every agency
        that handles a step.
        """
        role = escalation_role(level, scope)
        for code in self.escalation_path(agency_code):
            found = self._agencies[code].supervisors_with(role)
            if found:
                return found
        return ()


def _escalation_path(agencies: Mapping[str, Agency], agency: Agency) -> tuple[str, ...]:
    path: dict[str, None] = {agency.code: None}
    for code in agency.escalation:
        if code in agencies:
            path.setdefault(code, None)
    climbed = {agency.code}
    parent = agency.parent
    while parent is not None and parent in agencies and parent not in climbed:
        climbed.add(parent)
        path.setdefault(parent, None)
        parent = agencies[parent].parent
    return tuple(path)


def _cross_check(
    agencies: Sequence[tuple[Agency, _Where]],
    procedures: Sequence[tuple[Procedure, _Where]],
    invalid_agencies: Iterable[str] = (),
) -> list[CatalogProblem]:
    """Problems that need the whole catalog: duplicates, references, escalation coverage.

    ``invalid_agencies`` are codes of agencies that failed validation (already reported):
    references to them are not "unknown", and escalation coverage is not judged.
    """
    problems: list[CatalogProblem] = []
    invalid = set(invalid_agencies)
    by_code: dict[str, tuple[Agency, _Where]] = {}
    for agency, where in agencies:
        if agency.code in by_code:
            first = by_code[agency.code][1]
            problems.append(
                where.problem(f"duplicate agency code {agency.code!r} (first at {first})", "code")
            )
        else:
            by_code[agency.code] = (agency, where)
    known = {code: a for code, (a, _) in by_code.items()}
    exists = known.keys() | invalid

    for agency, where in agencies:
        if agency.parent is not None and agency.parent not in exists:
            problems.append(where.problem(f"unknown agency {agency.parent!r}", "parent"))
        elif agency.parent == agency.code:
            problems.append(where.problem("an agency cannot be its own parent", "parent"))
        for i, code in enumerate(agency.escalation):
            if code not in exists:
                problems.append(where.problem(f"unknown agency {code!r}", "escalation", i))
            elif code == agency.code:
                problems.append(
                    where.problem("the escalation list names the agency itself", "escalation", i)
                )
    problems.extend(_parent_loops(known, by_code))

    versions: dict[tuple[str, date], _Where] = {}
    used: dict[str, None] = {}
    for procedure, where in procedures:
        key = (procedure.code, procedure.effective_from)
        if key in versions:
            problems.append(
                where.problem(
                    f"duplicate version of procedure {procedure.code} effective "
                    f"{procedure.effective_from.isoformat()} (first at {versions[key]})",
                    "effective_from",
                )
            )
        else:
            versions[key] = where
        for parts, message in _procedure_problems(procedure):
            problems.append(where.problem(message, *parts))
        for i, step in enumerate(procedure.steps):
            if step.agency in known:
                used.setdefault(step.agency, None)
            elif step.agency not in invalid:
                problems.append(
                    where.problem(f"unknown agency {step.agency!r}", "steps", i, "agency")
                )

    if not invalid:
        problems.extend(_coverage_problems(known, by_code, used))
    return problems


def _parent_loops(
    known: Mapping[str, Agency], by_code: Mapping[str, tuple[Agency, _Where]]
) -> list[CatalogProblem]:
    problems: list[CatalogProblem] = []
    reported: set[frozenset[str]] = set()
    for code in known:
        seen: list[str] = []
        current: str | None = code
        while current is not None and current in known and current not in seen:
            seen.append(current)
            current = known[current].parent
        if current is None or current not in seen:
            continue
        loop = seen[seen.index(current) :]
        if frozenset(loop) in reported or loop[0] == known[loop[0]].parent:
            continue  # a self-parent is reported on its own
        reported.add(frozenset(loop))
        where = by_code[loop[0]][1]
        chain = " → ".join([*loop, loop[0]])
        problems.append(where.problem(f"parent chain loops: {chain}", "parent"))
    return problems


def _coverage_problems(
    known: Mapping[str, Agency],
    by_code: Mapping[str, tuple[Agency, _Where]],
    used: Iterable[str],
) -> list[CatalogProblem]:
    # An agency that handles steps must reach a supervisor for every alert it can raise,
    # or the alert would go nowhere at 2 a.m.; say so at start-up instead.
    problems: list[CatalogProblem] = []
    # Agencies naming unknown ones are already reported; judging them here would only echo.
    dangling = {
        code
        for code, a in known.items()
        if (a.parent is not None and a.parent not in known)
        or any(e not in known for e in a.escalation)
    }
    needs: dict[SupervisorRole, list[str]] = {}
    for (scope, level), role in ESCALATION_ROLES.items():
        needs.setdefault(role, []).append(f"{scope} {level.replace('_', ' ')}")
    for code in used:
        path = _escalation_path(known, known[code])
        if dangling.intersection(path):
            continue
        for role, alerts in needs.items():
            if not any(known[c].supervisors_with(role) for c in path):
                problems.append(
                    by_code[code][1].problem(
                        f"no {role!r} supervisor on {' → '.join(path)}: "
                        f"{', '.join(alerts)} alerts for {code} would reach nobody",
                        "supervisors",
                    )
                )
    return problems


# --- loading ------------------------------------------------------------------------------

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CatalogLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe YAML with YAML 1.2-style plain scalars.

    ``on``/``off``/``yes``/``no`` stay strings (``on:`` is a step field), ``15:00`` stays a
    string rather than base-60 ``900``, and decimals become exact ``Decimal`` values.
    """


_REPLACED_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_CatalogLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    return Decimal(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


_CatalogLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)

_TOP_LEVEL_KEYS: Final = ("agencies", "procedures")
_NESTED: Final[Mapping[tuple[type[BaseModel], str], type[BaseModel]]] = {
    (Agency, "supervisors"): Supervisor,
    (Procedure, "steps"): Step,
}


def _node_lines(
    node: yaml.Node,
    parts: _Parts,
    lines: dict[_Parts, int],
    duplicates: list[tuple[_Parts, int, int]],
) -> None:
    lines.setdefault(parts, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            key_parts = (*parts, key)
            if key_parts in lines:
                duplicates.append((key_parts, lines[key_parts], key_node.start_mark.line + 1))
                continue
            lines[key_parts] = key_node.start_mark.line + 1
            _node_lines(value_node, key_parts, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, (*parts, i), lines, duplicates)


_UNREADABLE: Final = object()


def _parse(path: Path, name: str) -> tuple[Any, _Source, list[CatalogProblem]]:
    """The file's data (``_UNREADABLE`` if it cannot be read), its line map and problems."""

    def unreadable(
        message: str, mark: yaml.Mark | None = None
    ) -> tuple[Any, _Source, list[CatalogProblem]]:
        line = None if mark is None else mark.line + 1
        column = None if mark is None else mark.column + 1
        return _UNREADABLE, _Source(name, {}), [CatalogProblem(name, "", message, line, column)]

    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return unreadable(f"not valid UTF-8 at byte {exc.start}")
    except OSError as exc:
        return unreadable(f"cannot read: {exc.strerror}")
    loader = _CatalogLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return unreadable("file is empty: expected 'agencies' and/or 'procedures'")
        lines: dict[_Parts, int] = {}
        duplicates: list[tuple[_Parts, int, int]] = []
        _node_lines(node, (), lines, duplicates)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        what = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark is not None:
            what += f", {exc.context} that starts on line {exc.context_mark.line + 1}"
        return unreadable(f"YAML syntax error: {what}", exc.problem_mark or exc.context_mark)
    except yaml.YAMLError as exc:
        return unreadable(f"YAML error: {exc}")
    finally:
        loader.dispose()
    source = _Source(name, MappingProxyType(lines))
    problems = [
        CatalogProblem(name, _render_path(parts), f"duplicate key (first on line {first})", line)
        for parts, first, line in duplicates
    ]
    return data, source, problems


def _pydantic_problems(
    exc: ValidationError, where: _Where, model: type[BaseModel]
) -> list[CatalogProblem]:
    problems: list[CatalogProblem] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            owner = model
            for part in loc[:-1]:
                if isinstance(part, str):
                    owner = _NESTED.get((owner, part), owner)
            message = f"unknown key (allowed: {', '.join(owner.model_fields)})"
        elif kind == "missing":
            message = "required key missing"
        elif kind == "value_error":
            message = str(error["ctx"]["error"])
        else:
            message = str(error["msg"])
        problems.append(where.problem(message, *loc))
    return problems


def _catalog_files(root: Path) -> tuple[Path, list[Path]]:
    """(the folder names are shown relative to, the files to read)."""
    if root.is_dir():
        files = sorted(f for f in root.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
        return root, files
    return root.parent, [root] if root.exists() else []


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Read and check a catalog: a folder of *.yaml files (merged), or one file.

    ``None`` reads the sample catalog packaged in ``workflows/catalog/``. Raises
    ``CatalogError`` listing every problem in every file.
    """
    root = DEFAULT_CATALOG_DIR if path is None else Path(path)
    folder, files = _catalog_files(root)
    if not files:
        what = "no such file or folder" if not root.exists() else "no *.yaml files in the folder"
        raise CatalogError([CatalogProblem(str(root), "", what)])

    problems: list[CatalogProblem] = []
    agencies: list[tuple[Agency, _Where]] = []
    procedures: list[tuple[Procedure, _Where]] = []
    invalid_agencies: list[str] = []
    context = {_DEFER_ROUTE_CHECKS: True}
    for file in files:
        name = file.relative_to(folder.parent).as_posix()
        data, source, file_problems = _parse(file, name)
        problems.extend(file_problems)
        if data is _UNREADABLE:
            continue
        if not isinstance(data, dict):
            kind = "nothing" if data is None else f"a {type(data).__name__}"
            problems.append(
                source.problem(
                    (), f"expected a mapping with 'agencies' and/or 'procedures', got {kind}"
                )
            )
            continue
        for key in data:
            if key not in _TOP_LEVEL_KEYS:
                problems.append(
                    source.problem(
                        (str(key),), f"unknown key (allowed: {', '.join(_TOP_LEVEL_KEYS)})"
                    )
                )
        for key, model, out in (
            ("agencies", Agency, agencies),
            ("procedures", Procedure, procedures),
        ):
            items = data.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                problems.append(
                    source.problem((key,), f"expected a list, got {type(items).__name__}")
                )
                continue
            for i, item in enumerate(items):
                where = _Where(source, (key, i))
                try:
                    out.append((model.model_validate(item, context=context), where))  # type: ignore[arg-type]
                except ValidationError as exc:
                    problems.extend(_pydantic_problems(exc, where, model))
                    if model is Agency and isinstance(item, dict):
                        invalid_agencies.append(str(item.get("code")))

    problems.extend(_cross_check(agencies, procedures, invalid_agencies))
    if problems:
        order = {p: n for n, p in enumerate(problems)}
        problems.sort(key=lambda p: (p.file, p.line or 0, order[p]))
        raise CatalogError(problems)
    return Catalog._checked((a for a, _ in agencies), (p for p, _ in procedures))


# --- summary ------------------------------------------------------------------------------


def _days(value: Decimal, unit: str) -> Decimal:
    return value / WORKING_HOURS_PER_DAY if unit == "working_hours" else value


_CENT = Decimal("0.01")


@dataclass(frozen=True)
class CatalogSummary:
    """Catalog figures for the province report, over one version per procedure code.

    Shares are fractions (0-1, four decimals); means are over reduced procedures only,
    two decimals; days are working or calendar days as each procedure counts them,
    hours converted at 8 per day.
    """

    at: date | None
    procedures: int
    versions: int
    agencies: int
    supervisors: int
    by_sector: Mapping[str, int]
    sector_names: Mapping[str, str]
    by_online_level: Mapping[str, int]
    same_day: int
    reduced: int
    reduced_share: Decimal
    mean_reduction_percent: Decimal
    mean_reduction_days: Decimal

    def render(self) -> tuple[str, ...]:
        when = "newest versions" if self.at is None else f"versions in force on {self.at}"
        share = (self.reduced_share * 100).quantize(Decimal("0.1"))
        online = ", ".join(f"{level} {n}" for level, n in self.by_online_level.items())
        lines = [
            f"Catalog ({when}): {self.procedures} procedures ({self.versions} versions), "
            f"{self.agencies} agencies, {self.supervisors} supervisors",
            f"Reduced times: {self.reduced} of {self.procedures} procedures ({share}%), "
            f"mean reduction {self.mean_reduction_percent}% or {self.mean_reduction_days} days",
            f"Same-day procedures: {self.same_day}",
            f"Online: {online}",
            "By sector:",
        ]
        width = min(max((len(s) for s in self.by_sector), default=0), 32)
        lines.extend(
            f"  {sector:<{width}}  {count:>4}  {self.sector_names.get(sector, '')}"
            for sector, count in self.by_sector.items()
        )
        return tuple(lines)


def summarize(catalog: Catalog, at: date | None = None) -> CatalogSummary:
    """Figures over the version of each procedure in force on ``at`` (newest when None)."""
    chosen = catalog.in_force(at)
    by_sector: dict[str, int] = {}
    names: dict[str, str] = {}
    online: dict[str, int] = dict.fromkeys(get_args(OnlineLevel), 0)
    for p in chosen:
        by_sector[p.sector] = by_sector.get(p.sector, 0) + 1
        names.setdefault(p.sector, p.sector_name_vi)
        online[p.online_level] += 1
    reduced = [p for p in chosen if p.reduced]
    percent = sum((p.reduction / p.statutory_time * 100 for p in reduced), Decimal(0))
    days = sum((_days(p.reduction, p.time_unit) for p in reduced), Decimal(0))
    n = len(reduced)
    emails = {s.email.lower() for a in catalog.agencies.values() for s in a.supervisors}
    return CatalogSummary(
        at=at,
        procedures=len(chosen),
        versions=sum(len(v) for v in catalog.procedures.values()),
        agencies=len(catalog.agencies),
        supervisors=len(emails),
        by_sector=MappingProxyType(dict(sorted(by_sector.items(), key=lambda kv: (-kv[1], kv[0])))),
        sector_names=MappingProxyType(names),
        by_online_level=MappingProxyType(online),
        same_day=sum(1 for p in chosen if p.same_day),
        reduced=n,
        reduced_share=(
            (Decimal(n) / len(chosen)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
            if chosen
            else Decimal(0)
        ),
        mean_reduction_percent=(percent / n).quantize(_CENT, ROUND_HALF_EVEN) if n else Decimal(0),
        mean_reduction_days=(days / n).quantize(_CENT, ROUND_HALF_EVEN) if n else Decimal(0),
    )
