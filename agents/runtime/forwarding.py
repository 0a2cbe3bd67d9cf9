"""faust's table router, telling the owner which address the forwarded request came from.

``app.table_route`` forwards a request (method and headers) to the worker that owns the
key; the owner then sees the forwarding worker as its peer. This router adds the peer the
first worker saw as ``X-Dossierflow-Forwarded-For``, so the audit log keeps it.
"""

from __future__ import annotations

from typing import Any

from faust.app.router import Router
from faust.exceptions import SameNode
from yarl import URL

from agents.runtime.audit import FORWARDED_FOR


class ForwardingRouter(Router):
    """``faust.app.router.Router`` with the original peer in a header (forwards GETs)."""

    async def _route_req(self, dest_url: URL, web: Any, request: Any) -> Any:
        app = self.app
        host, port = self._urlident(dest_url)
        if (host, port) == self._urlident(app.conf.canonical_url):
            raise SameNode()
        # A forwarded-for the client sent itself is dropped, never passed on as the engine's.
        dropped = {"host", FORWARDED_FOR.lower()}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
        headers[FORWARDED_FOR] = str(request.remote or "")
        routed_url = request.url.with_host(host).with_port(int(port))
        async with app.http_client.request(
            method=request.method, headers=headers, url=routed_url
        ) as response:
            return web.text(
                await response.text(),
                content_type=response.content_type,
                status=response.status,
            )
