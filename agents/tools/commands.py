"""What the ``dossierflow`` sub-commands declare alike: a command and its handler in one
call, and the options several commands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_command(
    sub: Any, name: str, handler: Callable[..., int], **kwargs: Any
) -> argparse.ArgumentParser:
    """The sub-command ``name`` on the subparsers ``sub``, run by ``handler(args, settings)``;
    ``kwargs`` (help, description) go to ``add_parser``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
    parser.set_defaults(func=handler)
    return parser


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
