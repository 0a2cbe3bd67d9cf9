"""The analysts' commands: one dossier's sheet with its lateness explained, and the history
as an event log for process-mining tools (``dossierflow explain|export``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agents.settings import Settings
from agents.tools.printable import count, printable


def _cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    from agents.clock import clock_from
    from agents.runtime.context import build_calendar
    from agents.tools.explain import render_explain
    from agents.tools.report import engine_states
    from workflows.catalog import load_catalog

    # The changelogs hold every dossier's latest state; one is wanted, none is indexed.
    state = next((s for s in engine_states(settings) if s.dossier_id == args.dossier), None)
    if state is None:
        print(
            f"dossierflow explain: no dossier {args.dossier!r} in the engine's state "
            "(check the id, or that the worker has applied its events)",
            file=sys.stderr,
        )
        return 1
    names = {code: a.name for code, a in load_catalog(settings.catalog_path).agencies.items()}
    text = render_explain(state, build_calendar(settings), clock_from(settings).now(), names)
    print(printable(text, keep_newlines=True))
    return 0


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools.export import log_events, to_csv, to_xes
    from agents.tools.report import engine_states

    states = engine_states(settings)
    events = log_events(states)
    text = to_xes(events) if args.format == "xes" else to_csv(events)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"dossierflow export: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
    print(
        f"{count(len(events), 'event')} of {count(len(states), 'dossier')} "
        f"({args.format}) to {'standard output' if args.out == '-' else args.out}",
        file=sys.stderr,
    )
    return 0


def add_analysis_commands(sub: Any) -> None:
    """``explain`` and ``export`` on the ``dossierflow`` subparsers ``sub``."""
    explain = sub.add_parser(
        "explain", help="one dossier's process control sheet and where its lateness comes from"
    )
    explain.add_argument("dossier", metavar="DOSSIER_ID", help="the dossier id")
    explain.set_defaults(func=_cmd_explain)

    export = sub.add_parser(
        "export",
        help="the history as an event log (case dossier, activity step, resource agency)",
        description="Every sheet row as a start and a complete event, for PM4Py, Disco or "
        "Celonis: CSV (map case_id, activity, resource, timestamp, lifecycle) or XES.",
    )
    export.add_argument("--format", choices=["csv", "xes"], default="csv")
    export.add_argument("--out", required=True, help="the file to write, or - for stdout")
    export.set_defaults(func=_cmd_export)
