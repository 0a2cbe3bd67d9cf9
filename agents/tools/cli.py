"""``dossierflow``: the command line for workers, agencies, supervisors and operators."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.settings import KafkaLoginError, Settings


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from agents.runtime.app import create_app, run_worker
    from agents.runtime.kafka_admin import ensure_topics

    ensure_topics(settings)
    run_worker(create_app(settings), loglevel=args.loglevel)
    return 0


def _cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools.publisher import Publisher
    from agents.tools.signing import KeyFileError, signer_from

    try:
        signer = signer_from(settings)
    except KeyFileError as exc:
        print(f"dossierflow publish: {exc}", file=sys.stderr)
        return 2
    source = sys.stdin.buffer if args.file == "-" else Path(args.file).open("rb")  # noqa: SIM115
    login = settings.kafka_security("publisher").kafka_python_kwargs()
    events = settings.topics.events
    with (
        source,
        Publisher(settings.bootstrap_servers, events, signer=signer, **login) as publisher,
    ):
        report = publisher.publish_lines(source)
    for error in report.errors:
        for line in error.render():
            print(line, file=sys.stderr)
    print(report.summary(settings.topics.events))
    return 0 if report.ok else 1


def _cmd_inbox(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools import inbox
    from agents.tools.kafka_read import read_all

    topic = settings.topics.assignments
    login = settings.kafka_security("reader").kafka_python_kwargs()
    if not args.follow:
        records = read_all(settings.bootstrap_servers, topic, **login)
        rows = inbox.current_assignments(records, args.agency)
        for row in rows:
            print(inbox.render(row))
        print(f"{len(rows)} dossiers at {args.agency}", file=sys.stderr)
        return 0
    group = f"{settings.app_id}-inbox-{args.agency}"
    try:
        for row in inbox.follow(
            settings.bootstrap_servers, topic, args.agency, group, lambda: False, **login
        ):
            print(inbox.render(row), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def _run_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``add_run_arguments`` gave both ``simulate`` and ``demo``."""
    return {
        "days": args.days,
        "first_day": args.start,
        "backlog_days": args.backlog_days,
        "scale": args.scale,
        "seed": args.seed,
        "speed": args.speed,
        "guard_seconds": args.guard_seconds,
    }


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from agents.demo.run import DemoOptions, main_demo

    options = DemoOptions(
        **_run_arguments(args),
        workers=args.workers,
        out_dir=Path(args.out),
        port=args.port if args.port is not None else settings.web_port,
        broker=args.broker,
        live=args.live,
    )
    return main_demo(settings, options)


def _cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from agents.demo.feed import SimulateOptions, main_simulate

    options = SimulateOptions(
        **_run_arguments(args),
        truth=Path(args.truth),
        events_out=Path(args.events_out) if args.events_out else None,
    )
    return main_simulate(settings, options)


def _cmd_catalog_check(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.catalog import CatalogError, load_catalog, summarize

    path = args.path if args.path is not None else settings.catalog_path
    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"catalog check failed: {len(exc.problems)} problems", file=sys.stderr)
        return 1
    for line in summarize(catalog).render():
        print(line)
    return 0


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from agents.clock import clock_from
    from agents.tools.report import build_report, render
    from workflows.catalog import load_catalog

    report = build_report(settings, load_catalog(settings.catalog_path), clock_from(settings).now())
    print(render(report, args.format))
    return 0


def _cmd_anomalies(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools import anomalies_view
    from agents.tools.kafka_read import read_all

    login = settings.kafka_security("reader").kafka_python_kwargs()
    records = read_all(settings.bootstrap_servers, settings.topics.anomalies, **login)
    reports = anomalies_view.select(anomalies_view.parse_anomalies(records), args.dossier)
    for report in reports:
        print(anomalies_view.render(report))
    print(f"{len(reports)} anomalies (applied, flagged)", file=sys.stderr)
    return 0


def _cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools import alerts_view

    topic = settings.topics.alerts
    login = settings.kafka_security("reader").kafka_python_kwargs()
    if not args.follow:
        records = alerts_view.read_all(settings.bootstrap_servers, topic, **login)
        alerts = alerts_view.select(alerts_view.parse_alerts(records), args.agency)
        for alert in alerts:
            print(alerts_view.render(alert))
        print(f"{len(alerts)} alerts", file=sys.stderr)
        return 0
    try:
        for alert in alerts_view.follow(
            settings.bootstrap_servers, topic, lambda: False, agency=args.agency, **login
        ):
            print(alerts_view.render(alert), flush=True)
    except LookupError as exc:
        print(f"dossierflow alerts: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


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
    records = read_all(settings.bootstrap_servers, settings.topics.audit, **login)
    reads = audit_view.select(audit_view.parse_reads(records), args.dossier, args.principal)
    for read in reads:
        print(audit_view.render(read))
    print(f"{len(reads)} reads", file=sys.stderr)
    return 0


def _cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from agents.runtime.kafka_admin import ensure_topics

    created = ensure_topics(settings)
    print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))
    return 0


def _cmd_acls(args: argparse.Namespace, settings: Settings) -> int:
    from agents.access.provision import grant

    bindings = grant(settings)
    for binding in bindings:
        print(binding)
    print(f"{len(bindings)} ACL bindings in place for prefix {settings.topic_prefix!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dossierflow",
        description="Route administrative-procedure dossiers between agencies over Kafka.",
    )
    parser.add_argument(
        "--broker",
        help="Kafka bootstrap host:port (default: DOSSIERFLOW_BROKER or 127.0.0.1:19092)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run a stream worker (router, deadlines, web)")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(func=_cmd_worker)

    publish = sub.add_parser("publish", help="validate and publish events (JSON or JSON lines)")
    publish.add_argument("file", help="a file of events, or - for standard input")
    publish.set_defaults(func=_cmd_publish)

    inbox = sub.add_parser("inbox", help="assignments routed to one agency")
    inbox.add_argument("agency", help="agency code, e.g. SXD")
    inbox.add_argument("--follow", action="store_true", help="keep printing new assignments")
    inbox.set_defaults(func=_cmd_inbox)

    demo = sub.add_parser(
        "demo",
        help="a province on dossierflow: local Kafka + workers + two working weeks simulated",
        description="Start Kafka (unless --broker) and the workers on an accelerated clock, "
        "simulate a province's dossiers in simulated time with live progress, then print "
        "and write the province report, charts and the simulator's ground truth.",
    )
    from agents.demo.feed import add_run_arguments

    add_run_arguments(demo, default_speed=True)
    demo.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    demo.add_argument("--out", default="demo-output", help="folder for logs and the report")
    demo.add_argument("--port", type=int, help="web port of the first worker (default 6066)")
    demo.add_argument(
        "--guard-seconds",
        type=float,
        default=1.0,
        help="keep events this many real seconds from their dossier's deadlines (default 1)",
    )
    demo.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="redraw a live table (default: when stdout is a terminal)",
    )
    demo.set_defaults(func=_cmd_demo)

    sim = sub.add_parser(
        "simulate",
        help="publish a simulated province in simulated time; write its ground truth",
        description="Each event is published when the accelerated clock (DOSSIERFLOW_CLOCK_START,"
        " DOSSIERFLOW_CLOCK_SPEED) reaches its instant; --events-out writes them instead.",
    )
    add_run_arguments(sim, default_speed=False)
    sim.add_argument(
        "--truth", default="simulation-truth.jsonl", help="ground-truth file (JSON lines)"
    )
    sim.add_argument("--events-out", help="write the events as JSON lines here; publish nothing")
    sim.add_argument("--guard-seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    sim.set_defaults(func=_cmd_simulate)

    catalog = sub.add_parser("catalog", help="procedure catalog tools")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    check = catalog_sub.add_parser("check", help="validate a catalog and print its summary")
    check.add_argument("path", nargs="?", type=Path, help="folder or file (default: the sample)")
    check.set_defaults(func=_cmd_catalog_check)

    alerts = sub.add_parser("alerts", help="deadline alerts for supervisors")
    alerts.add_argument("--agency", help="only alerts about dossiers at this agency")
    alerts.add_argument("--follow", action="store_true", help="keep printing new alerts")
    alerts.set_defaults(func=_cmd_alerts)

    anomalies = sub.add_parser(
        "anomalies", help="events applied but off the route (not in the dead-letter topic)"
    )
    anomalies.add_argument("--dossier", help="only this dossier's")
    anomalies.set_defaults(func=_cmd_anomalies)

    report = sub.add_parser("report", help="the province report from the engine's state")
    report.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    report.set_defaults(func=_cmd_report)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {"broker": args.broker} if args.broker else {}
    settings = Settings(**overrides)
    try:
        code: int = args.func(args, settings)
    except BrokenPipeError:  # e.g. `dossierflow inbox SXD | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KafkaLoginError as exc:
        print(f"dossierflow: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
