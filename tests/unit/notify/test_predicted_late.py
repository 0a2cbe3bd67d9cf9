"""A predicted_late alert reaches the supervisors a dossier due soon reaches, and its
message says what was predicted (probability, likely finish, bottleneck step)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import events as ev
from agents.notify.messages import email_body, subject
from agents.notify.recipients import resolve
from agents.notify.registry import CHANNELS
from workflows.catalog import load_catalog

from support.outbound import make_alert

VN = timezone(timedelta(hours=7))


def predicted() -> ev.Alert:
    due = datetime(2026, 6, 4, 8, 0, tzinfo=VN)
    alert = make_alert(
        due=due,
        detected=datetime(2026, 6, 1, 10, 0, tzinfo=VN),
        scope=ev.AlertScope.DOSSIER,
        level=ev.AlertLevel.PREDICTED_LATE,
        step="review",
        agency="STC",
    )
    return alert.model_copy(
        update={
            "probability_late": 0.85,
            "predicted_finish_at": datetime(2026, 6, 5, 16, 0, tzinfo=VN),
            "bottleneck_agency": "STC",
        }
    )


def test_told_like_a_dossier_due_soon() -> None:
    catalog = load_catalog()
    alert = predicted()
    got = resolve(alert, catalog, CHANNELS, CHANNELS)
    due_soon = alert.model_copy(update={"level": ev.AlertLevel.DUE_SOON})
    want = resolve(due_soon, catalog, CHANNELS, CHANNELS)
    assert got.targets and got.targets == want.targets
    assert {t.recipient.role for t in got.targets} == {"department_head"}


def test_the_message_says_what_was_predicted() -> None:
    alert = predicted()
    assert subject(alert).startswith("[DỰ BÁO TRỄ HẠN] Hồ sơ ")
    body = email_body(alert, ev.Recipient(name="Hoàng Văn Nam", role="department_head"))
    assert "có khả năng trễ hạn" in body and "will probably be late at step review" in body
    assert re.search(r"^Bước dự kiến chậm:\s+review$", body, re.MULTILINE)
    assert "85%" in body and "05/06/2026 16:00" in body
