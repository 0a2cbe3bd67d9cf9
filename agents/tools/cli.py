"""``dossierflow``: the command line for workers, agencies, supervisors and operators."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from kafka.errors import KafkaTimeoutError
from pydantic import ValidationError

from agents.settings import KafkaLoginError, Settings
from agents.tools.admin_cli import add_admin_commands
from agents.tools.analysis_cli import add_analysis_commands
from agents.tools.commands import add_follow, add_terminal_switch
from agents.tools.kafka_read import MissingTopicError
from agents.tools.printable import count
from agents.tools.whatif_cli import add_whatif_commands


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from agents.runtime.preflight import start_worker

    return start_worker(settings, args.loglevel)


def _cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools.publisher import Publisher, PublishReport, check_lines
    from agents.tools.signing import KeyFileError, signer_from

    try:
        lines = sys.stdin.buffer.readlines() if args.file == "-" else _read_lines(args.file)
    except OSError as exc:
        print(f"dossierflow publish: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    # Every line is checked before a key is loaded or the broker reached: the problems
    # are reported even when Kafka is down.
    events, errors = check_lines(lines)
    for error in errors:
        for line in error.render():
            print(line, file=sys.stderr)
    try:
        signer = signer_from(settings)
    except KeyFileError as exc:
        print(f"dossierflow publish: {exc}", file=sys.stderr)
        return 2
    login = settings.kafka_security("publisher").kafka_python_kwargs()
    topic = settings.topics.events

    def publish() -> PublishReport:
        with Publisher(settings.bootstrap_servers, topic, signer=signer, **login) as publisher:
            return publisher.publish_checked(events, errors)

    if args.wait is not None:
        from agents.tools.dlq_view import publish_and_wait

        return publish_and_wait(settings, publish, args.wait)
    report = publish()
    print(report.summary(topic))
    return 0 if report.ok else 1


def _read_lines(name: str) -> list[bytes]:
    path = Path(name)
    if path.is_dir():
        raise IsADirectoryError(21, "it is a directory, not a file of events")
    with path.open("rb") as source:
        return source.readlines()


def _cmd_inbox(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools import inbox

    topic = settings.topics.assignments
    login = settings.kafka_security("reader").kafka_python_kwargs()
    stop = (lambda: False) if args.follow else (lambda: True)
    try:
        batches = inbox.follow(settings.bootstrap_servers, topic, args.agency, stop, **login)
        with closing(batches):
            rows = next(batches)  # the inbox as it is now
            for row in rows:
                print(inbox.render(row))
            print(f"{count(len(rows), 'dossier')} at {args.agency}", file=sys.stderr)
            if not args.follow:
                return 0
            print(
                f"following assignments for {args.agency} on {topic}; Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            for new in batches:
                for row in new:
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

    if args.workers < 1:
        print(
            f"dossierflow demo: --workers {args.workers}: the demo needs at least one worker "
            "(--workers 1, the default, or more)",
            file=sys.stderr,
        )
        return 2
    options = DemoOptions(
        **_run_arguments(args),
        workers=args.workers,
        out_dir=Path(args.out),
        port=args.port if args.port is not None else settings.web_port,
        kafka_port=args.kafka_port,
        webhook_port=args.webhook_port,
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
        print(f"catalog check failed: {count(len(exc.problems), 'problem')}", file=sys.stderr)
        return 1
    for line in summarize(catalog).render():
        print(line)
    return 0


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from agents.clock import clock_from
    from agents.tools.report import NoEngineStateError, build_report, render
    from workflows.catalog import load_catalog

    try:
        report = build_report(
            settings, load_catalog(settings.catalog_path), clock_from(settings).now()
        )
    except NoEngineStateError as exc:
        print(f"dossierflow report: {exc}", file=sys.stderr)
        return 1
    print(render(report, args.format))
    return 0


def _cmd_dlq(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools import dlq_view

    return dlq_view.main(args, settings)


def _cmd_anomalies(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools import anomalies_view
    from agents.tools.kafka_read import read_all

    login = settings.kafka_security("reader").kafka_python_kwargs()
    records = read_all(
        settings.bootstrap_servers, settings.topics.anomalies, must_exist=True, **login
    )
    reports = anomalies_view.select(anomalies_view.parse_anomalies(records), args.dossier)
    for report in reports:
        print(anomalies_view.render(report))
    print(f"{count(len(reports), 'anomaly', 'anomalies')} (applied, flagged)", file=sys.stderr)
    return 0


def _cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools import alerts_view

    topic = settings.topics.alerts
    login = settings.kafka_security("reader").kafka_python_kwargs()
    if not args.follow:
        records = alerts_view.read_all(settings.bootstrap_servers, topic, must_exist=True, **login)
        alerts = alerts_view.select(alerts_view.parse_alerts(records), args.agency)
        for alert in alerts:
            print(alerts_view.render(alert))
        print(count(len(alerts), "alert"), file=sys.stderr)
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
    publish.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="then say, per event, whether the router applied or refused it (up to SECONDS)",
    )
    publish.set_defaults(func=_cmd_publish)

    inbox = sub.add_parser("inbox", help="assignments routed to one agency")
    inbox.add_argument("agency", help="agency code, e.g. SXD")
    add_follow(inbox, "assignments")
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
        "--kafka-port",
        type=int,
        default=19092,
        help="port of the Kafka the demo starts, its controller on the next (default 19092)",
    )
    demo.add_argument(
        "--webhook-port",
        type=int,
        default=8099,
        help="port of the stub for the supervisors' webhooks; the catalog's webhooks on "
        "this machine are pointed at it (default 8099)",
    )
    demo.add_argument(
        "--guard-seconds",
        type=float,
        default=1.0,
        help="keep events this many real seconds from their dossier's deadlines (default 1)",
    )
    add_terminal_switch(demo, "--live", "redraw a live table", "stdout")
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
    add_follow(alerts, "alerts")
    alerts.set_defaults(func=_cmd_alerts)

    anomalies = sub.add_parser(
        "anomalies", help="events applied but off the route (not in the dead-letter topic)"
    )
    anomalies.add_argument("--dossier", help="only this dossier's")
    anomalies.set_defaults(func=_cmd_anomalies)

    dlq = sub.add_parser("dlq", help="records the router refused (the dead-letter topic)")
    dlq.add_argument("--reason", help="only this reason, e.g. unknown_procedure")
    dlq.add_argument("--dossier", help="only this dossier's")
    dlq.add_argument("--agency", help="only events this agency sent")
    dlq.add_argument("--original", action="store_true", help="show each original record too")
    add_follow(dlq, "dead letters")
    dlq.set_defaults(func=_cmd_dlq)

    report = sub.add_parser("report", help="the province report from the engine's state")
    report.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    report.set_defaults(func=_cmd_report)

    add_admin_commands(sub)
    add_analysis_commands(sub)
    add_whatif_commands(sub)

    shown = sub.add_parser(
        "settings",
        help="every DOSSIERFLOW_* setting: variable, default, current value (secrets masked)",
    )
    shown.add_argument("--defaults", action="store_true", help="without current values")
    shown.set_defaults(func=_cmd_settings)

    # `dossierflow inbox SXD --broker HOST:PORT` as well as `dossierflow --broker ... inbox`.
    for command in sub.choices.values():
        command.add_argument("--broker", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    from agents.tools.settings_view import render

    print(render(None if args.defaults else settings), end="")
    return 0


def load_settings(overrides: dict[str, Any], environ: Mapping[str, str]) -> Settings | None:
    """The settings, or None after one line per bad variable on stderr; warns (stderr)
    about ``DOSSIERFLOW_*`` variables that are no setting, with the closest name."""
    from agents.tools.settings_view import problems, unknown_variables

    for warning in unknown_variables(environ):
        print(f"dossierflow: {warning}", file=sys.stderr)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for line in problems(exc, environ):
            print(f"dossierflow: {line}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(given) and load_settings({}, os.environ) is None:
        return 2  # help would exit 0 and hide the bad variable every command fails on
    args = build_parser().parse_args(given)
    overrides = {"broker": args.broker} if getattr(args, "broker", None) else {}
    settings = load_settings(overrides, os.environ)
    if settings is None:
        return 2
    try:
        code: int = args.func(args, settings)
    except BrokenPipeError:  # e.g. `dossierflow inbox SXD | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KafkaLoginError as exc:
        print(f"dossierflow: {exc}", file=sys.stderr)
        return 2
    except MissingTopicError as exc:
        print(
            f"dossierflow: topic {exc.topic!r} is not on {settings.broker} (or this login may "
            f"not see it): check DOSSIERFLOW_TOPIC_PREFIX ({settings.topic_prefix!r}), or run "
            "`dossierflow topics` and `dossierflow acls`",
            file=sys.stderr,
        )
        return 1
    except KafkaTimeoutError:
        print(
            f"dossierflow: cannot reach Kafka at {settings.broker} within "
            f"{settings.kafka_connect_timeout_seconds:g} s: is it running? "
            "(`scripts/kafka-local start`, or set DOSSIERFLOW_BROKER)",
            file=sys.stderr,
        )
        return 3
    return code


if __name__ == "__main__":
    sys.exit(main())
