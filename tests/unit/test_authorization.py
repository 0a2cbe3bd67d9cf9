"""Who may send what (workflows/routing/authorize.py, issue 12 item 3): ``province_rules``
refuses, ``unauthorized`` and before any transition, an event from an agency that may not
send it to the dossier now, or from a publisher that may not speak for that agency.

Procedure 2.001610 throughout: receive (MOTCUA, the provincial one-stop desk), review and
issue (STC, the finance department), return (MOTCUA); 3 working days. The table of rules
is in docs/security.md ("Authorization of transitions").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import events as ev
from workflows.catalog import Catalog, CatalogError
from workflows.effects import Rejected
from workflows.routing import RoutingContext, Sender, apply, province_rules
from workflows.routing.authorize import speaks_for
from workflows.state import DossierState, Status

from support.context import sample_catalog, working_calendar
from support.dossiers import certified_copy, construction_licence, publishing_licence, simulated
from support.time import vn

RECEIVED_AT = vn("2026-03-02 08:00")  # a Monday
DESK, DEPT = "MOTCUA", "STC"


def context(catalog: Catalog | None = None) -> RoutingContext:
    catalog = catalog or sample_catalog()
    cal = working_calendar(range(2025, 2028))
    return RoutingContext(catalog, cal, authorize=province_rules(catalog))


def with_delegates() -> Catalog:
    """The sample catalog, where 2.001610 also names delegates: a commune's desk may receive
    (receipt regardless of where the applicant lives) and the land office may review."""
    base = sample_catalog()
    procedures = []
    for versions in base.procedures.values():
        for proc in versions:
            if proc.code == "2.001610":
                steps = list(proc.steps)
                steps[0] = steps[0].model_copy(update={"delegates": ("SAPA.TTPVHCC",)})
                steps[1] = steps[1].model_copy(update={"delegates": ("VPDKDD",)})
                proc = proc.model_copy(update={"steps": tuple(steps)})
            procedures.append(proc)
    return Catalog(base.agencies.values(), procedures)


class Dossier:
    """One dossier of 2.001610, walked by the right agencies to a named point."""

    def __init__(self, ctx: RoutingContext) -> None:
        self.ctx = ctx
        self.n = 0
        self.state: DossierState | None = None

    def event(self, cls: type[Any], agency: str, at: datetime, **fields: Any) -> ev.InboundEvent:
        self.n += 1
        event: ev.InboundEvent = cls(
            event_id=f"D1/{self.n}", dossier_id="D1", occurred_at=at, agency=agency, **fields
        )
        return event

    def send(
        self, cls: type[Any], agency: str, at: datetime, sender: Sender | None = None, **f: Any
    ) -> list[Rejected]:
        event = self.event(cls, agency, at, **f)
        self.state, effects = apply(self.state, event, self.ctx, sender or Sender())
        return [e for e in effects if isinstance(e, Rejected)]

    def walk(self, to: str) -> Dossier:
        for name, cls, agency, at, fields in WALK:
            assert self.send(cls, agency, vn(at), **fields) == [], f"to {to}: {name} refused"
            if name == to:
                return self
        raise AssertionError(f"no point {to!r} on the walk")


RECEIPT: dict[str, Any] = {"procedure": "2.001610", "channel": "online"}
# (the point reached, the event that reaches it: type, agency, local time, fields)
WALK: list[tuple[str, type[Any], str, str, dict[str, Any]]] = [
    ("received", ev.DossierReceived, DESK, "2026-03-02 08:00", RECEIPT),
    ("review", ev.StepCompleted, DESK, "2026-03-02 09:00", {"step": "receive"}),
    ("issue", ev.StepCompleted, DEPT, "2026-03-03 09:00", {"step": "review"}),
    ("return", ev.StepCompleted, DEPT, "2026-03-04 09:00", {"step": "issue"}),
    ("finished", ev.StepCompleted, DESK, "2026-03-04 10:00", {"step": "return"}),
    ("result_ready", ev.ResultReady, DESK, "2026-03-04 10:05", {"outcome": "approved"}),
]
LATER = vn("2026-03-05 09:00")  # after every instant of the walk: no time rule applies

# (where the dossier is, event type, agency, its fields, the refusal's reason or None)
RULES: list[tuple[str | None, type[Any], str, dict[str, Any], str | None]] = [
    # --- intake: only a receiving desk of the procedure ---
    (None, ev.DossierReceived, DESK, RECEIPT, None),  # the entry step's agency receives
    (None, ev.DossierReceived, DEPT, RECEIPT, "the receiving desk is MOTCUA; sent by STC"),
    # --- a step: its holder completes or hands it on, nobody else ---
    ("review", ev.StepCompleted, DEPT, {"step": "review"}, None),  # STC holds review
    # the attack: any agency completing a step it does not hold
    ("review", ev.StepCompleted, "ATTACKER", {"step": "review"}, "step 'review' is held by STC; sent by ATTACKER"),
    # the desk may not finish the department's work either
    ("review", ev.StepCompleted, DESK, {"step": "review"}, "step 'review' is held by STC; sent by MOTCUA"),
    # taking a step up (step.started, issue 16): its holder only, as completing it
    ("review", ev.StepStarted, DEPT, {"step": "review"}, None),
    ("review", ev.StepStarted, DESK, {"step": "review"}, "step 'review' is held by STC; sent by MOTCUA"),
    ("review", ev.DossierHandedOff, DEPT, {"step": "issue", "to_agency": DEPT}, None),
    ("review", ev.DossierHandedOff, "SXD", {"step": "issue", "to_agency": "SXD"}, "step 'review' is held by STC; sent by SXD"),
    # --- the clock: the holder writes the notice, or the desk the applicant deals with ---
    ("review", ev.SupplementRequested, DEPT, {"reason": "thiếu bản sao"}, None),
    ("review", ev.SupplementRequested, DESK, {"reason": "thiếu bản sao"}, None),
    ("review", ev.SupplementRequested, "SXD", {"reason": "thiếu bản sao"}, "step 'review' is held by STC, the receiving desk is MOTCUA; sent by SXD"),
    ("review", ev.DossierRescheduled, DEPT, {"reason": "xin lỗi", "new_due_at": vn("2026-03-20 17:00")}, None),
    ("review", ev.DossierRescheduled, "SXD", {"reason": "xin lỗi", "new_due_at": vn("2026-03-20 17:00")}, "step 'review' is held by STC, the receiving desk is MOTCUA; sent by SXD"),
    # --- the result: mid-route only the holder (a refusal at review); the forged
    # figures came from result_ready by any agency on dossiers still mid-route ---
    ("review", ev.ResultReady, DEPT, {"outcome": "refused"}, None),
    ("review", ev.ResultReady, DESK, {"outcome": "approved"}, "step 'review' is held by STC; sent by MOTCUA"),
    ("review", ev.ResultReady, "ATTACKER", {"outcome": "approved"}, "step 'review' is held by STC; sent by ATTACKER"),
    # once the route is finished: the last step's holder or the desk
    ("finished", ev.ResultReady, DESK, {"outcome": "approved"}, None),
    ("finished", ev.ResultReady, DEPT, {"outcome": "approved"}, "the route is finished; its last step 'return' is held by MOTCUA, the receiving desk is MOTCUA; sent by STC"),
    # --- the close: the desk hands back; withdrawal and rejection by the desk or holder ---
    ("result_ready", ev.DossierReturned, DESK, {}, None),
    ("result_ready", ev.DossierReturned, DEPT, {}, "the route is finished; its last step 'return' is held by MOTCUA, the receiving desk is MOTCUA; sent by STC"),
    ("review", ev.DossierWithdrawn, DESK, {"reason": "rút"}, None),
    ("review", ev.DossierWithdrawn, DEPT, {"reason": "rút"}, None),
    ("review", ev.DossierWithdrawn, "UBND-TINH", {"reason": "rút"}, "step 'review' is held by STC, the receiving desk is MOTCUA; sent by UBND-TINH"),
    ("review", ev.DossierRejected, DEPT, {"reason": "không đủ điều kiện"}, None),
    # the attack: a non-existent agency closing a dossier
    ("review", ev.DossierRejected, "NOBODY", {"reason": "x"}, "step 'review' is held by STC, the receiving desk is MOTCUA; sent by NOBODY"),
]  # fmt: skip


@pytest.mark.parametrize(("where", "cls", "agency", "fields", "refused"), RULES)
def test_who_may_send_what(
    where: str | None, cls: type[Any], agency: str, fields: dict[str, Any], refused: str | None
) -> None:
    d = Dossier(context())
    if where is not None:
        d.walk(where)
    before = d.state
    rejected = d.send(cls, agency, RECEIVED_AT if where is None else LATER, **fields)
    if refused is None:
        assert rejected == []
        assert d.state is not None and d.state != before
    else:
        assert [r.kind for r in rejected] == [ev.ReasonKind.UNAUTHORIZED]
        assert rejected[0].message == f"{cls.model_fields['type'].default}: {refused}"
        if before is None:
            assert d.state is None
        else:  # refused: nothing changed but the remembered id
            assert d.state is not None
            assert d.state.model_copy(update={"applied": before.applied}) == before


def test_the_supplement_comes_back_through_the_desk_or_the_holder() -> None:
    for agency, refused in ((DESK, False), (DEPT, False), ("SXD", True)):
        d = Dossier(context()).walk("review")
        assert d.send(ev.SupplementRequested, DEPT, LATER, reason="thiếu") == []
        assert d.state is not None and d.state.status is Status.PAUSED
        rejected = d.send(ev.SupplementReceived, agency, LATER + timedelta(hours=1))
        assert bool(rejected) is refused, agency
        if refused:
            assert rejected[0].kind is ev.ReasonKind.UNAUTHORIZED
            assert d.state.status is Status.PAUSED


def test_an_unknown_procedure_is_not_blamed_on_the_sender() -> None:
    d = Dossier(context())
    rejected = d.send(
        ev.DossierReceived, "ATTACKER", RECEIVED_AT, procedure="9.999999", channel="online"
    )
    assert [r.kind for r in rejected] == [ev.ReasonKind.UNKNOWN_PROCEDURE]


def test_an_off_route_hand_off_moves_who_holds_the_step() -> None:
    d = Dossier(context()).walk("review")
    # STC hands its own step to SXD (tracked as off-route): SXD holds it now, not STC.
    assert d.send(ev.DossierHandedOff, DEPT, LATER, step="review", to_agency="SXD") == []
    rejected = d.send(ev.StepCompleted, DEPT, LATER + timedelta(hours=1), step="review")
    assert rejected[0].message == "step.completed: step 'review' is held by SXD; sent by STC"
    assert d.send(ev.StepCompleted, "SXD", LATER + timedelta(hours=2), step="review") == []


@pytest.mark.parametrize(
    ("where", "cls", "agency", "fields", "refused"),
    [
        # a commune desk the entry step names as delegate receives a provincial dossier
        (None, ev.DossierReceived, "SAPA.TTPVHCC", RECEIPT, None),
        (None, ev.DossierReceived, "CAMDUONG.TTPVHCC", RECEIPT, "the receiving desks are MOTCUA, SAPA.TTPVHCC; sent by CAMDUONG.TTPVHCC"),
        # the land office, delegate of review, completes it for STC
        ("review", ev.StepCompleted, "VPDKDD", {"step": "review"}, None),
        ("review", ev.StepCompleted, "SXD", {"step": "review"}, "step 'review' is held by STC (delegates: VPDKDD); sent by SXD"),
        # a delegate of review holds no power over the next step
        ("issue", ev.StepCompleted, "VPDKDD", {"step": "issue"}, "step 'issue' is held by STC; sent by VPDKDD"),
    ],
)  # fmt: skip
def test_a_delegate_the_catalog_names_may_act_for_the_holder(
    where: str | None, cls: type[Any], agency: str, fields: dict[str, Any], refused: str | None
) -> None:
    d = Dossier(context(with_delegates()))
    if where is not None:
        d.walk(where)
    rejected = d.send(cls, agency, RECEIVED_AT if where is None else LATER, **fields)
    if refused is None:
        assert rejected == []
    else:
        assert [r.kind for r in rejected] == [ev.ReasonKind.UNAUTHORIZED]
        assert rejected[0].message.endswith(f": {refused}")


PROVINCE = frozenset({DESK, DEPT})


@pytest.mark.parametrize(
    ("sender", "agency", "refused"),
    [
        (Sender("lao-cai-igate", PROVINCE), DESK, None),  # the province system speaks for the desk
        (Sender("lao-cai-igate", None), "SXD", None),  # None: the registry lets it speak for any
        # a real publisher speaking for a foreign agency
        (Sender("lao-cai-igate", PROVINCE), "SXD", "publisher lao-cai-igate may not speak for agency SXD (it speaks for MOTCUA, STC)"),
        (Sender("stc-own", frozenset()), DESK, "publisher stc-own may not speak for agency MOTCUA (it speaks for no agency)"),
        (Sender(None, PROVINCE), "SXD", "publisher an unidentified publisher may not speak for agency SXD (it speaks for MOTCUA, STC)"),
        # a province system with many agencies: the reason names a few, not all
        (Sender("big", frozenset(f"A{i:02}" for i in range(20))), "SXD", "publisher big may not speak for agency SXD (it speaks for A00, A01, A02, A03, A04, A05, A06, A07 and 12 more)"),
    ],
)  # fmt: skip
def test_a_publisher_speaks_only_for_its_agencies(
    sender: Sender, agency: str, refused: str | None
) -> None:
    event = Dossier(context()).event(ev.DossierReceived, agency, RECEIVED_AT, **RECEIPT)
    refusal = speaks_for(None, event, sender)
    if refused is None:
        assert refusal is None
    else:
        assert refusal is not None and refusal.kind is ev.ReasonKind.UNAUTHORIZED
        assert refusal.reason == refused


def test_the_publisher_check_comes_first_and_stops_the_transition() -> None:
    d = Dossier(context()).walk("review")
    before = d.state
    # STC does hold review, but this publisher may not speak for STC.
    rejected = d.send(
        ev.StepCompleted, DEPT, LATER, Sender("mc-only", frozenset({DESK})), step="review"
    )
    assert rejected[0].message == (
        "step.completed: publisher mc-only may not speak for agency STC (it speaks for MOTCUA)"
    )
    assert d.state is not None and before is not None and d.state.sheet == before.sheet


@pytest.mark.parametrize(
    "lifecycle",
    [publishing_licence, construction_licence, certified_copy],
    ids=lambda f: f.__name__,
)
def test_the_hand_checked_lifecycles_pass_the_rules(lifecycle: Any) -> None:
    ctx, plain = context(), RoutingContext(sample_catalog(), working_calendar(range(2025, 2028)))
    state = reference = None
    for event in lifecycle("HS-1"):
        state, effects = apply(state, event, ctx, Sender(broker_time=event.occurred_at))
        reference, _ = apply(reference, event, plain)
        assert not [e for e in effects if isinstance(e, Rejected)], event
    assert state == reference


def test_a_simulated_province_passes_the_rules_untouched() -> None:
    # The demo's and the broker tests' workload: realistic senders, published on time.
    ids, events = simulated(150, seed=12, id_prefix="AUTH")
    ctx = context()
    plain = RoutingContext(ctx.catalog, ctx.calendar)
    states: dict[str, DossierState | None] = {}
    reference: dict[str, DossierState | None] = {}
    for event in events:
        key = event.dossier_id
        sender = Sender("lao-cai-igate", None, event.occurred_at + timedelta(seconds=2))
        states[key], effects = apply(states.get(key), event, ctx, sender)
        reference[key], _ = apply(reference.get(key), event, plain)
        refused = [e for e in effects if isinstance(e, Rejected)]
        assert not [r for r in refused if r.kind in AUTH_KINDS], refused
    assert len(states) == len(ids)
    for key, state in states.items():
        expected = reference[key]
        assert state is not None and expected is not None
        assert _unsigned(state) == expected


AUTH_KINDS = {ev.ReasonKind.UNAUTHORIZED, ev.ReasonKind.IMPLAUSIBLE_TIME}


def _unsigned(state: DossierState) -> DossierState:
    rows = tuple(r.model_copy(update={"sent_by": None, "finished_by": None}) for r in state.sheet)
    return state.model_copy(update={"sheet": rows})


def test_a_delegate_must_be_a_known_agency() -> None:
    base = sample_catalog()
    procedures = [p for versions in base.procedures.values() for p in versions]
    first = procedures[0]
    steps = (first.steps[0].model_copy(update={"delegates": ("NOWHERE",)}), *first.steps[1:])
    procedures[0] = first.model_copy(update={"steps": steps})
    with pytest.raises(CatalogError) as caught:
        Catalog(base.agencies.values(), procedures)
    assert [str(p) for p in caught.value.problems] == [
        "<memory>: procedures[0].steps[0].delegates[0]: unknown agency 'NOWHERE'"
    ]
