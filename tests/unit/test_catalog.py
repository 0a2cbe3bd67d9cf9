"""The procedure catalog: sample content, checks with their exact messages, lookups, summary."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from workflows.catalog import (
    DEFAULT_CATALOG_DIR,
    ESCALATION_ROLES,
    Agency,
    Catalog,
    CatalogError,
    Procedure,
    Step,
    Supervisor,
    UnknownAgencyError,
    UnknownOutcomeError,
    UnknownProcedureError,
    UnknownStepError,
    escalation_role,
    load_catalog,
    summarize,
)

BROKEN = Path(__file__).with_name("broken_catalogs")
REPO = Path(__file__).resolve().parents[2]
NATIONAL_CSV = Path("/work/shared/data/national-procedures-dvcqg.csv")


@pytest.fixture(scope="module")
def sample() -> Catalog:
    return load_catalog()


def _raw_sample() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The sample read with plain yaml.safe_load, independently of the loader."""
    agencies: list[dict[str, Any]] = []
    procedures: list[dict[str, Any]] = []
    for path in sorted(DEFAULT_CATALOG_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        agencies.extend(document.get("agencies", []))
        procedures.extend(document.get("procedures", []))
    return agencies, procedures


def _dec(value: object) -> Decimal:
    return Decimal(str(value))


# --- the packaged sample -----------------------------------------------------------------


def test_sample_catalog_loads_from_the_package_folder(sample: Catalog) -> None:
    assert len(sample) >= 20
    assert {"MOTCUA", "TTPVHCC", "UBND-TINH", "SXD", "SNNMT"} <= sample.agencies.keys()


@pytest.mark.parametrize(
    ("code", "on", "statutory", "committed", "unit"),
    [
        # seed report: construction licence 15 -> 10 days (commune level since 2025)
        ("1.013225", None, 15, 10, "calendar_days"),
        # seed report: licence to publish non-business documents 15 -> 11
        ("SAMPLE-XB-01", None, 15, 11, "working_days"),
        # seed report: admission to a social assistance facility 27 -> 14
        ("SAMPLE-BTXH-01", None, 27, 14, "working_days"),
        # seed report: land dispute resolved by the People's Committee chair 45 -> 31
        ("1.013967", None, 45, 31, "calendar_days"),
        # Lào Cai 463/QĐ-UBND (2026): EIA appraisal 45 -> 31, in force from 13/02/2026
        ("1.010733", date(2026, 2, 13), 45, 31, "calendar_days"),
        # Lào Cai 463/QĐ-UBND (2026): environmental permit 30 -> 22
        ("1.010727", date(2026, 2, 13), 30, 22, "calendar_days"),
    ],
)
def test_seed_and_decision_times(
    sample: Catalog, code: str, on: date | None, statutory: int, committed: int, unit: str
) -> None:
    procedure = sample.require_procedure(code, on)
    assert procedure.statutory_time == statutory
    assert procedure.committed_time == committed
    assert procedure.time_unit == unit
    assert procedure.reduced


def test_sample_codes_are_marked_and_national_codes_match_the_portal(sample: Catalog) -> None:
    def norm(name: str) -> str:
        name = re.sub(r"\s*\(\s*\d\.\d{6}\s*\)\s*$", "", unicodedata.normalize("NFC", name))
        return " ".join(name.split()).rstrip(".").casefold()

    versions = [p for vs in sample.procedures.values() for p in vs]
    assert all(p.code_is_sample == p.code.startswith("SAMPLE-") for p in versions)
    if not NATIONAL_CSV.exists():
        pytest.skip(f"{NATIONAL_CSV} not available")
    with NATIONAL_CSV.open(encoding="utf-8", newline="") as handle:
        portal = {row["ma"]: row["ten"] for row in csv.DictReader(handle)}
    mismatched = {
        p.code: (portal.get(p.code), p.name_vi)
        for p in versions
        if not p.code_is_sample and norm(portal.get(p.code, "")) != norm(p.name_vi)
    }
    assert mismatched == {}


def test_every_route_in_the_sample_adds_up_to_the_committed_time(sample: Catalog) -> None:
    # Walk each route with next_step, independently of the loader's own check.
    def totals(procedure: Procedure, step: Step) -> set[Decimal]:
        found: set[Decimal] = set()
        for outcome in step.outcomes():
            nxt = step.next_step(outcome)
            rest = {Decimal(0)} if nxt is None else totals(procedure, procedure.step(nxt))
            found |= {step.allotment + r for r in rest}
        return found

    for versions in sample.procedures.values():
        for procedure in versions:
            assert totals(procedure, procedure.entry) == {procedure.committed_time}, procedure.code


def test_summary_matches_the_yaml_read_independently(sample: Catalog) -> None:
    agencies, procedures = _raw_sample()
    newest: dict[str, dict[str, Any]] = {}
    for p in procedures:
        if p["code"] not in newest or p["effective_from"] > newest[p["code"]]["effective_from"]:
            newest[p["code"]] = p
    reduced = [p for p in newest.values() if _dec(p["committed_time"]) < _dec(p["statutory_time"])]
    cut = [_dec(p["statutory_time"]) - _dec(p["committed_time"]) for p in reduced]
    percent = [c / _dec(p["statutory_time"]) * 100 for c, p in zip(cut, reduced, strict=True)]

    summary = summarize(sample)

    assert summary.procedures == len(newest)
    assert summary.versions == len(procedures)
    assert summary.agencies == len(agencies)
    assert summary.supervisors == len({s["email"] for a in agencies for s in a["supervisors"]})
    assert dict(summary.by_sector) == Counter(p["sector"] for p in newest.values())
    assert summary.reduced == len(reduced)
    assert summary.reduced_share == round(Decimal(len(reduced)) / len(newest), 4)
    assert summary.mean_reduction_percent == round(sum(percent) / len(percent), 2)
    # no sample procedure counts in hours, so days are the plain differences
    assert summary.mean_reduction_days == round(sum(cut) / len(cut), 2)
    assert summary.same_day == sum(1 for p in newest.values() if p["committed_time"] == 0)
    assert dict(summary.by_online_level) == {
        level: sum(1 for p in newest.values() if p["online_level"] == level)
        for level in ("full", "partial", "none")
    }


def test_summary_of_the_sample_in_numbers(sample: Catalog) -> None:
    # Pinned so a catalog edit that changes the report is a deliberate one.
    summary = summarize(sample)
    assert (summary.procedures, summary.versions, summary.agencies) == (27, 28, 19)
    assert (summary.reduced, summary.same_day) == (8, 4)
    assert summary.by_sector["construction"] == 3
    assert summary.by_sector["civil-status"] == 3
    lines = summary.render()
    assert lines[0] == (
        "Catalog (newest versions): 27 procedures (28 versions), 19 agencies, 38 supervisors"
    )
    assert lines[1].startswith("Reduced times: 8 of 27 procedures (29.6%)")


def test_summary_at_a_date_uses_the_version_in_force(sample: Catalog) -> None:
    before = summarize(sample, date(2026, 2, 12))
    after = summarize(sample, date(2026, 2, 13))
    # 1.010727 and 1.010729 start on 13/02/2026; 1.010733 is reduced from that day
    assert after.procedures - before.procedures == 2
    assert after.reduced - before.reduced == 2  # 1.010733 and 1.010727


# --- versions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_on", "committed"),
    [
        (date(2025, 7, 1), 45),  # first day of the first version
        (date(2026, 2, 12), 45),  # the day before Decision 463/QĐ-UBND took effect
        (date(2026, 2, 13), 31),  # its first day
        (date(2030, 1, 1), 31),  # long after: still the newest version
        (None, 31),  # no date: the newest version
    ],
)
def test_version_in_force_on_the_day_received(
    sample: Catalog, received_on: date | None, committed: int
) -> None:
    procedure = sample.procedure("1.010733", received_on)
    assert procedure is not None
    assert procedure.committed_time == committed


def test_no_version_before_the_first_or_for_an_unknown_code(sample: Catalog) -> None:
    assert sample.procedure("1.010733", date(2025, 6, 30)) is None
    assert sample.procedure("9.999999") is None
    with pytest.raises(UnknownProcedureError, match="no version in force on 2025-06-30"):
        sample.require_procedure("1.010733", date(2025, 6, 30))
    with pytest.raises(UnknownProcedureError, match=re.escape("unknown procedure '9.999999'")):
        sample.require_procedure("9.999999")


def test_a_datetime_is_refused_as_the_received_date(sample: Catalog) -> None:
    # datetime is a date subclass: comparing it to effective_from would raise deep inside.
    with pytest.raises(TypeError, match="local date of receipt"):
        sample.procedure("1.010733", datetime(2026, 2, 13, 9, 0))


dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@given(effective=st.sets(dates, min_size=1, max_size=6), received=dates)
def test_version_selection_picks_the_latest_start_on_or_before_the_day(
    effective: set[date], received: date
) -> None:
    versions = [_procedure(effective_from=d) for d in sorted(effective, reverse=True)]
    catalog = Catalog(_agencies(), versions)
    chosen = catalog.procedure("1.013236", received)
    started = [d for d in effective if d <= received]
    assert (chosen.effective_from if chosen else None) == (max(started) if started else None)


# --- routes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "step", "outcome", "expected"),
    [
        ("1.013225", "review", "ok", "appraisal"),  # branch: nothing to inspect
        ("1.013225", "review", "needs_inspection", "site_visit"),  # branch: go and look
        ("1.013225", "site_visit", "ok", "appraisal_after_visit"),  # linear step
        ("1.013225", "return", "ok", None),  # terminal step ends the route
        ("1.010733", "review", "needs_site_survey", "site_survey"),  # EIA survey branch
    ],
)
def test_next_step_by_outcome(
    sample: Catalog, code: str, step: str, outcome: str, expected: str | None
) -> None:
    assert sample.require_procedure(code).step(step).next_step(outcome) == expected


@pytest.mark.parametrize(
    ("step", "outcome", "allowed"),
    [
        ("review", "approved", ("ok", "needs_inspection")),  # not an outcome of the branch
        ("receive", "needs_inspection", ("ok",)),  # a linear step only knows ok
        ("return", "refused", ("ok",)),  # a terminal step only knows ok
    ],
)
def test_unknown_outcome_is_refused(
    sample: Catalog, step: str, outcome: str, allowed: tuple[str, ...]
) -> None:
    procedure = sample.require_procedure("1.013225")
    with pytest.raises(UnknownOutcomeError) as caught:
        procedure.step(step).next_step(outcome)
    assert caught.value.allowed == allowed
    assert str(caught.value) == (
        f"step {step!r} has no outcome {outcome!r} (expected one of: {', '.join(allowed)})"
    )


def test_step_lookup_and_route_shape(sample: Catalog) -> None:
    procedure = sample.require_procedure("1.013225")
    assert procedure.entry.id == "receive"
    assert procedure.step("review").targets() == ("appraisal", "site_visit")
    assert procedure.step("return").is_terminal
    with pytest.raises(
        UnknownStepError, match=re.escape("procedure '1.013225' has no step 'sign_off'")
    ):
        procedure.step("sign_off")


def test_same_day_procedures_use_zero_time_and_a_cutoff(sample: Catalog) -> None:
    birth = sample.require_procedure("1.001193")
    assert birth.same_day and birth.same_day_cutoff == time(15, 0)
    assert all(step.allotment == 0 for step in birth.steps)
    assert not sample.require_procedure("2.001016").same_day


# --- escalation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "scope", "agency", "emails"),
    [
        # step due soon: the step agency's officers (both SNNMT teams)
        (
            "due_soon",
            "step",
            "SNNMT",
            {"moitruong.snnmt@laocai.gov.vn.example", "datdai.snnmt@laocai.gov.vn.example"},
        ),
        # step overdue: the step agency's head
        ("overdue", "step", "SXD", {"giamdoc.sxd@laocai.gov.vn.example"}),
        # dossier due soon: the head of the agency holding it
        ("due_soon", "dossier", "SXD", {"giamdoc.sxd@laocai.gov.vn.example"}),
        # dossier overdue: the service-centre director, via SXD's escalation list
        ("overdue", "dossier", "SXD", {"giamdoc.ttpvhcc@laocai.gov.vn.example"}),
        # statutory breach: the province leader
        ("statutory_breach", "dossier", "SXD", {"pct.cchc@laocai.gov.vn.example"}),
        ("statutory_breach", "step", "CAMDUONG", {"pct.cchc@laocai.gov.vn.example"}),
        # a ward's overdue dossier goes to its own centre's director, not the province's
        ("overdue", "dossier", "CAMDUONG", {"giamdoc.ttpvhcc.camduong@laocai.gov.vn.example"}),
        # the desk has no head: its centre's deputy director takes step overdue
        ("overdue", "step", "MOTCUA", {"pgd.ttpvhcc@laocai.gov.vn.example"}),
        # the land office has no head: the parent department's director, via escalation
        ("overdue", "step", "VPDKDD", {"giamdoc.snnmt@laocai.gov.vn.example"}),
    ],
)
def test_recipients_by_level_scope_and_agency(
    sample: Catalog, level: str, scope: str, agency: str, emails: set[str]
) -> None:
    assert {s.email for s in sample.recipients(level, scope, agency)} == emails


def test_every_step_agency_reaches_someone_for_every_alert(sample: Catalog) -> None:
    step_agencies = {s.agency for vs in sample.procedures.values() for p in vs for s in p.steps}
    for agency in step_agencies:
        for scope, level in ESCALATION_ROLES:
            assert sample.recipients(level, scope, agency), (agency, scope, level)


def test_escalation_roles_cover_every_scope_and_level() -> None:
    assert set(ESCALATION_ROLES) == {
        (scope, level)
        for scope in ("step", "dossier")
        for level in ("due_soon", "overdue", "statutory_breach")
    } | {("dossier", "reminder")}  # reminders are of still-overdue dossiers only
    assert escalation_role("overdue", "dossier") == "centre_director"
    # a reminder goes one level above the overdue alert it reminds of
    assert escalation_role("reminder", "dossier") == "province_leader"


def test_escalation_path_and_bad_lookups(sample: Catalog) -> None:
    assert sample.escalation_path("VPDKDD") == ("VPDKDD", "SNNMT", "TTPVHCC", "UBND-TINH")
    assert sample.supervisors_for("MOTCUA", "department_head") == ()
    with pytest.raises(ValueError, match="no escalation for scope 'step' and level 'late'"):
        sample.recipients("late", "step", "SXD")
    with pytest.raises(UnknownAgencyError, match="unknown agency 'SXD2'"):
        sample.recipients("overdue", "step", "SXD2")


# --- broken catalogs: every check, with the exact message an operator reads ---------------

_F = "broken_catalogs"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (  # allotments add up to the committed time exactly
            "allotments_do_not_add_up.yaml",
            [
                f"{_F}/allotments_do_not_add_up.yaml: procedures[0].steps: allotments along "
                "receive → review → return add up to 9 working_days, committed_time is 10 "
                "(line 28)"
            ],
        ),
        (  # committed <= statutory
            "committed_exceeds_statutory.yaml",
            [
                f"{_F}/committed_exceeds_statutory.yaml: procedures[0].committed_time: "
                "committed_time 25 exceeds statutory_time 20 (line 24)"
            ],
        ),
        (  # every step reachable from the entry step
            "unreachable_step.yaml",
            [
                f"{_F}/unreachable_step.yaml: procedures[0].steps[3]: step 'site_visit' cannot "
                "be reached from the entry step 'receive' (line 32)"
            ],
        ),
        (  # no cycles, so every dossier reaches a terminal step
            "route_loops.yaml",
            [
                f"{_F}/route_loops.yaml: procedures[0].steps[1].on.needs_rework: route loops "
                "back: receive → review → receive (line 34)"
            ],
        ),
        (  # next/on targets exist
            "unknown_next_step.yaml",
            [
                f"{_F}/unknown_next_step.yaml: procedures[0].steps[0].next: unknown step "
                "'reveiw' (steps: receive, review, return) (line 29)"
            ],
        ),
        (  # agencies referenced by steps, parents and escalation exist
            "unknown_agency.yaml",
            [
                f"{_F}/unknown_agency.yaml: agencies[1].parent: unknown agency 'UBND-TINH' "
                "(line 14)",
                f"{_F}/unknown_agency.yaml: agencies[1].escalation[0]: unknown agency "
                "'TTPVHCC' (line 15)",
                f"{_F}/unknown_agency.yaml: procedures[0].steps[1].agency: unknown agency "
                "'SXD2' (line 31)",
            ],
        ),
        (  # unique step ids
            "duplicate_step_id.yaml",
            [
                f"{_F}/duplicate_step_id.yaml: procedures[0].steps[2].id: duplicate step id "
                "'review' (also steps[1]) (line 31)"
            ],
        ),
        (  # unique agency codes, across files
            "duplicate_agency_code",
            [
                "duplicate_agency_code/more-agencies.yaml: agencies[0].code: duplicate agency "
                "code 'SXD' (first at duplicate_agency_code/agencies.yaml: agencies[1]) (line 3)"
            ],
        ),
        (  # one version per code and effective_from
            "duplicate_procedure_version.yaml",
            [
                f"{_F}/duplicate_procedure_version.yaml: procedures[1].effective_from: "
                "duplicate version of procedure 1.013236 effective 2025-07-01 (first at "
                f"{_F}/duplicate_procedure_version.yaml: procedures[0]) (line 38)"
            ],
        ),
        (  # supervisor contacts are checked at start-up, not when the first alert fails
            "invalid_supervisor_contact.yaml",
            [
                f"{_F}/invalid_supervisor_contact.yaml: agencies[0].supervisors[1].email: "
                "invalid e-mail address 'head@localhost' (line 8)",
                f"{_F}/invalid_supervisor_contact.yaml: agencies[0].supervisors[3].webhook: "
                "invalid webhook URL 'ftp://127.0.0.1/hook': expected http:// or https:// and "
                "a host (line 10)",
            ],
        ),
        (  # every alert an agency can raise reaches somebody
            "no_centre_director.yaml",
            [
                f"{_F}/no_centre_director.yaml: agencies[0].supervisors: no 'centre_director' "
                "supervisor on UBND: dossier overdue alerts for UBND would reach nobody (line 6)",
                f"{_F}/no_centre_director.yaml: agencies[1].supervisors: no 'centre_director' "
                "supervisor on SXD → UBND: dossier overdue alerts for SXD would reach nobody "
                "(line 10)",
            ],
        ),
        (  # parents form a tree
            "parent_loop.yaml",
            [
                f"{_F}/parent_loop.yaml: agencies[0].parent: parent chain loops: "
                "UBND → SXD → UBND (line 6)"
            ],
        ),
        (  # YAML syntax error, with line and column
            "yaml_syntax_error.yaml",
            [
                f"{_F}/yaml_syntax_error.yaml: YAML syntax error: did not find expected ',' or "
                "'}', while parsing a flow mapping that starts on line 30 (line 31, column 9)"
            ],
        ),
        (  # unknown keys, at any depth
            "unknown_keys.yaml",
            [
                f"{_F}/unknown_keys.yaml: procedures[0].steps[1].agency: required key missing "
                "(line 30)",
                f"{_F}/unknown_keys.yaml: procedures[0].steps[1].agencyy: unknown key (allowed: "
                "id, name, agency, allotment, next, on, delegates) (line 30)",
                f"{_F}/unknown_keys.yaml: procedure_notes: unknown key (allowed: agencies, "
                "procedures) (line 32)",
            ],
        ),
        (  # a step leaves by next or by on, not both
            "next_and_on.yaml",
            [
                f"{_F}/next_and_on.yaml: procedures[0].steps[1]: give either 'next' (one way "
                "on) or 'on' (outcome: step), not both (line 30)"
            ],
        ),
        (  # an unquoted code would lose its trailing zero
            "unquoted_code.yaml",
            [
                f"{_F}/unquoted_code.yaml: procedures[0].code: expected a quoted string, got "
                "the number 1.013230: write it in quotes (line 16)"
            ],
        ),
        (  # national codes look national; sample codes say so
            "bad_codes.yaml",
            [
                f"{_F}/bad_codes.yaml: procedures[0].code: 'GPXD-01' is not a national "
                "procedure code (d.dddddd); for a procedure without one set code_is_sample: "
                "true and a 'SAMPLE-' code (line 16)",
                f"{_F}/bad_codes.yaml: procedures[1].code: sample codes start with 'SAMPLE-' "
                "so they cannot pass for national codes (got 'XB-01') (line 32)",
            ],
        ),
        (  # the cut-off is a wall-clock time in the deployment's timezone
            "cutoff_with_offset.yaml",
            [
                f"{_F}/cutoff_with_offset.yaml: procedures[0].same_day_cutoff: write the "
                'cut-off as a local wall-clock time such as "15:00", without an offset (line 26)'
            ],
        ),
        (  # calendar days cannot be split
            "fractional_calendar_days.yaml",
            [
                f"{_F}/fractional_calendar_days.yaml: procedures[0].steps[0].allotment: 0.5: "
                "calendar_days times must be whole numbers (line 29)",
                f"{_F}/fractional_calendar_days.yaml: procedures[0].steps[1].allotment: 8.5: "
                "calendar_days times must be whole numbers (line 30)",
            ],
        ),
        (  # YAML keeps the last of two equal keys silently; we do not
            "duplicate_yaml_key.yaml",
            [
                f"{_F}/duplicate_yaml_key.yaml: procedures[0].steps: allotments along "
                "receive → review → return add up to 11 working_days, committed_time is 10 "
                "(line 28)",
                f"{_F}/duplicate_yaml_key.yaml: procedures[0].steps[2].allotment: duplicate "
                "key (first on line 34) (line 35)",
            ],
        ),
    ],
)
def test_broken_catalog_is_refused_with_every_problem(fixture: str, expected: list[str]) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(BROKEN / fixture)
    assert [str(p) for p in caught.value.problems] == expected


def test_problems_are_collected_across_files_not_stopped_at_the_first() -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(BROKEN / "several_files")
    assert [str(p) for p in caught.value.problems] == [
        "several_files/agencies.yaml: agencies[0].supervisors[0].email: invalid e-mail address "
        "'officer.example.gov.vn' (line 7)",
        "several_files/procedures.yaml: procedures[0].steps: allotments along receive → review "
        "→ return add up to 9 working_days, committed_time is 10 (line 15)",
        "several_files/procedures.yaml: procedures[0].steps[1].agency: unknown agency 'SXD2' "
        "(line 17)",
    ]
    assert str(caught.value).startswith("catalog has 3 problems:\n  several_files/agencies.yaml")


def test_each_fixture_has_a_test_and_the_base_is_valid() -> None:
    # A fixture nobody loads proves nothing; the base they are cut from must itself load.
    assert len(load_catalog(BROKEN / "valid_base.yaml")) == 1
    tested = {
        fixture
        for mark in test_broken_catalog_is_refused_with_every_problem.pytestmark  # type: ignore[attr-defined]
        if mark.name == "parametrize"
        for fixture, _ in mark.args[1]
    } | {"several_files", "valid_base.yaml"}
    assert {p.name for p in BROKEN.iterdir()} == tested


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("does-not-exist", "no such file or folder"),  # a typo in the setting
        ("empty-folder", "no *.yaml files in the folder"),  # nothing to load
    ],
)
def test_catalog_path_problems(tmp_path: Path, path: str, expected: str) -> None:
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / path)
    assert [p.message for p in caught.value.problems] == [expected]


def test_empty_file_and_wrong_top_level(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "a.yaml").write_text("", encoding="utf-8")
    (folder / "b.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(folder)
    assert [str(p) for p in caught.value.problems] == [
        "catalog/a.yaml: file is empty: expected 'agencies' and/or 'procedures'",
        "catalog/b.yaml: expected a mapping with 'agencies' and/or 'procedures', got a list "
        "(line 1)",
    ]


# --- YAML reading ------------------------------------------------------------------------


def test_yaml_scalars_are_read_the_way_the_catalog_means_them(tmp_path: Path) -> None:
    text = (BROKEN / "valid_base.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "    time_unit: working_days\n",
        # unquoted 15:00 is base-60 900 in YAML 1.1; 0.1 would be an inexact float
        "    time_unit: working_days\n    same_day_cutoff: 15:00\n",
    )
    text = text.replace("allotment: 8, next: return}", "allotment: 7.9, on: {ok: return}}")
    text = text.replace("agency: UBND, allotment: 1}", "agency: UBND, allotment: 1.1}")
    (tmp_path / "catalog.yaml").write_text(text, encoding="utf-8")
    procedure = load_catalog(tmp_path / "catalog.yaml").require_procedure("1.013236")
    assert procedure.same_day_cutoff == time(15, 0)
    assert procedure.step("review").on == {"ok": "return"}  # 'on' is not the boolean True
    assert procedure.step("review").allotment == Decimal("7.9")


def test_a_number_for_the_cutoff_is_refused_not_read_as_seconds() -> None:
    # plain yaml.safe_load turns an unquoted 15:00 into 900; pydantic would read 00:15
    with pytest.raises(ValidationError, match='expected a time of day such as "15:00"'):
        _procedure(same_day_cutoff=900)


# --- models built in code ----------------------------------------------------------------


def _agencies() -> list[Agency]:
    return [
        Agency(
            code="UBND",
            name="UBND",
            level="province",
            supervisors=tuple(
                Supervisor(name=role, email=f"{role}@example.gov.vn", role=role)
                for role in (
                    "department_officer",
                    "department_head",
                    "centre_director",
                    "province_leader",
                )
            ),
        )
    ]


def _procedure(**changes: Any) -> Procedure:
    fields: dict[str, Any] = {
        "code": "1.013236",
        "name_vi": "Cấp giấy phép xây dựng",
        "name_en": "Construction licence",
        "sector": "construction",
        "sector_name_vi": "Hoạt động xây dựng",
        "level": "department",
        "effective_from": date(2025, 7, 1),
        "statutory_time": 20,
        "committed_time": 10,
        "time_unit": "working_days",
        "online_level": "partial",
        "legal_basis": ["Luật Xây dựng số 50/2014/QH13"],
        "steps": [
            {"id": "receive", "name": "Tiếp nhận", "agency": "UBND", "allotment": 1, "next": "go"},
            {"id": "go", "name": "Thẩm định", "agency": "UBND", "allotment": 9},
        ],
    }
    fields.update(changes)
    return Procedure.model_validate(fields)


def test_a_procedure_built_in_code_is_checked_too() -> None:
    steps = [{"id": "only", "name": "Làm", "agency": "UBND", "allotment": 3}]
    with pytest.raises(ValidationError, match="allotments along only add up to 3 working_days"):
        _procedure(steps=steps)


def test_a_catalog_built_in_code_is_cross_checked() -> None:
    steps = [{"id": "only", "name": "Làm", "agency": "SXD", "allotment": 10}]
    with pytest.raises(CatalogError) as caught:
        Catalog(_agencies(), [_procedure(steps=steps)])
    assert [str(p) for p in caught.value.problems] == [
        "<memory>: procedures[0].steps[0].agency: unknown agency 'SXD'"
    ]


halves = st.integers(min_value=0, max_value=40).map(lambda n: Decimal(n) / 2)


@given(allotments=st.lists(halves, min_size=1, max_size=6), delta=halves)
def test_a_linear_route_is_valid_exactly_when_it_adds_up(
    allotments: list[Decimal], delta: Decimal
) -> None:
    steps = [
        {
            "id": f"s{i}",
            "name": f"Bước {i}",
            "agency": "UBND",
            "allotment": a,
            **({"next": f"s{i + 1}"} if i + 1 < len(allotments) else {}),
        }
        for i, a in enumerate(allotments)
    ]
    total = sum(allotments, Decimal(0))
    valid = _procedure(steps=steps, committed_time=total, statutory_time=total + delta)
    assert valid.committed_time == total
    if delta:
        with pytest.raises(ValidationError, match="allotments along"):
            _procedure(steps=steps, committed_time=total + delta, statutory_time=total + delta)


# --- the generated national catalog ------------------------------------------------------

SCRIPT = REPO / "scripts" / "catalog_from_national.py"
_HEADER = "group,ma,ten,linh_vuc,cap,so_qd,loai,co_quan,thoi_han_so,thoi_han_don_vi,"


def test_generator_skips_rows_it_cannot_time_and_writes_a_loadable_catalog(
    tmp_path: Path,
) -> None:
    rows = [
        # counted in working days, commune level: routed to a generated commune
        'bo-tu-phap,1.001193,Đăng ký khai sinh,Hộ tịch,Cấp xã,163/QĐ-BTP,,,3,Ngày làm việc,"{}",',
        # calendar days at province level: whole-day steps
        'bo-xay-dung,1.013236,Cấp GPXD,Hoạt động xây dựng,Cấp tỉnh,56/QĐ-BXD,,,20,Ngày,"{}",',
        # hours
        'bo-cong-an,1.000001,Khai báo,Cư trú,Cấp tỉnh,1/QĐ-BCA,,,12,Giờ,"{}",',
        # skipped: the scrape lost the unit
        "bo-tu-phap,1.000894,Đăng ký kết hôn,Hộ tịch,Cấp xã,163/QĐ-BTP,,,1,"
        'UNIT_MISSING(ambiguous),"{}",',
        # skipped: no time on the portal
        'bo-tu-phap,2.000815,Chứng thực,Chứng thực,Cấp xã,3152/QĐ-BTP,,,,,"{}",',
        # skipped: months are not a unit the engine counts in
        'ngan-hang-nha-nuoc,1.000002,Xét duyệt,Ngân hàng,Cấp bộ,1/QĐ-NHNN,,,3,Tháng,"{}",',
    ]
    source = tmp_path / "national.csv"
    source.write_text(_HEADER + "thoi_han_theo_kenh,detail_url\n" + "\n".join(rows) + "\n")
    out = tmp_path / "generated"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--csv", str(source), "--communes", "3"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "procedures written:  3" in result.stdout
    assert "skipped (time without a unit): 1" in result.stdout
    assert "skipped (no processing time): 1" in result.stdout
    assert "skipped (unit 'Tháng' not supported): 1" in result.stdout
    catalog = load_catalog(out)
    assert len(catalog) == 3
    birth = catalog.require_procedure("1.001193")
    assert [s.agency for s in birth.steps] == ["XA003.TTPVHCC", "XA003", "XA003.TTPVHCC"]
    licence = catalog.require_procedure("1.013236")
    assert all(s.allotment == s.allotment.to_integral_value() for s in licence.steps)


@pytest.mark.skipif(not NATIONAL_CSV.exists(), reason="national procedure extract not available")
def test_full_national_catalog_generates_and_loads(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=True
    )
    written = int(re.search(r"procedures written:\s+(\d+)", result.stdout).group(1))  # type: ignore[union-attr]
    catalog = load_catalog(tmp_path)
    assert len(catalog) == written > 2000
    assert 250 <= len(catalog.agencies) <= 400
