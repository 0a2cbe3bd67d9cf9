"""The status API on real Kafka, security on, two workers: it answers only to whom it may
(401 / 403 / 404 for two agencies, two supervisors, an admin; the citizen's lookup code),
forwards to the dossier's owner with the caller's token, logs every read to the audit topic
before answering, and serves none of faust's own views; the manual clock needs an admin;
/metrics and /health move to an ops address when one is given."""

from __future__ import annotations

import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import events as ev
from agents.runtime.api_auth import issue
from agents.runtime.audit import FORWARDED_FOR
from events import DossierRead, decode

from support.cli import run_cli
from support.dossiers import receipt
from support.fleet import Fleet
from support.harness import Reply, Worker, free_port, manual_clock, read_topic, wait_for
from support.kafka_io import WAIT_S, publish
from support.time import vn

RECEIVED = vn("2026-11-02 08:00")
#: D1 goes MOTCUA (receive) -> STC (review); D2 stays at the desk MOTCUA.
D1, D2, UNKNOWN = "API-1", "API-2", "API-NOPE"
CODE = "R7K2-99QX"
CLAIMED = "203.0.113.9"  # a forwarded-for address a caller claims
#: name -> (role, agencies): two agencies, a supervisor on STC's escalation path
#: (TTPVHCC) and one off it (SNNMT, which supervises the land office), an admin.
PRINCIPALS = {
    "desk": ("agency", ["MOTCUA"]),
    "stc": ("agency", ["STC"]),
    "centre": ("supervisor", ["TTPVHCC"]),
    "land": ("supervisor", ["SNNMT"]),
    "root": ("admin", []),
    "waiter": ("admin", []),  # waits until the events are routed; not in the tally
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_status_api_answers_only_to_whom_it_may_and_logs_every_read(
    fleet: Fleet, kafka_bootstrap: str, tmp_path: Path
) -> None:
    credentials = tmp_path / "api-tokens.json"
    tokens = {n: issue(credentials, n, role, ags) for n, (role, ags) in PRINCIPALS.items()}
    env = {
        **manual_clock(RECEIVED),
        "DOSSIERFLOW_API_CREDENTIALS_PATH": str(credentials),
    }
    one = fleet.worker("one", **env)
    # /metrics and /health on an ops address of their own, and then only there
    two = fleet.worker("two", DOSSIERFLOW_OPS_PORT=str(free_port()), **env)
    fleet.start(one, two)
    first = receipt(D1, f"{D1}/1", RECEIVED).model_copy(update={"lookup_code": CODE})
    handed = ev.StepCompleted(
        event_id=f"{D1}/2", dossier_id=D1, occurred_at=vn("2026-11-02 09:00"),
        agency="MOTCUA", step="receive",
    )  # fmt: skip
    publish(kafka_bootstrap, fleet.names.events, [first, handed, receipt(D2, f"{D2}/1", RECEIVED)])

    def routed() -> bool:
        code, body = one.get(f"/dossiers/{D1}", bearer(tokens["waiter"]))
        at_desk = one.get(f"/dossiers/{D2}", bearer(tokens["waiter"]))[0] == 200
        return code == 200 and body["current_agency"] == "STC" and at_desk

    wait_for(routed, WAIT_S, f"{D1} at STC and {D2} received")
    calls: Counter[tuple[str, str, int]] = Counter()  # (principal, dossier, status) asked

    def ask(worker: Worker, who: str, dossier: str, expected: int) -> Reply:
        headers = bearer(tokens[who]) if who in tokens else {}
        if who == "forged":
            headers = bearer("dft_" + uuid.uuid4().hex)
        # a caller's own forwarded-for: the engine's router drops it when it forwards
        reply = worker.call(f"/dossiers/{dossier}", headers={**headers, FORWARDED_FOR: CLAIMED})
        assert reply.status == expected, (who, dossier, worker.url, reply)
        calls[("anonymous" if expected == 401 else who, dossier, expected)] += 1
        return reply

    # Everyone asks both workers: one of them owns the dossier, the other forwards.
    for worker in (one, two):
        for dossier in (D1, UNKNOWN):
            # no token, a forged one: 401 before any lookup, the same for known and unknown
            for who in ("nobody", "forged"):
                reply = ask(worker, who, dossier, 401)
                assert reply.body == {"error": "unauthorized"}
                assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")
        for who in ("desk", "stc", "centre", "root"):
            sheet = ask(worker, who, D1, 200).body
            assert sheet["dossier_id"] == D1 and sheet["sheet"], who
            assert "lookup_hash" not in sheet
        assert ask(worker, "land", D1, 403).body == {"error": "forbidden"}
        assert ask(worker, "stc", D2, 403).body == {"error": "forbidden"}
        assert ask(worker, "desk", D2, 200).body["current_agency"] == "MOTCUA"
        for who in ("desk", "stc", "land", "root"):
            assert ask(worker, who, UNKNOWN, 404).body == {"error": "not_found"}

    # The citizen: the right code shows the public view; a wrong code and an unknown id
    # give the same 404, byte for byte; the code travels in a header, never the URL.
    citizen: Counter[tuple[str, int]] = Counter()
    for worker in (one, two):
        shown = worker.call(f"/public/dossiers/{D1}", headers={"X-Lookup-Code": CODE})
        assert shown.status == 200, shown
        assert shown.body["current_step"]["id"] == "review"
        assert shown.body["agency"]["code"] == "STC" and shown.body["agency"]["name"]
        assert not {"sheet", "sent_by", "applicant", "actor", "pauses"} & set(shown.body)
        wrong = worker.call(f"/public/dossiers/{D1}", headers={"X-Lookup-Code": "WRONG-123"})
        none = worker.call(f"/public/dossiers/{D1}", headers={})
        unknown = worker.call(f"/public/dossiers/{UNKNOWN}", headers={"X-Lookup-Code": CODE})
        assert {wrong.status, none.status, unknown.status} == {404}
        assert wrong.raw == none.raw == unknown.raw
        citizen.update({(D1, 200): 1, (D1, 404): 2, (UNKNOWN, 404): 1})

    assert two.ops_url != two.url
    with urllib.request.urlopen(f"{two.ops_url}/metrics", timeout=10) as scraped:
        assert b"dossierflow_" in scraped.read()
    assert two.call("/metrics", headers={}).status == 404
    assert two.call("/health", headers={}).status == 404
    assert one.call("/metrics", headers={}).status == 200  # no ops address: on the web port

    # faust's own views are off; the manual clock and the routes need an admin token.
    for path in ("/router/", f"/table/{fleet.names.events}-open/", "/graph/", "/stats/"):
        assert one.call(path).status == 404, path
    clock = {"advance_seconds": 60}
    assert one.call("/clock", method="POST", body=clock, headers={}).status == 401
    assert (
        one.call("/clock", method="POST", body=clock, headers=bearer(tokens["desk"])).status == 403
    )
    assert (
        one.call("/clock", method="POST", body=clock, headers=bearer(tokens["root"])).status == 200
    )
    assert one.call("/routes", headers=bearer(tokens["stc"])).status == 403

    # Every read above is in the audit log, once, with who, what, the status and the peer.
    expected_total = sum(calls.values()) + sum(citizen.values())

    def enough(records: list[object]) -> bool:
        return len(records) >= expected_total

    raw = read_topic(kafka_bootstrap, fleet.names.audit, until=enough, timeout=WAIT_S)
    reads = [decode(DossierRead, r.value) for r in raw]
    asked = [r for r in reads if r.principal != "waiter"]
    logged = Counter(
        (r.principal, r.dossier_id, r.status) for r in asked if r.view is ev.ReadView.SHEET
    )
    assert logged == calls
    logged_citizen = Counter(
        (r.dossier_id, r.status) for r in asked if r.view is ev.ReadView.PUBLIC
    )
    assert logged_citizen == citizen
    assert all(r.principal == "citizen" for r in asked if r.view is ev.ReadView.PUBLIC)
    outcomes = {(r.status, r.outcome) for r in asked}
    assert outcomes == {
        (200, ev.ReadOutcome.ALLOWED),
        (401, ev.ReadOutcome.REFUSED),
        (403, ev.ReadOutcome.REFUSED),
        (404, ev.ReadOutcome.UNKNOWN),
        (404, ev.ReadOutcome.REFUSED),  # the citizen's wrong or missing code
    }
    assert {r.detail for r in asked if r.status == 401} == {"no token", "invalid token"}
    assert all(r.remote == "127.0.0.1" and r.path.endswith(r.dossier_id) for r in asked)
    # Each sheet read was asked of both workers and answered by the owner only: half came
    # forwarded, logged with the address the first worker saw (the caller's claim dropped);
    # the other half carry the caller's claim, beside the real peer. A 401 is answered by
    # the worker asked, never forwarded.
    sheets = [r for r in asked if r.view is ev.ReadView.SHEET and r.status != 401]
    forwarded = [r for r in sheets if r.forwarded_for == "127.0.0.1"]
    direct = [r for r in sheets if r.forwarded_for == CLAIMED]
    assert len(forwarded) * 2 == len(direct) * 2 == len(sheets) > 0
    assert all(r.forwarded_for == CLAIMED for r in asked if r.status == 401)
    publics = [r for r in asked if r.view is ev.ReadView.PUBLIC]
    assert [r.forwarded_for for r in publics].count("127.0.0.1") * 2 == len(publics) > 0

    # The reader role reads the log back with the CLI (the engine only writes it).
    cli = run_cli("audit", "--dossier", D1, "--principal", "land", env=one.env)
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert len(lines) == calls[("land", D1, 403)] and all(
        "refused 403  land (supervisor)" in line for line in lines
    ), cli.stdout
    fleet.assert_no_agent_crash()
