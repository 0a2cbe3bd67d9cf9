"""Who may read a dossier through the status API, and what a citizen with the receipt sees.

Pure: the shell (agents/runtime/web.py) authenticates, loads the state and calls these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal, get_args

from workflows.calendar import VN_TZ
from workflows.catalog import Catalog
from workflows.state import DossierState

__all__ = [
    "ROLES",
    "Principal",
    "Role",
    "involved_agencies",
    "lookup_digest",
    "lookup_matches",
    "may_read",
    "public_view",
]

Role = Literal["agency", "supervisor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)

#: Domain tag of the lookup hash: a digest made for this purpose matches nothing else.
_LOOKUP_TAG = b"dossierflow/lookup-code/v1"
#: 16 of SHA-256's 32 bytes: 128 bits cannot collide by chance, and every open dossier's
#: state pays for the stored digest (22 characters instead of 43).
_LOOKUP_BYTES = 16


@dataclass(frozen=True)
class Principal:
    """A holder of a status-API token: an agency's desk or officers, a supervisor, an admin.

    ``agencies`` are catalog agency codes; an admin needs none.
    """

    name: str
    role: Role
    agencies: frozenset[str] = frozenset()


def lookup_digest(dossier_id: str, code: str) -> str:
    """What the state keeps of a receipt's lookup code: a salted SHA-256, never the code.

    The dossier id salts it, so equal codes on two dossiers store different digests and
    one table of precomputed codes serves for one dossier only.
    """
    message = b"\0".join((_LOOKUP_TAG, dossier_id.encode("utf-8"), code.encode("utf-8")))
    digest = hashlib.sha256(message).digest()[:_LOOKUP_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def lookup_matches(state: DossierState, code: str) -> bool:
    """Whether ``code`` is the lookup code of ``state``'s receipt (constant-time compare)."""
    if state.lookup_hash is None:
        return False
    given = lookup_digest(state.dossier_id, code)
    return hmac.compare_digest(given.encode("ascii"), state.lookup_hash.encode("ascii"))


def involved_agencies(state: DossierState) -> frozenset[str]:
    """The agencies that received or held the dossier: the receiving desk (the first row's
    agency, and the delegate desk that sent the receipt), every row's agency, the holder."""
    found = {row.agency for row in state.sheet}
    if state.sheet and state.sheet[0].from_agency is not None:
        found.add(state.sheet[0].from_agency)
    if state.current_agency is not None:
        found.add(state.current_agency)
    return frozenset(found)


def may_read(principal: Principal, state: DossierState, catalog: Catalog) -> bool:
    """The status API's rule: an agency principal reads the dossiers one of its agencies
    received or held; a supervisor, those of any agency whose escalation path (the agency,
    its escalation list, its parents: the route alerts take) holds one of its agencies;
    an admin, all."""
    if principal.role == "admin":
        return True
    involved = involved_agencies(state)
    if principal.role == "agency":
        return not principal.agencies.isdisjoint(involved)
    known = catalog.agencies
    for code in involved:
        if code in known and not principal.agencies.isdisjoint(catalog.escalation_path(code)):
            return True
    return False


def public_view(state: DossierState, catalog: Catalog) -> dict[str, object]:
    """What the receipt's holder sees: where the dossier is and when it is due; no sheet,
    no officers, no applicant."""
    received_on = state.received_at.astimezone(VN_TZ).date()
    proc = catalog.procedure(state.procedure, at=received_on)
    step: dict[str, object] | None = None
    if state.current_step is not None:
        name = None
        if proc is not None and any(s.id == state.current_step for s in proc.steps):
            name = proc.step(state.current_step).name
        step = {"id": state.current_step, "name": name}
    agency: dict[str, object] | None = None
    if state.current_agency is not None and not state.status.closed:
        known = catalog.agencies.get(state.current_agency)
        agency = {"code": state.current_agency, "name": known.name if known else None}
    outcome: dict[str, object] | None = None
    if state.outcome is not None:
        outcome = {
            "decision": state.outcome.decision,
            "finished_on": state.outcome.finished_at.astimezone(VN_TZ).date().isoformat(),
        }
    return {
        "dossier_id": state.dossier_id,
        "procedure": state.procedure,
        "procedure_name": proc.name_vi if proc is not None else None,
        "status": state.status.value,
        "received_on": received_on.isoformat(),
        "appointment": state.committed_due_at.astimezone(VN_TZ).isoformat(),
        "rescheduled": state.rescheduled,
        "current_step": step,
        "agency": agency,
        "outcome": outcome,
        "closed_on": (
            state.closed_at.astimezone(VN_TZ).date().isoformat() if state.closed_at else None
        ),
    }
