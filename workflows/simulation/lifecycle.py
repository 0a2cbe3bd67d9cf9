"""The one lifecycle walk: a dossier received, routed step by step to its result, with
the supplements, withdrawals and refusals its profile draws."""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

import events as ev
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog
from workflows.deadlines import allowance, allowance_working_days
from workflows.simulation.arrivals import Receipt
from workflows.simulation.profile import StepWork


class LifecycleProfile(Protocol):
    """What the walk asks of a profile; each answer may draw from ``rng`` (in walk order)."""

    closed_by_desk: ClassVar[bool]

    def intake_rejection(self, rng: random.Random) -> timedelta | None: ...
    def difficulty(self, rng: random.Random) -> float: ...
    def detours(self, rng: random.Random, steps: int) -> tuple[int, int]: ...
    def withdrawn_at(self, rng: random.Random, cal: WorkingCalendar, at: datetime) -> datetime: ...
    def step_work(self, rng: random.Random, step: StepWork) -> timedelta: ...
    def supplement_share(self, rng: random.Random) -> float: ...
    def abandonment(self, rng: random.Random) -> timedelta | None: ...
    def supplement_wait(self, rng: random.Random) -> timedelta: ...
    def outcome(self, rng: random.Random, outcomes: Sequence[str]) -> str: ...
    def result(self, rng: random.Random, at: datetime) -> tuple[datetime, bool]: ...
    def returned_at(
        self, rng: random.Random, cal: WorkingCalendar, done: datetime, channel: ev.FilingChannel
    ) -> datetime: ...


#: Simulated lookup codes are derived from the dossier id, never drawn from the walk's
#: rng: drawing would shift every later draw and change the simulated province.
_SIM_LOOKUP_TAG = b"dossierflow/simulated-lookup-code\0"


def simulated_lookup_code(dossier_id: str) -> str:
    """The lookup code the simulator prints on a dossier's receipt (10 characters).

    Deterministic for demos and tests only: a real desk's system draws each code at random,
    or anyone who knows the rule can read every dossier's public view.
    """
    digest = hashlib.sha256(_SIM_LOOKUP_TAG + dossier_id.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:10]


def walk(
    rng: random.Random,
    prof: LifecycleProfile,
    catalog: Catalog,
    cal: WorkingCalendar,
    receipt: Receipt,
    dossier_id: str,
) -> list[ev.InboundEvent]:
    """Every event of one dossier's life, in time order, event ids ``<dossier_id>/<n>``."""
    proc = receipt.procedure
    seq = itertools.count(1)

    def eid() -> str:
        return f"{dossier_id}/{next(seq)}"

    desk = proc.entry.agency
    received = receipt.at
    events: list[ev.InboundEvent] = []

    def emit(
        kind: Callable[..., ev.InboundEvent], at: datetime, agency: str, **fields: Any
    ) -> None:
        events.append(
            kind(event_id=eid(), dossier_id=dossier_id, occurred_at=at, agency=agency, **fields)
        )

    emit(
        ev.DossierReceived,
        received,
        desk,
        procedure=proc.code,
        channel=receipt.channel,
        applicant=receipt.applicant,
        lookup_code=simulated_lookup_code(dossier_id),
    )
    refused_after = prof.intake_rejection(rng)
    if refused_after is not None:
        at = cal.add_working_time(received, refused_after)
        emit(ev.DossierRejected, at, desk, reason="Hồ sơ không đủ điều kiện tiếp nhận")
        return events
    difficulty = prof.difficulty(rng)
    n = len(proc.steps)
    supplement_at, withdraw_at = prof.detours(rng, n)
    at = received
    step = proc.entry
    for index in range(2 * n):  # routes are acyclic: this bound is never reached
        if index == withdraw_at:
            by = desk if prof.closed_by_desk else step.agency
            emit(
                ev.DossierWithdrawn,
                prof.withdrawn_at(rng, cal, at),
                by,
                reason="Công dân rút hồ sơ",
            )
            return events
        allotted = allowance_working_days(cal, at, allowance(step.allotment, proc.time_unit))
        work = prof.step_work(rng, StepWork(catalog, step.agency, allotted, difficulty))
        if index == supplement_at:
            share = prof.supplement_share(rng)
            asked = cal.add_working_time(at, work * share)
            emit(ev.SupplementRequested, asked, step.agency, reason="Bổ sung bản sao giấy tờ")
            stopped_after = prof.abandonment(rng)
            if stopped_after is not None:
                stopped = cal.add_working_time(asked, stopped_after)
                emit(
                    ev.DossierRejected,
                    stopped,
                    desk,
                    reason="Quá hạn bổ sung hồ sơ, dừng giải quyết",
                )
                return events
            back = cal.add_working_time(asked, prof.supplement_wait(rng))
            emit(ev.SupplementReceived, back, desk)
            at = cal.add_working_time(back, work * (1 - share))
        else:
            at = cal.add_working_time(at, work)
        outcome = prof.outcome(rng, step.outcomes())
        emit(ev.StepCompleted, at, step.agency, step=step.id, outcome=outcome)
        next_id = step.next_step(outcome)
        if next_id is None:
            break
        step = proc.step(next_id)
    done, refused = prof.result(rng, at)
    verdict = ev.ResultOutcome.REFUSED if refused else ev.ResultOutcome.APPROVED
    emit(ev.ResultReady, done, step.agency, outcome=verdict)
    returned = prof.returned_at(rng, cal, done, receipt.channel)
    emit(ev.DossierReturned, returned, desk if prof.closed_by_desk else step.agency)
    return events
