"""Stand-ins the demo runs on this machine: the supervisors' webhook receivers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from agents.demo.output import say
from workflows.catalog import Catalog


@contextmanager
def webhook_receivers(catalog: Catalog) -> Iterator[Counter[str]]:
    """Stand in for the supervisors' webhook receivers the catalog names on this machine.

    The sample catalog points every webhook at 127.0.0.1:8099: answering there lets the
    notifier deliver instead of retrying into a closed port. A port already taken is
    left alone (those deliveries then fail and land on the alerts-failed topic).
    """
    received: Counter[str] = Counter()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received[self.path] += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    servers = []
    for port in sorted(_local_webhook_ports(catalog)):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
        except OSError:
            say(f"  (127.0.0.1:{port} is taken: webhook deliveries there will fail)")
            continue
        threading.Thread(target=server.serve_forever, name=f"webhooks-{port}", daemon=True).start()
        servers.append(server)
        say(f"· supervisors' webhooks received at http://127.0.0.1:{port}/hooks/...")
    try:
        yield received
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _local_webhook_ports(catalog: Catalog) -> set[int]:
    ports = set()
    for agency in catalog.agencies.values():
        for supervisor in agency.supervisors:
            if supervisor.webhook is None:
                continue
            url = urlsplit(supervisor.webhook)
            if url.hostname in ("127.0.0.1", "localhost") and url.port is not None:
                ports.add(url.port)
    return ports
