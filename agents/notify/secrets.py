"""Webhook signing secrets: read from the secrets file (or the same JSON in the
environment), one or two keys per name, and the start-up check that every webhook the
catalog names has one.

The file (JSON or YAML, mode 0600) maps a secret name -- what a catalog supervisor's
``webhook_secret`` names, ``default`` for those that name none -- to its keys::

    default:
      - {kid: "2026-11", secret: "…at least 16 characters…"}
    so-tnmt-hooks:            # two keys while rotating: requests carry both signatures
      - {kid: "2026-12", secret: "…"}
      - {kid: "2026-11", secret: "…"}
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from agents.settings import Settings
from workflows.catalog import Catalog

log = logging.getLogger(__name__)

#: The secret of supervisors whose catalog entry names none.
DEFAULT_SECRET = "default"
MIN_SECRET_CHARS = 16
MAX_KEYS = 2
_KID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class WebhookSecretsError(ValueError):
    """The webhook secrets cannot be used; the message is one line saying what to do."""


class NotifierRefused(SystemExit):
    """The worker must not start: raised while the app is built, it ends the process with
    its one-line message on stderr and status 1 (a ``SystemExit``: nothing to catch)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class WebhookKeys:
    """Secret name -> its keys (one, or two while rotating), in signing order."""

    by_name: Mapping[str, tuple[SigningKey, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def get(self, name: str | None) -> tuple[SigningKey, ...]:
        return self.by_name.get(name or DEFAULT_SECRET, ())

    def __contains__(self, name: object) -> bool:
        return name in self.by_name


def parse_secrets(data: Any, source: str) -> dict[str, tuple[SigningKey, ...]]:
    """The keys in ``data`` (the parsed file); raises ``WebhookSecretsError`` naming the entry."""
    if not isinstance(data, dict):
        raise WebhookSecretsError(
            f"{source}: expected a mapping of secret names to lists of {{kid, secret}}"
        )
    parsed: dict[str, tuple[SigningKey, ...]] = {}
    for name, entries in data.items():
        where = f"{source}: {name!r}"
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_KEYS:
            raise WebhookSecretsError(f"{where}: expected a list of one or two {{kid, secret}}")
        keys = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != {"kid", "secret"}:
                raise WebhookSecretsError(f"{where}[{i}]: expected exactly the keys kid, secret")
            kid, secret = str(entry["kid"]), str(entry["secret"])
            if not kid or len(kid) > 64 or not set(kid) <= _KID_CHARS:
                raise WebhookSecretsError(
                    f"{where}[{i}]: kid {kid!r} must be 1-64 letters, digits, _ or -"
                )
            if len(secret) < MIN_SECRET_CHARS:
                raise WebhookSecretsError(
                    f"{where}[{i}] (kid {kid}): the secret is shorter than {MIN_SECRET_CHARS} "
                    "characters; make one with: python -c 'import secrets; "
                    "print(secrets.token_hex(32))'"
                )
            keys.append(SigningKey(kid, secret))
        if len({k.kid for k in keys}) != len(keys):
            raise WebhookSecretsError(f"{where}: two keys with the kid {keys[0].kid!r}")
        parsed[str(name)] = tuple(keys)
    return parsed


def load_webhook_keys(settings: Settings) -> WebhookKeys:
    """The keys ``settings`` name: the file, or the JSON in ``DOSSIERFLOW_WEBHOOK_SECRETS``
    (not both), plus the deprecated ``DOSSIERFLOW_WEBHOOK_SECRET`` as ``default``."""
    path = settings.webhook_secrets_path
    inline = settings.webhook_secrets.get_secret_value()
    if path is not None and inline:
        raise WebhookSecretsError(
            "both DOSSIERFLOW_WEBHOOK_SECRETS_PATH and DOSSIERFLOW_WEBHOOK_SECRETS are set: "
            "keep one"
        )
    keys: dict[str, tuple[SigningKey, ...]] = {}
    if path is not None:
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WebhookSecretsError(
                f"cannot read the webhook secrets file {path}: {exc.strerror}"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise WebhookSecretsError(
                f"the webhook secrets file {path} is readable by others (mode "
                f"{stat.S_IMODE(mode):04o}); chmod 600 {path}"
            )
        keys = parse_secrets(_load(text, str(path)), str(path))
    elif inline:
        keys = parse_secrets(
            _load(inline, "DOSSIERFLOW_WEBHOOK_SECRETS"), "DOSSIERFLOW_WEBHOOK_SECRETS"
        )
    legacy = settings.webhook_secret.get_secret_value()
    if legacy:
        if DEFAULT_SECRET in keys:
            raise WebhookSecretsError(
                "DOSSIERFLOW_WEBHOOK_SECRET (deprecated) and a 'default' entry in the webhook "
                "secrets are both set: drop DOSSIERFLOW_WEBHOOK_SECRET"
            )
        log.warning(
            "DOSSIERFLOW_WEBHOOK_SECRET is deprecated: it is the secret 'default' with kid "
            "'default'; move it to DOSSIERFLOW_WEBHOOK_SECRETS_PATH"
        )
        keys[DEFAULT_SECRET] = parse_secrets(
            {DEFAULT_SECRET: [{"kid": DEFAULT_SECRET, "secret": legacy}]},
            "DOSSIERFLOW_WEBHOOK_SECRET",
        )[DEFAULT_SECRET]
    return WebhookKeys(MappingProxyType(keys))


def _load(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)  # YAML 1.1 reads JSON too
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise WebhookSecretsError(f"{source}{where}: not valid JSON or YAML") from None


def unsigned_webhooks(catalog: Catalog, keys: WebhookKeys) -> Iterator[str]:
    """One line per catalog supervisor whose webhook has no secret to be signed with."""
    for agency, supervisor in catalog.webhook_supervisors():
        name = supervisor.webhook_secret or DEFAULT_SECRET
        if name not in keys:
            yield (
                f"agency {agency}, supervisor {supervisor.name!r}: no webhook secret {name!r} "
                "in DOSSIERFLOW_WEBHOOK_SECRETS_PATH (or DOSSIERFLOW_WEBHOOK_SECRETS)"
            )


def keys_at_start(catalog: Catalog, settings: Settings) -> WebhookKeys:
    """The keys, once every webhook the catalog names can be signed; ``NotifierRefused``
    otherwise, unless ``DOSSIERFLOW_ALLOW_UNSIGNED_WEBHOOKS`` (then a loud warning)."""
    try:
        keys = load_webhook_keys(settings)
    except WebhookSecretsError as exc:
        raise NotifierRefused(f"dossierflow worker: {exc}") from None
    missing = list(unsigned_webhooks(catalog, keys))
    if missing and settings.allow_unsigned_webhooks:
        log.warning(
            "WEBHOOKS ARE SENT UNSIGNED (DOSSIERFLOW_ALLOW_UNSIGNED_WEBHOOKS=true) to %d "
            "supervisor(s): receivers cannot tell our alerts from forged ones; first: %s",
            len(missing),
            missing[0],
        )
    elif missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise NotifierRefused(
            f"dossierflow worker: refusing to start: {missing[0]}{more}; add it, or set "
            "DOSSIERFLOW_ALLOW_UNSIGNED_WEBHOOKS=true for development only"
        )
    return keys
