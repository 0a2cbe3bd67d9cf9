"""The options several ``dossierflow`` sub-commands share, declared once."""

from __future__ import annotations

import argparse


def add_follow(parser: argparse.ArgumentParser, what: str) -> None:
    """``--follow``: keep printing new ``what`` (records) as they arrive."""
    parser.add_argument("--follow", action="store_true", help=f"keep printing new {what}")


def add_terminal_switch(parser: argparse.ArgumentParser, flag: str, what: str, stream: str) -> None:
    """``flag`` / ``--no-...``: ``what``, on by default when ``stream`` is a terminal
    (None until the command looks)."""
    parser.add_argument(
        flag,
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"{what} (default: when {stream} is a terminal)",
    )
