"""Unit tests build apps and clients without any broker: no Kafka login to look for.

The integration session fixture turns the login on for its secured broker
(tests/support/security.py `configure`)."""

from __future__ import annotations

import os

# Settings are secured by default (TLS + SCRAM) and would look for a credentials file;
# nothing here connects. Set before any test module builds a Settings at import.
os.environ.setdefault("DOSSIERFLOW_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
# The sample catalog names webhooks, and a worker app refuses to be built without their
# signing secret: the suite's (tests/support/webhooks.py), for apps built from Settings().
os.environ.setdefault(
    "DOSSIERFLOW_WEBHOOK_SECRETS",
    '{"default": [{"kid": "test-1", "secret": "test-webhook-secret-default-0001"}]}',
)
