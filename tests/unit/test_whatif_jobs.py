"""``whatif --jobs N``: the replays split by dossier across processes give every state a
one-process replay gives, byte for byte, and the same printed comparison."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from agents.tools.cli import main
from agents.tools.whatif_catalog import alter
from agents.tools.whatif_jobs import replay_in_processes, share_of
from events import encode
from workflows.replay import replay, sent_by_anyone
from workflows.routing import RoutingContext
from workflows.simulation import Workload, run_window, simulate_province

from support.context import engine_context

LICENCE = "1.013225"


def _workload() -> Workload:
    ctx = engine_context()
    window = run_window(ctx.calendar, date(2026, 3, 2), 15, backlog_days=10)
    return simulate_province(ctx.catalog, ctx.calendar, window, seed=1, scale=0.03)


def _contexts() -> list[RoutingContext]:
    ctx = engine_context()
    catalog, _ = alter(ctx.catalog, {LICENCE: Decimal(8)})
    return [ctx, RoutingContext(catalog, ctx.calendar, ctx.policy, ctx.limits, ctx.authorize)]


def test_shares_are_stable_and_cover_every_job() -> None:
    ids = [f"LC-{n:06d}" for n in range(400)]
    shares = [share_of(i, 3) for i in ids]
    assert set(shares) == {0, 1, 2}
    assert shares == [share_of(i, 3) for i in ids]  # no per-process salt
    assert share_of("LC-000001", 1) == 0


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_split_replay_gives_every_state_of_the_one_process_replay(jobs: int) -> None:
    sent = list(sent_by_anyone(_workload().events()))
    contexts = _contexts()
    alone = [replay(iter(sent), ctx) for ctx in contexts]
    split = replay_in_processes(sent, contexts, jobs)
    assert len(split) == 2
    for one, many in zip(alone, split, strict=True):
        assert len(one) > 100
        assert sorted(one) == sorted(many)
        assert all(one[k].to_bytes() == many[k].to_bytes() for k in one)
    assert any(  # the alternative catalog really judged differently
        alone[0][k].to_bytes() != alone[1][k].to_bytes() for k in alone[0]
    )


def test_no_jobs_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        replay_in_processes([], _contexts(), 0)


def test_whatif_with_jobs_prints_what_it_prints_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(encode(e) for e in _workload().events()) + b"\n")
    args = ["whatif", "--events", str(path), "--commit", f"{LICENCE}=8", "--format", "json"]
    assert main([*args, "--no-progress"]) == 0
    alone = capsys.readouterr().out
    assert main([*args, "--no-progress", "--jobs", "2"]) == 0
    split = capsys.readouterr().out
    assert json.loads(alone)["flips"]["to_late"] > 0
    assert split == alone
