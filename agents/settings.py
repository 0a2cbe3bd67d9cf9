"""Deployment settings: one frozen object, read once at the entry point and passed down.

Nothing else in the code base reads ``os.environ``. Every field can be set by
an environment variable ``DOSSIERFLOW_<FIELD>`` (e.g. ``DOSSIERFLOW_BROKER``).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.access.client import KafkaSecurity
from events import TopicNames

log = logging.getLogger(__name__)
_warned: list[bool] = []


class KafkaLoginError(ValueError):
    """The settings say how to reach Kafka securely, but not with which credentials."""


def warn_insecure() -> None:
    """Say once per process, loudly, that Kafka is reached without TLS or a login."""
    if not _warned:
        _warned.append(True)
        log.warning(
            "KAFKA SECURITY IS OFF (DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL=PLAINTEXT): no TLS, "
            "no login; anyone who reaches the broker can read and forge every dossier"
        )


#: Where ``scripts/kafka-local start`` writes the principals' credentials (repo-relative).
DEFAULT_CREDENTIALS = Path(".kafka/data/security/clients.json")

#: Where ``dossierflow tokens new`` keeps the status API's token hashes, beside the above.
DEFAULT_API_CREDENTIALS = Path(".kafka/data/security/api-tokens.json")

#: ``instance_id`` "auto": derived from what already tells one worker slot from another.
AUTO_INSTANCE_ID = "auto"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOSSIERFLOW_", frozen=True, extra="forbid")

    # Kafka
    broker: str = Field("127.0.0.1:19092", description="bootstrap servers, host:port[,host:port]")
    app_id: str = Field("dossierflow", description="faust app id = consumer group")
    topic_prefix: str = Field("", description="prefix for every topic (tests, tenants)")
    partitions: int = Field(4, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=7)

    # Kafka security: on by default (TLS + SASL/SCRAM; scripts/kafka-local makes both).
    # Credentials come from explicit fields, or from the clients file scripts/kafka-local
    # writes (one principal per role: engine, publisher, reader, admin).
    kafka_security_protocol: Literal["SASL_SSL", "SASL_PLAINTEXT", "SSL", "PLAINTEXT"] = Field(
        "SASL_SSL", description="PLAINTEXT: no TLS, no login (only for a broker of your own)"
    )
    kafka_credentials: Path | None = Field(
        None,
        description=(
            f"clients.json of scripts/kafka-local; default: {DEFAULT_CREDENTIALS} when it exists"
        ),
    )
    kafka_role: str = Field(
        "", description="principal of the credentials file; default: the command's own"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: SecretStr = SecretStr("")
    kafka_ca_file: Path | None = Field(None, description="PEM CA bundle the broker chains to")
    kafka_connect_timeout_seconds: float = Field(
        10.0, gt=0, description="how long a command tries to reach the broker before saying so"
    )

    # Consumer group membership: how fast a dead worker's partitions move on. A worker
    # killed with -9 never says goodbye; the broker gives its partitions away (or back to
    # its restart) only when its session expires. The broker refuses sessions under its
    # group.min.session.timeout.ms (6 s by default) and over group.max.session.timeout.ms;
    # faust refuses one over its request timeout (90 s).
    session_timeout_seconds: float = Field(
        10.0, ge=6.0, le=90.0, description="a silent member is dead after this"
    )
    heartbeat_interval_seconds: float = Field(
        2.0, gt=0, description="at most a third of session_timeout_seconds"
    )
    rebalance_timeout_seconds: float = Field(
        60.0, ge=1.0, le=300.0, description="how long a rebalance waits for live members to rejoin"
    )
    instance_id: str = Field(
        "",
        max_length=249,
        description=(
            "static group membership (group.instance.id): unique per worker and kept across "
            "restarts, so a restarted worker takes its partitions back at once instead of "
            "after the session timeout; 'auto' = app id, host name and web port; "
            "empty (the default) = dynamic membership"
        ),
    )

    # Worker
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65535)
    # The status API (docs/security.md "Reads"): bearer tokens per principal, stored hashed
    # (`dossierflow tokens new`); /metrics and /health optionally on an address of their own.
    api_credentials_path: Path | None = Field(
        None,
        description=(
            f"status-API tokens (JSON, hashes only); default: {DEFAULT_API_CREDENTIALS}; "
            "a missing file means no principal can log in"
        ),
    )
    ops_host: str = Field("", description="with ops_port: /metrics and /health only there")
    ops_port: int | None = Field(None, ge=1, le=65535)
    audit_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="a read waits this long for its audit record's ack"
    )
    worker_name: str = Field(
        "", description="label for this worker in metrics; default host:web_port"
    )
    store: Literal["memory://", "rocksdb://"] = "memory://"
    data_dir: Path = Path(".dossierflow-data")

    # Domain
    catalog_path: Path | None = Field(None, description="catalog folder or file; default sample")
    office_hours: str = "07:30-11:30,13:30-17:30"
    calendar_overrides: Path | None = None

    clock_tolerance_seconds: float = Field(
        300.0,
        ge=0,
        description="an event dated this much after the broker's timestamp is refused",
    )

    # Clock: real; accelerated (simulated time from clock_start at clock_speed x real time,
    # shared with the simulator); manual (tests move it with POST /clock/advance).
    clock: Literal["real", "accelerated", "manual"] = "real"
    clock_start: datetime | None = Field(None, description="aware instant; default now")
    clock_speed: float = Field(1.0, gt=0)
    clock_origin: datetime | None = Field(
        None,
        description=(
            "aware wall-clock instant at which the accelerated clock shows clock_start, so "
            "workers and the simulator started apart share one clock; default: when the "
            "process starts its clock"
        ),
    )
    tick_seconds: float = Field(1.0, gt=0, description="deadline watcher period, real seconds")
    # Ticks computed ahead of their instant in idle time (docs/alerts.md "Bursts").
    prepare_ahead_seconds: float = Field(
        300.0, ge=0, description="prepare the ticks due within this many clock seconds (0: off)"
    )
    prepare_max_dossiers: int = Field(
        30_000, ge=0, description="most dossiers whose next tick is held prepared (~13 KB each)"
    )

    # Events that arrive before their dossier's receipt wait this much working time.
    parked_wait_hours: float = Field(16.0, gt=0, description="working hours (16 = 2 days)")

    # Bounds: no record, dossier or flood may stop a worker or grow its memory without
    # end (docs/routing.md, "Bounds"). What breaks one is dead-lettered, not applied.
    max_event_bytes: int = Field(
        64 * 1024, ge=1024, le=512 * 1024, description="larger event records: too_large"
    )
    max_sheet_rows: int = Field(100, ge=1, le=10_000, description="process control sheet rows")
    max_step_visits: int = Field(10, ge=1, le=1000, description="hand-offs into one step")
    max_pauses: int = Field(20, ge=1, le=1000, description="supplement requests per dossier")
    max_state_bytes: int = Field(
        32 * 1024, ge=4096, le=512 * 1024, description="one dossier's encoded state"
    )
    parked_per_dossier: int = Field(32, ge=1, le=10_000, description="early events per dossier")
    parked_per_dossier_bytes: int = Field(
        128 * 1024,
        ge=4096,
        le=512 * 1024,
        description="stored bytes of one dossier's parked events",
    )
    parked_dossiers: int = Field(20_000, ge=1, description="dossiers with parked events")
    parked_total_bytes: int = Field(
        32 * 1024 * 1024, ge=1024 * 1024, description="stored bytes of all parked events"
    )

    # Signed events (docs/security.md): the worker verifies every event against the
    # publisher registry; a publisher (dossierflow publish, the demo feed) signs with its key.
    publishers_path: Path | None = Field(
        None, description="publisher registry (YAML); none = every event is unauthenticated"
    )
    require_signatures: bool = Field(
        True,
        description=(
            "False is a development escape: unsigned events are applied as sent by anyone "
            "(a warning at start says so)"
        ),
    )
    publisher_id: str = Field("", description="this publisher's id in the registry")
    publisher_key_id: str = Field("", description="the id of the key it signs with")
    publisher_key_file: Path | None = Field(
        None, description="its Ed25519 private key: PEM or base64 of the raw 32 bytes, mode 0600"
    )

    # Alert levels
    due_soon_fraction: float = Field(0.75, gt=0, lt=1, description="share of allotment used")
    due_soon_days_left: float = Field(1.0, ge=0, description="working days left")
    reminder_every_working_days: float = Field(
        0.0,
        ge=0,
        description="remind one escalation level higher every N working days while a dossier "
        "stays overdue (0: off)",
    )
    # Predicted-late warnings (docs/alerts.md "Predicted late", issue 17)
    predict_late: bool = Field(
        True, description="learn step times and warn of likely-late dossiers"
    )
    predict_threshold: float = Field(0.6, gt=0, le=1, description="warn when P(late) reaches this")
    predict_min_history: int = Field(
        30, ge=1, description="completed steps a (procedure version, step, agency) needs first"
    )
    predict_check_every_hours: float = Field(
        4.0, gt=0, description="working hours between re-evaluations of a quiet open dossier"
    )

    # Alert delivery (docs/alerts.md). Addresses come from the catalog, never from a record;
    # webhooks are signed with a secret per receiver (the catalog names it, the secrets
    # file holds it); SMTP AUTH only over TLS.
    webhook_secrets_path: Path | None = Field(
        None,
        description=(
            "JSON or YAML file (mode 0600): secret name -> one or two {kid, secret} "
            "(two while rotating)"
        ),
    )
    webhook_secrets: SecretStr = Field(
        SecretStr(""), description="the same JSON as the file, in the environment instead"
    )
    webhook_secret: SecretStr = Field(
        SecretStr(""),
        description="deprecated: the secret named 'default' with key id 'default'",
    )
    allow_unsigned_webhooks: bool = Field(
        False,
        description=(
            "development escape: webhooks of supervisors without a secret are sent unsigned "
            "instead of the worker refusing to start (a warning at start says so)"
        ),
    )
    webhook_allowed_hosts: str = Field(
        "",
        description=(
            "host[:port],... webhooks may reach (no port: the scheme's default); empty: any "
            "host the catalog names"
        ),
    )
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    webhook_retries: int = Field(4, ge=0, le=20)
    webhook_backoff_seconds: float = Field(0.5, gt=0)
    smtp_host: str = ""
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_implicit_tls: bool = Field(False, description="TLS from the first byte (SMTPS, 465)")
    smtp_ca_file: Path | None = Field(
        None, description="PEM CA bundle the mail server's certificate chains to; default system"
    )
    smtp_username: str = Field("", description="AUTH login; needs STARTTLS or implicit TLS")
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "dossierflow@localhost"
    smtp_timeout_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _smtp_auth_over_tls(self) -> Settings:
        # A password sent in the clear is a password given to everyone on the path.
        if self.smtp_starttls and self.smtp_implicit_tls:
            raise ValueError(
                "smtp_starttls and smtp_implicit_tls are both set: pick one (STARTTLS on "
                "port 587/25, implicit TLS on 465)"
            )
        if self.smtp_username and not (self.smtp_starttls or self.smtp_implicit_tls):
            raise ValueError(
                f"smtp_username={self.smtp_username!r} would log in to the mail server over "
                "plaintext: set DOSSIERFLOW_SMTP_STARTTLS=true or DOSSIERFLOW_SMTP_IMPLICIT_TLS"
                "=true"
            )
        return self

    @field_validator("broker")
    @classmethod
    def _broker_is_host_port(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().removeprefix("kafka://").rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> Settings:
        # The broker's own rule is heartbeat < session; a third leaves room for two lost ones.
        if self.heartbeat_interval_seconds * 3 > self.session_timeout_seconds:
            raise ValueError(
                f"heartbeat_interval_seconds={self.heartbeat_interval_seconds} is more than a "
                f"third of session_timeout_seconds={self.session_timeout_seconds}: a worker "
                "would be declared dead after one late heartbeat; lower it"
            )
        return self

    @field_validator("clock_start", "clock_origin")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("needs a UTC offset, e.g. 2026-04-27T07:30:00+07:00")
        return value

    @property
    def group_instance_id(self) -> str | None:
        """The consumer's group.instance.id: None is dynamic membership.

        'auto' gives each worker slot (a host and a web port: two live workers cannot
        share them) a stable id, so a restarted worker gets its partitions back at once.
        """
        if self.instance_id != AUTO_INSTANCE_ID:
            return self.instance_id or None
        return f"{self.app_id}-{socket.gethostname()}-{self.web_port}"[:249]

    def kafka_security(self, role: str) -> KafkaSecurity:
        """How the process logs in to Kafka, as ``role`` unless ``kafka_role`` says who, and
        how long its kafka-python clients try to reach the broker.

        Raises ``ValueError`` with what to set when the default (secured) mode has no
        credentials: nothing falls back to an unsecured connection by itself.
        """
        login = self._login(role)
        return replace(login, connect_timeout_s=self.kafka_connect_timeout_seconds)

    def _login(self, role: str) -> KafkaSecurity:
        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            warn_insecure()
            return KafkaSecurity()
        if self.kafka_username:
            return KafkaSecurity(
                protocol=protocol,
                sasl_mechanism=self.kafka_sasl_mechanism if "SASL" in protocol else None,
                username=self.kafka_username if "SASL" in protocol else None,
                password=self.kafka_password if "SASL" in protocol else None,
                ca_file=self.kafka_ca_file if protocol.endswith("SSL") else None,
            )
        return KafkaSecurity.from_credentials_file(self.credentials_file(), self.kafka_role or role)

    def credentials_file(self) -> Path:
        """The clients file the principals come from (``kafka_credentials`` or the default)."""
        if self.kafka_credentials is not None:
            return self.kafka_credentials
        if DEFAULT_CREDENTIALS.is_file():
            return DEFAULT_CREDENTIALS
        raise KafkaLoginError(
            "Kafka is secured by default and no credentials are set: set "
            "DOSSIERFLOW_KAFKA_CREDENTIALS to the clients.json scripts/kafka-local wrote "
            f"(default {DEFAULT_CREDENTIALS}), or DOSSIERFLOW_KAFKA_USERNAME/_PASSWORD/"
            "_CA_FILE, or DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL=PLAINTEXT for an unsecured "
            "broker of your own"
        )

    def kafka_python(self, role: str) -> dict[str, Any]:
        """``bootstrap_servers`` and the login, for a kafka-python client acting as ``role``."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            **self.kafka_security(role).kafka_python_kwargs(),
        }

    @property
    def bootstrap_servers(self) -> list[str]:
        """For kafka-python / aiokafka: ``["127.0.0.1:19092"]``."""
        return [s.strip().removeprefix("kafka://") for s in self.broker.split(",")]

    @property
    def faust_broker(self) -> list[str]:
        return [f"kafka://{s}" for s in self.bootstrap_servers]

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)
