"""Stand-ins the demo runs on this machine: the supervisors' webhook receivers, which check
every signature as docs/alerts.md tells receivers to, with the secrets the demo made."""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from agents.demo.output import say
from agents.notify.secrets import DEFAULT_SECRET
from agents.notify.signature import SIGNATURE_HEADER, SignatureRejected, verify
from workflows.catalog import DEFAULT_CATALOG_DIR, Catalog

#: The demo's one key (its receivers are all on this machine): kid -> secret.
DemoKeys = Mapping[str, str]

#: Where the sample catalog's webhooks point (workflows/catalog/data/agencies.yaml).
DEFAULT_WEBHOOK_PORT = 8099

#: A webhook URL's scheme, this machine as its host, and its port.
_LOCAL_URL = re.compile(r"(https?://(?:127\.0\.0\.1|localhost)):\d+(?=/|\"|'|\s|$)")


def catalog_for_stub(source: Path | None, port: int, folder: Path) -> Path:
    """A copy of the catalog (``source``, or the sample) in ``folder`` whose webhooks on this
    machine point at ``port``, where the demo's stub receiver listens; the YAML is copied
    as text, so only the port of those URLs changes."""
    root = DEFAULT_CATALOG_DIR if source is None else source
    if root.is_dir():
        base, files = root, sorted(f for f in root.rglob("*") if f.suffix in (".yaml", ".yml"))
    else:
        base, files = root.parent, [root]
    for file in files:
        target = folder / file.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = file.read_text(encoding="utf-8")
        target.write_text(_LOCAL_URL.sub(rf"\g<1>:{port}", text), encoding="utf-8")
    return folder if root.is_dir() else folder / root.name


def demo_webhook_secrets(folder: Path, catalog: Catalog) -> tuple[Path, DemoKeys]:
    """A fresh key for the run in ``folder/webhook-secrets.yaml`` (0600), under ``default``
    and every secret name the catalog uses: the workers sign with it
    (``DOSSIERFLOW_WEBHOOK_SECRETS_PATH``), the stubs verify with it."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = {"demo-1": secrets.token_hex(32)}
    entries = [{"kid": kid, "secret": secret} for kid, secret in keys.items()]
    names = {DEFAULT_SECRET} | {
        s.webhook_secret for _, s in catalog.webhook_supervisors() if s.webhook_secret
    }
    path = folder / "webhook-secrets.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        yaml.safe_dump({name: entries for name in sorted(names)}, out)
    os.chmod(path, 0o600)
    return path, keys


@contextmanager
def webhook_receivers(catalog: Catalog, keys: DemoKeys) -> Iterator[Counter[str]]:
    """Stand in for the supervisors' webhook receivers the catalog names on this machine.

    The demo's catalog copy (``catalog_for_stub``) points every local webhook at the one
    port ``--webhook-port`` names: answering there lets the notifier deliver instead of
    retrying into a closed port. A port already taken is left alone (those deliveries
    then fail and land on the alerts-failed topic). A request
    whose signature does not verify is answered 401 and not counted (said at the end).
    """
    received: Counter[str] = Counter()
    refused: Counter[str] = Counter()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                verify(body, self.headers.get(SIGNATURE_HEADER), keys)
            except SignatureRejected:
                refused[self.path] += 1
                self.send_response(401)
            else:
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
            say(
                f"  (127.0.0.1:{port} is taken: webhook deliveries there will fail; "
                "--webhook-port, or make demo WEBHOOK_PORT=..., moves the receiver)"
            )
            continue
        threading.Thread(target=server.serve_forever, name=f"webhooks-{port}", daemon=True).start()
        servers.append(server)
        say(f"· supervisors' webhooks received at http://127.0.0.1:{port}/hooks/...")
    try:
        yield received
    finally:
        if refused:
            say(f"  ({sum(refused.values()):,} webhook requests refused: bad signature)")
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
