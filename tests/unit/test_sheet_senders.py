"""The process control sheet records the real sender (issue 12 item 3): each row names the
publisher whose event opened it (``sent_by``; the next row's says who closed it) and the
last row the one whose event closed it (``finished_by``): the verified principal, not
the agency the event claims; None when not known. States stored before the fields
existed still load, and the size estimate still bounds the encoded state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from events import (
    DossierHandedOff,
    DossierReceived,
    DossierWithdrawn,
    InboundEvent,
    ReasonKind,
    ResultReady,
    StepCompleted,
)
from workflows.effects import Rejected
from workflows.limits import estimated_size
from workflows.routing import RoutingContext, Sender, apply, province_rules
from workflows.state import DossierState

from support.context import sample_catalog, working_calendar
from support.time import vn

CATALOG = sample_catalog()
CTX = RoutingContext(
    CATALOG, working_calendar(range(2025, 2028)), authorize=province_rules(CATALOG)
)
DESK_SYSTEM = Sender("motcua-igate", frozenset({"MOTCUA"}))  # the province's one-stop system
STC_SYSTEM = Sender("stc-own", frozenset({"STC"}))  # the department's own system


def event(n: int, cls: type[Any], agency: str, at: datetime, **fields: Any) -> InboundEvent:
    made: InboundEvent = cls(
        event_id=f"S/{n}", dossier_id="S", occurred_at=at, agency=agency, **fields
    )
    return made


def walk(senders: dict[str, Sender]) -> DossierState:
    script = [
        (DossierReceived, "MOTCUA", "2026-03-02 08:00", {"procedure": "2.001610", "channel": "online"}),
        (StepCompleted, "MOTCUA", "2026-03-02 09:00", {"step": "receive"}),
        (StepCompleted, "STC", "2026-03-03 09:00", {"step": "review"}),
        (StepCompleted, "STC", "2026-03-04 09:00", {"step": "issue"}),
        (StepCompleted, "MOTCUA", "2026-03-04 10:00", {"step": "return"}),
        (ResultReady, "MOTCUA", "2026-03-04 10:05", {"outcome": "approved"}),
    ]  # fmt: skip
    state: DossierState | None = None
    for n, (cls, agency, at, fields) in enumerate(script):
        state, _ = apply(state, event(n, cls, agency, vn(at), **fields), CTX, senders[agency])
    assert state is not None
    return state


def test_each_row_names_who_opened_and_who_closed_it() -> None:
    state = walk({"MOTCUA": DESK_SYSTEM, "STC": STC_SYSTEM})
    assert [(r.step, r.agency, r.sent_by, r.finished_by) for r in state.sheet] == [
        # opened by the receipt; the desk's completion closed it (the next row says so)
        ("receive", "MOTCUA", "motcua-igate", None),
        # handed to STC by the desk's event; finished by STC's own system
        ("review", "STC", "motcua-igate", None),
        ("issue", "STC", "stc-own", None),
        # the last row: opened by STC, closed by the desk, and no row after to say it
        ("return", "MOTCUA", "stc-own", "motcua-igate"),
    ]
    again = DossierState.from_bytes(state.to_bytes())
    assert again == state


def test_a_same_step_hand_off_records_who_moved_the_dossier() -> None:
    # STC hands its own step on to SXD: the open row now names SXD, and STC's publisher.
    script: list[tuple[type[Any], str, str, dict[str, str]]] = [
        (DossierReceived, "MOTCUA", "2026-03-02 08:00", {"procedure": "2.001610", "channel": "online"}),
        (StepCompleted, "MOTCUA", "2026-03-02 09:00", {"step": "receive"}),
        (DossierHandedOff, "STC", "2026-03-02 10:00", {"step": "review", "to_agency": "SXD"}),
    ]  # fmt: skip
    state: DossierState | None = None
    for n, (cls, agency, at, fields) in enumerate(script):
        sender = DESK_SYSTEM if agency == "MOTCUA" else STC_SYSTEM
        state, _ = apply(state, event(n, cls, agency, vn(at), **fields), CTX, sender)
    assert state is not None
    row = state.sheet[-1]
    assert (row.step, row.agency, row.from_agency, row.sent_by) == (
        "review",
        "SXD",
        "STC",
        "stc-own",
    )


def test_an_unknown_sender_records_none_and_costs_no_bytes() -> None:
    anyone = Sender()
    state = walk({"MOTCUA": anyone, "STC": anyone})
    assert all(r.sent_by is None and r.finished_by is None for r in state.sheet)
    assert b'"by' not in state.to_bytes()


def test_a_state_stored_before_the_sheet_recorded_senders_still_loads() -> None:
    state = walk({"MOTCUA": DESK_SYSTEM, "STC": STC_SYSTEM})
    raw = state.to_bytes()
    old = raw.replace(b',"by":"motcua-igate"', b"").replace(b',"by1":"motcua-igate"', b"")
    old = old.replace(b',"by":"stc-own"', b"").replace(b',"by1":"stc-own"', b"")
    assert b'"by' not in old
    loaded = DossierState.from_bytes(old)
    assert all(r.sent_by is None and r.finished_by is None for r in loaded.sheet)
    assert [r.step for r in loaded.sheet] == [r.step for r in state.sheet]


def test_the_size_estimate_bounds_a_sheet_signed_by_long_principals() -> None:
    principal = "\u001f" * 128  # the costliest characters JSON can be asked to write
    long = Sender(principal)
    state = walk({"MOTCUA": long, "STC": long})
    assert all(r.sent_by == principal for r in state.sheet)
    assert estimated_size(state) >= len(state.to_bytes())
    rows = tuple(state.sheet) * 25
    big = state.model_copy(update={"sheet": rows})
    assert estimated_size(big) >= len(big.to_bytes())


def test_a_withdrawal_mid_step_records_who_closed_the_open_row() -> None:
    state: DossierState | None = None
    script: list[tuple[type[Any], str, str, dict[str, str]]] = [
        (DossierReceived, "MOTCUA", "2026-03-02 08:00", {"procedure": "2.001610", "channel": "online"}),
        (StepCompleted, "MOTCUA", "2026-03-02 09:00", {"step": "receive"}),
        (DossierWithdrawn, "MOTCUA", "2026-03-02 10:00", {"reason": "rút"}),
    ]  # fmt: skip
    for n, (cls, agency, at, fields) in enumerate(script):
        state, _ = apply(state, event(n, cls, agency, vn(at), **fields), CTX, DESK_SYSTEM)
    assert state is not None
    assert [(r.step, r.finished_by) for r in state.sheet] == [
        ("receive", None),
        ("review", "motcua-igate"),
    ]


def test_a_refused_event_signs_nothing() -> None:
    state = walk({"MOTCUA": DESK_SYSTEM, "STC": STC_SYSTEM})
    intruder = Sender("intruder", None)
    # SXD does not hold the dossier: refused, and no row records the intruder
    grab = event(
        99, DossierHandedOff, "SXD", vn("2026-03-04 11:00"), step="return", to_agency="SXD"
    )
    after, effects = apply(state, grab, CTX, intruder)
    assert [e.kind for e in effects if isinstance(e, Rejected)] == [ReasonKind.UNAUTHORIZED]
    assert after is not None and after.sheet == state.sheet
