"""How a client authenticates to Kafka, turned into kafka-python, aiokafka and faust settings.

One frozen ``KafkaSecurity`` per principal; the kwargs it returns go straight into the clients.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agents.access.credentials import read_clients_file

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: mechanisms all three client libraries speak with a username and password
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """A principal's transport and login. ``PLAINTEXT`` (the default) is no security at all.

    ``ca_file`` is the PEM bundle the broker's certificate must chain to (``None``: the
    system's trust store). Hostnames are always checked against the certificate's SANs.
    """

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    #: how long kafka-python clients try to reach the bootstrap servers (None: its 30 s)
    connect_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"security protocol {self.protocol!r}: expected one of {PROTOCOLS}")
        if self.uses_sasl:
            if self.sasl_mechanism not in MECHANISMS:
                raise ValueError(
                    f"{self.protocol} needs a SASL mechanism among {MECHANISMS}, "
                    f"got {self.sasl_mechanism!r}"
                )
            if not self.username or self.password is None or not self.password.get_secret_value():
                raise ValueError(f"{self.protocol} needs a username and a password")
        elif self.sasl_mechanism or self.username or self.password is not None:
            raise ValueError(f"{self.protocol} takes no SASL mechanism, username or password")
        if self.ca_file is not None and not self.uses_tls:
            raise ValueError(f"{self.protocol} does not use TLS: a CA file makes no sense")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @classmethod
    def from_credentials_file(cls, path: Path | str, role: str) -> KafkaSecurity:
        """The ``role``'s entry of a ``clients.json`` written by scripts/kafka-local."""
        path = Path(path)
        data = read_clients_file(path)
        entry = data["principals"].get(role)
        if not isinstance(entry, dict):
            known = ", ".join(sorted(data["principals"]))
            raise ValueError(f"{path}: no principal {role!r} (known: {known})")
        ca = entry.get("ca_file", data.get("ca_file"))
        return cls(
            protocol=str(data["security_protocol"]),
            sasl_mechanism=str(data["sasl_mechanism"]),
            username=str(entry["username"]),
            password=SecretStr(str(entry["password"])),
            ca_file=Path(ca) if ca else None,
        )

    def _password(self) -> str | None:
        return self.password.get_secret_value() if self.password is not None else None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context (TLS 1.2+, hostname checked), or ``None`` without TLS."""
        if not self.uses_tls:
            return None
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"CA file {self.ca_file} does not exist")
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file) if self.ca_file else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """For kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.connect_timeout_s is not None:
            kwargs["bootstrap_timeout_ms"] = int(self.connect_timeout_s * 1000)
        if self.uses_tls:
            kwargs["ssl_context"] = self.ssl_context()
            kwargs["ssl_check_hostname"] = True
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.username
            kwargs["sasl_plain_password"] = self._password()
        return kwargs

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """For aiokafka's AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.username
            kwargs["sasl_plain_password"] = self._password()
        return kwargs

    def faust_credentials(self) -> Any:
        """faust's ``broker_credentials`` (``None`` for PLAINTEXT)."""
        import faust  # late: the tools that only need kafka-python do not pay faust's import

        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self._password(),
                ssl_context=self.ssl_context(),
                mechanism=self.sasl_mechanism,
            )
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context())
        return None

    def faust_app_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``faust.App(...)``; empty for PLAINTEXT.

        faust hands ``broker_credentials`` to every aiokafka client it makes (consumer,
        producer, the topic-creating admin); SASL_SSL needs the context inside it.
        """
        credentials = self.faust_credentials()
        return {"broker_credentials": credentials} if credentials is not None else {}


def bootstrap_from_credentials_file(path: Path | str) -> str:
    """The ``host:port`` the broker that wrote ``clients.json`` listens on."""
    return str(read_clients_file(Path(path))["bootstrap"])
