"""The attributed-overrun counter (issue 16.3): counted when a dossier's result is ready
late, split by agency, step and phase as the report splits it; labels only from the
catalog."""

from __future__ import annotations

import json
from dataclasses import replace

from prometheus_client import CollectorRegistry

import events as ev
from agents.runtime.router import BatchResult
from agents.runtime.telemetry import (
    OTHER_AGENCY,
    AgencyLabels,
    OverrunAttribution,
    StepLabels,
    record_batch,
)
from monitoring.grafana import build
from monitoring.metrics import COMPLETIONS, OVERRUN_ATTRIBUTED, Metrics, create_metrics
from workflows.effects import Completed, Effect
from workflows.state import DossierState

from support.context import routing_context
from support.dossiers import Script
from support.fold import fold_state
from support.time import vn

MON = "2026-06-01"


def late_dossier(dossier_id: str, reviewer: str = "STC") -> DossierState:
    """2.001610 received Mon 08:00, due Thu 08:00; review (12 h allotted) from Mon 14:00,
    taken up Wed 08:00, done Thu 08:00: 12 h waiting, 8 h working; result Fri 08:00, 8 h
    (1 working day) over, all review's: 0.6 day waiting, 0.4 working."""
    s = Script(dossier_id)
    return fold_state(
        [
            s.received(f"{MON} 08:00", "MOTCUA", "2.001610"),
            s.done(f"{MON} 14:00", "MOTCUA", "receive"),
            ev.StepStarted(
                event_id=f"{dossier_id}/started",
                dossier_id=dossier_id,
                occurred_at=vn("2026-06-03 08:00"),
                agency=reviewer,
                step="review",
            ),
            s.done("2026-06-04 08:00", reviewer, "review"),
            s.done("2026-06-04 14:00", "STC", "issue"),
            s.done("2026-06-05 08:00", "MOTCUA", "return"),
            s.result("2026-06-05 08:00", "MOTCUA"),
        ],
        routing_context(),
    )


def completed(state: DossierState) -> Completed:
    assert state.outcome is not None
    return Completed(
        state.dossier_id,
        state.procedure,
        state.sector,
        state.outcome.completion.value,
        state.outcome.used_days,
        state.outcome.saved_days,
    )


def batch(*states: DossierState, effects: list[Effect] | None = None) -> BatchResult:
    """A router batch's result as the shell sees it: the effects, the states after."""
    return BatchResult(
        effects=[(i, e) for i, e in enumerate(effects or [completed(s) for s in states])],
        states={s.dossier_id.encode(): s for s in states},
    )


def recorded(result: BatchResult, label: AgencyLabels | None = None) -> Metrics:
    metrics = create_metrics(CollectorRegistry())
    ctx = routing_context()
    overrun = OverrunAttribution(ctx, label or AgencyLabels(ctx.catalog.agencies))
    record_batch(metrics, result, [], "ticks", overrun=overrun)
    return metrics


def sample(metrics: Metrics, agency: str, step: str, phase: str) -> float | None:
    labels = {"agency": agency, "step": step, "phase": phase}
    return metrics.registry.get_sample_value(OVERRUN_ATTRIBUTED, labels)


def test_a_late_completion_counts_its_overrun_where_it_came_from() -> None:
    metrics = recorded(batch(late_dossier("D-1")))
    assert sample(metrics, "STC", "review", "waiting") == 0.6
    assert sample(metrics, "STC", "review", "working") == 0.4
    assert sample(metrics, "STC", "review", "whole") is None  # reported: split
    assert sample(metrics, "MOTCUA", "receive", "whole") is None  # within its allotment


def test_two_late_dossiers_add_up_and_an_unreported_step_counts_whole() -> None:
    s = Script("D-2")
    unreported = fold_state(
        [
            s.received(f"{MON} 08:00", "MOTCUA", "2.001610"),
            s.done(f"{MON} 14:00", "MOTCUA", "receive"),
            s.done("2026-06-04 08:00", "STC", "review"),
            s.done("2026-06-04 14:00", "STC", "issue"),
            s.done("2026-06-05 08:00", "MOTCUA", "return"),
            s.result("2026-06-05 08:00", "MOTCUA"),
        ],
        routing_context(),
    )
    metrics = recorded(batch(late_dossier("D-1"), unreported))
    assert sample(metrics, "STC", "review", "whole") == 1.0
    assert sample(metrics, "STC", "review", "waiting") == 0.6


def test_only_late_completions_are_counted() -> None:
    # the same state, but an effect that says on time: the effect decides, not the state
    state = late_dossier("D-1")
    on_time = replace(completed(state), completion="on_time")
    metrics = recorded(batch(state, effects=[on_time]))
    labels = {"sector": state.sector, "completion": "on_time"}
    assert metrics.registry.get_sample_value(COMPLETIONS, labels) == 1.0
    assert sample(metrics, "STC", "review", "waiting") is None
    # and a late one whose state is not in the batch's (never: no state, nothing counted)
    assert (
        sample(recorded(BatchResult(effects=[(0, completed(state))])), "STC", "review", "waiting")
        is None
    )


def test_labels_come_only_from_the_catalog() -> None:
    # an off-catalog agency took the step (allowed without province rules): "other"
    state = late_dossier("D-1", reviewer="STC")
    rows = list(state.sheet)
    rows[1] = rows[1].model_copy(update={"agency": "NOT-AN-AGENCY", "step": "not-a-step"})
    state = state.model_copy(update={"sheet": tuple(rows)})
    metrics = recorded(batch(state))
    assert sample(metrics, OTHER_AGENCY, "other", "waiting") == 0.6
    steps = StepLabels(routing_context().catalog)
    assert steps("review") == "review" and steps(None) == "-" and steps("x" * 64) == "other"


# --- the panel ------------------------------------------------------------------------


def test_the_sla_dashboard_shows_who_makes_dossiers_late() -> None:
    board = json.loads((build.DASHBOARDS_DIR / "sla.json").read_text(encoding="utf-8"))
    (panel,) = [p for p in board["panels"] if p["title"] == "Who makes dossiers late"]
    (target,) = panel["targets"]
    assert OVERRUN_ATTRIBUTED in target["expr"] and "sum by (agency)" in target["expr"]
    assert "topk(10," in target["expr"] and "[$__range]" in target["expr"]
    assert panel["type"] == "bargauge"
    # the committed JSON is what the builder makes, and the check mode says so
    assert build.main(["--check"]) == 0
