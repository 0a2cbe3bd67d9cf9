"""``dossierflow demo`` can move off its ports: Kafka, the workers' web ports and the
webhook stub (the catalog copy it writes points the local webhooks there)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agents.demo import run as demo_run
from agents.demo.run import DemoOptions, _refuse_busy_ports
from agents.demo.stubs import DEFAULT_WEBHOOK_PORT, catalog_for_stub
from agents.tools import cli
from workflows.catalog import DEFAULT_CATALOG_DIR, load_catalog


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield int(server.getsockname()[1])


def webhooks(path: Path | None) -> list[str]:
    catalog = load_catalog(path)
    return [s.webhook for _, s in catalog.webhook_supervisors() if s.webhook is not None]


def test_the_catalog_copy_sends_every_local_webhook_to_the_stub_port(tmp_path: Path) -> None:
    sample = webhooks(None)
    assert {urlsplit(u).port for u in sample} == {DEFAULT_WEBHOOK_PORT}  # what is moved
    copy = catalog_for_stub(None, 9123, tmp_path / "catalog")
    moved = webhooks(copy)
    assert moved == [u.replace(":8099/", ":9123/") for u in sample]
    # Nothing else changed: the same files, line for line but the webhook lines.
    for original in sorted(DEFAULT_CATALOG_DIR.glob("*.yaml")):
        before = original.read_text(encoding="utf-8").splitlines()
        after = (copy / original.name).read_text(encoding="utf-8").splitlines()
        assert len(before) == len(after)
        changed = [a for b, a in zip(before, after, strict=True) if a != b]
        assert all("webhook:" in line and ":9123/" in line for line in changed), original.name


def test_a_catalog_file_of_its_own_is_copied_with_remote_webhooks_left_alone(
    tmp_path: Path,
) -> None:
    source = tmp_path / "one.yaml"
    text = (DEFAULT_CATALOG_DIR / "agencies.yaml").read_text(encoding="utf-8")
    source.write_text(
        text.replace("http://127.0.0.1:8099/hooks/sxd", "https://hooks.example.vn:8443/sxd"),
        encoding="utf-8",
    )
    copy = catalog_for_stub(source, 7001, tmp_path / "out")
    assert copy == tmp_path / "out" / "one.yaml"
    written = copy.read_text(encoding="utf-8")
    assert "https://hooks.example.vn:8443/sxd" in written
    assert "http://127.0.0.1:7001/hooks/ubnd-tinh" in written and ":8099/" not in written


def test_demo_workers_0_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--workers", "0"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "SECURITY" not in line]
    assert err == [
        "dossierflow demo: --workers 0: the demo needs at least one worker (--workers 1, "
        "the default, or more)"
    ]


def test_the_port_options_reach_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[DemoOptions] = []

    def fake_main(settings: Any, options: DemoOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(demo_run, "main_demo", fake_main)
    argv = ["demo", "--kafka-port", "29092", "--port", "7066", "--webhook-port", "9099"]
    assert cli.main(argv) == 0
    assert (seen[0].kafka_port, seen[0].port, seen[0].webhook_port) == (29092, 7066, 9099)
    assert cli.main(["demo"]) == 0
    assert (seen[1].kafka_port, seen[1].webhook_port) == (19092, DEFAULT_WEBHOOK_PORT)


@pytest.mark.parametrize(
    ("option", "variable"),
    [
        ("port", "PORT"),  # a worker's web port
        ("kafka_port", "KAFKA_PORT"),  # the broker's
    ],
)
def test_a_taken_port_is_one_line_naming_the_option(
    taken_port: int, option: str, variable: str
) -> None:
    opts = DemoOptions(**{option: taken_port})  # type: ignore[arg-type]
    ports = [opts.port]
    with pytest.raises(SystemExit) as refused:
        _refuse_busy_ports(opts, ports)
    flag = "--" + option.replace("_", "-")
    assert str(refused.value) == (
        f"dossierflow demo: port {taken_port} is in use on 127.0.0.1: pass {flag} with a "
        f"free one (make demo {variable}=...)"
    )


def test_the_kafka_controller_port_next_to_it_counts_too(taken_port: int) -> None:
    opts = DemoOptions(kafka_port=taken_port - 1, port=taken_port + 7)
    with pytest.raises(SystemExit, match=f"port {taken_port} is in use.*--kafka-port"):
        _refuse_busy_ports(opts, [])
    _refuse_busy_ports(DemoOptions(kafka_port=taken_port, broker="127.0.0.1:9092"), [])
