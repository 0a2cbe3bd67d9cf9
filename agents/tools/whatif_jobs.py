"""``dossierflow whatif --jobs N``: the replays split by dossier across N processes.

A dossier's events only ever touch its own state, so the dossiers can be folded apart:
share ``i`` of ``N`` holds every dossier whose id's CRC-32 is ``i`` modulo ``N``, with its
events in their recorded order (the parked-before-receipt rule of ``replay`` is per dossier,
so it holds too). Each worker replays its share under every context and sends the states
back; the merge keeps the shares in order, so the result is the same whatever the
machine, and each state is the one a one-process replay gives (``compare`` and the
benchmark's digest go by dossier id, not by the order the dossiers came in).

The workers are forked: they inherit the events, the catalogs and the calendars from this
process instead of receiving them pickled, and the cyclic collector's state with them.
"""

from __future__ import annotations

import multiprocessing
import zlib
from collections.abc import Sequence

from workflows.replay import Sent, replay
from workflows.routing import RoutingContext
from workflows.state import DossierState

__all__ = ["replay_in_processes", "share_of"]

# What the forked workers read: set just before the pool starts, cleared after.
_work: tuple[Sequence[Sent], Sequence[RoutingContext], int] | None = None


def share_of(dossier_id: str, jobs: int) -> int:
    """The share (0 .. jobs-1) a dossier's events go to: stable across runs and machines."""
    return zlib.crc32(dossier_id.encode("utf-8")) % jobs


def _replay_share(index: int) -> list[dict[str, DossierState]]:
    assert _work is not None, "a whatif worker runs only in a forked pool"
    sent, contexts, jobs = _work
    mine = [item for item in sent if share_of(item[0].dossier_id, jobs) == index]
    return [replay(iter(mine), ctx) for ctx in contexts]


def replay_in_processes(
    sent: Sequence[Sent], contexts: Sequence[RoutingContext], jobs: int
) -> list[dict[str, DossierState]]:
    """``[replay(sent, ctx) for ctx in contexts]``, computed by ``jobs`` forked processes.

    ``jobs == 1`` replays here, in this process, as ``whatif`` without ``--jobs`` does.
    """
    if jobs < 1:
        raise ValueError(f"jobs={jobs}: at least one")
    if jobs == 1:
        return [replay(iter(sent), ctx) for ctx in contexts]
    global _work
    _work = (sent, contexts, jobs)
    try:
        pool = multiprocessing.get_context("fork").Pool(jobs)
        try:
            shares = pool.map(_replay_share, range(jobs), chunksize=1)
        finally:
            pool.close()
            pool.join()
    finally:
        _work = None
    merged: list[dict[str, DossierState]] = [{} for _ in contexts]
    for share in shares:
        for into, states in zip(merged, share, strict=True):
            into.update(states)
    return merged
