"""The status API: ``GET /dossiers/{id}`` for principals with a token, ``GET
/public/dossiers/{id}`` for a citizen with the receipt's lookup code; every answer audited.

Both routes go through ``app.table_route``: a worker that does not own the dossier forwards
the request (with its headers) to the one that does, and only the answering worker decides,
audits and answers. A missing or unknown token is refused (401) before any routing or
lookup, so it says nothing about which ids exist.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import faust

from agents.runtime.api_auth import TokenStore
from agents.runtime.audit import AuditLog, AuditUnavailable
from events import ANONYMOUS, CITIZEN, ReadOutcome, ReadView
from events.topics import CLOSED_TABLE, OPEN_TABLE
from workflows.catalog import Catalog
from workflows.reads import Principal, lookup_digest, lookup_matches, may_read, public_view
from workflows.state import DossierState

#: The header a citizen's lookup code travels in: never the query string, which ends up in
#: access logs, browser histories and proxies.
LOOKUP_HEADER = "X-Lookup-Code"
_LOOKUP_CODE = re.compile(r"^[A-Za-z0-9-]{6,32}$")
#: One body per refusal, the same shape for each: a refusal says its status and no more.
UNAUTHORIZED: Mapping[str, object] = {"error": "unauthorized"}
FORBIDDEN: Mapping[str, object] = {"error": "forbidden"}
NOT_FOUND: Mapping[str, object] = {"error": "not_found"}
UNAVAILABLE: Mapping[str, object] = {"error": "unavailable"}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dossierflow"'}


_Handler = Callable[..., Awaitable[Any]]


class StatusApi:
    """The two dossier views of one worker: authentication, the access rule, the audit."""

    def __init__(
        self,
        tables: Mapping[str, Any],
        catalog: Catalog,
        tokens: TokenStore,
        audit: AuditLog,
    ) -> None:
        self.tables, self.catalog, self.tokens, self.audit = tables, catalog, tokens, audit

    def register(self, app: faust.App) -> None:
        by_owner = app.table_route(table=self.tables[OPEN_TABLE], match_info="dossier_id")
        owner_sheet = cast(_Handler, by_owner(self._sheet))
        owner_public = cast(_Handler, by_owner(self._public))

        @app.page("/dossiers/{dossier_id}")
        async def dossier(view: Any, request: Any, dossier_id: str) -> Any:
            if self.authenticate(request) is None:
                return await self.unauthenticated(view, request, dossier_id, ReadView.SHEET)
            return await owner_sheet(view, request, dossier_id=dossier_id)

        @app.page("/public/dossiers/{dossier_id}")
        async def public(view: Any, request: Any, dossier_id: str) -> Any:
            return await owner_public(view, request, dossier_id=dossier_id)

    def authenticate(self, request: Any) -> Principal | None:
        return self.tokens.authenticate(request.headers.get("Authorization"))

    def state(self, dossier_id: str) -> DossierState | None:
        key = dossier_id.encode("utf-8")
        raw = self.tables[OPEN_TABLE].get(key) or self.tables[CLOSED_TABLE].get(key)
        return None if raw is None else DossierState.from_bytes(raw)

    async def unauthenticated(
        self, view: Any, request: Any, dossier_id: str, kind: ReadView
    ) -> Any:
        has_token = bool(request.headers.get("Authorization"))
        detail = "invalid token" if has_token else "no token"
        return await self._answer(
            view, request, ANONYMOUS, None, dossier_id, kind, ReadOutcome.REFUSED, 401,
            UNAUTHORIZED, detail, CHALLENGE,
        )  # fmt: skip

    async def _sheet(self, view: Any, request: Any, dossier_id: str) -> Any:
        principal = self.authenticate(request)
        if principal is None:  # the file changed between the two workers' looks
            return await self.unauthenticated(view, request, dossier_id, ReadView.SHEET)
        state = self.state(dossier_id)
        body: Mapping[str, object]
        if state is None:
            outcome, status, body = ReadOutcome.UNKNOWN, 404, NOT_FOUND
        elif not may_read(principal, state, self.catalog):
            outcome, status, body = ReadOutcome.REFUSED, 403, FORBIDDEN
        else:
            outcome, status, body = ReadOutcome.ALLOWED, 200, state.public()
        return await self._answer(
            view, request, principal.name, principal.role, dossier_id, ReadView.SHEET,
            outcome, status, body,
        )  # fmt: skip

    async def _public(self, view: Any, request: Any, dossier_id: str) -> Any:
        code = request.headers.get(LOOKUP_HEADER) or ""
        well_formed = _LOOKUP_CODE.match(code) is not None
        state = self.state(dossier_id)
        if state is None:
            # the same hash work as for a known dossier: timing does not tell ids apart
            lookup_digest(dossier_id, code)
            outcome, detail = ReadOutcome.UNKNOWN, None
        elif not well_formed:
            outcome, detail = ReadOutcome.REFUSED, "no or malformed lookup code"
        elif not lookup_matches(state, code):
            outcome, detail = ReadOutcome.REFUSED, "wrong lookup code"
        else:
            outcome, detail = ReadOutcome.ALLOWED, None
        body: Mapping[str, object]
        if state is not None and outcome is ReadOutcome.ALLOWED:
            status, body = 200, public_view(state, self.catalog)
        else:
            # wrong code and unknown id: the same 404, byte for byte
            status, body = 404, NOT_FOUND
        return await self._answer(
            view, request, CITIZEN, None, dossier_id, ReadView.PUBLIC, outcome, status,
            body, detail,
        )  # fmt: skip

    async def _answer(
        self,
        view: Any,
        request: Any,
        who: str,
        role: str | None,
        dossier_id: str,
        kind: ReadView,
        outcome: ReadOutcome,
        status: int,
        body: Mapping[str, object],
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Audit, then answer; 503 (and nothing shown) when the audit write fails."""
        read = self.audit.record(
            request, principal=who, role=role, dossier_id=dossier_id, view=kind,
            outcome=outcome, status=status, detail=detail,
        )  # fmt: skip
        try:
            await self.audit.write(read)
        except AuditUnavailable:
            return view.json(UNAVAILABLE, status=503)
        return view.json(dict(body), status=status, headers=dict(headers or {}))


def require_admin(tokens: TokenStore, view: Any, request: Any) -> Any | None:
    """None when ``request`` carries an admin token; else the 401 or 403 to answer."""
    principal = tokens.authenticate(request.headers.get("Authorization"))
    if principal is None:
        return view.json(UNAUTHORIZED, status=401, headers=dict(CHALLENGE))
    if principal.role != "admin":
        return view.json(FORBIDDEN, status=403)
    return None
