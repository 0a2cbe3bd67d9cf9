"""The alternative catalog of ``dossierflow whatif``: committed times set (``--commit``) or cut
by a percentage (``--cut-percent``), step allotments rescaled so every route still adds up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from workflows.catalog import Catalog, CatalogError, Procedure
from workflows.catalog.checks import procedure_problems, render_path

__all__ = [
    "COMMIT_QUANTUM",
    "STEP_QUANTUM",
    "Change",
    "WhatIfCatalogError",
    "alter",
    "parse_commit",
]

#: What a cut committed time is rounded to (nearest, halves up), by time unit: the
#: granularity province decisions use (2.5, 16.5 days).
COMMIT_QUANTUM: Mapping[str, Decimal] = {
    "working_days": Decimal("0.5"),
    "working_hours": Decimal(1),
    "calendar_days": Decimal(1),
}
#: What the time left after each step is rounded to when allotments are rescaled.
STEP_QUANTUM: Mapping[str, Decimal] = {
    "working_days": Decimal("0.125"),  # one working hour
    "working_hours": Decimal("0.5"),
    "calendar_days": Decimal(1),
}


class WhatIfCatalogError(ValueError):
    """The overrides cannot make a valid catalog; ``problems`` has one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Change:
    """One procedure version whose committed time the overrides changed."""

    code: str
    effective_from: str
    unit: str
    before: Decimal
    after: Decimal


def parse_commit(text: str) -> tuple[str, Decimal]:
    """``PROCEDURE=DAYS`` (in the procedure's time unit) as (code, amount)."""
    code, sep, amount = text.partition("=")
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not sep or not code.strip() or not value.is_finite() or value < 0:
        raise ValueError(
            f"--commit {text!r}: expected PROCEDURE=DAYS with a number >= 0, e.g. 1.013225=8"
        )
    return code.strip(), value


def _round(value: Decimal, quantum: Decimal) -> Decimal:
    return ((value / quantum).to_integral_value(ROUND_HALF_UP) * quantum).normalize()


def _cut(committed: Decimal, percent: Decimal, unit: str) -> Decimal:
    """``committed`` less ``percent``%, to the nearest ``COMMIT_QUANTUM`` (halves up), and
    never down to 0 when it was not 0: a cut must not turn a procedure into a same-day one."""
    quantum = COMMIT_QUANTUM[unit]
    cut = _round(committed * (100 - percent) / 100, quantum)
    return max(cut, quantum) if committed > 0 else cut


def _retimed(proc: Procedure, committed: Decimal) -> Procedure:
    """``proc`` committed to ``committed``, its allotments scaled by new / old.

    The time left after each step (its suffix: the same along every route, since every
    route adds up to the committed time) is scaled and rounded to ``STEP_QUANTUM``, and
    each allotment is its suffix minus its successors': so every route adds up to the new
    committed time exactly, and no allotment is negative.
    """
    old = proc.committed_time
    factor = committed / old
    quantum = STEP_QUANTUM[proc.time_unit]
    by_id = {s.id: s for s in proc.steps}
    suffix: dict[str, Decimal] = {}

    def left(step_id: str) -> Decimal:  # the original time from this step to the end
        if step_id not in suffix:
            step = by_id[step_id]
            after = step.targets()
            suffix[step_id] = step.allotment + (left(after[0]) if after else Decimal(0))
        return suffix[step_id]

    def scaled(step_id: str) -> Decimal:
        if step_id == proc.entry.id:
            return committed
        return min(_round(left(step_id) * factor, quantum), committed)

    steps = []
    for step in proc.steps:
        after = step.targets()
        allotment = scaled(step.id) - (scaled(after[0]) if after else Decimal(0))
        steps.append(step.model_copy(update={"allotment": allotment}))
    return proc.model_copy(update={"committed_time": committed, "steps": tuple(steps)})


def alter(
    catalog: Catalog,
    commits: Mapping[str, Decimal],
    cut_percent: Decimal | None = None,
    cut_codes: Sequence[str] = (),
) -> tuple[Catalog, tuple[Change, ...]]:
    """``catalog`` with every version of the ``commits`` procedures committed to their amount
    and of the ``cut_codes`` ones cut by ``cut_percent``, checked as ``catalog check`` checks
    a procedure; a ``WhatIfCatalogError`` lists every problem, one line each."""
    problems: list[str] = []
    twice = sorted(set(commits) & set(cut_codes))
    problems += [f"{code}: given to both --commit and --procedures" for code in twice]
    problems += [
        f"{code}: no such procedure in the catalog"
        for code in [*commits, *cut_codes]
        if code not in catalog.procedures
    ]
    if cut_codes and (cut_percent is None or not 0 < cut_percent < 100):
        problems.append(f"--cut-percent {cut_percent}: give a percentage between 0 and 100")
    if problems:
        raise WhatIfCatalogError(problems)
    procedures: list[Procedure] = []
    changes: list[Change] = []
    for code, versions in catalog.procedures.items():
        for proc in versions:
            where = f"{code} (effective {proc.effective_from.isoformat()})"
            if code in commits:
                committed = commits[code]
            elif code in cut_codes and cut_percent is not None:
                committed = _cut(proc.committed_time, cut_percent, proc.time_unit)
            else:
                procedures.append(proc)
                continue
            if proc.committed_time == 0 and committed != 0:
                problems.append(
                    f"{where}: a same-day procedure (committed 0) has no allotments to scale; "
                    "give a catalog with its new allotments (--catalog)"
                )
                continue
            new = _retimed(proc, committed) if committed != proc.committed_time else proc
            problems += [f"{where}: {render_path(p)}: {m}" for p, m in procedure_problems(new)]
            procedures.append(new)
            unit = proc.time_unit
            effective = proc.effective_from.isoformat()
            changes.append(Change(code, effective, unit, proc.committed_time, committed))
    if problems:
        raise WhatIfCatalogError(problems)
    try:
        altered = Catalog(catalog.agencies.values(), procedures)
    except CatalogError as exc:  # the whole-catalog checks, as `catalog check` runs them
        raise WhatIfCatalogError([str(p) for p in exc.problems]) from None
    return altered, tuple(changes)
