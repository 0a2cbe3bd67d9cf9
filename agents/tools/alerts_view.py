"""What a supervisor or operator reads: ``dossierflow alerts [--agency A] [--follow]``.

Pure functions (``parse_alerts``, ``select``, ``render``, ``Dedupe``) are separate from
the Kafka reading (``read_all``, ``follow``), so the formatting is tested without a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from agents.tools import kafka_read
from agents.tools.kafka_read import decoded, partitions, read_all, values
from agents.tools.printable import printable
from events import Alert, AlertLevel
from workflows.calendar import VN_TZ

__all__ = ["Dedupe", "follow", "parse_alerts", "read_all", "render", "select"]

#: Fixed-width level labels, so the columns line up.
LEVEL_LABEL: dict[AlertLevel, str] = {
    AlertLevel.DUE_SOON: "due-soon ",
    AlertLevel.OVERDUE: "overdue  ",
    AlertLevel.STATUTORY_BREACH: "statutory",
    AlertLevel.REMINDER: "reminder ",
    AlertLevel.PREDICTED_LATE: "predicted",
}


def parse_alerts(records: Iterable[bytes | None]) -> Iterator[Alert]:
    """The alerts among ``records``; anything else (a newer schema, garbage) is skipped."""
    return decoded(Alert, records)


class Dedupe:
    """Remembers alert ids: the engine is at-least-once, the same alert may be on the topic twice."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def first_time(self, alert: Alert) -> bool:
        if alert.alert_id in self._seen:
            return False
        self._seen.add(alert.alert_id)
        return True


def select(alerts: Iterable[Alert], agency: str | None = None) -> list[Alert]:
    """Each alert once (by ``alert_id``), of ``agency`` if given, oldest detection first."""
    dedupe = Dedupe()
    chosen = [a for a in alerts if (agency is None or a.agency == agency) and dedupe.first_time(a)]
    return sorted(chosen, key=lambda a: (a.detected_at, a.dossier_id, a.alert_id))


def _local(t: datetime) -> str:
    return t.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")


def render(alert: Alert) -> str:
    """One line: detected (local time), level, scope, dossier, step, agency, due, recipients.

    ``2026-04-29 09:00  overdue    step     000.00.20.H33-260427-0001  step tham-dinh  SXD
    due 2026-04-27 17:30  -> Hoàng Văn Nam (department_head)`` (on one line).
    """
    step = f"step {alert.step}" if alert.step else "-"
    who = ", ".join(f"{r.name} ({r.role})" for r in alert.recipients) or "nobody"
    return printable(
        f"{_local(alert.detected_at)}  {LEVEL_LABEL[alert.level]}  {alert.scope.value:<7}  "
        f"{alert.dossier_id}  {step}  {alert.agency}  due {_local(alert.due_at)}  -> {who}"
    )


def follow(
    bootstrap: list[str],
    topic: str,
    stop: Callable[[], bool],
    *,
    agency: str | None = None,
    from_beginning: bool = False,
    **security: Any,
) -> Iterator[Alert]:
    """Alerts as they arrive (each once, of ``agency`` if given) until ``stop()`` is true.

    A viewer, not a member of any group: it commits nothing and starts at the end of every
    partition (or at the beginning with ``from_beginning``, to print the history first).
    """
    consumer = kafka_read.consumer(bootstrap, **security)
    dedupe = Dedupe()
    try:
        tps = partitions(consumer, topic)
        if not tps:
            raise LookupError(f"topic {topic!r} does not exist (run `dossierflow topics`)")
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        for alert in parse_alerts(values(consumer, stop)):
            if (agency is None or alert.agency == agency) and dedupe.first_time(alert):
                yield alert
    finally:
        consumer.close()
