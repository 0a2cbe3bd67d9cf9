"""Ids and codes are printable on the wire; what the CLI prints of data is escaped."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from agents.tools import alerts_view, inbox
from agents.tools.printable import json_escape, printable
from events import ContractError, Recipient, parse_event_obj
from workflows.calendar import VN_TZ

from support.outbound import make_alert, make_assignment

AT = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)


def received(**fields: Any) -> dict[str, Any]:
    event = {
        "schema_version": 1,
        "type": "dossier.received",
        "event_id": "e-1",
        "dossier_id": "000.00.20.H33-260601-0001",
        "occurred_at": AT.isoformat(),
        "agency": "MOTCUA",
        "procedure": "2.001610",
        "channel": "online",
    }
    return event | fields


@pytest.mark.parametrize(
    ("field", "value", "char"),
    [
        ("dossier_id", "D-1\r\nBcc: x@evil.example", "'\\r'"),  # header injection in e-mail
        ("dossier_id", "D-1\x1b[2K\rall clear", "'\\x1b'"),  # rewrites a terminal line
        ("dossier_id", "D-1\u202e1000-", "'\\u202e'"),  # bidi override: shows reversed
        ("event_id", "e\x00", "'\\x00'"),  # NUL
        ("agency", "SXD\n", "'\\n'"),  # a newline forges a log line
        ("procedure", "2.0016\u200b10", "'\\u200b'"),  # zero-width space: looks the same
        ("actor", "nv\x7f", "'\\x7f'"),  # DEL
    ],
)
def test_ids_and_codes_refuse_unprintable_characters(field: str, value: str, char: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_event_obj(received(**{field: value}))
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert f"unprintable character {char}" in message
    assert "\n" not in message.rstrip("\n")  # the error itself is one line


@pytest.mark.parametrize(
    "dossier_id",
    [
        "000.00.20.H33-260601-0001",  # the national format
        "Đồng Nai 01",  # Vietnamese letters and a plain space are printable
    ],
)
def test_printable_ids_pass(dossier_id: str) -> None:
    assert parse_event_obj(received(dossier_id=dossier_id)).dossier_id == dossier_id


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Hoàng Văn Nam", "Hoàng Văn Nam"),  # unchanged: nothing to escape
        ("a\x1b[2Jb", "a\\x1b[2Jb"),  # the escape sequence is shown, not run
        ("x\r\ny", "x\\r\\ny"),
        ("\u202eabc", "\\u202eabc"),
        ("a\u2028b", "a\\u2028b"),  # line separator
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_keeps_newlines_only_when_asked() -> None:
    assert printable("a\nb\x07", keep_newlines=True) == "a\nb\\x07"
    assert printable("a\nb") == "a\\nb"


def test_json_escape_keeps_json_valid() -> None:
    text = json.dumps({"id": "x\u202ey\x7f"}, ensure_ascii=False, indent=2)
    shown = printable(text, keep_newlines=True, escape=json_escape)
    assert "\u202e" not in shown and "\x7f" not in shown
    assert json.loads(shown) == {"id": "x\u202ey\x7f"}


def test_inbox_and_alerts_lines_escape_what_reached_them() -> None:
    # Records written before the contract refused control characters still decode in
    # the tools (ids in stored records are not re-validated): their lines stay one line.
    hostile = "D-1\x1b[1A\x1b[2K"
    fields: dict[str, Any] = {"assignment_id": "a-1", "procedure": "2.001610", "step": "x"}
    a = make_assignment(
        dossier="D-1", step_due_at=AT, cause="e-1", agency="STC", assigned_at=AT, **fields
    ).model_copy(update={"dossier_id": hostile})
    line = inbox.render(a)
    assert "\x1b" not in line and "D-1\\x1b[1A\\x1b[2K" in line
    alert = make_alert(due=AT, detected=AT).model_copy(
        update={"dossier_id": hostile, "recipients": (Recipient(name="Nam\r\n", role="x"),)}
    )
    line = alerts_view.render(alert)
    assert line.isprintable() and "Nam\\r\\n" in line
