"""Dossier events for the broker tests: a per-dossier builder, three hand-checked lifecycles
and simulated workloads."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import events as ev
from workflows.simulation import interleave, simulate

from support.context import engine_context
from support.time import vn


def envelope(
    dossier_id: str, event_id: str, occurred_at: datetime, agency: str = "MOTCUA"
) -> dict[str, Any]:
    """The fields every inbound event carries (``cls(**envelope(...), reason=...)``)."""
    return {
        "event_id": event_id,
        "dossier_id": dossier_id,
        "occurred_at": occurred_at,
        "agency": agency,
    }


def receipt(
    dossier_id: str,
    event_id: str,
    occurred_at: datetime,
    *,
    procedure: str = "2.001610",
    agency: str = "MOTCUA",
    channel: str = "online",
) -> ev.DossierReceived:
    """A ``dossier.received``; by default of 2.001610 (receive MOTCUA, review STC, issue STC,
    return MOTCUA, 3 working days), filed online at the provincial desk."""
    return ev.DossierReceived(
        **envelope(dossier_id, event_id, occurred_at, agency), procedure=procedure, channel=channel
    )


class Script:
    """Builds one dossier's events with fresh ids: ``s.received(...)``, ``s.done(...)``."""

    def __init__(self, dossier_id: str, channel: str = "in_person") -> None:
        self.dossier_id = dossier_id
        self.channel = channel

    def _envelope(self, when: str, agency: str) -> dict[str, Any]:
        return envelope(
            self.dossier_id, f"{self.dossier_id}/{uuid.uuid4().hex[:12]}", vn(when), agency
        )

    def received(self, when: str, agency: str, procedure: str) -> ev.InboundEvent:
        return ev.DossierReceived(
            **self._envelope(when, agency), procedure=procedure, channel=self.channel
        )

    def done(self, when: str, agency: str, step: str, outcome: str = "ok") -> ev.InboundEvent:
        return ev.StepCompleted(**self._envelope(when, agency), step=step, outcome=outcome)

    def supplement(
        self, when: str, agency: str, reason: str = "Bổ sung bản sao giấy tờ"
    ) -> ev.InboundEvent:
        return ev.SupplementRequested(**self._envelope(when, agency), reason=reason)

    def supplied(self, when: str, agency: str) -> ev.InboundEvent:
        return ev.SupplementReceived(**self._envelope(when, agency))

    def rescheduled(self, when: str, agency: str, new_due: str) -> ev.InboundEvent:
        return ev.DossierRescheduled(
            **self._envelope(when, agency), new_due_at=vn(new_due), reason="Xin lỗi, hẹn lại"
        )

    def result(self, when: str, agency: str, outcome: str = "approved") -> ev.InboundEvent:
        return ev.ResultReady(**self._envelope(when, agency), outcome=outcome)

    def returned(self, when: str, agency: str) -> ev.InboundEvent:
        return ev.DossierReturned(**self._envelope(when, agency))

    def handed_back(self, when: str, desk: str, returned_at: str) -> list[ev.InboundEvent]:
        """The desk's ``return`` step done at ``when``, the result ready (approved) five
        minutes later, handed to the applicant at ``returned_at``."""
        ready = (vn(when) + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M")
        return [
            self.done(when, desk, "return"),
            self.result(ready, desk),
            self.returned(returned_at, desk),
        ]

    def withdrawn(self, when: str, agency: str) -> ev.InboundEvent:
        return ev.DossierWithdrawn(**self._envelope(when, agency), reason="Rút hồ sơ")

    def handed_off(self, when: str, agency: str, step: str, to_agency: str) -> ev.InboundEvent:
        return ev.DossierHandedOff(**self._envelope(when, agency), step=step, to_agency=to_agency)


MOTCUA, SVHTTDL = "MOTCUA", "SVHTTDL"  # provincial one-stop desk; culture department
DESK, WARD = "CAMDUONG.TTPVHCC", "CAMDUONG"  # the ward's one-stop desk; its People's Committee


def publishing_licence(dossier_id: str) -> list[ev.InboundEvent]:
    """SAMPLE-XB-01, working days: receive 0.5 (MOTCUA), review 7, sign 3 (SVHTTDL), return 0.5."""
    s = Script(dossier_id)
    return [
        s.received("2026-03-09 09:00", MOTCUA, "SAMPLE-XB-01"),  # a Monday, inside office hours
        s.done("2026-03-09 10:00", MOTCUA, "receive"),
        s.supplement("2026-03-11 14:00", SVHTTDL),
        s.supplied("2026-03-13 10:30", MOTCUA),
        s.done("2026-03-17 15:00", SVHTTDL, "review"),
        s.done("2026-03-19 09:00", SVHTTDL, "sign"),
        *s.handed_back("2026-03-19 14:00", MOTCUA, "2026-03-19 16:00"),
    ]


def construction_licence(dossier_id: str) -> list[ev.InboundEvent]:
    """1.013225, calendar days, the ``needs_inspection`` branch through ``site_visit``."""
    s = Script(dossier_id)
    return [
        s.received("2026-03-09 08:00", DESK, "1.013225"),
        s.done("2026-03-09 16:00", DESK, "receive"),
        s.done("2026-03-11 10:00", WARD, "review", outcome="needs_inspection"),
        s.supplement("2026-03-12 09:00", WARD),
        s.supplied("2026-03-13 09:00", DESK),
        s.done("2026-03-13 15:00", WARD, "site_visit"),
        s.done("2026-03-16 11:00", WARD, "appraisal_after_visit"),
        s.done("2026-03-17 10:00", WARD, "sign"),
        *s.handed_back("2026-03-17 14:00", DESK, "2026-03-18 08:00"),
    ]


def certified_copy(dossier_id: str) -> list[ev.InboundEvent]:
    """2.000815, same day with a 15:00 cut-off; every step has allotment 0 (end of the day)."""
    s = Script(dossier_id)
    return [
        s.received("2026-03-09 15:30", DESK, "2.000815"),  # after the cut-off
        s.done("2026-03-10 08:00", DESK, "receive"),
        s.supplement("2026-03-10 09:00", DESK),
        s.supplied("2026-03-10 10:00", DESK),
        s.done("2026-03-10 11:00", DESK, "certify"),
        s.done("2026-03-10 14:00", WARD, "sign"),
        *s.handed_back("2026-03-10 15:00", DESK, "2026-03-10 16:00"),
    ]


def simulated(
    count: int,
    seed: int,
    id_prefix: str,
    start: datetime | None = None,
    spread: timedelta = timedelta(days=5),  # simulate's own default
) -> tuple[list[str], list[ev.InboundEvent]]:
    """``count`` realistic lifecycles received over ``spread`` from ``start`` (Monday
    2 March 2026 08:00 unless told), interleaved in time order, and their dossier ids."""
    ctx = engine_context()
    begin = vn("2026-03-02 08:00") if start is None else start
    generated = simulate(
        ctx.catalog, ctx.calendar, begin, count, seed=seed, id_prefix=id_prefix, spread=spread
    )
    return [g.dossier_id for g in generated], interleave(generated)


CLOSING = {"dossier.returned", "dossier.withdrawn", "dossier.rejected"}


def beginnings(
    events: Iterable[ev.InboundEvent], dossiers: Iterable[str], n: int
) -> list[ev.InboundEvent]:
    """The first ``n`` events of each of ``dossiers`` (in ``events``' order), none closing it."""
    wanted = set(dossiers)
    taken: Counter[str] = Counter()
    closed: set[str] = set()
    out = []
    for event in events:
        d = event.dossier_id
        if d not in wanted or d in closed or taken[d] >= n:
            continue
        if event.type in CLOSING:
            closed.add(d)
            continue
        taken[d] += 1
        out.append(event)
    return out
