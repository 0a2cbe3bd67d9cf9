"""Checks that need the whole catalog: duplicate codes and versions, references to
agencies, parent loops and escalation coverage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from workflows.catalog.checks import procedure_problems
from workflows.catalog.escalation import coverage_problems
from workflows.catalog.models import Agency, Procedure
from workflows.catalog.problems import CatalogProblem, Where


def cross_check(
    agencies: Sequence[tuple[Agency, Where]],
    procedures: Sequence[tuple[Procedure, Where]],
    invalid_agencies: Iterable[str] = (),
) -> list[CatalogProblem]:
    """Problems that need the whole catalog: duplicates, references, escalation coverage.

    ``invalid_agencies`` are codes of agencies that failed validation (already reported):
    references to them are not "unknown", and escalation coverage is not judged.
    """
    problems: list[CatalogProblem] = []
    invalid = set(invalid_agencies)
    by_code: dict[str, tuple[Agency, Where]] = {}
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

    versions: dict[tuple[str, date], Where] = {}
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
        for parts, message in procedure_problems(procedure):
            problems.append(where.problem(message, *parts))
        for i, step in enumerate(procedure.steps):
            if step.agency in known:
                used.setdefault(step.agency, None)
            elif step.agency not in invalid:
                problems.append(
                    where.problem(f"unknown agency {step.agency!r}", "steps", i, "agency")
                )
            for j, code in enumerate(step.delegates):
                if code not in exists:
                    problems.append(
                        where.problem(f"unknown agency {code!r}", "steps", i, "delegates", j)
                    )

    if not invalid:
        problems.extend(coverage_problems(known, by_code, used))
    return problems


def _parent_loops(
    known: Mapping[str, Agency], by_code: Mapping[str, tuple[Agency, Where]]
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
