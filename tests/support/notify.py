"""Values the alert delivery tests share: one overdue building-permit alert, its recipient
as the alert names it, the catalog that reaches them, quick settings and a fake sleep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import events as ev
from agents.settings import Settings
from workflows.catalog import Catalog

from support import outbound
from support.webhooks import catalog_of, inline_secrets, supervisor

VN = timezone(timedelta(hours=7))
DOSSIER = "000.00.20.H33-260427-0001"
# Due Monday 04/05/2026 17:30 Hanoi; detected Wednesday 20:45: 2 days 3 h 15 min late.
DUE = datetime(2026, 5, 4, 17, 30, tzinfo=VN)
DETECTED = datetime(2026, 5, 6, 20, 45, tzinfo=VN)
SENT_AT = datetime(2026, 5, 6, 13, 46, tzinfo=UTC)


def make_alert(
    *,
    dossier: str = DOSSIER,
    due: datetime = DUE,
    detected: datetime = DETECTED,
    **fields: Any,
) -> ev.Alert:
    return outbound.make_alert(dossier=dossier, due=due, detected=detected, **fields)


def head() -> ev.Recipient:
    """The recipient as an alert names it: name and role (the catalog has the addresses)."""
    return ev.Recipient(name="Hoàng Văn Nam", role="department_head")


def sxd(*, email: str = "giamdoc.sxd@laocai.example", webhook: str | None = None) -> Catalog:
    """A catalog whose SXD department head (told about step-overdue alerts) is reached there."""
    return catalog_of({"SXD": [supervisor(email=email, webhook=webhook)]})


#: For tests that give the target themselves: nobody to look up.
NOBODY = catalog_of({})


def settings(**overrides: Any) -> Settings:
    # model_construct: no DOSSIERFLOW_* variable of the machine running the tests leaks in.
    values: dict[str, Any] = {
        "webhook_secrets": inline_secrets(),
        "webhook_timeout_seconds": 2.0,
        "webhook_retries": 4,
        "webhook_backoff_seconds": 0.5,
        "smtp_host": "",
        "smtp_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return Settings.model_construct(**values)


class Sleeps:
    """A fake ``asyncio.sleep`` that records the waits and yields to the loop once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)
