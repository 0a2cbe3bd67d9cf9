"""The demo's check of the engine against the simulator's ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from events import Alert, AlertLevel, AlertScope, ContractError, decode
from workflows.simulation import Workload
from workflows.state import DossierState


@dataclass(frozen=True)
class TruthCheck:
    generated: int
    accounted: int
    status_mismatches: tuple[str, ...]
    completion_checked: int
    completion_mismatches: tuple[str, ...]
    expected_overdue: int
    alerted_overdue: int
    missing_alerts: tuple[str, ...]
    unexpected_alerts: tuple[str, ...]
    timing_sensitive: int

    @property
    def ok(self) -> bool:
        """The engine's conclusions agree with the simulator's: every dossier, its status
        and its completion class. Not the alerts: which of an event and a deadline is
        seen first depends on real-time lag; they are compared, and reported, apart."""
        return not (
            self.status_mismatches or self.completion_mismatches or self.accounted != self.generated
        )

    @property
    def alerts_ok(self) -> bool:
        return not (self.missing_alerts or self.unexpected_alerts)

    def as_dict(self) -> dict[str, Any]:
        """For report.json: the two verdicts, then every field in order (tuples as lists)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        listed = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return {"ok": self.ok, "alerts_ok": self.alerts_ok, **listed}

    def lines(self) -> list[str]:
        def verdict(bad: Sequence[str]) -> str:
            return "agree" if not bad else f"{len(bad)} differ, e.g. {', '.join(bad[:3])}"

        return [
            f"dossiers generated / in the engine     {self.generated:,} / {self.accounted:,}",
            f"final status                           {verdict(self.status_mismatches)}",
            f"early / on time / late ({self.completion_checked:,} completed)  "
            f"{verdict(self.completion_mismatches)}",
            f"dossiers alerted overdue               {self.alerted_overdue:,} "
            f"(expected {self.expected_overdue:,}: missing {len(self.missing_alerts)}, "
            f"unexpected {len(self.unexpected_alerts)}; not judged: {self.timing_sensitive} "
            "with an event too close to a deadline)",
        ]


def check_against_truth(
    workload: Workload, states: Sequence[DossierState], alerts: Sequence[Alert]
) -> TruthCheck:
    """Compare the engine's states and overdue alerts with what the simulator expects."""
    by_id = {s.dossier_id: s for s in states}
    status_bad, completion_bad = [], []
    checked = 0
    sensitive: set[str] = set()
    expected_overdue: set[str] = set()
    for d in workload.dossiers:
        if d.timing_sensitive(workload.guard):
            sensitive.add(d.dossier_id)
        elif d.expected.overdue_alerts(workload.window):
            expected_overdue.add(d.dossier_id)
        state = by_id.get(d.dossier_id)
        if state is None or state.status is not d.expected.status:
            status_bad.append(d.dossier_id)
            continue
        if d.expected.completion is not None:
            checked += 1
            if state.outcome is None or state.outcome.completion is not d.expected.completion:
                completion_bad.append(d.dossier_id)
    alerted = {
        a.dossier_id
        for a in alerts
        if a.scope is AlertScope.DOSSIER and a.level is AlertLevel.OVERDUE
    }
    generated = {d.dossier_id for d in workload.dossiers}
    return TruthCheck(
        generated=len(generated),
        accounted=len(generated & by_id.keys()),
        status_mismatches=tuple(status_bad),
        completion_checked=checked,
        completion_mismatches=tuple(completion_bad),
        expected_overdue=len(expected_overdue),
        alerted_overdue=len(alerted - sensitive),
        missing_alerts=tuple(sorted(expected_overdue - alerted)),
        unexpected_alerts=tuple(sorted(alerted - expected_overdue - sensitive)),
        timing_sensitive=len(sensitive),
    )


def read_alerts(bootstrap: str, topic: str, **security: Any) -> list[Alert]:
    """Every alert on ``topic``, once per ``alert_id``."""
    from agents.tools.kafka_read import read_all

    seen: dict[str, Alert] = {}
    for raw in read_all([bootstrap], topic, **security):
        try:
            alert = decode(Alert, raw)
        except ContractError:
            continue
        seen.setdefault(alert.alert_id, alert)
    return list(seen.values())
