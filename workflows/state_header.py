"""The few fields of a stored ``DossierState`` that a rebuild needs, read without decoding it.

After a rebalance a worker re-indexes every open dossier it owns (``Watcher.rebuild``):
it needs each state's stored watch instant and key (``w``, ``wk``) and, for the open
and overdue gauges, its status, current step and agency, deadline version and alert
marks. Decoding the whole state (its sheet rows, pauses, event ids) for that is most of a
rebuild's time; ``read_header`` takes those fields from the bytes ``to_bytes`` writes:
the top-level fields before the sheet (``"sh"``) and after ``"last"``.

The bytes are JSON, so a ``"`` inside a string is always escaped: the patterns below can
only match top-level keys (no nested object of the state has a key ``sh``, ``last``,
``al``, ``w``, ``wk`` or ``lk``). Anything else — a state written before a field was
added, another writer's formatting, a string with an escape in a field read here — gives
``None``, and the caller decodes the whole state: a stored state is never misread, at
worst read slowly (tests/unit/test_state_header.py holds the fast path to the full
decode over whole simulated lifecycles, and checks that it is taken).
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
    return alias.encode()


def _alias(name: str) -> bytes:
    return re.escape(_key(name))


_STR = rb'"[^"\\]*"'  # a JSON string without escapes (a field read here never needs one)
_ANY_STR = rb'"(?:[^"\\]|\\.)*"'
_NUM = rb"-?[0-9][0-9.eE+-]*"


def _field(name: str, value: bytes, optional: bool = True, group: bool = True) -> bytes:
    part = b',"' + _alias(name) + b'":' + (b"(" + value + b")" if group else value)
    return b"(?:" + part + b")?" if optional else part


# The fields before the sheet, in DossierState's order (to_bytes leaves defaults out).
_HEAD = re.compile(
    b'\\{"'
    + _alias("dossier_id")
    + b'":'
    + _ANY_STR
    + _field("procedure", _ANY_STR, False, False)
    + _field("procedure_version", _ANY_STR, False, False)
    + _field("sector", _ANY_STR, False, False)
    + _field("channel", _ANY_STR, False, False)
    + _field("status", _STR, False)
    + _field("received_at", _NUM, False, False)
    + _field("start_at", _NUM, False, False)
    + _field("committed_due_at", _NUM, False, False)
    + _field("statutory_due_at", _NUM, False, False)
    + _field("original_due_at", _NUM, False, False)
    + _field("rescheduled_at", _NUM, True, False)
    + _field("deadline_version", rb"[0-9]+")
    + _field("current_step", _STR)
    + _field("current_agency", _STR)
    + b',"'
    + _alias("sheet")
    + b'":\\['
)
# The fields from ``last`` to the end.
_TAIL = re.compile(
    _field("last_event_at", _NUM, False, False)
    + _field("alerted", rb"\[(?:" + _STR + rb"(?:," + _STR + rb")*)?\]")
    + _field("watch_at", _NUM)
    + _field("watch_key", _STR)
    + _field("lookup_hash", _ANY_STR, True, False)
    + rb"\}\Z"
)
_LAST = b',"' + _key("last_event_at") + b'":'

# The stored instant converted exactly as the full decode converts it (epoch seconds).
_INSTANT: TypeAdapter[datetime] = TypeAdapter(
    AwareDatetime, config=ConfigDict(val_temporal_unit="seconds")
)
_STATUS = {s.value: s for s in Status}


def read_header(raw: bytes) -> StateHeader | None:
    """The header fields of ``raw`` (``DossierState.to_bytes``), or None: decode it whole."""
    head = _HEAD.match(raw)
    if head is None:
        return None
    last = raw.rfind(_LAST)
    tail = _TAIL.match(raw, last) if last > 0 else None
    if tail is None:
        return None
    status, version, step, agency = head.groups()
    alerted, watch_at, key = tail.groups()
    found = _STATUS.get(status[1:-1].decode())
    if found is None:
        return None
    return StateHeader(
        status=found,
        deadline_version=int(version) if version is not None else 0,
        current_step=step[1:-1].decode() if step is not None else None,
        current_agency=agency[1:-1].decode() if agency is not None else None,
        alerted=_strings(alerted) if alerted is not None else (),
        watch_at=_INSTANT.validate_json(watch_at) if watch_at is not None else None,
        watch_key=key[1:-1].decode() if key is not None else None,
    )


def _strings(array: bytes) -> tuple[str, ...]:
    """``["a","b"]`` (strings without escapes) as ``("a", "b")``."""
    inner = array[1:-1]
    return tuple(s.decode() for s in inner[1:-1].split(b'","')) if inner else ()
