"""The status API's principals: bearer tokens kept as SHA-256 hashes in one JSON file.

``dossierflow tokens new`` issues a token (printed once, only its hash stored); the worker
loads the file at start and again whenever it changes, so a revocation needs no restart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from workflows.reads import ROLES, Principal, Role

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: A prefix that says what a leaked string is (and lets secret scanners find one).
TOKEN_PREFIX = "dft_"
#: Longer Authorization values are refused before hashing: no work for junk.
MAX_TOKEN_CHARS = 256
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: The file is looked at (one stat) at most this often, in seconds.
RELOAD_CHECK_S = 1.0


class ApiCredentialsError(ValueError):
    """The API credentials file cannot be used: says which file, which entry, what to do."""


def new_token() -> str:
    """A fresh bearer token: 32 random bytes (256 bits), URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the file keeps of a token: its SHA-256, hex.

    A plain, fast hash is enough (no salt, no bcrypt): the token is 256 random bits, not a
    password a person chose, so no dictionary helps and the hash cannot be inverted by
    trying tokens; and a fast hash lets every request be checked with one dict lookup.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when absent or junk."""
    if not authorization or len(authorization) > MAX_TOKEN_CHARS + 16:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return token


def _principal(path: Path, name: object, entry: object) -> tuple[str, Principal]:
    where = f"{path}: principal {name!r}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise ApiCredentialsError(
            f"{where}: a name is 1-64 letters, digits, '.', '_', '@' or '-'; rename it"
        )
    if not isinstance(entry, dict):
        raise ApiCredentialsError(f"{where}: expected an object with role, agencies, sha256")
    unknown = set(entry) - {"role", "agencies", "sha256"}
    if unknown:
        raise ApiCredentialsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    role = entry.get("role")
    if role not in ROLES:
        raise ApiCredentialsError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    agencies = entry.get("agencies", [])
    if not isinstance(agencies, list) or not all(isinstance(a, str) and a for a in agencies):
        raise ApiCredentialsError(f"{where}: agencies must be a list of agency codes")
    if role != "admin" and not agencies:
        raise ApiCredentialsError(f"{where}: role {role} needs at least one agency (--agency)")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise ApiCredentialsError(
            f"{where}: sha256 must be 64 lowercase hex digits (issue tokens with "
            "`dossierflow tokens new`; never put a token itself in the file)"
        )
    principal = Principal(name=name, role=cast(Role, role), agencies=frozenset(agencies))
    return digest, principal


def read_entries(path: Path) -> dict[str, Any]:
    """The file's ``principals`` object as stored (name → entry); {} when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ApiCredentialsError(f"{path}: cannot read the API credentials file: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiCredentialsError(
            f"{path}: line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})"
        ) from exc
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ApiCredentialsError(
            f"{path}: not a version-{FORMAT_VERSION} API credentials file "
            '(expected {"version": 1, "principals": {...}})'
        )
    entries = data.get("principals")
    if not isinstance(entries, dict):
        raise ApiCredentialsError(f"{path}: no 'principals' object")
    return entries


def load_principals(path: Path) -> dict[str, Principal]:
    """token hash → principal, every entry checked; raises ``ApiCredentialsError``."""
    by_hash: dict[str, Principal] = {}
    for name, entry in read_entries(path).items():
        digest, principal = _principal(path, name, entry)
        if digest in by_hash:
            raise ApiCredentialsError(
                f"{path}: principals {by_hash[digest].name!r} and {name!r} share a token; "
                "issue each its own"
            )
        by_hash[digest] = principal
    return by_hash


def issue(
    path: Path, name: str, role: str, agencies: Iterable[str], *, replace: bool = False
) -> str:
    """Add (or with ``replace`` rotate) principal ``name`` and return its new token; only the
    token's hash is written. The file is replaced atomically, mode 0600."""
    entries = read_entries(path)
    if name in entries and not replace:
        raise ApiCredentialsError(
            f"{path}: principal {name!r} exists; pass --replace to give it a new token"
        )
    token = new_token()
    entry = {"role": role, "agencies": sorted(set(agencies)), "sha256": token_hash(token)}
    _principal(path, name, entry)  # the same checks as loading, before anything is written
    write_entries(path, {**entries, name: entry})
    return token


def revoke(path: Path, name: str) -> None:
    entries = read_entries(path)
    if name not in entries:
        raise ApiCredentialsError(f"{path}: no principal {name!r}")
    write_entries(path, {k: v for k, v in entries.items() if k != name})


def write_entries(path: Path, entries: Mapping[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps({"version": FORMAT_VERSION, "principals": dict(entries)}, indent=2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class TokenStore:
    """The principals of one credentials file, reloaded when the file changes.

    A file that turns unreadable or invalid while the worker runs logs an error and logs
    nobody in until it is fixed (fail closed); at start it is an error (``open``).
    """

    path: Path
    _by_hash: dict[str, Principal]
    _stamp: tuple[int, int] | None
    _checked: float = 0.0

    @classmethod
    def open(cls, path: Path) -> TokenStore:
        principals = load_principals(path)
        if not path.exists():
            log.warning(
                "no API credentials file at %s: nobody can log in to /dossiers "
                "(issue tokens with `dossierflow tokens new`)",
                path,
            )
        return cls(path, principals, _stamp_of(path), time.monotonic())

    def __len__(self) -> int:
        return len(self._by_hash)

    def principals(self) -> tuple[Principal, ...]:
        return tuple(self._by_hash.values())

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal whose token the header carries; None for none or an unknown one."""
        token = bearer_token(authorization)
        if token is None:
            return None
        self._maybe_reload()
        # A dict lookup by the hash: timing can tell only about hashes, which no caller
        # can aim at without knowing a token already.
        return self._by_hash.get(token_hash(token))

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_S:
            return
        self._checked = now
        stamp = _stamp_of(self.path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._by_hash = load_principals(self.path)
        except ApiCredentialsError as exc:
            self._by_hash = {}
            log.error("API credentials file rejected, nobody can log in until fixed: %s", exc)
            return
        log.info("API credentials reloaded from %s: %d principals", self.path, len(self))


def _stamp_of(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
