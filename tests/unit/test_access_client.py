"""Client security settings: validation, the credentials file, kwargs for each Kafka library."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from agents.access.client import KafkaSecurity
from agents.access.credentials import ensure_security, scram_credential


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    files, _ = ensure_security(tmp_path / "security", "127.0.0.1:19092")
    return files.clients


def test_credentials_file_is_private_and_complete(credentials: Path) -> None:
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    data = json.loads(credentials.read_text())
    assert data["bootstrap"] == "127.0.0.1:19092"
    assert set(data["principals"]) == {"admin", "engine", "publisher", "reader"}
    passwords = {p["password"] for p in data["principals"].values()}
    assert len(passwords) == 4 and all(len(p) >= 32 for p in passwords)


def test_passwords_survive_a_restart_on_another_port(credentials: Path) -> None:
    before = json.loads(credentials.read_text())["principals"]
    ensure_security(credentials.parent, "127.0.0.1:29999")
    after = json.loads(credentials.read_text())
    assert after["principals"] == before and after["bootstrap"] == "127.0.0.1:29999"


def test_scram_argument_carries_no_clear_password() -> None:
    value = scram_credential("engine", "hunter2-secret", salt=b"salt")
    assert value.startswith("SCRAM-SHA-512=[name=engine,iterations=8192,salt=")
    assert "hunter2" not in value


def test_from_file_gives_sasl_ssl_kwargs_for_each_library(credentials: Path) -> None:
    engine = KafkaSecurity.from_credentials_file(credentials, "engine")
    kp = engine.kafka_python_kwargs()
    assert kp["security_protocol"] == "SASL_SSL" and kp["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kp["sasl_plain_username"] == "engine" and kp["ssl_check_hostname"] is True
    aio = engine.aiokafka_kwargs()
    assert (
        aio["ssl_context"].check_hostname
        and aio["sasl_plain_password"] == kp["sasl_plain_password"]
    )
    creds = engine.faust_app_kwargs()["broker_credentials"]
    assert creds.mechanism.value == "SCRAM-SHA-512" and creds.protocol.value == "SASL_SSL"
    assert kp["sasl_plain_password"] not in repr(engine)  # SecretStr: never in logs


def test_an_unknown_role_says_which_exist(credentials: Path) -> None:
    with pytest.raises(ValueError, match=r"no principal 'root' \(known: admin, engine"):
        KafkaSecurity.from_credentials_file(credentials, "root")


def test_plaintext_has_no_security_settings() -> None:
    plain = KafkaSecurity()
    assert plain.kafka_python_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert plain.faust_app_kwargs() == {} and plain.ssl_context() is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {
                "protocol": "SASL_SSL",
                "sasl_mechanism": "GSSAPI",
                "username": "u",
                "password": SecretStr("p"),
            },
            "needs a SASL mechanism",
        ),
        (
            {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "username": "u"},
            "needs a username and a password",
        ),
        ({"protocol": "PLAINTEXT", "username": "u"}, "takes no SASL"),  # creds would be ignored
        ({"protocol": "TLS"}, "expected one of"),  # a typo must not mean plaintext
    ],
)
def test_inconsistent_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KafkaSecurity(**kwargs)  # type: ignore[arg-type]
