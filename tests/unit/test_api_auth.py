"""Status-API tokens: issued once, kept as hashes, loaded with clear errors, reloaded on
change (fail closed); the API's refusals, its audit-or-503 rule, the audit view's escaping."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.runtime import api_auth
from agents.runtime.api_auth import (
    ApiCredentialsError,
    TokenStore,
    bearer_token,
    issue,
    load_principals,
    revoke,
    token_hash,
)
from agents.runtime.audit import AuditLog
from agents.runtime.faust_config import app_options
from agents.runtime.status_api import StatusApi
from agents.settings import Settings
from agents.tools.audit_view import render, shown
from events import DossierRead, ReadOutcome, ReadView
from events.topics import CLOSED_TABLE, OPEN_TABLE

from support.context import routing_context


def test_a_token_is_printed_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "sec" / "api-tokens.json"
    token = issue(path, "stc-desk", "agency", ["STC"])
    assert token.startswith("dft_") and len(token) >= 40
    text = path.read_text()
    assert token not in text and token_hash(token) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (principal,) = load_principals(path).values()
    assert (principal.name, principal.role, principal.agencies) == (
        "stc-desk", "agency", frozenset({"STC"}),
    )  # fmt: skip
    assert issue(path, "other", "admin", []) != token  # random, never derived


def test_issuing_twice_needs_replace_and_revoke_removes(tmp_path: Path) -> None:
    path = tmp_path / "api-tokens.json"
    old = issue(path, "desk", "agency", ["MOTCUA"])
    with pytest.raises(ApiCredentialsError, match="'desk' exists; pass --replace"):
        issue(path, "desk", "agency", ["MOTCUA"])
    new = issue(path, "desk", "agency", ["MOTCUA"], replace=True)
    store = TokenStore.open(path)
    assert store.authenticate(f"Bearer {old}") is None
    assert store.authenticate(f"Bearer {new}") is not None
    revoke(path, "desk")
    assert load_principals(path) == {}
    with pytest.raises(ApiCredentialsError, match="no principal 'desk'"):
        revoke(path, "desk")


def _write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


GOOD = {"role": "agency", "agencies": ["STC"], "sha256": "a" * 64}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"line 1, column 2: not JSON"),
        ({"principals": {}}, r"not a version-1 API credentials file"),
        ({"version": 1}, r"no 'principals' object"),
        ({"version": 1, "principals": {"x": {**GOOD, "role": "boss"}}},
         r"principal 'x': role 'boss' is not one of agency, supervisor, admin"),
        ({"version": 1, "principals": {"x": {**GOOD, "agencies": []}}},
         r"principal 'x': role agency needs at least one agency"),
        ({"version": 1, "principals": {"x": {**GOOD, "sha256": "dft_plaintexttoken"}}},
         r"principal 'x': sha256 must be 64 lowercase hex digits .*never put a token"),
        ({"version": 1, "principals": {"x": {**GOOD, "token": "t"}}},
         r"principal 'x': unknown field\(s\) token"),
        ({"version": 1, "principals": {"bad name": GOOD}}, r"principal 'bad name': a name is"),
        ({"version": 1, "principals": {"x": GOOD, "y": GOOD}},
         r"principals 'x' and 'y' share a token"),
    ],
)  # fmt: skip
def test_a_bad_credentials_file_says_where_and_what(
    tmp_path: Path, content: object, message: str
) -> None:
    path = _write(tmp_path / "api-tokens.json", content)
    with pytest.raises(ApiCredentialsError, match=message) as caught:
        TokenStore.open(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_logs_nobody_in(tmp_path: Path) -> None:
    store = TokenStore.open(tmp_path / "absent.json")
    assert len(store) == 0 and store.authenticate("Bearer dft_x") is None


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),  # the scheme is case-insensitive
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
        ("Bearer " + "x" * 300, None),  # junk is refused before hashing
    ],
)
def test_bearer_header(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_the_store_reloads_a_changed_file_and_fails_closed_on_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_auth, "RELOAD_CHECK_S", 0.0)
    path = tmp_path / "api-tokens.json"
    first = issue(path, "a", "admin", [])
    store = TokenStore.open(path)
    second = issue(path, "b", "supervisor", ["TTPVHCC"])
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime, surely
    found = store.authenticate(f"Bearer {second}")
    assert found is not None and found.role == "supervisor"
    path.write_text("{broken")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert store.authenticate(f"Bearer {first}") is None  # nobody, until fixed


def test_faust_views_are_off_and_the_router_forwards_the_peer() -> None:
    options = app_options(Settings(kafka_security_protocol="PLAINTEXT"))
    for flag in ("web_router_enabled", "web_tables_enabled", "web_stats_enabled",
                 "web_graph_enabled", "web_metrics_enabled"):  # fmt: skip
        assert options[flag] is False, flag
    assert options["Router"] == "agents.runtime.forwarding:ForwardingRouter"


# --- the API's answers, without a worker -------------------------------------------------


class FakeView:
    def json(self, value: Any, *, status: int = 200, headers: Any = None) -> tuple[int, Any]:
        return status, value


class FakeRequest:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers, self.path, self.remote = headers, "/dossiers/X", "10.0.0.7"


def api(tmp_path: Path, send: Any) -> tuple[StatusApi, str, list[DossierRead]]:
    token = issue(tmp_path / "t.json", "root", "admin", [])
    written: list[DossierRead] = []

    async def record(topic: str, key: bytes, value: bytes) -> None:
        await send()
        written.append(DossierRead.model_validate_json(value))

    audit = AuditLog(record, "audit", "w1", timeout_s=0.5)
    tables: dict[str, dict[bytes, bytes]] = {OPEN_TABLE: {}, CLOSED_TABLE: {}}
    tokens = TokenStore.open(tmp_path / "t.json")
    return StatusApi(tables, routing_context().catalog, tokens, audit), token, written


def test_a_read_whose_audit_record_is_not_acknowledged_is_not_answered(tmp_path: Path) -> None:
    async def broker_down() -> None:
        raise ConnectionError("no broker")

    status_api, token, written = api(tmp_path, broker_down)
    request = FakeRequest({"Authorization": f"Bearer {token}"})
    answer = asyncio.run(status_api._sheet(FakeView(), request, "X"))
    assert answer == (503, {"error": "unavailable"}) and written == []


def test_a_slow_audit_ack_times_out_into_503(tmp_path: Path) -> None:
    async def hang() -> None:
        await asyncio.sleep(5)

    status_api, token, _ = api(tmp_path, hang)
    request = FakeRequest({"Authorization": f"Bearer {token}"})
    assert asyncio.run(status_api._sheet(FakeView(), request, "X"))[0] == 503


def test_an_acknowledged_read_is_answered_and_says_who_and_what(tmp_path: Path) -> None:
    async def ok() -> None:
        return None

    status_api, token, written = api(tmp_path, ok)
    request = FakeRequest({"Authorization": f"Bearer {token}"})
    assert asyncio.run(status_api._sheet(FakeView(), request, "X")) == (404, {"error": "not_found"})
    (read,) = written
    assert (read.principal, read.role, read.dossier_id, read.status, read.outcome) == (
        "root", "admin", "X", 404, ReadOutcome.UNKNOWN,
    )  # fmt: skip
    assert (read.remote, read.worker, read.view) == ("10.0.0.7", "w1", ReadView.SHEET)


def test_the_audit_view_escapes_what_a_reader_could_have_typed() -> None:
    assert shown("a\x1b[2Jb\u202e\n") == "a\\x1b[2Jb\\u202e\\n" and shown(None) == "-"
    read = DossierRead(
        read_id="r1", at=datetime(2026, 3, 9, 1, 0, tzinfo=UTC), principal="citizen",
        dossier_id="X\x1b]0;owned\x07", view=ReadView.PUBLIC, path="/public/dossiers/X",
        outcome=ReadOutcome.REFUSED, status=404, detail="wrong lookup code",
        remote="127.0.0.1", worker="w1",
    )  # fmt: skip
    line = render(read)
    assert "\x1b" not in line and "\x07" not in line
    assert "X\\x1b]0;owned\\x07" in line and "refused 404" in line and "08:00:00+07:00" in line
