"""The administrators' commands: publisher keys, status-API tokens, the access log, topics
and ACLs (``dossierflow keys|tokens|audit|topics|acls``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agents.settings import Settings
from agents.tools.printable import count


def _cmd_keys_new(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime
    from types import MappingProxyType

    from agents.access.signing import public_key_bytes
    from agents.tools.signing import KeyFileError, write_private_key
    from workflows.publishers import PublisherEntry, PublisherKey, render

    key_id = args.key_id or datetime.now(UTC).strftime("%Y-%m-%d")
    try:
        key = write_private_key(Path(args.out))
    except KeyFileError as exc:
        print(f"dossierflow keys new: {exc}", file=sys.stderr)
        return 1
    valid_from = datetime.now(UTC).replace(microsecond=0)
    entry = PublisherKey(key_id, public_key_bytes(key), valid_from)
    publisher = PublisherEntry(
        args.publisher, frozenset(args.agency or ["AGENCY"]), MappingProxyType({key_id: entry})
    )
    print(f"# wrote the private key to {args.out} (mode 0600); keep it on the publisher only.")
    print("# Add this to the publisher registry (DOSSIERFLOW_PUBLISHERS_PATH); for a rotation,")
    print("# add only the key under the publisher's keys and give the old one a retired_at.")
    print(f"# Publish with DOSSIERFLOW_PUBLISHER_ID={args.publisher} ", end="")
    print(f"DOSSIERFLOW_PUBLISHER_KEY_ID={key_id} DOSSIERFLOW_PUBLISHER_KEY_FILE={args.out}")
    print(render([publisher]), end="")
    return 0


def _api_credentials(settings: Settings) -> Path:
    from agents.settings import DEFAULT_API_CREDENTIALS

    return settings.api_credentials_path or DEFAULT_API_CREDENTIALS


def _cmd_tokens_new(args: argparse.Namespace, settings: Settings) -> int:
    from agents.runtime.api_auth import ApiCredentialsError, issue
    from workflows.catalog import CatalogError, load_catalog

    agencies = args.agency or []
    try:
        known = load_catalog(settings.catalog_path).agencies
    except CatalogError as exc:
        print(f"dossierflow tokens new: the catalog does not load: {exc}", file=sys.stderr)
        return 1
    unknown = [a for a in agencies if a not in known]
    if unknown:
        print(
            f"dossierflow tokens new: agency {', '.join(unknown)} is not in the catalog "
            "(DOSSIERFLOW_CATALOG_PATH); give catalog agency codes, e.g. MOTCUA, STC",
            file=sys.stderr,
        )
        return 1
    path = _api_credentials(settings)
    try:
        token = issue(path, args.name, args.role, agencies, replace=args.replace)
    except ApiCredentialsError as exc:
        print(f"dossierflow tokens new: {exc}", file=sys.stderr)
        return 1
    print(f"# {args.name} ({args.role}) added to {path}; only the token's hash is stored.")
    print("# This is the only time the token is shown: hand it over now. Use it as")
    print("#   curl -H 'Authorization: Bearer <token>' http://127.0.0.1:6066/dossiers/<id>")
    print(token)
    return 0


def _cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from agents.runtime.api_auth import ApiCredentialsError, revoke

    path = _api_credentials(settings)
    try:
        revoke(path, args.name)
    except ApiCredentialsError as exc:
        print(f"dossierflow tokens revoke: {exc}", file=sys.stderr)
        return 1
    print(f"revoked {args.name} in {path} (workers see it within a second or two)")
    return 0


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools import audit_view
    from agents.tools.kafka_read import read_all

    login = settings.kafka_security("reader").kafka_python_kwargs()
    records = read_all(settings.bootstrap_servers, settings.topics.audit, must_exist=True, **login)
    reads = audit_view.select(audit_view.parse_reads(records), args.dossier, args.principal)
    for read in reads:
        print(audit_view.render(read))
    print(count(len(reads), "read"), file=sys.stderr)
    return 0


def _cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from agents.runtime.kafka_admin import ensure_topics

    created = ensure_topics(settings)
    print(
        f"created {count(len(created), 'topic')}" + (f": {', '.join(created)}" if created else "")
    )
    return 0


def _cmd_acls(args: argparse.Namespace, settings: Settings) -> int:
    from agents.access.provision import grant

    bindings = grant(settings)
    for binding in bindings:
        print(binding)
    print(f"{count(len(bindings), 'ACL binding')} in place for prefix {settings.topic_prefix!r}")
    return 0


def add_admin_commands(sub: Any) -> None:
    """Add the administrators' subcommands to ``sub`` (the CLI's subparsers)."""
    keys = sub.add_parser("keys", help="publisher signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    new_key = keys_sub.add_parser(
        "new", help="write a new Ed25519 private key (0600) and print its registry entry"
    )
    new_key.add_argument("--publisher", required=True, help="the publisher id, e.g. lao-cai-igate")
    new_key.add_argument("--out", required=True, help="private key file to create (PEM)")
    new_key.add_argument("--key-id", help="the key's id (default: today's date)")
    new_key.add_argument(
        "--agency", action="append", help="an agency it may speak for (repeat the option)"
    )
    new_key.set_defaults(func=_cmd_keys_new)

    tokens = sub.add_parser("tokens", help="status-API bearer tokens (hashes in a file)")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    new_token = tokens_sub.add_parser(
        "new", help="issue a principal's token: printed once, only its hash stored"
    )
    new_token.add_argument("--name", required=True, help="the principal, e.g. stc-desk")
    new_token.add_argument("--role", required=True, choices=["agency", "supervisor", "admin"])
    new_token.add_argument(
        "--agency", nargs="+", action="extend", help="its agency code(s), e.g. STC SXD"
    )
    new_token.add_argument(
        "--replace", action="store_true", help="give an existing one a new token"
    )
    new_token.set_defaults(func=_cmd_tokens_new)
    revoke_token = tokens_sub.add_parser("revoke", help="remove a principal's token")
    revoke_token.add_argument("--name", required=True)
    revoke_token.set_defaults(func=_cmd_tokens_revoke)

    audit = sub.add_parser("audit", help="who read which dossier through the status API")
    audit.add_argument("--dossier", help="only the reads of this dossier id")
    audit.add_argument("--principal", help="only the reads by this principal (or citizen)")
    audit.set_defaults(func=_cmd_audit)

    topics = sub.add_parser("topics", help="create the engine's topics if missing")
    topics.set_defaults(func=_cmd_topics)

    acls = sub.add_parser(
        "acls", help="grant the engine, publisher and reader principals their topics (admin)"
    )
    acls.set_defaults(func=_cmd_acls)
