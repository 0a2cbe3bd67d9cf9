"""``dossierflow whatif``: registered on the command line's subparsers (agents/tools/cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agents.settings import Settings
from agents.tools.commands import add_terminal_switch


def _cmd_whatif(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools.whatif import main

    return main(args, settings)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of processes")
    return value


def add_whatif_commands(sub: Any) -> None:
    """``whatif`` on the ``dossierflow`` subparsers ``sub``."""
    whatif = sub.add_parser(
        "whatif",
        help="re-judge the recorded history under a changed catalog, beside the actual figures",
        description="Read every recorded event (the events topic from its beginning, as a "
        "principal that may read events, e.g. DOSSIERFLOW_KAFKA_ROLE=engine: the reader role "
        "may not; or --events FILE), fold it through the engine's rules in this process with "
        "the catalog as it is and with the alternative one (nothing is written to any "
        "topic), and print both: on-time rate, days saved, and the dossiers that would flip "
        "on time -> late or late -> on time, by procedure, sector and agency. Committed "
        "times cut with --cut-percent are rounded to the nearest 0.5 working day (whole "
        "calendar days, whole working hours), halves up; step allotments are scaled to "
        "add up to the new committed time (docs/whatif.md).",
    )
    whatif.add_argument("--events", metavar="FILE", help="JSON lines of events instead of Kafka")
    whatif.add_argument(
        "--catalog", type=Path, metavar="PATH", help="the alternative catalog (folder or file)"
    )
    whatif.add_argument(
        "--commit",
        action="append",
        metavar="PROCEDURE=DAYS",
        help="commit PROCEDURE to DAYS (in its time unit); repeatable",
    )
    whatif.add_argument(
        "--cut-percent",
        type=float,
        metavar="N",
        help="cut the --procedures' committed times by N%%",
    )
    whatif.add_argument("--procedures", metavar="P1,P2,...", help="the procedures to cut")
    whatif.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    whatif.add_argument("--top", type=int, default=10, help="rows per group (default 10)")
    whatif.add_argument(
        "--jobs",
        type=_positive,
        default=1,
        metavar="N",
        help="split the dossiers across N processes (default 1: this one); same results",
    )
    add_terminal_switch(whatif, "--progress", "a progress line on stderr", "stderr")
    whatif.set_defaults(func=_cmd_whatif)
