"""Bounds on one dossier's state, so no stream of events can grow it without end.

A state is one record of the router's changelog: past the broker's 1 MB limit its
write fails and the worker can never get past it. Every event that adds to the
state (a sheet row, a pause) is checked here, in ``workflows.routing.apply``,
before it is applied; one that would break a bound is refused ``limit_exceeded``.
Events that only finish a dossier (result ready, returned, withdrawn, rejected)
add no row and are never refused by a bound, so a dossier at a bound can still
close. docs/routing.md ("Bounds") gives the defaults and why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from workflows.state import DossierState

__all__ = ["StateLimits", "estimated_size", "state_problem"]


@dataclass(frozen=True)
class StateLimits:
    #: rows of the process control sheet (a typical dossier has 3 to 10)
    sheet_rows: int = 100
    #: rows of one step: how many times the dossier may be handed into the same step
    step_visits: int = 10
    #: supplement requests (the second already counts the dossier late)
    pauses: int = 20
    #: the encoded state (``DossierState.to_bytes``); a typical one is ~1.3 KB. Checked
    #: when a row or a pause is added; what other events add on top is small and bounded
    #: (remembered event ids, at most 48 x 14 bytes; the outcome; alert marks).
    state_bytes: int = 32 * 1024


# Worst-case encoded bytes, for the estimate below: a character of a string may take up
# to 6 bytes in JSON (``\u001f``); an instant 18 bytes, a float 24. Every key, quote,
# comma and number of a row or of the envelope is inside the constants.
_CHAR = 6
_ROW = 330
_PAUSE = 110
_ENVELOPE = 900
_MARK = 4


def estimated_size(state: DossierState) -> int:
    """An upper bound of ``len(state.to_bytes())``, cheap to compute (no encoding).

    Lets ``state_problem`` skip the exact encoding (~15 µs for a typical state) for
    every state that is clearly small; tests/unit/test_state_limits.py checks it
    bounds the real size for states built from the longest strings the contract allows.
    """
    # Written out, not as sums over generators: ``apply`` calls this for every event that
    # adds a row, and this is the cheap side of ``state_problem``.
    size = _ENVELOPE + _CHAR * (
        len(state.dossier_id)
        + len(state.procedure)
        + len(state.procedure_version)
        + len(state.sector)
        + len(state.channel)
        + len(state.current_step or "")
        + len(state.current_agency or "")
        + len(state.watch_key or "")
        + len(state.lookup_hash or "")
    )
    for row in state.sheet:
        size += _ROW + _CHAR * (
            len(row.step)
            + len(row.agency)
            + len(row.from_agency or "")
            + len(row.sent_by or "")
            + len(row.finished_by or "")
        )
    size += _PAUSE * len(state.pauses)
    if state.outcome is not None:
        size += _ROW + _CHAR * len(state.outcome.decision)
    marks = len(state.applied) + len(state.alerted)
    size += _MARK * marks + _CHAR * (sum(map(len, state.applied)) + sum(map(len, state.alerted)))
    return size


def state_problem(state: DossierState, limits: StateLimits) -> str | None:
    """Which bound ``state`` breaks, said for the dead letter; None when it is within all."""
    rows = len(state.sheet)
    if rows > limits.sheet_rows:
        return f"the process control sheet would have {rows} rows; the limit is {limits.sheet_rows}"
    if rows > limits.step_visits:
        step, visits = Counter(row.step for row in state.sheet).most_common(1)[0]
        if visits > limits.step_visits:
            return (
                f"step {step!r} would be entered for the {visits}th time; "
                f"the limit is {limits.step_visits} per step"
            )
    if len(state.pauses) > limits.pauses:
        return f"{len(state.pauses)} supplement requests; the limit is {limits.pauses}"
    if estimated_size(state) > limits.state_bytes:
        size = len(state.to_bytes())
        if size > limits.state_bytes:
            return f"the state would take {size} bytes; the limit is {limits.state_bytes}"
    return None
