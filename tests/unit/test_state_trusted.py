"""The routing core's shortcuts past pydantic (workflows/state.py): ``model_copy`` gives
what pydantic's gives, and the rows, pauses, outcomes and states the rules build with
``trusted`` are exactly what validating the same values would build."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache

import pytest
from pydantic import BaseModel

from workflows.calendar import VN_TZ
from workflows.deadlines import Completion
from workflows.replay import replay, sent_by_anyone
from workflows.simulation import run_window, simulate_province
from workflows.state import DossierState, Pause, ProcessingResult, SheetRow, Status

from support.context import engine_context

T = datetime(2026, 3, 2, 8, 15, tzinfo=VN_TZ)


@cache
def replayed() -> dict[str, DossierState]:
    ctx = engine_context()
    window = run_window(ctx.calendar, date(2026, 3, 2), 15, backlog_days=10)
    load = simulate_province(ctx.catalog, ctx.calendar, window, seed=3, scale=0.03)
    return replay(sent_by_anyone(load.events()), ctx)


def _revalidated(state: DossierState) -> DossierState:
    return DossierState.model_validate(state.model_dump())


def test_every_replayed_state_is_what_validation_would_have_built() -> None:
    states = replayed()
    # the simulation's variety reaches every rule that builds with ``trusted``
    assert len(states) > 500
    assert any(s.pauses for s in states.values())
    assert any(s.outcome is not None for s in states.values())
    assert any(s.status is Status.WITHDRAWN or s.status is Status.REJECTED for s in states.values())
    for state in states.values():
        again = _revalidated(state)
        assert again == state
        # the same bytes: a float built as an int, say, would encode differently
        assert again.to_bytes() == state.to_bytes()
        assert DossierState.from_bytes(state.to_bytes()) == state
        for row, checked in zip(state.sheet, again.sheet, strict=True):
            assert list(row.__dict__) == list(checked.__dict__)  # fields in their order
            assert {k: type(v) for k, v in row.__dict__.items()} == {
                k: type(v) for k, v in checked.__dict__.items()
            }


@pytest.mark.parametrize(
    ("model", "values"),
    [
        # a row as new_row builds it
        (
            SheetRow,
            {
                "step": "s1",
                "agency": "ubnd",
                "from_agency": None,
                "started_at": T,
                "due_at": T,
                "allotted_hours": 8.0,
                "off_route": False,
            },
        ),
        # a pause as supplement_requested opens it
        (Pause, {"requested_at": T}),
        # an outcome as result_ready judges it
        (
            ProcessingResult,
            {
                "decision": "approved",
                "finished_at": T,
                "completion": Completion.EARLY,
                "used_days": 1.5,
                "saved_days": 3.25,
            },
        ),
    ],
)
def test_trusted_builds_what_validation_builds(
    model: type[SheetRow | Pause | ProcessingResult], values: dict[str, object]
) -> None:
    built, validated = model.trusted(**values), model.model_validate(values)
    assert built == validated
    assert built.__dict__ == validated.__dict__
    assert list(built.__dict__) == list(validated.__dict__)
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_dump_json() == validated.model_dump_json()
    with pytest.raises(ValueError, match="frozen"):
        built.__setattr__(next(iter(values)), None)


def test_model_copy_gives_what_pydantic_gives() -> None:
    state = max(replayed().values(), key=lambda s: (len(s.sheet), s.dossier_id))
    updates: list[dict[str, object]] = [
        {},
        {"anomalies": state.anomalies + 1},
        {"status": Status.PAUSED, "pauses": (*state.pauses, Pause(requested_at=T))},
        {"watch_key": "k", "watch_at": T},
    ]
    for update in updates:
        ours = state.model_copy(update=update)
        theirs = BaseModel.model_copy(state, update=update)
        assert ours == theirs and ours is not state
        assert ours.__dict__ == theirs.__dict__
        assert ours.model_fields_set == theirs.model_fields_set
        assert ours.to_bytes() == theirs.to_bytes()
        assert state.__dict__ == _revalidated(state).__dict__  # the original is untouched
    deep = state.model_copy(deep=True)
    assert deep == state and deep.sheet is not state.sheet
