"""Terminal safety: what the CLI prints of data is escaped where it is not printable.

The contract refuses control characters in ids and codes, but a record written before
that rule, a catalog name or a dead letter's excerpt can still carry one, and an escape
sequence reaching a supervisor's terminal can rewrite or fake the lines around it.
"""

from __future__ import annotations

import json
from collections.abc import Callable


def escape(char: str) -> str:
    """``char`` as Python writes it in a literal: ``\\x1b``, ``\\u202e``, ``\\r``."""
    return repr(char)[1:-1] if char not in "'\"" else char


def json_escape(char: str) -> str:
    """``char`` as a JSON string escape (``\\u202e``), for text that is JSON."""
    return json.dumps(char)[1:-1]


def printable(
    text: str, *, keep_newlines: bool = False, escape: Callable[[str], str] = escape
) -> str:
    """``text`` with every unprintable character (control, format such as bidi overrides,
    line and paragraph separators) escaped; newlines kept only with ``keep_newlines``."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable() or (keep_newlines and char == "\n"):
            out.append(char)
        else:
            out.append(escape(char))
    return "".join(out)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 dossier``, ``2 dossiers``, ``1 anomaly``/``2 anomalies`` (give ``plural``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
