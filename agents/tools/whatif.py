"""``dossierflow whatif``: recorded history re-judged under an alternative catalog, in this
process (nothing is written to any topic), printed beside the actual figures."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from agents.settings import Settings
from agents.tools.printable import count, json_escape, printable
from agents.tools.whatif_catalog import Change, WhatIfCatalogError, alter, parse_commit
from agents.tools.whatif_jobs import replay_in_processes
from events import ContractError, InboundEvent, parse_event
from workflows.catalog import Catalog, CatalogError, load_catalog
from workflows.replay import GROUPS, Comparison, Figures, compare, replay, sent_by_anyone
from workflows.routing import RoutingContext, Sender

__all__ = ["main", "read_event_file", "render"]

Sent = tuple[InboundEvent, Sender]


class _Refused(Exception):
    """A problem already printed (one line each); the command exits with ``code``."""

    def __init__(self, code: int) -> None:
        self.code = code


def _say(line: str) -> None:
    print(printable(f"dossierflow whatif: {line}"), file=sys.stderr)


# --- the events ----------------------------------------------------------------------------


def read_event_file(path: Path) -> tuple[list[InboundEvent], list[str]]:
    """The events of a JSON-lines file (``simulate --events-out``), and one line per bad line."""
    from agents.tools.publisher import LineError

    events: list[InboundEvent] = []
    errors: list[str] = []
    with path.open("rb") as source:
        for number, raw in enumerate(source, 1):
            if not raw.strip():
                continue
            try:
                events.append(parse_event(raw.strip()))
            except ContractError as exc:
                errors += LineError(number, exc.problems).render()
    return events, errors


def _recorded(settings: Settings) -> list[Sent]:
    """The events topic from its beginning, as the router took it: records whose signature
    does not verify, that do not decode or whose key is not their dossier's are left out
    (the router dead-letters them), the others with the sender they were verified as."""
    from kafka.errors import TopicAuthorizationFailedError

    from agents.runtime.context import build_senders
    from agents.runtime.senders import broker_time
    from agents.tools.kafka_read import read_records

    senders = build_senders(settings)
    login = settings.kafka_security("reader").kafka_python_kwargs()
    try:
        records = read_records(
            settings.bootstrap_servers, settings.topics.events, 600.0, must_exist=True, **login
        )
    except TopicAuthorizationFailedError:
        # The reader role sees no event's content (agents/access/acls.py): say who may.
        _say(
            f"this principal may not read {settings.topics.events}; the read-only tools' "
            "role has no READ on events, by design: run as one that has it "
            "(DOSSIERFLOW_KAFKA_ROLE=engine) or give --events FILE"
        )
        raise _Refused(1) from None
    out: list[Sent] = []
    for record in records:
        at = broker_time(record.timestamp / 1000, record.timestamp_type)
        headers = tuple((k, v or b"") for k, v in record.headers or ())
        sender = senders.sender_of(headers, record.key, record.value, at)
        if not isinstance(sender, Sender):
            continue
        try:
            event = parse_event(record.value or b"")
        except ContractError:
            continue
        if record.key == event.dossier_id.encode("utf-8"):
            out.append((event, sender))
    return out


# --- the catalogs --------------------------------------------------------------------------


def _context(settings: Settings, catalog: Catalog) -> RoutingContext:
    """The worker's context over ``catalog``. Who may send what stays the live catalog's
    rules: the engine accepted or refused the recorded events by them; a what-if changes
    the times they are judged against."""
    from agents.runtime.context import build_context

    return dataclasses.replace(build_context(settings), catalog=catalog)


def _load(path: Path | None, what: str) -> Catalog:
    try:
        return load_catalog(path)
    except CatalogError as exc:
        for problem in exc.problems:
            _say(f"{what}: {problem}")
        raise _Refused(1) from None


def _alternative(args: argparse.Namespace, base: Catalog) -> tuple[Catalog, tuple[Change, ...]]:
    chosen = _load(args.catalog, "--catalog") if args.catalog is not None else base
    try:
        commits = dict(parse_commit(text) for text in args.commit or ())
        percent = Decimal(str(args.cut_percent)) if args.cut_percent is not None else None
        codes = [c.strip() for c in (args.procedures or "").split(",") if c.strip()]
        if percent is not None and not codes:
            raise WhatIfCatalogError(["--cut-percent needs --procedures P1,P2,..."])
        return alter(chosen, commits, percent, codes)
    except (ValueError, WhatIfCatalogError) as exc:
        for line in exc.problems if isinstance(exc, WhatIfCatalogError) else (str(exc),):
            _say(line)
        raise _Refused(2) from None


# --- printing ------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _figures(f: Figures) -> dict[str, Any]:
    return {
        "completed": f.completed,
        "on_time": f.on_time,
        "late": f.late,
        "on_time_rate": f.on_time_rate,
        "working_days_saved": round(f.saved_days, 2),
    }


def as_dict(c: Comparison, changes: Sequence[Change]) -> dict[str, Any]:
    return {
        "changes": [
            {
                "procedure": ch.code,
                "effective_from": ch.effective_from,
                "unit": ch.unit,
                "committed_before": float(ch.before),
                "committed_after": float(ch.after),
            }
            for ch in changes
        ],
        "actual": _figures(c.actual),
        "whatif": _figures(c.whatif),
        "flips": {"to_late": c.to_late, "to_on_time": c.to_on_time},
        **{
            f"by_{group}": [
                {
                    group: r.key,
                    "actual": _figures(r.actual),
                    "whatif": _figures(r.whatif),
                    "to_late": r.to_late,
                    "to_on_time": r.to_on_time,
                }
                for r in c.groups[group]
                if r.to_late or r.to_on_time
            ]
            for group in GROUPS
        },
        "dossiers": [
            {
                "dossier_id": f.dossier_id,
                "procedure": f.procedure,
                "was": f.was.value,
                "would_be": f.would_be.value,
            }
            for f in c.flips
        ],
        "not_replayed": list(c.missing),
    }


def _lines(c: Comparison, changes: Sequence[Change], top: int, markdown: bool) -> list[str]:
    cell = (lambda *xs: "| " + " | ".join(xs) + " |") if markdown else None

    def row(*xs: str) -> str:
        return cell(*xs) if cell else f"{xs[0]:32} " + " ".join(f"{x:>12}" for x in xs[1:])

    out = ["# What-if replay" if markdown else "What-if replay", ""]
    out += [
        f"{'- ' if markdown else '  '}{ch.code} (effective {ch.effective_from}): committed "
        f"{ch.before:f} → {ch.after:f} {ch.unit}"
        for ch in changes
    ] or ["(no change to committed times)"]
    out += ["", row("", "actual", "what-if")]
    if markdown:
        out.append("|---|---:|---:|")
    a, w = c.actual, c.whatif
    out += [
        row("completed dossiers", f"{a.completed:,}", f"{w.completed:,}"),
        row("on time (early + on time)", f"{a.on_time:,}", f"{w.on_time:,}"),
        row("late", f"{a.late:,}", f"{w.late:,}"),
        row("on-time rate", _pct(a.on_time_rate), _pct(w.on_time_rate)),
        row("working days saved", f"{a.saved_days:,.1f}", f"{w.saved_days:,.1f}"),
        "",
        f"Would flip: {c.to_late:,} on time → late, {c.to_on_time:,} late → on time",
    ]
    if c.missing:
        out.append(
            f"Not replayed under the alternative catalog: {count(len(c.missing), 'dossier')}"
        )
    for group in GROUPS:
        rows = [r for r in c.groups[group] if r.to_late or r.to_on_time][:top]
        if not rows:
            continue
        out += ["", row(group, "rate actual", "rate what-if", "→ late", "→ on time")]
        if markdown:
            out.append("|---|---:|---:|---:|---:|")
        out += [
            row(
                r.key,
                _pct(r.actual.on_time_rate),
                _pct(r.whatif.on_time_rate),
                f"{r.to_late:,}",
                f"{r.to_on_time:,}",
            )
            for r in rows
        ]
    return out


def render(c: Comparison, changes: Sequence[Change], fmt: str, top: int = 10) -> str:
    """The comparison as a table, Markdown or JSON, anything unprintable escaped."""
    if fmt == "json":
        text = json.dumps(as_dict(c, changes), ensure_ascii=False, indent=2)
        return printable(text, keep_newlines=True, escape=json_escape)
    return printable("\n".join(_lines(c, changes, top, fmt == "markdown")), keep_newlines=True)


# --- the command ---------------------------------------------------------------------------


def _progress(label: str, total: int, stream: TextIO) -> Callable[[int], None]:
    def show(n: int) -> None:
        end = "\n" if n >= total else ""
        print(f"\r{label}: {n:,} of {total:,} events", end=end, file=stream, flush=True)

    return show


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector off while a replay runs, and what is loaded so far
    frozen out of its sight: a replay keeps millions of events and states alive, and
    makes no cycles, so the collector's passes over them are pure cost (~40% of a
    year's replay, docs/benchmarks.md); reference counting still frees what is dropped."""
    gc.collect()
    gc.freeze()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        gc.unfreeze()


def main(args: argparse.Namespace, settings: Settings) -> int:
    try:
        base = _load(settings.catalog_path, "catalog")
        alternative, changes = _alternative(args, base)
        if args.events is not None:
            try:
                events, errors = read_event_file(Path(args.events))
            except OSError as exc:
                _say(f"cannot read {args.events}: {exc.strerror}")
                return 2
            for line in errors:
                _say(f"{args.events}: {line}")
            if errors:
                return 2
            sent: list[Sent] = list(sent_by_anyone(events))
        else:
            sent = _recorded(settings)
    except _Refused as refused:
        return refused.code
    show = args.progress if args.progress is not None else sys.stderr.isatty()

    def run(label: str, catalog: Catalog) -> dict[str, Any]:
        progress = _progress(label, len(sent), sys.stderr) if show else None
        return dict(replay(iter(sent), _context(settings, catalog), progress))

    jobs: int = getattr(args, "jobs", None) or 1
    with without_cycle_collection():
        if jobs > 1:
            # Split by dossier across processes (agents/tools/whatif_jobs.py): no progress line.
            contexts = [_context(settings, base), _context(settings, alternative)]
            actual, whatif = replay_in_processes(sent, contexts, jobs)
        else:
            actual = run("actual", base)
            whatif = run("what-if", alternative)
    comparison = compare(actual, whatif)
    print(render(comparison, changes, args.format, args.top))
    return 0
