"""What the demo prints and writes at the end: the province report, the ground-truth check,
report.md with its charts, and report.json."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from events import Alert
from workflows.report import ProvinceReport, render_markdown, render_text
from workflows.simulation import Workload

if TYPE_CHECKING:
    from agents.demo.run import DemoOptions
    from agents.demo.truth import TruthCheck
    from agents.settings import Settings


def say(text: str = "") -> None:
    print(text, flush=True)


def finish(
    settings: Settings,
    catalog: Any,
    workload: Workload,
    bootstrap: str,
    out: Path,
    opts: DemoOptions,
    ran_for: float,
    received: Counter[str],
) -> int:
    from agents.demo.charts import write_charts
    from agents.demo.truth import check_against_truth, read_alerts
    from agents.tools.report import build_report, engine_states

    end = workload.window.end
    report = build_report(settings, catalog, end)
    states = engine_states(settings)
    login = settings.kafka_security("reader").kafka_python_kwargs()
    alerts = read_alerts(bootstrap, settings.topics.alerts, **login)
    check = check_against_truth(workload, states, alerts)
    say(render_text(report))
    say()
    say("Checked against the simulator's ground truth:")
    for line in check.lines():
        say(f"  {line}")
    if received:
        say(
            f"Webhook messages received for supervisors: {sum(received.values()):,} "
            f"({', '.join(f'{p} {n:,}' for p, n in received.most_common(3))}, ...)"
        )
    charts = write_charts(report, states, end, out)
    markdown = out / "report.md"
    markdown.write_text(
        _markdown(report, check, workload, opts, charts, alerts, ran_for), encoding="utf-8"
    )
    (out / "report.json").write_text(
        json.dumps(
            {**report.as_dict(), "ground_truth_check": check.as_dict()},
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    say()
    say(f"· report: {markdown} (+ report.json, charts: {', '.join(c.name for c in charts)})")
    return 0 if check.ok else 1


def _markdown(
    report: ProvinceReport,
    check: TruthCheck,
    workload: Workload,
    opts: DemoOptions,
    charts: Sequence[Path],
    alerts: Sequence[Alert],
    ran_for: float,
) -> str:
    w = workload.window
    levels = Counter(a.level.value for a in alerts)
    lines = [
        render_markdown(report).rstrip(),
        "",
        "## Charts",
        "",
        *[f"![{c.stem.replace('-', ' ')}]({c.name})" for c in charts],
        "",
        "## The run",
        "",
        "| | |",
        "|---|---|",
        f"| simulated period | {w.start:%Y-%m-%d %H:%M} to {w.end:%Y-%m-%d %H:%M} "
        f"({opts.days} working days) |",
        f"| work in progress at the start | dossiers received from {w.backlog_from:%Y-%m-%d} |",
        f"| scale, seed | {opts.scale:g} (about {80_000 * opts.scale:,.0f} dossiers a quarter), "
        f"{opts.seed} |",
        f"| clock | x{opts.speed:,.0f}, {opts.workers} worker(s) |",
        f"| events published | {len(workload.events()):,} |",
        f"| alerts raised | {len(alerts):,} ("
        + ", ".join(f"{k} {v:,}" for k, v in sorted(levels.items()))
        + ") |",
        f"| wall time | {ran_for:.0f} s from start to the end of the simulated period |",
        "",
        "## Checked against the simulator's ground truth",
        "",
        *[f"- {line}" for line in check.lines()],
        "",
    ]
    return "\n".join(lines)
