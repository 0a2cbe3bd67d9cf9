"""Who may read a dossier (workflows.reads), the receipt's lookup code and the citizen's view."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

import events as ev
from workflows.calendar import VN_TZ
from workflows.reads import (
    Principal,
    involved_agencies,
    lookup_digest,
    lookup_matches,
    may_read,
    public_view,
)
from workflows.routing import apply
from workflows.simulation.lifecycle import simulated_lookup_code
from workflows.state import DossierState

from support.context import routing_context
from support.dossiers import receipt
from support.time import vn

CODE = "R7K2-99QX"


def at_stc(dossier: str = "R-1", code: str | None = CODE) -> DossierState:
    """2.001610 received at MOTCUA (with ``code``), then handed to STC for its review."""
    ctx = routing_context()
    first = receipt(dossier, f"{dossier}/1", vn("2026-03-09 08:00"))
    state, _ = apply(None, first.model_copy(update={"lookup_code": code}), ctx)
    done = ev.StepCompleted(
        event_id=f"{dossier}/2", dossier_id=dossier, occurred_at=vn("2026-03-09 09:00"),
        agency="MOTCUA", step="receive", actor="officer-lan",
    )  # fmt: skip
    state, _ = apply(state, done, ctx)
    assert state is not None and state.current_agency == "STC"
    return state


def at_desk() -> DossierState:
    state, _ = apply(None, receipt("R-2", "R-2/1", vn("2026-03-09 08:00")), routing_context())
    assert state is not None
    return state


def test_the_agencies_that_received_or_held_a_dossier() -> None:
    assert involved_agencies(at_stc()) == {"MOTCUA", "STC"}
    assert involved_agencies(at_desk()) == {"MOTCUA"}


@pytest.mark.parametrize(
    ("principal", "sees_at_stc", "sees_at_desk"),
    [
        # the receiving desk sees what it received, wherever it went since
        (Principal("desk", "agency", frozenset({"MOTCUA"})), True, True),
        # the department only once it held it
        (Principal("stc", "agency", frozenset({"STC"})), True, False),
        # one of several agencies is enough
        (Principal("two", "agency", frozenset({"SXD", "STC"})), True, False),
        # an agency that never had it: nothing, even as a supervisor of itself
        (Principal("sxd", "agency", frozenset({"SXD"})), False, False),
        (Principal("sxd-head", "supervisor", frozenset({"SXD"})), False, False),
        # the service centre is on the desk's and STC's escalation paths
        (Principal("centre", "supervisor", frozenset({"TTPVHCC"})), True, True),
        # the province's committee: STC's parent, and the desk's by MOTCUA -> TTPVHCC
        (Principal("province", "supervisor", frozenset({"UBND-TINH"})), True, True),
        # SNNMT supervises the land office, never the desk or STC
        (Principal("land", "supervisor", frozenset({"SNNMT"})), False, False),
        # a supervisor's own agency is on its path: STC's head sees STC's dossiers
        (Principal("stc-head", "supervisor", frozenset({"STC"})), True, False),
        # an agency principal does not climb paths: TTPVHCC as an agency sees nothing here
        (Principal("centre-desk", "agency", frozenset({"TTPVHCC"})), False, False),
        (Principal("root", "admin"), True, True),
    ],
)
def test_who_may_read(principal: Principal, sees_at_stc: bool, sees_at_desk: bool) -> None:
    catalog = routing_context().catalog
    assert may_read(principal, at_stc(), catalog) is sees_at_stc
    assert may_read(principal, at_desk(), catalog) is sees_at_desk


def test_the_state_keeps_a_salted_hash_of_the_lookup_code_never_the_code() -> None:
    state = at_stc()
    assert state.lookup_hash == lookup_digest("R-1", CODE)
    assert CODE not in state.to_bytes().decode()
    assert "lookup_hash" not in state.public()
    # the dossier id salts it: the same code on another dossier stores another digest
    assert lookup_digest("R-9", CODE) != lookup_digest("R-1", CODE)
    assert lookup_matches(state, CODE)
    assert not lookup_matches(state, CODE.lower())
    assert not lookup_matches(state, CODE + "0")
    # survives the wire
    assert lookup_matches(DossierState.from_bytes(state.to_bytes()), CODE)


def test_a_dossier_without_a_code_matches_none_and_old_states_load() -> None:
    state = at_stc(code=None)
    assert state.lookup_hash is None
    assert not lookup_matches(state, CODE)
    stored = json.loads(state.to_bytes())
    assert "lk" not in stored  # a state stored before the field decodes the same
    assert DossierState.from_bytes(json.dumps(stored).encode()).lookup_hash is None


@pytest.mark.parametrize(
    "code",
    [
        "short",  # under 6
        "x" * 33,  # over 32
        "has space",
        "semi;colon",
        "đồng-123",  # not ASCII
        "line\nbreak",
    ],
)
def test_a_lookup_code_outside_the_pattern_is_refused(code: str) -> None:
    with pytest.raises(ValidationError, match="lookup_code"):
        ev.DossierReceived.model_validate(
            {**receipt("R-3", "R-3/1", vn("2026-03-09 08:00")).model_dump(), "lookup_code": code}
        )


def test_the_public_view_says_where_and_when_and_nothing_personal() -> None:
    state = at_stc()
    view = public_view(state, routing_context().catalog)
    assert view["status"] == "open"
    step = view["current_step"]
    assert isinstance(step, dict) and step["id"] == "review" and step["name"]
    assert view["agency"] == {"code": "STC", "name": "Sở Tài chính"}
    assert view["received_on"] == "2026-03-09"
    assert view["appointment"] == state.committed_due_at.astimezone(VN_TZ).isoformat()
    assert view["outcome"] is None
    text = json.dumps(view, ensure_ascii=False)
    for private in ("officer-lan", "sheet", "sent_by", "applicant", "channel", "lookup"):
        assert private not in text, private


def test_the_simulated_lookup_code_is_valid_and_the_same_for_the_same_dossier() -> None:
    code = simulated_lookup_code("000.00.20.H33-260113-00713")
    assert code == simulated_lookup_code("000.00.20.H33-260113-00713")
    assert code != simulated_lookup_code("000.00.20.H33-260113-00714")
    first = receipt("R-4", "R-4/1", vn("2026-03-09 08:00"))
    ev.DossierReceived.model_validate({**first.model_dump(), "lookup_code": code})
