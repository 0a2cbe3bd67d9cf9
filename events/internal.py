"""Records of internal topics: the deadline watcher's tick to the router (same
partitioning as the events), not part of the public wire contract."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict


class DeadlineTick(BaseModel):
    """Internal command (watcher -> router): look at this dossier's deadlines at ``detected_at``.

    It names no level: the router re-derives what is due from the state it holds,
    so a tick that raced with a pause or a hand-off raises nothing stale.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dossier_id: str
    detected_at: AwareDatetime
