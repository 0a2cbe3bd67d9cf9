"""``dossierflow dlq``: the records the router refused, and what ``publish --wait`` learns
from them about the events it just sent (the DLQ is the only refusal channel)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from kafka.errors import AuthorizationError

from agents.settings import Settings
from agents.tools.kafka_read import consumer, existing_partitions, read_and_follow, read_to_end
from agents.tools.printable import count, printable
from agents.tools.publisher import Placed, PublishReport
from events import ContractError, DeadLetter, decode
from workflows.calendar import VN_TZ


def parse_dead_letters(records: Iterable[bytes | None]) -> list[DeadLetter]:
    """The dead letters among ``records``, each once: a re-delivered record dead-lettered
    twice has the same source coordinates."""
    seen: dict[tuple[str, int, int], DeadLetter] = {}
    for raw in records:
        try:
            letter = decode(DeadLetter, raw or b"")
        except ContractError:
            continue  # not a v1 dead letter: not for this view
        seen.setdefault(where(letter), letter)
    return sorted(seen.values(), key=lambda d: (d.dead_lettered_at, where(d)))


def where(letter: DeadLetter) -> tuple[str, int, int]:
    return letter.source_topic, letter.source_partition, letter.source_offset


def dossier_of(letter: DeadLetter) -> str | None:
    """The dossier id, or the record's key when nothing could be parsed (publishers key
    every event by its dossier)."""
    return letter.dossier_id or letter.source_key


def agency_of(letter: DeadLetter) -> str | None:
    """The ``agency`` of the original event, when it is JSON that has one."""
    try:
        obj = json.loads(letter.original)
    except (ValueError, UnicodeDecodeError):
        return None
    agency = obj.get("agency") if isinstance(obj, dict) else None
    return agency if isinstance(agency, str) else None


def select(
    letters: Iterable[DeadLetter],
    *,
    reason: str | None = None,
    dossier: str | None = None,
    agency: str | None = None,
) -> list[DeadLetter]:
    return [
        d
        for d in letters
        if (reason is None or d.reason.value == reason)
        and (dossier is None or dossier_of(d) == dossier)
        and (agency is None or agency_of(d) == agency)
    ]


def render(letter: DeadLetter) -> str:
    """One line: dead-lettered (local time), reason, dossier, event, error, where it was read.

    ``2026-03-02 09:05  unknown_procedure  HS-1  e-17  procedure ... (dossier-events 2@41)``
    """
    at = letter.dead_lettered_at.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")
    topic, partition, offset = where(letter)
    return printable(
        f"{at}  {letter.reason.value}  {dossier_of(letter) or '-'}  {letter.event_id or '-'}  "
        f"{letter.error}  ({topic} {partition}@{offset})"
    )


def render_original(letter: DeadLetter) -> str:
    """The original value on one indented line, decoded as UTF-8 with every byte that is not
    shown as ``\\xNN`` and anything unprintable escaped: it is whatever a sender wrote."""
    text = letter.original.decode("utf-8", "backslashreplace")
    size = letter.original_size if letter.original_size is not None else len(letter.original)
    if letter.original_truncated:
        what = f"first {len(letter.original)} of {size} bytes"
    else:
        what = count(size, "byte")
    return f"    original ({what}): {printable(text)}"


def follow(
    bootstrap: list[str], topic: str, stop: Callable[[], bool], **security: Any
) -> Generator[list[DeadLetter]]:
    """Every dead letter on ``topic`` first (one list), then the new ones as they come."""
    shown: set[tuple[str, int, int]] = set()
    for batch in read_and_follow(bootstrap, topic, stop, **security):
        letters = [d for d in parse_dead_letters(r.value for r in batch) if where(d) not in shown]
        shown.update(where(d) for d in letters)
        yield letters


# --- publish --wait ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fate:
    """What the router did with one published event, as far as can be known."""

    placed: Placed
    letter: DeadLetter | None  # refused, and why
    applied: bool  # the router's group committed past it and did not dead-letter it

    def render(self, wait_s: float) -> str:
        p = self.placed
        head = f"{p.dossier_id}  {p.event_id}  {p.type}"
        if self.letter is not None:
            return printable(f"refused  {head}  {self.letter.reason.value}: {self.letter.error}")
        if self.applied:
            return printable(f"applied  {head}")
        return printable(f"pending  {head}  (not processed within {wait_s:g} s)")


def outcomes(
    placed: Sequence[Placed],
    letters: Iterable[DeadLetter],
    committed: dict[int, int],
    events_topic: str,
) -> list[Fate]:
    """Each event refused (a dead letter from its partition and offset), applied (the
    group's committed offset on its partition is past it and no dead letter: the router
    writes a dead letter before it commits the offset) or neither yet."""
    refused = {(d.source_partition, d.source_offset): d for d in letters}
    refused = {k: d for k, d in refused.items() if d.source_topic == events_topic}
    return [
        Fate(
            p,
            refused.get((p.partition, p.offset)),
            committed.get(p.partition, -1) > p.offset,
        )
        for p in placed
    ]


def summary(found: Sequence[Fate], wait_s: float, group: str) -> str:
    refused = sum(o.letter is not None for o in found)
    applied = sum(o.letter is None and o.applied for o in found)
    pending = len(found) - refused - applied
    text = f"router (group {group}): {applied} applied, {refused} refused"
    if pending:
        text += f", {pending} not processed within {wait_s:g} s (is a worker running?)"
    return text


class RefusalWatch:
    """The DLQ from its end as it was before publishing, and the router's committed offsets
    on the events topic: opened before ``publish`` so no refusal can be missed."""

    def __init__(
        self, bootstrap: list[str], dlq: str, events: str, group: str, **security: Any
    ) -> None:
        self.dlq, self.events, self.group = dlq, events, group
        self._dlq = consumer(bootstrap, **security)
        self._offsets = consumer(bootstrap, group_id=group, **security)
        try:
            tps = existing_partitions(self._dlq, dlq)
            self._events = existing_partitions(self._offsets, events)
            self._dlq.assign(tps)
            self._dlq.seek_to_end(*tps)
            for tp in tps:
                self._dlq.position(tp)  # pin the end now, before anything is published
            self._committed()  # may the login see the group's offsets? before publishing
        except BaseException:
            self.close()
            raise
        self._letters: list[DeadLetter] = []

    def _committed(self) -> dict[int, int]:
        found = {tp.partition: self._offsets.committed(tp) for tp in self._events}
        return {p: offset for p, offset in found.items() if offset is not None}

    def _read_dlq_to_end(self) -> None:
        tps = sorted(self._dlq.assignment())
        records = read_to_end(self._dlq, self.dlq, tps, timeout_s=30.0)
        self._letters += parse_dead_letters(r.value for r in records)

    def wait(self, placed: Sequence[Placed], wait_s: float) -> list[Fate]:
        """Until every event in ``placed`` is refused or applied, or ``wait_s`` passed."""
        deadline = time.monotonic() + wait_s
        while True:
            # committed first: a dead letter is written before the offset past it is
            committed = self._committed()
            self._read_dlq_to_end()
            found = outcomes(placed, self._letters, committed, self.events)
            done = all(o.letter is not None or o.applied for o in found)
            if done or time.monotonic() >= deadline:
                return found
            time.sleep(0.5)

    def close(self) -> None:
        self._dlq.close()
        self._offsets.close()


def watch_from(settings: Settings) -> RefusalWatch:
    """A ``RefusalWatch`` on the deployment's DLQ and the router's group, as the reader."""
    login = settings.kafka_security("reader").kafka_python_kwargs()
    names = settings.topics
    return RefusalWatch(
        settings.bootstrap_servers, names.dlq, names.events, settings.app_id, **login
    )


def publish_and_wait(
    settings: Settings, publish: Callable[[], PublishReport], wait_s: float
) -> int:
    """``publish --wait``: ``publish()``, then one line per event it placed (applied,
    refused or pending) and a summary; 0 only when every line was valid and applied."""
    try:
        # opened first: the DLQ's end before anything is sent, so no refusal is missed
        watch = watch_from(settings)
    except AuthorizationError as exc:
        print(
            f"dossierflow publish: --wait needs the reader login to see how far group "
            f"{settings.app_id!r} has got on {settings.topics.events!r} ({exc.message}): "
            "run `dossierflow acls` again; nothing was published",
            file=sys.stderr,
        )
        return 2
    with closing(watch):
        report = publish()
        print(report.summary(settings.topics.events), flush=True)
        found = watch.wait(report.placed, wait_s)
    for outcome in found:
        print(outcome.render(wait_s))
    print(summary(found, wait_s, settings.app_id))
    return 0 if report.ok and all(o.applied and o.letter is None for o in found) else 1


def main(args: argparse.Namespace, settings: Settings) -> int:
    """``dossierflow dlq [--reason R] [--dossier ID] [--agency A] [--original] [--follow]``."""
    login = settings.kafka_security("reader").kafka_python_kwargs()
    topic = settings.topics.dlq
    chosen = {"reason": args.reason, "dossier": args.dossier, "agency": args.agency}
    shown = 0
    batches = follow(settings.bootstrap_servers, topic, lambda: False, **login)
    with closing(batches):
        try:
            for number, batch in enumerate(batches):
                for letter in select(batch, **chosen):
                    print(render(letter), flush=True)
                    if args.original:
                        print(render_original(letter), flush=True)
                    shown += 1
                if number == 0:  # the history: what is there now
                    print(count(shown, "dead letter"), file=sys.stderr)
                    if not args.follow:
                        return 0
                    print(f"following dead letters on {topic}; Ctrl-C to stop", file=sys.stderr)
        except KeyboardInterrupt:
            pass
    return 0
