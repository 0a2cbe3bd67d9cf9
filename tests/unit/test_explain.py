"""``dossierflow explain`` and ``export``: the sheet with its attribution, rendered from a
state, and the commands on the command line (their Kafka reads are not run here)."""

from __future__ import annotations

from agents.tools.cli import build_parser
from agents.tools.explain import render_explain
from events import InboundEvent

from support.context import routing_context
from support.dossiers import Script
from support.fold import fold_state
from support.time import vn


def _late(s: Script) -> list[InboundEvent]:
    return [
        s.received("2026-06-01 08:00", "MOTCUA", "2.001610"),
        s.done("2026-06-01 14:00", "MOTCUA", "receive"),
        s.done("2026-06-04 08:00", "STC", "review"),  # 20 h of its 12
        s.done("2026-06-04 14:00", "STC", "issue"),
        s.done("2026-06-05 08:00", "MOTCUA", "return"),
        s.result("2026-06-05 08:00", "MOTCUA"),
    ]


def test_explain_shows_each_row_and_its_share() -> None:
    ctx = routing_context()
    state = fold_state(_late(Script("D-ex")), ctx)
    text = render_explain(state, ctx.calendar, vn("2026-06-30 08:00"), {"STC": "Sở Tài chính"})
    lines = text.splitlines()
    review = next(line for line in lines if line.startswith("1 "))
    assert review.split()[1:3] == ["review", "STC"]
    assert review.endswith("late      1.00 d (100%)")
    assert "Overrun: 1.00 working days after the first appointment" in text
    assert lines[-1].split() == ["STC", "1.00", "d", "Sở", "Tài", "chính"]


def test_explain_says_when_there_is_nothing_to_attribute() -> None:
    ctx = routing_context()
    s = Script("D-open")
    state = fold_state(_late(s)[:2], ctx)  # at review, before its due
    text = render_explain(state, ctx.calendar, vn("2026-06-02 08:00"))
    assert text.endswith("Not late: nothing to attribute.")
    assert "open" in text.splitlines()[-3]


def test_the_commands_are_on_the_command_line() -> None:
    parser = build_parser()
    args = parser.parse_args(["explain", "D-1", "--broker", "h:1"])
    assert (args.command, args.dossier, args.broker) == ("explain", "D-1", "h:1")
    args = parser.parse_args(["export", "--format", "xes", "--out", "log.xes"])
    assert (args.format, args.out) == ("xes", "log.xes")
