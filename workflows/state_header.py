"""The few fields of a stored ``DossierState`` that a rebuild needs, read without decoding it.

After a rebalance a worker re-indexes every open dossier it owns (``Watcher.rebuild``):
it needs each state's stored watch instant and key (``w``, ``wk``) and, for the open
and overdue gauges, its status, current step and agency, deadline version and alert
marks. Decoding the whole state (its sheet rows, pauses, event ids) for that is most of a
rebuild's time; ``read_header`` takes those fields from the bytes ``to_bytes`` writes:
the top-level fields before the sheet (``"sh"``) and after ``"last"``.

The bytes are JSON, so a ``"`` inside a string is always escaped: ``,"st":"`` can only
be a key. Every nested object (sheet rows, pauses, the outcome) lies between the sheet
and ``last``, so what is read before the one and after the other is top-level, and a
field absent there is a default left out. Anything unexpected — another writer's
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
# between the sheet and ``last``: the header's fields are read before the one and after
# the other, where only top-level keys are. ``_HEAD`` reads from the status to the sheet
# (the instants between are skipped, whatever their keys), ``_TAIL`` from ``last`` to the
# end; both in DossierState's field order, defaults left out (``to_bytes``).
_STR = rb'"([^"\\]*)"'  # a string without escapes (none of the fields read needs one)
_NUM = rb"-?[0-9][0-9.eE+-]*"
_HEAD = re.compile(
    # the instants between are skipped, never the version (a field added after it must
    # make the match fail, not let it skip the version)
    _key("status")
    + _STR
    + rb",(?:(?!"
    + _key("deadline_version")[1:]
    + rb')"[a-z0-9]+":'
    + _NUM
    + rb",)*?"
    rb"(?:" + _key("deadline_version")[1:] + rb"([0-9]+),)?"
    rb"(?:" + _key("current_step")[1:] + _STR + rb",)?"
    rb"(?:" + _key("current_agency")[1:] + _STR + rb",)?" + _key("sheet")[1:] + rb"\["
)
_TAIL = re.compile(
    _key("last_event_at")
    + _NUM
    + rb"(?:"
    + _key("alerted")
    + rb'\[((?:"[^"\\]*")(?:,"[^"\\]*")*)?\])?'
    + rb"(?:"
    + _key("watch_at")
    + rb"("
    + _NUM
    + rb"))?"
    + rb"(?:"
    + _key("watch_key")
    + _STR
    + rb")?"
    + rb"(?:"
    + _key("lookup_hash")
    + rb'"(?:[^"\\]|\\.)*")?\}\Z'
)
_STATUS_KEY = _key("status")
_SHEET = _key("sheet") + b"["
_LAST = _key("last_event_at")

# The stored instant converted exactly as the full decode converts it (epoch seconds).
_INSTANT: TypeAdapter[datetime] = TypeAdapter(
    AwareDatetime, config=ConfigDict(val_temporal_unit="seconds")
)
_STATUS = {s.value.encode(): s for s in Status}


def read_header(raw: bytes) -> StateHeader | None:
    """The header fields of ``raw`` (``DossierState.to_bytes``), or None: decode it whole."""
    sheet = raw.find(_SHEET)
    head = _HEAD.match(raw, raw.find(_STATUS_KEY, 0, sheet)) if sheet > 0 else None
    last = raw.rfind(_LAST)
    tail = _TAIL.match(raw, last) if head is not None and last > sheet else None
    if tail is None or head is None or head.end() != sheet + len(_SHEET) or raw[:2] != b'{"':
        return None
    status, version, step, agency = head.groups()
    alerted, watch_at, key = tail.groups()
    found = _STATUS.get(status)
    if found is None:
        return None
    return StateHeader(
        status=found,
        deadline_version=int(version) if version is not None else 0,
        current_step=step.decode() if step is not None else None,
        current_agency=agency.decode() if agency is not None else None,
        alerted=tuple(m.decode() for m in alerted[1:-1].split(b'","')) if alerted else (),
        watch_at=_INSTANT.validate_json(watch_at) if watch_at is not None else None,
        watch_key=key.decode() if key is not None else None,
    )
