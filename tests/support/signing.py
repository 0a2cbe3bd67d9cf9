"""The test suite's publisher: one key pair and registry, so every test event is signed.

The key is derived from a fixed seed, so a worker process and the test that publishes
to it agree without passing secrets around; the registry file is written once per
process under the system's temp folder and given to workers by ``worker_env``
(``DOSSIERFLOW_PUBLISHERS_PATH``). The test publisher may speak for any agency
(``"*"``): which agency may do what is the authorization rules' business, tested there.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.access.signing import public_key_bytes
from agents.tools.signing import Signer
from workflows.publishers import ANY_AGENCY, PublisherEntry, PublisherKey, render
from workflows.routing import Sender

PUBLISHER = "test-publisher"
KEY_ID = "test-1"
#: Who the worker says sent the suite's events (its sheets record it): for the oracles.
SENDER = Sender(principal=PUBLISHER)
#: Before any broker timestamp a test sees.
VALID_FROM = datetime(2020, 1, 1, tzinfo=UTC)


def key_for(name: str) -> Ed25519PrivateKey:
    """A deterministic private key per ``name`` (tests only: the seed is public)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


def signer(publisher: str = PUBLISHER, key_id: str = KEY_ID) -> Signer:
    return Signer(publisher, key_id, key_for(f"{publisher}/{key_id}"))


def entry(
    publisher: str = PUBLISHER,
    agencies: Iterable[str] = (ANY_AGENCY,),
    keys: Iterable[tuple[str, datetime, datetime | None]] = ((KEY_ID, VALID_FROM, None),),
) -> PublisherEntry:
    """A registry entry whose keys are ``signer(publisher, key_id)``'s public halves."""
    versions = {
        key_id: PublisherKey(
            key_id, public_key_bytes(signer(publisher, key_id).private_key), start, retired
        )
        for key_id, start, retired in keys
    }
    return PublisherEntry(publisher, frozenset(agencies), MappingProxyType(versions))


def write_registry(path: Path, entries: Iterable[PublisherEntry] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(entries if entries is not None else [entry()]), encoding="utf-8")
    return path


@cache
def registry_path() -> Path:
    """The suite's registry file (the test publisher only), written once per process."""
    folder = Path(tempfile.gettempdir()) / f"dossierflow-test-publishers-{os.getpid()}"
    return write_registry(folder / "publishers.yaml")


@cache
def _key_file() -> Path:
    from agents.tools.signing import write_private_key

    path = registry_path().parent / f"{PUBLISHER}.pem"
    if not path.exists():
        write_private_key(path, signer().private_key)
    return path


def publisher_env() -> dict[str, str]:
    """The environment a ``dossierflow publish`` needs to sign as the test publisher."""
    return {
        "DOSSIERFLOW_PUBLISHER_ID": PUBLISHER,
        "DOSSIERFLOW_PUBLISHER_KEY_ID": KEY_ID,
        "DOSSIERFLOW_PUBLISHER_KEY_FILE": str(_key_file()),
    }
