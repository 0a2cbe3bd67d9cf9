"""Who hears about an alert: the role per (scope, level), the agencies tried in order,
and the check that every agency handling a step reaches someone for each alert."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from events import AlertLevel, AlertScope
from workflows.catalog.models import Agency, SupervisorRole
from workflows.catalog.problems import CatalogProblem, Where

# Who is told, by alert scope and level. Public: docs/catalog.md and the notifier rely on it.
ESCALATION_ROLES: Final[Mapping[tuple[str, str], SupervisorRole]] = MappingProxyType(
    {
        ("step", "due_soon"): "department_officer",
        ("step", "overdue"): "department_head",
        ("step", "statutory_breach"): "province_leader",
        ("dossier", "due_soon"): "department_head",
        ("dossier", "overdue"): "centre_director",
        ("dossier", "statutory_breach"): "province_leader",
        # still overdue N working days on: one level above the overdue alert's
        ("dossier", "reminder"): "province_leader",
    }
)


def escalation_role(level: str, scope: str) -> SupervisorRole:
    """The supervisor role told about an alert of ``level`` for a ``scope`` (step/dossier)."""
    try:
        return ESCALATION_ROLES[(str(scope), str(level))]
    except KeyError:
        raise ValueError(
            f"no escalation for scope {scope!r} and level {level!r} "
            f"(scopes: {', '.join(s.value for s in AlertScope)}; "
            f"levels: {', '.join(lv.value for lv in AlertLevel)})"
        ) from None


def escalation_path(agencies: Mapping[str, Agency], agency: Agency) -> tuple[str, ...]:
    """Agencies tried for a role, in order: the agency, its escalation list, its parents."""
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


def coverage_problems(
    known: Mapping[str, Agency],
    by_code: Mapping[str, tuple[Agency, Where]],
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
        path = escalation_path(known, known[code])
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
