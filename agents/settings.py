"""Deployment settings: one frozen object, read once at the entry point and passed down.

Nothing else in the code base reads ``os.environ``. Every field can be set by
an environment variable ``DOSSIERFLOW_<FIELD>`` (e.g. ``DOSSIERFLOW_BROKER``).
"""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from events import TopicNames

#: ``instance_id`` default: derived from what already tells one worker slot from another.
AUTO_INSTANCE_ID = "auto"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOSSIERFLOW_", frozen=True, extra="forbid")

    # Kafka
    broker: str = Field("127.0.0.1:19092", description="bootstrap servers, host:port[,host:port]")
    app_id: str = Field("dossierflow", description="faust app id = consumer group")
    topic_prefix: str = Field("", description="prefix for every topic (tests, tenants)")
    partitions: int = Field(4, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=7)

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
        AUTO_INSTANCE_ID,
        max_length=249,
        description=(
            "static group membership (group.instance.id): unique per worker and kept across "
            "restarts, so a restarted worker takes its partitions back at once instead of "
            "after the session timeout; 'auto' = app id, host name and web port; "
            "empty = dynamic membership"
        ),
    )

    # Worker
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65535)
    worker_name: str = Field(
        "", description="label for this worker in metrics; default host:web_port"
    )
    store: Literal["memory://", "rocksdb://"] = "memory://"
    data_dir: Path = Path(".dossierflow-data")

    # Domain
    catalog_path: Path | None = Field(None, description="catalog folder or file; default sample")
    office_hours: str = "07:30-11:30,13:30-17:30"
    calendar_overrides: Path | None = None

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

    # Alert delivery
    webhook_secret: SecretStr = SecretStr("")
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    webhook_retries: int = Field(4, ge=0, le=20)
    webhook_backoff_seconds: float = Field(0.5, gt=0)
    smtp_host: str = ""
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "dossierflow@localhost"
    smtp_timeout_seconds: float = Field(10.0, gt=0)

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
