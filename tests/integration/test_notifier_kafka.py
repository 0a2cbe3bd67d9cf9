"""Alert delivery on a real broker: a notifier worker, a webhook receiver, an SMTP server.

The worker is ``notifier_worker.py`` (the notifier alone in a faust app configured like
``create_app``), started and stopped by pid, with a catalog written for the test: its
supervisors' webhooks and mailboxes are the receivers, which run in this process on
127.0.0.1 -- a threaded HTTP server that checks every signature with the documented
procedure (``agents.notify.verify``), and aiosmtpd.

Duplicates are published three ways: in the same batch, in a later batch (the
delivered-ids table must catch it), and after a worker restart (the table must come back
from its changelog). Each wait ends on a fact -- a marker alert published after the
duplicate was delivered, so the duplicate was processed before it.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaProducer

from agents.notify import ALERT_ID_HEADER, SIGNATURE_HEADER, SignatureRejected, verify
from agents.tools.alerts_view import follow, parse_alerts, read_all, select
from events import Alert, AlertScope, Recipient, TopicNames, encode

from support import outbound
from support.harness import REPO, Worker, free_port, read_json, wait_for, worker_env
from support.security import login
from support.webhooks import DEFAULT_KEYS

WAIT_S = 60.0
#: Who is told about a dossier overdue (the test's alerts): the agency's centre director.
ROLE = "centre_director"
#: The test catalog: agency -> (supervisor, e-mail, webhook path on the receiver).
AGENCIES = {
    "SXD": ("Hoàng Văn Nam", "giamdoc.sxd@laocai.example", "/ok"),
    "FLAKY": ("Flaky", "flaky@laocai.example", "/flaky"),
    "DOWN": ("Down", "down@laocai.example", "/down"),
    "MARK": ("Marker", "mark@laocai.example", "/ok"),
}


def write_catalog(path: Path, base: str) -> Path:
    """A catalog of ``AGENCIES`` (no procedure: the notifier only looks recipients up)."""
    lines = ["agencies:"]
    for code, (name, mail, hook) in AGENCIES.items():
        lines += [
            f"  - code: {code}",
            f"    name: Agency {code}",
            "    level: department",
            "    supervisors:",
            f'      - {{name: "{name}", email: {mail}, role: {ROLE}, webhook: "{base}{hook}"}}',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Hooks:
    """Signed POSTs by path; ``/down`` always answers 500, ``/flaky`` twice, then 200."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: list[tuple[str, bytes, str | None, str | None]] = []
        self.bad_signatures = 0
        self.flaky_failures = 2

    def answer(self, path: str, body: bytes, signature: str | None, aid: str | None) -> int:
        with self.lock:
            try:
                verify(body, signature, DEFAULT_KEYS)
            except SignatureRejected:
                self.bad_signatures += 1
                return 401
            self.got.append((path, body, signature, aid))
            if path == "/down":
                return 500
            if path == "/flaky" and self.flaky_failures:
                self.flaky_failures -= 1
                return 500
            return 200

    def alert_ids(self, path: str) -> list[str]:
        with self.lock:
            return [json.loads(body)["alert_id"] for p, body, _, _ in self.got if p == path]


@pytest.fixture
def hooks() -> Iterator[tuple[Hooks, str]]:
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = state.answer(
                self.path,
                body,
                self.headers.get(SIGNATURE_HEADER),
                self.headers.get(ALERT_ID_HEADER),
            )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.rcpts: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.rcpts.extend(envelope.rcpt_tos)
        return "250 OK"

    def alert_ids(self) -> list[str]:
        return [str(m[ALERT_ID_HEADER]) for m in self.messages]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


def make_alert(dossier: str, agency: str, recipients: tuple[Recipient, ...] | None = None) -> Alert:
    """A dossier-overdue alert as the engine writes it: the catalog's name and role only."""
    detected = datetime(2026, 5, 6, 13, 45, tzinfo=UTC)
    named = (Recipient(name=AGENCIES[agency][0], role=ROLE),) if agency in AGENCIES else ()
    return outbound.make_alert(
        dossier=dossier,
        agency=agency,
        scope=AlertScope.DOSSIER,
        step=None,
        due=detected - timedelta(days=2, hours=3),
        detected=detected,
        recipients=named if recipients is None else recipients,
    )


def publish(bootstrap: str, topic: str, *alerts: Alert, role: str = "admin") -> None:
    producer = KafkaProducer(bootstrap_servers=[bootstrap], acks="all", **login(role))
    try:
        for a in alerts:
            producer.send(topic, key=a.dossier_id.encode(), value=encode(a))
        producer.flush(30)
    finally:
        producer.close()


@dataclass(frozen=True)
class Setup:
    """The receivers, the test's topics, and how to start the notifier worker on them."""

    bootstrap: str
    names: TopicNames
    received: Hooks
    base: str
    box: Mailbox
    start: Callable[[], Worker]


@pytest.fixture
def setup(
    kafka_bootstrap: str,
    topic_prefix: str,
    consumer_group: str,
    tmp_path: Path,
    hooks: tuple[Hooks, str],
    mailbox: tuple[Mailbox, int],
) -> Setup:
    received, base = hooks
    box, smtp_port = mailbox
    env = worker_env(kafka_bootstrap, topic_prefix, consumer_group, tmp_path / "data", free_port())
    env.update(
        DOSSIERFLOW_CATALOG_PATH=str(write_catalog(tmp_path / "catalog.yaml", base)),
        DOSSIERFLOW_WEBHOOK_RETRIES="2",
        DOSSIERFLOW_WEBHOOK_BACKOFF_SECONDS="0.05",
        DOSSIERFLOW_SMTP_HOST="127.0.0.1",
        DOSSIERFLOW_SMTP_PORT=str(smtp_port),
    )
    argv = [str(REPO / ".venv/bin/python"), str(Path(__file__).with_name("notifier_worker.py"))]
    return Setup(
        kafka_bootstrap,
        TopicNames.with_prefix(topic_prefix),
        received,
        base,
        box,
        lambda: Worker(env, tmp_path / "worker.log", argv=argv).start(),
    )


def test_alerts_are_delivered_once_signed_by_webhook_and_email_and_failures_recorded(
    setup: Setup,
) -> None:
    kafka_bootstrap, names, received, base, box = (
        setup.bootstrap, setup.names, setup.received, setup.base, setup.box
    )  # fmt: skip
    start = setup.start
    both = make_alert("000.00.20.H33-260427-0001", "SXD")
    flaky = make_alert("D-FLAKY", "FLAKY")
    down = make_alert("D-DOWN", "DOWN")
    marker_1 = make_alert("D-MARK-1", "MARK")
    marker_2 = make_alert("D-MARK-2", "MARK")
    everyone = (both, flaky, down, marker_1, marker_2)

    worker = start()
    try:
        # 1. one batch: three alerts and a duplicate of the first
        publish(kafka_bootstrap, names.alerts, both, flaky, down, both)
        read_json(kafka_bootstrap, names.alerts_failed, count=1, timeout=WAIT_S)
        wait_for(lambda: both.alert_id in received.alert_ids("/ok"), WAIT_S, "webhook /ok")
        wait_for(lambda: len(received.alert_ids("/flaky")) == 3, WAIT_S, "3 tries of /flaky")
        wait_for(lambda: len(box.messages) >= 3, WAIT_S, "the e-mails")

        # 2. the same alert in a later batch, then a marker. One worker handles one batch at
        #    a time, in order, so once the marker is delivered the duplicate was handled.
        publish(kafka_bootstrap, names.alerts, both)
        publish(kafka_bootstrap, names.alerts, marker_1)
        wait_for(lambda: marker_1.alert_id in received.alert_ids("/ok"), WAIT_S, "marker 1")

        # 3. a restart: the delivered ids come back from the changelog
        worker.stop()
        worker = start()
        publish(kafka_bootstrap, names.alerts, both, flaky, down)
        publish(kafka_bootstrap, names.alerts, marker_2)
        wait_for(lambda: marker_2.alert_id in received.alert_ids("/ok"), WAIT_S, "marker 2")
        wait_for(lambda: len(box.messages) >= 5, WAIT_S, "the markers' e-mails")
    finally:
        worker.stop()

    log = worker.log()
    assert received.bad_signatures == 0, log
    assert sorted(received.alert_ids("/ok")) == sorted(
        [both.alert_id, marker_1.alert_id, marker_2.alert_id]
    ), log
    assert received.alert_ids("/flaky") == [flaky.alert_id] * 3  # 500, 500, 200
    assert received.alert_ids("/down") == [down.alert_id] * 3  # 1 try + 2 retries
    sent = {a.alert_id: encode(a) for a in everyone}
    for _, body, _, aid in received.got:
        assert aid is not None and body == sent[aid]  # the exact bytes, under the right id

    # One e-mail per alert, to the catalog's mailbox of its agency, never twice.
    assert sorted(box.alert_ids()) == sorted(a.alert_id for a in everyone), log
    assert sorted(box.rcpts) == sorted(AGENCIES[a.agency][1] for a in everyone)
    msg = next(m for m in box.messages if m[ALERT_ID_HEADER] == both.alert_id)
    assert msg["Subject"] == "[QUÁ HẠN] Hồ sơ 000.00.20.H33-260427-0001 — Cấp giấy phép xây dựng"
    assert msg["To"].addresses[0].addr_spec == "giamdoc.sxd@laocai.example"
    text = msg.get_body(("plain",))
    assert text is not None and "quá hạn 2 ngày 3 giờ" in text.get_content()

    # Exactly one failure record, after the restart too: the failed alert was handled.
    failed = read_json(kafka_bootstrap, names.alerts_failed, count=2, timeout=3.0)
    assert len(failed) == 1, failed
    record = failed[0]
    assert {k: record[k] for k in ("alert_id", "channel", "target", "attempts")} == {
        "alert_id": down.alert_id,
        "channel": "webhook",
        "target": base + "/…",  # masked
        "attempts": 3,
    }
    assert record["error"].startswith("HTTP 500")
    assert Alert.model_validate(record["alert"]) == down

    # The alerts view reads the same topic: every alert once, though some are there 3 times.
    def shown(agency: str | None) -> list[str]:
        alerts = parse_alerts(read_all([kafka_bootstrap], names.alerts, **login("reader")))
        return sorted(a.alert_id for a in select(alerts, agency=agency))

    expected = sorted(a.alert_id for a in everyone)
    assert shown(None) == expected
    assert shown("SXD") == [both.alert_id]
    assert shown("STNMT") == []
    deadline = time.monotonic() + 10
    followed = []
    for a in follow(
        [kafka_bootstrap],
        names.alerts,
        lambda: time.monotonic() > deadline,
        from_beginning=True,
        **login("reader"),
    ):
        followed.append(a.alert_id)
        if len(followed) == len(expected):
            break
    assert sorted(followed) == expected


def test_a_forged_alert_reaches_only_the_catalog_and_leaves_a_failure_record(
    setup: Setup,
) -> None:
    # An insider with the engine's own login writes an alert naming an internal admin URL
    # and an outside mailbox: the notifier must POST and mail only what the catalog says.
    base, received = setup.base, setup.received
    attacker = Recipient(
        name="Hoàng Văn Nam",
        role=ROLE,
        email="citizen@evil.example",
        webhook=f"{base}/internal/admin?token=s3cr3t",
    )
    forged = make_alert("D-FORGED", "SXD", (attacker,))
    unknown = make_alert("D-NOWHERE", "NOT-IN-CATALOG", (attacker,))
    marker = make_alert("D-MARK-1", "MARK")

    worker = setup.start()
    try:
        publish(setup.bootstrap, setup.names.alerts, forged, unknown, role="engine")
        publish(setup.bootstrap, setup.names.alerts, marker, role="engine")
        wait_for(lambda: marker.alert_id in received.alert_ids("/ok"), WAIT_S, "the marker")
        wait_for(lambda: len(setup.box.rcpts) >= 2, WAIT_S, "the catalog's e-mails")
        failed = read_json(setup.bootstrap, setup.names.alerts_failed, count=3, timeout=WAIT_S)
    finally:
        worker.stop()

    log = worker.log()
    paths = {p for p, _, _, _ in received.got}
    assert paths == {"/ok"}, log  # never /internal/admin
    assert received.alert_ids("/ok") == [forged.alert_id, marker.alert_id], log
    assert "citizen@evil.example" not in setup.box.rcpts
    assert sorted(setup.box.rcpts) == ["giamdoc.sxd@laocai.example", "mark@laocai.example"]
    by_target = {(r["alert_id"], r["channel"], r["target"]): r for r in failed}
    assert set(by_target) == {
        (forged.alert_id, "webhook", base + "/…"),
        (forged.alert_id, "email", "citizen@evil.example"),
        (unknown.alert_id, None, None),
    }, failed
    for (_, channel, _), record in by_target.items():
        assert record["attempts"] == 0
        assert ("not from the catalog" if channel else "is not in the catalog") in record["error"]
    assert "s3cr3t" not in json.dumps(failed) and "s3cr3t" not in log
