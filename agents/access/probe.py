"""One authenticated metadata request: scripts/kafka-local's readiness check on a secure broker.

Prints ``broker <id> <host>:<port>`` per listed broker and ``controller <id>``, like the raw probe.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.access.client import KafkaSecurity
from agents.access.credentials import ADMIN


def probe(bootstrap: str, security: KafkaSecurity, timeout_ms: int = 5000) -> list[str]:
    """The lines to print; raises (kafka.errors.*) when the broker does not answer or refuses."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=[bootstrap],
        client_id="kafka-local-probe",
        request_timeout_ms=timeout_ms,
        **security.kafka_python_kwargs(),
    )
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    lines = [f"broker {b['broker_id']} {b['host']}:{b['port']}" for b in cluster["brokers"]]
    lines.append(f"controller {cluster['controller_id']}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.access.probe")
    parser.add_argument("--credentials", type=Path, required=True, help="clients.json")
    parser.add_argument("--role", default=ADMIN, help="principal to log in as (admin)")
    parser.add_argument("--bootstrap", required=True, help="host:port")
    args = parser.parse_args(argv)
    try:
        security = KafkaSecurity.from_credentials_file(args.credentials, args.role)
        lines = probe(args.bootstrap, security)
    except Exception as exc:  # any failure means "not ready": say which, for the operator
        print(f"probe: {args.bootstrap}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    port = args.bootstrap.rsplit(":", 1)[-1]
    return (
        0 if any(line.startswith("broker ") and line.endswith(f":{port}") for line in lines) else 1
    )


if __name__ == "__main__":
    raise SystemExit(main())
