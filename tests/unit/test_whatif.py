"""dossierflow whatif: the alternative catalog (cuts, rescaled allotments, one line per
problem) and the command over a file of events."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from agents.tools.cli import main
from agents.tools.whatif_catalog import WhatIfCatalogError, alter, parse_commit
from events import encode
from workflows.catalog.checks import procedure_problems
from workflows.simulation import run_window, simulate_province

from support.context import engine_context, expect_procedure, sample_catalog

LICENCE = "1.013225"  # calendar days, 10 committed over 7 steps with a branch
ENTERPRISE = "2.001610"  # working days, 3 committed: 0.5 1.5 0.5 0.5


def test_a_cut_is_rounded_to_half_a_working_day_and_the_allotments_still_add_up() -> None:
    expect_procedure(sample_catalog(), ENTERPRISE)
    catalog, changes = alter(sample_catalog(), {}, Decimal(30), [ENTERPRISE])
    proc = catalog.procedure(ENTERPRISE)
    assert proc is not None
    # 3 less 30% is 2.1: the nearest half day is 2. Each step's time left (3, 2.5, 1, 0.5)
    # scaled by 2/3 and rounded to 1/8 day: 2, 1.625, 0.625, 0.375.
    assert proc.committed_time == 2
    assert [s.allotment for s in proc.steps] == [
        Decimal("0.375"),
        Decimal("1.000"),
        Decimal("0.250"),
        Decimal("0.375"),
    ]
    assert procedure_problems(proc) == []
    assert [(c.code, c.before, c.after) for c in changes] == [(ENTERPRISE, Decimal(3), Decimal(2))]


def test_a_set_commitment_rescales_every_route_of_a_branching_procedure() -> None:
    expect_procedure(sample_catalog(), LICENCE)
    catalog, _ = alter(sample_catalog(), {LICENCE: Decimal(8)})
    proc = catalog.procedure(LICENCE)
    assert proc is not None
    allot = {s.id: s.allotment for s in proc.steps}
    assert (
        allot["receive"] + allot["review"] + allot["appraisal"] + allot["sign"] + allot["return"]
        == 8
    )
    assert procedure_problems(proc) == []


@pytest.mark.parametrize(
    ("commits", "codes", "percent", "problem"),
    [
        # more than the law allows
        ({LICENCE: Decimal(16)}, [], None, "committed_time 16 exceeds statutory_time 15"),
        # a calendar-day procedure cannot commit to half days
        ({LICENCE: Decimal("7.5")}, [], None, "calendar_days times must be whole numbers"),
        # no such code
        ({"9.999999": Decimal(1)}, [], None, "9.999999: no such procedure in the catalog"),
        # a same-day procedure has nothing to scale
        ({"1.001193": Decimal(1)}, [], None, "a same-day procedure (committed 0)"),
        # both ways at once
        ({LICENCE: Decimal(8)}, [LICENCE], Decimal(10), "given to both --commit and"),
        # a cut of everything
        ({}, [LICENCE], Decimal(100), "give a percentage between 0 and 100"),
    ],
)
def test_an_impossible_override_is_one_line_naming_the_procedure(
    commits: dict[str, Decimal], codes: list[str], percent: Decimal | None, problem: str
) -> None:
    with pytest.raises(WhatIfCatalogError) as raised:
        alter(sample_catalog(), commits, percent, codes)
    assert any(problem in line for line in raised.value.problems), raised.value.problems
    assert all("\n" not in line for line in raised.value.problems)


def test_a_commit_option_needs_a_code_and_a_number() -> None:
    assert parse_commit("1.013225=8") == ("1.013225", Decimal(8))
    with pytest.raises(ValueError, match="expected PROCEDURE=DAYS"):
        parse_commit("1.013225=eight")


def test_whatif_over_a_file_prints_both_sets_of_figures_and_the_flips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = engine_context()
    window = run_window(ctx.calendar, date(2026, 3, 2), 15, backlog_days=10)
    load = simulate_province(ctx.catalog, ctx.calendar, window, seed=1, scale=0.03)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(encode(e) for e in load.events()) + b"\n")
    args = ["whatif", "--events", str(path), "--commit", f"{LICENCE}=8", "--format", "json"]
    assert main([*args, "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changes"][0]["committed_after"] == 8
    assert out["flips"]["to_late"] > 0 and out["flips"]["to_on_time"] == 0
    assert out["whatif"]["late"] == out["actual"]["late"] + out["flips"]["to_late"]
    assert [row["procedure"] for row in out["by_procedure"]] == [LICENCE]


def test_whatif_refuses_a_bad_line_of_events_by_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"schema_version": 1}\n', encoding="utf-8")
    assert main(["whatif", "--events", str(path), "--commit", f"{LICENCE}=8"]) == 2
    assert "events.jsonl: line 1: " in capsys.readouterr().err
