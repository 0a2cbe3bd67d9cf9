"""``dossierflow audit [--dossier ID] [--principal NAME]``: who read which dossier.

Every text field came from a reader's request (a URL, a header, an address), so each is
printed with unprintable characters escaped: a crafted id cannot drive the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from agents.tools.kafka_read import decoded
from agents.tools.printable import printable
from events import DossierRead
from workflows.calendar import VN_TZ

__all__ = ["parse_reads", "render", "select", "shown"]


def shown(text: str | None) -> str:
    """``text`` escaped where it is not printable (agents/tools/printable.py); ``-`` for None."""
    return "-" if text is None else printable(text)


def parse_reads(records: Iterable[bytes | None]) -> Iterator[DossierRead]:
    """The read records among ``records``; anything else (a newer schema, garbage) skipped."""
    return decoded(DossierRead, records)


def select(
    reads: Iterable[DossierRead], dossier: str | None = None, principal: str | None = None
) -> list[DossierRead]:
    """The reads of ``dossier`` and/or by ``principal``, oldest first."""
    chosen = [
        r
        for r in reads
        if (dossier is None or r.dossier_id == dossier)
        and (principal is None or r.principal == principal)
    ]
    return sorted(chosen, key=lambda r: (r.at, r.read_id))


def render(read: DossierRead) -> str:
    """One line: when, outcome and status, who, which dossier, which view, from where."""
    at = read.at.astimezone(VN_TZ).isoformat(timespec="seconds")
    who = shown(read.principal) + (f" ({read.role})" if read.role else "")
    where = shown(read.remote)
    if read.forwarded_for:
        where += f" for {shown(read.forwarded_for)}"
    detail = f"  [{shown(read.detail)}]" if read.detail else ""
    return (
        f"{at}  {read.outcome.value:<7} {read.status}  {who}  {shown(read.dossier_id)}  "
        f"{read.view.value} {shown(read.path)}  from {where} via {shown(read.worker)}"
        f"{detail}"
    )
