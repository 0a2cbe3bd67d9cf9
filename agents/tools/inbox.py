"""What an agency reads: the assignments routed to its inbox."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime
from typing import Any

from agents.tools.kafka_read import read_and_follow
from agents.tools.printable import printable
from events import Assignment, ContractError, decode
from workflows.calendar import VN_TZ


def current_assignments(records: Iterable[bytes], agency: str) -> list[Assignment]:
    """The dossiers sitting at ``agency`` now: each dossier's latest assignment, if it is there.

    Newest due first. Re-sent duplicates (same ``assignment_id``) count once.
    """
    latest = {record.dossier_id: record for record in _assignments(records)}
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
    stop: Callable[[], bool],
    **security: Any,
) -> Generator[list[Assignment]]:
    """The inbox of ``agency`` as it is now (``current_assignments``) first, then each
    poll's new assignments for it (each once) until ``stop()``; a ``MissingTopicError``
    when ``topic`` is not there. No group: what is shown first is where following starts."""
    batches = read_and_follow(bootstrap, topic, stop, **security)
    history = [r.value for r in next(batches) if r.value is not None]
    yield current_assignments(history, agency)
    seen = {a.assignment_id for a in _assignments(history)}
    for batch in batches:
        new = [
            a
            for a in _assignments(r.value for r in batch)
            if a.agency == agency and a.assignment_id not in seen
        ]
        seen.update(a.assignment_id for a in new)
        if new:
            yield new


def _assignments(records: Iterable[bytes | None]) -> Iterator[Assignment]:
    for raw in records:
        try:
            yield decode(Assignment, raw or b"")
        except ContractError:
            continue  # not an assignment (or a newer schema): not for this view
