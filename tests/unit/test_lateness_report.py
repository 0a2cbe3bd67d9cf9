"""The province report's "where lateness comes from" section on a simulated province: the
agencies the simulator's profile makes slow come out on top."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from workflows.attribution import attribute_all
from workflows.report import ProvinceReport, province_report, render_markdown, render_text
from workflows.simulation import DEFAULT_AGENCY_PACE, Pace, ProvinceProfile, run_window
from workflows.simulation import simulate_province as province
from workflows.state import DossierState

from support.context import engine_context
from support.fold import fold_state

#: The two agencies this test's province makes slow (``ProvinceProfile.agency_pace``): their
#: median step takes 1.6 x its allotment, every other agency paces by its level (0.3-0.7).
SLOW = {"VPDKDD": Pace(1.6, 0.3), "CAT": Pace(1.6, 0.3)}


def _states(profile: ProvinceProfile) -> tuple[list[DossierState], ProvinceReport]:
    ctx = engine_context()
    window = run_window(ctx.calendar, date(2026, 3, 2), 10, backlog_days=10)
    run = province(ctx.catalog, ctx.calendar, window, seed=11, scale=0.05, profile=profile)
    states = [fold_state(d.events, ctx) for d in run.dossiers]
    return states, province_report(states, ctx.catalog, window.end, calendar=ctx.calendar)


@pytest.fixture(scope="module")
def slowed() -> tuple[list[DossierState], ProvinceReport]:
    return _states(ProvinceProfile(agency_pace=SLOW))


def test_the_agencies_made_slow_rank_first(
    slowed: tuple[list[DossierState], ProvinceReport],
) -> None:
    _, report = slowed
    late = report.lateness
    assert late is not None and late.dossiers >= 20
    assert {c.agency for c in late.agencies[:2]} == set(SLOW)
    assert late.agencies[0].share + late.agencies[1].share > 0.6
    assert all(c.agency in SLOW for c in late.steps[:2])


def test_the_default_profile_s_slowest_agency_ranks_first() -> None:
    _, report = _states(ProvinceProfile())
    assert report.lateness is not None
    assert report.lateness.agencies[0].agency in DEFAULT_AGENCY_PACE


def test_the_section_adds_up(slowed: tuple[list[DossierState], ProvinceReport]) -> None:
    states, report = slowed
    late = report.lateness
    assert late is not None
    ctx = engine_context()
    found = attribute_all(states, ctx.calendar, report.generated_at)
    assert late.completed == report.late  # every completed late dossier is split
    assert late.overrun == sum((a.overrun for a in found), timedelta(0))
    # each dossier counts once per agency it has a share of; the top agency's count is
    # the number of dossiers in which it has a share
    top = late.agencies[0]
    assert top.dossiers == sum(
        any(p.agency == top.agency and p.share for p in a.parts) for a in found
    )
    assert top.overrun == sum(
        (p.share for a in found for p in a.parts if p.agency == top.agency), timedelta(0)
    )


def test_the_section_is_in_every_rendering(
    slowed: tuple[list[DossierState], ProvinceReport],
) -> None:
    _, report = slowed
    late = report.lateness
    assert late is not None
    first = late.agencies[0]
    text = render_text(report)
    assert "Where lateness comes from:" in text
    assert f"  {first.agency:28}" in text
    assert "## Where lateness comes from" in render_markdown(report)
    section = report.as_dict()["lateness"]
    assert section["late_dossiers"] == late.dossiers
    assert section["agencies"][0]["agency"] == first.agency
    assert section["agencies"][0]["share"] == pytest.approx(first.share)
    assert {"procedure", "step"} <= set(section["steps"][0])
