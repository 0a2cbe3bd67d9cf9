"""``Catalog``: lookups over a checked set of agencies and procedure versions (the
version in force on a date, agencies, escalation recipients)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from types import MappingProxyType

from workflows.catalog.cross_checks import cross_check
from workflows.catalog.escalation import escalation_path, escalation_role
from workflows.catalog.models import Agency, Procedure, Supervisor
from workflows.catalog.problems import (
    CatalogError,
    Source,
    UnknownAgencyError,
    UnknownProcedureError,
    Where,
)


class Catalog:
    """Agencies and procedure versions that passed every check.

    Build it with ``load_catalog`` or ``Catalog(agencies, procedures)`` (which runs the
    same cross-checks and raises ``CatalogError``).
    """

    __slots__ = ("_agencies", "_procedures")

    _agencies: Mapping[str, Agency]
    _procedures: Mapping[str, tuple[Procedure, ...]]

    def __init__(self, agencies: Iterable[Agency], procedures: Iterable[Procedure]) -> None:
        memory = Source("<memory>", {})
        located_agencies = [(a, Where(memory, ("agencies", i))) for i, a in enumerate(agencies)]
        located_procedures = [
            (p, Where(memory, ("procedures", i))) for i, p in enumerate(procedures)
        ]
        problems = cross_check(located_agencies, located_procedures)
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

    def webhook_supervisors(self) -> Iterator[tuple[str, Supervisor]]:
        """(agency code, supervisor) for every supervisor with a webhook, in catalog order."""
        for code, agency in self._agencies.items():
            for supervisor in agency.supervisors:
                if supervisor.webhook is not None:
                    yield code, supervisor

    def escalation_path(self, agency_code: str) -> tuple[str, ...]:
        """Agencies tried for a role, in order: the agency, its escalation list, its parents."""
        return escalation_path(self._agencies, self.agency(agency_code))

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
