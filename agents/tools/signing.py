"""A publisher's signing key: read it, make a new one, sign records with it.

The wire format is in ``events.signature``; the registry that lists the public halves in
``workflows.publishers``. A private key file is PEM (PKCS#8, what ``dossierflow keys new``
writes) or the base64 of the raw 32-byte Ed25519 seed, and must not be readable by
anyone but its owner (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.access.signing import public_key_bytes, sign
from agents.settings import Settings

__all__ = ["KeyFileError", "Signer", "load_private_key", "signer_from", "write_private_key"]


class KeyFileError(ValueError):
    """A key that cannot be used; the message is one line saying what to do."""


@dataclass(frozen=True)
class Signer:
    """Signs records as ``publisher`` with its key ``key_id``."""

    publisher: str
    key_id: str
    private_key: Ed25519PrivateKey

    def headers(self, key: bytes | None, value: bytes | None) -> list[tuple[str, bytes]]:
        return sign(self.private_key, self.publisher, self.key_id, key, value)

    @property
    def public_key(self) -> bytes:
        return public_key_bytes(self.private_key)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (PEM or base64 raw); refuses a file others can read."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the publisher key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"the publisher key {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            f"chmod 600 {path}"
        )
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyFileError(
            f"{path} is neither PEM nor the base64 of a raw 32-byte Ed25519 private key"
        )
    return Ed25519PrivateKey.from_private_bytes(raw)


def write_private_key(path: Path, key: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    """Write a (new) private key as PEM, created 0600; never overwrites a file."""
    key = key if key is not None else Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; a key file is never overwritten") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


DEMO_PUBLISHER = "demo-province"
DEMO_KEY_ID = "demo-1"


def demo_publisher(folder: Path) -> tuple[Signer, Path]:
    """A publisher key for the demo (made once in ``folder``) and a registry trusting it
    for every agency; returns the signer and the registry file."""
    from datetime import UTC, datetime
    from types import MappingProxyType

    from workflows.publishers import ANY_AGENCY, PublisherEntry, PublisherKey, render

    key_file = folder / "demo-publisher.pem"
    key = load_private_key(key_file) if key_file.exists() else write_private_key(key_file)
    signer = Signer(DEMO_PUBLISHER, DEMO_KEY_ID, key)
    since = datetime(2000, 1, 1, tzinfo=UTC)
    version = PublisherKey(DEMO_KEY_ID, signer.public_key, since)
    entry = PublisherEntry(
        DEMO_PUBLISHER, frozenset({ANY_AGENCY}), MappingProxyType({DEMO_KEY_ID: version})
    )
    registry = folder / "publishers.yaml"
    registry.write_text(render([entry]), encoding="utf-8")
    return signer, registry


def signer_from(settings: Settings) -> Signer | None:
    """The configured signer; None only when signatures are not required and none is set.

    Raises ``KeyFileError`` (one line) when signing is required and not configured."""
    if settings.publisher_key_file is None:
        if settings.require_signatures:
            raise KeyFileError(
                "no publisher key: set DOSSIERFLOW_PUBLISHER_ID, DOSSIERFLOW_PUBLISHER_KEY_ID "
                "and DOSSIERFLOW_PUBLISHER_KEY_FILE (dossierflow keys new makes one)"
            )
        return None
    if not settings.publisher_id or not settings.publisher_key_id:
        raise KeyFileError(
            "DOSSIERFLOW_PUBLISHER_KEY_FILE is set: DOSSIERFLOW_PUBLISHER_ID and "
            "DOSSIERFLOW_PUBLISHER_KEY_ID must be too"
        )
    key = load_private_key(settings.publisher_key_file)
    return Signer(settings.publisher_id, settings.publisher_key_id, key)
