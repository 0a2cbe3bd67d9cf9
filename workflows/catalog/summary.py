"""``summarize``: the catalog figures province leadership is judged on (reduced times,
online share, same-day procedures, by sector)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType
from typing import get_args

from workflows.catalog.lookups import Catalog
from workflows.catalog.models import WORKING_HOURS_PER_DAY, OnlineLevel


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
