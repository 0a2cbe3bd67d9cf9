"""Route checks on one procedure: codes, times, dangling or looping routes, allotment sums.

Shared by the ``Procedure`` validator and the loader (which reports each at its own line)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from workflows.catalog.models import Procedure

SAMPLE_CODE_PREFIX: Final = "SAMPLE-"
DEFER_ROUTE_CHECKS: Final = "dossierflow.catalog.defer_route_checks"
_NATIONAL_CODE = re.compile(r"\d\.\d{6}")

Parts: TypeAlias = tuple[str | int, ...]


def render_path(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def procedure_problems(p: Procedure) -> list[tuple[Parts, str]]:
    """Everything wrong inside one procedure, as (path inside the procedure, message)."""
    problems: list[tuple[Parts, str]] = []
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
        times: list[tuple[Parts, Decimal]] = [
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


def _route_problems(p: Procedure) -> list[tuple[Parts, str]]:
    problems: list[tuple[Parts, str]] = []
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
    edges: dict[int, list[tuple[int, Parts]]] = {i: [] for i in range(len(p.steps))}
    for i, step in enumerate(p.steps):
        exits: list[tuple[str, Parts]] = []
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
    p: Procedure, edges: Mapping[int, list[tuple[int, Parts]]], problems: list[tuple[Parts, str]]
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
    p: Procedure, edges: Mapping[int, list[tuple[int, Parts]]], order: list[int]
) -> list[tuple[Parts, str]]:
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

    problems: list[tuple[Parts, str]] = []
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
