"""The few fields of a stored ``DossierState`` that a rebuild needs, read without decoding it.

After a rebalance a worker re-indexes every open dossier it owns (``Watcher.rebuild``):
it needs each state's stored watch instant and key (``w``, ``wk``) and, for the open
and overdue gauges, its status, current step and agency, deadline version and alert
marks. Decoding the whole state (its sheet rows, pauses, event ids) for that is most of a
rebuild's time; ``read_header`` takes those fields from the bytes ``to_bytes`` writes:
the top-level fields before the sheet (``"sh"``) and after ``"last"``.

The bytes are JSON, so a ``"`` inside a string is always escaped: ``,"st":"`` can only
be a key. Every nested object (sheet rows, pauses, the outcome) lies between the sheet
and ``last``, so a key found before the one or after the other is a top-level key, and a
key absent there is a default left out. Anything unexpected — another writer's
formatting, a string with an escape in a field read here, a value of another type —
gives ``None``, and the caller decodes the whole state: a stored state is never misread,
at worst read slowly (tests/unit/test_state_header.py holds the header to the full
decode over whole simulated lifecycles, and checks that the fast path is taken).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, ConfigDict, TypeAdapter

from workflows.state import DossierState, Status

__all__ = ["StateHeader", "read_header"]


@dataclass(frozen=True, slots=True)
class StateHeader:
    """What the deadline index and the open gauges read of a state (same names)."""

    status: Status
    deadline_version: int
    current_step: str | None
    current_agency: str | None
    alerted: tuple[str, ...]
    watch_at: datetime | None
    watch_key: str | None


def _key(name: str) -> bytes:
    alias = DossierState.model_fields[name].alias
    assert alias is not None, name
    return b',"' + alias.encode() + b'":'


# Every nested object of a state (sheet rows, pauses, the outcome) and the event ids lie
# between the sheet and ``last``: the header's fields are looked for before the one and
# after the other, where only top-level keys are.
_SHEET = _key("sheet") + b"["
_LAST = _key("last_event_at")
_STATUS_KEY = _key("status") + b'"'
_HEAD = tuple(_key(n) for n in ("deadline_version", "current_step", "current_agency"))
_ALERTED, _WATCH_AT, _WATCH_KEY = (_key(n) for n in ("alerted", "watch_at", "watch_key"))
_STRINGS = re.compile(rb'(?:"[^"\\]*"(?:,"[^"\\]*")*)?')
_DIGITS = re.compile(rb"[0-9]+")

# The stored instant converted exactly as the full decode converts it (epoch seconds).
_INSTANT: TypeAdapter[datetime] = TypeAdapter(
    AwareDatetime, config=ConfigDict(val_temporal_unit="seconds")
)
_STATUS = {s.value.encode(): s for s in Status}


class _Unreadable(ValueError):
    pass


def read_header(raw: bytes) -> StateHeader | None:
    """The header fields of ``raw`` (``DossierState.to_bytes``), or None: decode it whole."""
    sheet = raw.find(_SHEET)
    last = raw.rfind(_LAST)
    if sheet < 0 or last < sheet or raw[-1:] != b"}" or not raw.startswith(b'{"'):
        return None
    try:
        st = raw.find(_STATUS_KEY, 0, sheet)
        status = _STATUS.get(_string(raw, st + len(_STATUS_KEY), sheet)) if st >= 0 else None
        if status is None:
            return None
        dv, cs, ca = (raw.find(k, 0, sheet) for k in _HEAD)
        version = _value(raw, dv + len(_HEAD[0]), sheet) if dv >= 0 else b"0"
        if not _DIGITS.fullmatch(version):
            return None
        al, w, wk = raw.find(_ALERTED, last), raw.find(_WATCH_AT, last), raw.find(_WATCH_KEY, last)
        alerted: tuple[str, ...] = ()
        if al >= 0:
            start = al + len(_ALERTED) + 1
            end = raw.find(b"]", start)
            if raw[start - 1 : start] != b"[" or end < 0 or not _STRINGS.fullmatch(raw, start, end):
                return None
            alerted = (
                tuple(m.decode() for m in raw[start + 1 : end - 1].split(b'","'))
                if end > start
                else ()
            )
        at = _value(raw, w + len(_WATCH_AT), len(raw)) if w >= 0 else b"null"
        return StateHeader(
            status=status,
            deadline_version=int(version),
            current_step=_text(raw, cs + len(_HEAD[1]), sheet) if cs >= 0 else None,
            current_agency=_text(raw, ca + len(_HEAD[2]), sheet) if ca >= 0 else None,
            alerted=alerted,
            watch_at=None if at == b"null" else _INSTANT.validate_json(at),
            watch_key=_text(raw, wk + len(_WATCH_KEY), len(raw)) if wk >= 0 else None,
        )
    except (_Unreadable, ValueError):
        return None


def _value(raw: bytes, start: int, end: int) -> bytes:
    """The scalar that starts at ``start``: up to the next ``,`` or ``}``."""
    comma, brace = raw.find(b",", start, end), raw.find(b"}", start, end)
    stop = min(i for i in (comma, brace, end) if i >= 0)
    return raw[start:stop]


def _string(raw: bytes, start: int, end: int) -> bytes:
    """The JSON string (without escapes) whose opening quote is at ``start - 1``."""
    stop = raw.find(b'"', start, end)
    if stop < 0 or raw.find(b"\\", start, stop) >= 0:
        raise _Unreadable(raw[start:end])
    return raw[start:stop]


def _text(raw: bytes, start: int, end: int) -> str | None:
    """A string value starting at ``start`` (its opening quote), or None for ``null``."""
    if raw.startswith(b"null", start):
        return None
    if raw[start : start + 1] != b'"':
        raise _Unreadable(raw[start:end])
    return _string(raw, start + 1, end).decode()
