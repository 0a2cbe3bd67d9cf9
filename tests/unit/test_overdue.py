"""The one overdue rule (``workflows.alerts.is_overdue``) shared by the watcher, the
report and the demo's charts."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.alerts import is_overdue

DUE = datetime(2026, 3, 4, 17, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


@pytest.mark.parametrize(
    ("now", "overdue"),
    [
        (DUE - timedelta(microseconds=1), False),  # a microsecond before the due instant
        (DUE, True),  # at the due instant: a tick at the due raises the overdue alert
        (DUE + timedelta(minutes=1), True),  # after it
    ],
)
def test_overdue_from_the_due_instant_on(now: datetime, overdue: bool) -> None:
    assert is_overdue(DUE, now) is overdue
