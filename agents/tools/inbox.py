"""What an agency reads: the assignments routed to its inbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer

from agents.tools.kafka_read import values
from agents.tools.printable import printable
from events import Assignment, ContractError, decode
from workflows.calendar import VN_TZ


def current_assignments(records: Iterable[bytes], agency: str) -> list[Assignment]:
    """The dossiers sitting at ``agency`` now: each dossier's latest assignment, if it is there.

    Newest due first. Re-sent duplicates (same ``assignment_id``) count once.
    """
    latest: dict[str, Assignment] = {}
    for raw in records:
        try:
            record = decode(Assignment, raw)
        except ContractError:
            continue  # not an assignment (or a newer schema): not for this view
        latest[record.dossier_id] = record
    mine = [a for a in latest.values() if a.agency == agency]
    return sorted(mine, key=lambda a: (a.step_due_at, a.dossier_id), reverse=True)


def render(a: Assignment) -> str:
    def local(t: datetime) -> str:
        return t.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")

    origin = f" from {a.from_agency}" if a.from_agency else ""
    flag = "  [off-route]" if a.off_route else ""
    return printable(
        f"due {local(a.step_due_at)}  {a.dossier_id}  {a.procedure}  step {a.step}{origin}"
        f"  (dossier due {local(a.dossier_due_at)}){flag}"
    )


def follow(
    bootstrap: list[str],
    topic: str,
    agency: str,
    group: str,
    stop: Callable[[], bool],
    **security: Any,
) -> Iterator[Assignment]:
    """New assignments for ``agency`` as they arrive; the group remembers where it stopped."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="latest",
        enable_auto_commit=True,
        **security,
    )
    seen: set[str] = set()
    try:
        for raw in values(consumer, stop):
            try:
                a = decode(Assignment, raw or b"")
            except ContractError:
                continue
            if a.agency == agency and a.assignment_id not in seen:
                seen.add(a.assignment_id)
                yield a
    finally:
        consumer.close()
