"""dossierflow's Grafana dashboards, generated with grafana-foundation-sdk.

The JSON under ``monitoring/grafana/dashboards/`` is what Grafana provisions; it is
generated from this file, never edited by hand::

    python -m monitoring.grafana.build          # rewrite the JSON after changing a panel
    python -m monitoring.grafana.build --check  # exit 1 if the committed JSON is stale

``tests/unit/test_monitoring_config.py`` makes the same comparison, and
``tests/integration/test_prometheus.py`` runs every panel's query against a real
Prometheus that scraped a real worker. What each dashboard is for: docs/monitoring.md.

The builders: ``panels`` (board, query, panel styles shared by every dashboard) and one
module a dashboard (``province``, ``agency``, ``sla``, ``engine``), each importing the
metric names from ``monitoring/metrics.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from monitoring.grafana import agency, engine, province, sla
from monitoring.grafana.panels import Board

HERE = Path(__file__).resolve().parent
DASHBOARDS_DIR = HERE / "dashboards"


BOARDS: dict[str, Callable[[], Board]] = {
    "province-overview.json": province.province_overview,
    "agency-drilldown.json": agency.agency_drilldown,
    "sla.json": sla.sla,
    "engine-health.json": engine.engine_health,
}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed (sorted keys, two-space indent)."""
    return {
        name: json.dumps(make().build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, make in BOARDS.items()
    }


def stale(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Names of dashboard files that differ from what this module generates (or are extra)."""
    wanted = render()
    present = {p.name for p in directory.glob("*.json")}
    differ = [
        name
        for name, text in wanted.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    return sorted(differ + sorted(present - wanted.keys()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON is stale")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale()
        for name in differ:
            print(f"{DASHBOARDS_DIR / name} is stale: run python -m monitoring.grafana.build")
        return 1 if differ else 0
    DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (DASHBOARDS_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {DASHBOARDS_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
