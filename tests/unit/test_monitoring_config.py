"""Dashboards, alert rules and Alertmanager routes, checked without a server (promtool,
when installed, checks prometheus.yml as a checkout has it).

The committed dashboard JSON must be exactly what ``monitoring/grafana/build.py``
generates; every metric a panel or a rule names must be one ``monitoring/metrics.py``
exports (a typo there is an empty panel or a rule that never fires, silently). Whether
the queries *run* and show the right numbers is tests/integration/test_prometheus.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitoring.metrics import create_metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "monitoring" / "grafana" / "dashboards"
RULES = REPO / "monitoring" / "prometheus" / "rules.yml"
PROMETHEUS_YML = REPO / "monitoring" / "prometheus" / "prometheus.yml"
ALERTMANAGER = REPO / "monitoring" / "alertmanager" / "alertmanager.yml"
DATASOURCES = REPO / "monitoring" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DOCS = REPO / "docs" / "monitoring.md"

#: Grafana's own variables that panels may use besides the dashboard's template variables.
GRAFANA_BUILTINS = {"__range", "__rate_interval", "__interval"}
#: What every panel and query reads: the dashboard's data-source variable.
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
SEVERITIES = {"page", "warning"}


@cache
def dashboards() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))
    }


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def exprs(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(board) for t in p["targets"]]


@cache
def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


@cache
def exported_names() -> set[str]:
    """Every sample name the worker can export: counters' _total, histograms' _bucket...
    (no ``_created``: it is switched off)."""
    metrics = create_metrics(CollectorRegistry())
    names = set()
    for family in metrics.registry.collect():
        kind = family.type
        if kind == "counter":
            names.add(f"{family.name}_total")
        elif kind == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "count", "sum")}
        else:
            names.add(family.name)
    return names


def metric_names(promql: str) -> set[str]:
    return set(re.findall(r"\bdossierflow_[a-z_]+\b", promql))


# --- dashboards --------------------------------------------------------------------------


def test_committed_dashboards_are_what_build_py_generates() -> None:
    if not os.environ.get("CI"):
        pytest.importorskip("grafana_foundation_sdk", reason="pip install '.[dev]'")
    from monitoring.grafana import build

    assert build.stale() == [], "run: python -m monitoring.grafana.build"
    assert sorted(build.render()) == sorted(dashboards())


def test_there_are_the_four_dashboards_with_unique_uids() -> None:
    uids = [board["uid"] for board in dashboards().values()]
    assert sorted(uids) == [
        "dossierflow-agency",
        "dossierflow-engine",
        "dossierflow-province",
        "dossierflow-sla",
    ]


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_panels_have_unique_ids_titles_queries_and_the_datasource_variable(name: str) -> None:
    board = dashboards()[name]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and 0 not in ids
    for panel in panels(board):
        assert panel["title"] and panel.get("description"), panel["id"]
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs) and all(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE_REF, panel["title"]
        x, w = panel["gridPos"]["x"], panel["gridPos"]["w"]
        assert x >= 0 and x + w <= 24, f"{panel['title']} sticks out of the 24-column grid"


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_metric_a_dashboard_names_is_exported(name: str) -> None:
    board = dashboards()[name]
    named = set().union(*(metric_names(e) for e in exprs(board)))
    for variable in board.get("templating", {}).get("list", []):
        named |= metric_names(json.dumps(variable.get("query")))
    assert named, name
    assert named <= exported_names(), sorted(named - exported_names())


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_variable_a_query_uses_is_defined(name: str) -> None:
    board = dashboards()[name]
    defined = {v["name"] for v in board.get("templating", {}).get("list", [])}
    used = set().union(*(set(re.findall(r"\$(\w+)", e)) for e in exprs(board)))
    assert used <= defined | GRAFANA_BUILTINS, sorted(used - defined - GRAFANA_BUILTINS)


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_a_dashboard_imports_into_another_grafana_with_its_own_prometheus(name: str) -> None:
    """Dashboards > Import asks for DS_PROMETHEUS and puts it in the ``datasource``
    variable; provisioned, the variable falls back to the one Prometheus provisioned."""
    board = dashboards()[name]
    (wanted,) = board["__inputs"]
    assert wanted["name"] == "DS_PROMETHEUS"
    assert (wanted["type"], wanted["pluginId"]) == ("datasource", "prometheus")
    assert {"type": "datasource", "id": "prometheus"}.items() <= board["__requires"][0].items()
    variable = board["templating"]["list"][0]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    assert variable["current"]["value"] == "${DS_PROMETHEUS}"
    # Nothing else names a data source by uid: it would not exist in another Grafana.
    named = set(re.findall(r'"uid": "([^"]*)"', json.dumps(board["panels"])))
    named |= {v["datasource"]["uid"] for v in board["templating"]["list"][1:]}
    assert named == {"${datasource}"}
    provisioned = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    assert [d["type"] for d in provisioned] == ["prometheus"]  # the fallback is unambiguous


def test_the_drilldown_filters_by_agency_and_sector() -> None:
    board = dashboards()["agency-drilldown.json"]
    variables = {v["name"]: v for v in board["templating"]["list"] if v["type"] == "query"}
    assert set(variables) == {"agency", "sector"}
    for name, variable in variables.items():
        assert variable["query"]["query"].startswith("label_values(")
        assert variable["query"]["query"].endswith(f", {name})")
        assert variable["includeAll"] and variable["allValue"] == ".*"


# --- rules -------------------------------------------------------------------------------


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_rule_is_an_alert_with_severity_summary_and_a_runbook_that_exists() -> None:
    documented = anchors(DOCS.read_text(encoding="utf-8"))
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert rule["alert"].startswith("Dossierflow"), rule
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        path, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert path == "docs/monitoring.md"
        assert anchor == rule["alert"].lower() and anchor in documented, rule["alert"]


def test_the_rules_cover_what_operations_asked_for() -> None:
    named = {rule["alert"]: rule["expr"] for rule in rules()}
    assert "dossierflow_open_overdue" in named["DossierflowOverdueBacklogGrowing"]
    assert 'level="statutory_breach"' in named["DossierflowStatutoryBreaches"]
    assert "dossierflow_dead_letters_total" in named["DossierflowDeadLettersHigh"]
    assert "dossierflow_router_records_total" in named["DossierflowRouterStalled"]
    assert named["DossierflowWorkerDown"].strip() == 'up{job="dossierflow-worker"} == 0'
    assert 'result="failed"' in named["DossierflowAlertDeliveryFailing"]


def test_every_metric_a_rule_names_is_exported() -> None:
    for rule in rules():
        named = metric_names(rule["expr"])
        assert named <= exported_names(), (rule["alert"], sorted(named - exported_names()))


def test_promtool_accepts_prometheus_yml_and_its_rule_files_from_a_checkout() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: make monitoring-tools installs it")
        pytest.skip("promtool not installed (Debian package prometheus)")
    done = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_YML)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout + done.stderr


def test_the_stall_rule_asks_the_engine_calendar_not_the_utc_hour() -> None:
    stalled = {rule["alert"]: rule["expr"] for rule in rules()}["DossierflowRouterStalled"]
    assert "max(dossierflow_office_hours_open) == 1" in stalled
    for clock_function in ("hour(", "day_of_week(", "minute("):
        assert clock_function not in stalled


# --- Alertmanager ------------------------------------------------------------------------


def test_every_route_ends_at_a_declared_receiver_and_every_severity_is_routed() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    declared = {r["name"] for r in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert {r.get("receiver", config["route"]["receiver"]) for r in routes} <= declared
    for receiver in config["receivers"]:
        assert receiver["webhook_configs"], receiver["name"]
    alert_names = {rule["alert"] for rule in rules()}
    for inhibit in config.get("inhibit_rules", []):
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            names = re.findall(r"Dossierflow\w+", matcher)
            assert set(names) <= alert_names, matcher
