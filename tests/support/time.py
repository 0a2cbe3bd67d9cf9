"""Instants in Vietnam's time zone, the way the tests write them."""

from __future__ import annotations

from datetime import datetime
from typing import overload

from workflows.calendar import VN_TZ


@overload
def vn(local: str, /) -> datetime: ...
@overload
def vn(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, /
) -> datetime: ...
def vn(first: str | int, /, *rest: int) -> datetime:
    """``vn("2026-03-09 09:00")`` or ``vn(2026, 3, 9, 9)``: that wall time in Asia/Ho_Chi_Minh."""
    if isinstance(first, str):
        return datetime.fromisoformat(first).replace(tzinfo=VN_TZ)
    month, day, hour, minute, second = (*rest, 0, 0, 0)[:5]
    return datetime(first, month, day, hour, minute, second, tzinfo=VN_TZ)
