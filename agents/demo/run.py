"""``dossierflow demo``: a province running on dossierflow, two working weeks in two minutes.

Starts Apache Kafka from its jars (unless ``--broker``) and the workers, on one
accelerated clock; simulates the province (``workflows.simulation``): the work in
progress at the start is published first, then every event when the clock reaches
it (``agents.demo.feed``). Meanwhile it shows live progress read from the workers'
``/metrics`` (``live``). At the end it waits until the workers have consumed everything,
prints the province report, writes it with charts and the simulator's ground truth to
the output folder (``output``), checks the engine against that ground truth (``truth``),
and stops everything it started, also on Ctrl-C (``processes``).
"""

from __future__ import annotations

import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from agents.access.provision import grant
from agents.clock import AcceleratedClock
from agents.demo.access import demo_access, how_to_look
from agents.demo.feed import (
    DEFAULT_SPEED,
    RunOptions,
    SimulatorStats,
    publish_in_simulated_time,
    publish_now,
    wait_for_end,
    write_truth,
)
from agents.demo.live import LiveView, wait_consumed
from agents.demo.output import finish, say
from agents.demo.processes import (
    Interrupted,
    Started,
    local_kafka,
    port_free,
    post_json,
    wait_ready,
    worker_env,
    worker_processes,
)
from agents.demo.stubs import (
    DEFAULT_WEBHOOK_PORT,
    catalog_for_stub,
    demo_webhook_secrets,
    webhook_receivers,
)
from agents.runtime.context import build_calendar
from agents.settings import Settings
from agents.tools.publisher import Publisher
from agents.tools.signing import demo_publisher
from events import encode
from workflows.calendar import VN_TZ
from workflows.catalog import load_catalog
from workflows.simulation import run_window, simulate_province

DEFAULT_KAFKA_PORT = 19092


@dataclass(frozen=True)
class DemoOptions(RunOptions):
    speed: float = DEFAULT_SPEED
    workers: int = 1
    out_dir: Path = Path("demo-output")
    #: web port of the first worker; the others take the next ones
    port: int = 6066
    #: the broker's port when the demo starts one (its controller takes the next)
    kafka_port: int = DEFAULT_KAFKA_PORT
    #: where the stub for the supervisors' webhooks listens; the catalog's local webhook
    #: URLs are pointed at it (a copy of the catalog in the output folder)
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    #: an event and one of its dossier's deadlines closer than this (real seconds) are
    #: avoided by the simulator: at real time either may be seen first
    guard_seconds: float = 1.0
    tick_seconds: float = 0.05
    #: use this running broker instead of starting one
    broker: str | None = None
    #: live table redrawn in place; None: when stdout is a terminal
    live: bool | None = None


def run(settings: Settings, opts: DemoOptions) -> int:
    """The whole demo; returns the exit status (130 when interrupted)."""
    began = time.monotonic()
    started = Started()
    handlers = {s: signal.signal(s, started.interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            code = _run(settings, opts, stack, began, started)
        say(f"\ndone in {time.monotonic() - began:.0f} s; everything the demo started is stopped")
        return code
    except Interrupted:
        say("· interrupted: everything the demo started is stopped")
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _run(
    settings: Settings, opts: DemoOptions, stack: ExitStack, began: float, started: Started
) -> int:
    out = opts.out_dir
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(VN_TZ).strftime("%Y%m%d-%H%M%S")
    prefix = f"demo-{stamp}-"
    ports = [opts.port + i for i in range(opts.workers)]
    _refuse_busy_ports(opts, ports)
    # The workers read a copy whose webhooks on this machine reach the demo's stub.
    catalog_path = catalog_for_stub(settings.catalog_path, opts.webhook_port, out / "catalog")
    catalog = load_catalog(catalog_path)
    calendar = build_calendar(settings)
    window = run_window(calendar, opts.first_day, opts.days, opts.backlog_days)
    guard = timedelta(seconds=opts.guard_seconds * opts.speed)
    hold_at = window.backlog_from - timedelta(days=1)

    say(
        f"dossierflow demo: {opts.days} working days of a province from "
        f"{window.start:%a %d/%m/%Y}, scale {opts.scale:g} (about "
        f"{80_000 * opts.scale:,.0f} dossiers a quarter), seed {opts.seed}, "
        f"{opts.workers} worker{'s' if opts.workers > 1 else ''}, "
        f"clock x{opts.speed:,.0f} ({window.span.total_seconds() / opts.speed:.0f} s of real time)"
    )
    security: dict[str, object] = {
        "kafka_security_protocol": settings.kafka_security_protocol,
        "kafka_credentials": settings.kafka_credentials,
        "kafka_sasl_mechanism": settings.kafka_sasl_mechanism,
        "kafka_username": settings.kafka_username,
        "kafka_password": settings.kafka_password,
        "kafka_ca_file": settings.kafka_ca_file,
    }
    if opts.broker:
        bootstrap = opts.broker
        say(f"· using the broker at {bootstrap}")
    else:
        bootstrap = stack.enter_context(local_kafka(out / "kafka", opts.kafka_port, started))
        if settings.kafka_security_protocol != "PLAINTEXT":
            # the principals scripts/kafka-local made for this broker
            security["kafka_credentials"] = out / "kafka" / "security" / "clients.json"

    # The demo's own publisher system: a key made in its output folder, trusted by its workers.
    signer, publishers = demo_publisher(out / "publisher")
    # Its webhook secret: the workers sign with it, the stub receivers verify.
    hook_secrets, hook_keys = demo_webhook_secrets(out / "webhooks", catalog)
    run_settings = Settings(
        publishers_path=publishers,
        webhook_secrets_path=hook_secrets,
        broker=bootstrap,
        topic_prefix=prefix,
        app_id=f"{prefix}router",
        catalog_path=catalog_path,
        office_hours=settings.office_hours,
        calendar_overrides=settings.calendar_overrides,
        clock="accelerated",
        clock_start=window.start,
        clock_speed=opts.speed,
        tick_seconds=opts.tick_seconds,
        **security,  # type: ignore[arg-type]
    )
    if run_settings.kafka_security_protocol != "PLAINTEXT" and not run_settings.kafka_username:
        grant(run_settings)  # each principal gets what its role needs on the demo's topics
        say("· ACLs in place for the engine, publisher and reader principals")
    envs = [worker_env(run_settings, f"worker-{i + 1}", port, out) for i, port in enumerate(ports)]
    # The status API's tokens: the demo's own admin (its clock release), in the output folder.
    access = demo_access(out)
    for env in envs:
        env["DOSSIERFLOW_API_CREDENTIALS_PATH"] = str(access.path)
    argv = ["--hold-at", hold_at.isoformat(), "--stop-at", window.end.isoformat()]
    received = stack.enter_context(webhook_receivers(catalog, hook_keys))
    workers = stack.enter_context(worker_processes(envs, argv, out, started))

    # While the workers start: the province's dossiers, and what the engine must make of them.
    t0 = time.monotonic()
    workload = simulate_province(
        catalog, calendar, window, seed=opts.seed, scale=opts.scale, guard=guard
    )
    truth_path = write_truth(
        out / "ground-truth.jsonl",
        workload,
        speed=opts.speed,
        topic_prefix=prefix,
        app_id=run_settings.app_id,
        broker=bootstrap,
        workers=opts.workers,
    )
    backlog, events = workload.backlog_events(), workload.run_events()
    say(
        f"· simulated {len(workload.dossiers):,} dossiers in {time.monotonic() - t0:.1f} s: "
        f"{sum(d.received_at < window.start for d in workload.dossiers):,} in progress at the "
        f"start ({len(backlog):,} events so far), {len(events):,} events to come; "
        f"ground truth in {truth_path}"
    )
    wait_ready(workers)
    say(f"· workers ready ({time.monotonic() - began:.0f} s since the start)")

    stats = SimulatorStats(total=len(backlog) + len(events))
    publisher = stack.enter_context(
        Publisher(
            [bootstrap],
            run_settings.topics.events,
            signer=signer,
            **run_settings.kafka_security("publisher").kafka_python_kwargs(),
        )
    )
    lag_login = run_settings.kafka_security("engine").kafka_python_kwargs()
    names = run_settings.topics
    group = run_settings.app_id
    say(f"· publishing the work in progress at the start, plus bad records for {names.dlq} ...")
    publish_now(publisher, backlog, stats)
    bad = [b"not json at all", b"\xff\xfe"]
    if backlog or events:  # a valid event but for its naive datetime
        bad.append(encode((backlog or events)[0]).replace(b"+07:00", b""))
    for raw in bad:
        publisher.publish_raw(b"bad-record", raw)
    publisher.flush()
    wait_consumed(bootstrap, group, [names.events], **lag_login)

    clock = AcceleratedClock(
        window.start, opts.speed, held=True, hold_at=hold_at, stop_at=window.end
    )
    origin = time.monotonic() + 0.2
    for w in workers:
        post_json(f"{w.url}/demo/clock", {"origin": origin}, access.admin_header)
    clock.release(origin)
    first = workers[0]
    example = next(
        (d.dossier_id for d in workload.dossiers if d.received_at < window.start),
        workload.dossiers[0].dossier_id if workload.dossiers else "-",
    )
    say(f"· the clock runs: metrics {first.url}/metrics   health {first.url}/health")
    desk = next(
        (d.events[0].agency for d in workload.dossiers if d.dossier_id == example), "MOTCUA"
    )
    for line in how_to_look(access, first.url, example, desk, run_settings):
        say(line)
    say()
    live = LiveView(
        clock,
        window,
        stats,
        ports,
        opts.days,
        sys.stdout.isatty() if opts.live is None else opts.live,
    )
    live.start()
    stack.callback(live.stop)
    publish_in_simulated_time(publisher, events, clock, stats)
    wait_for_end(clock)
    # The clock has stopped at the end: drain what is in flight, including the watcher's
    # last ticks, then give it a few more ticks to notice the final deadlines.
    wait_consumed(bootstrap, group, [names.events, names.ticks], **lag_login)
    time.sleep(max(1.0, 20 * opts.tick_seconds))
    wait_consumed(bootstrap, group, [names.events, names.ticks], **lag_login)
    stats.done = True
    live.stop()
    ran_for = time.monotonic() - began
    say()
    return finish(run_settings, catalog, workload, bootstrap, out, opts, ran_for, received)


def _refuse_busy_ports(opts: DemoOptions, web_ports: list[int]) -> None:
    """One line and exit 1 before anything starts, naming the option (and make variable)."""
    wanted = [(p, "--port", "PORT") for p in web_ports]
    if not opts.broker:  # the broker and its controller, next to it
        wanted += [
            (p, "--kafka-port", "KAFKA_PORT") for p in (opts.kafka_port, opts.kafka_port + 1)
        ]
    for port, option, variable in wanted:
        if not port_free(port):
            raise SystemExit(
                f"dossierflow demo: port {port} is in use on 127.0.0.1: pass {option} with a "
                f"free one (make demo {variable}=...)"
            )


def main_demo(settings: Settings, opts: DemoOptions) -> int:
    return run(settings, opts)
