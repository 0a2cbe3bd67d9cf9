"""Webhook secrets: the file and its checks, and the worker's refusal to start when a
webhook the catalog names has no secret to be signed with."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agents.notify import (
    DEFAULT_SECRET,
    NotifierRefused,
    WebhookSecretsError,
    keys_at_start,
    load_webhook_keys,
)
from agents.runtime.app import create_app
from agents.settings import Settings

from support.webhooks import catalog_of, inline_secrets, supervisor, write_secrets

SECRET = "a-secret-of-32-characters-000001"


def settings(**values: Any) -> Settings:
    return Settings.model_construct(kafka_security_protocol="PLAINTEXT", **values)


def catalog_with(ref: str | None) -> Any:
    return catalog_of(
        {
            "SXD": [supervisor(webhook="https://hooks.example.vn/sxd")],
            "STNMT": [supervisor(webhook="https://hooks.example.vn/tnmt", secret=ref)],
        }
    )


def test_the_file_maps_names_to_one_or_two_keys(tmp_path: Path) -> None:
    path = write_secrets(
        tmp_path / "s.json",
        {"default": {"k1": SECRET}, "so-tnmt-hooks": {"b": SECRET, "a": SECRET}},
    )
    keys = load_webhook_keys(settings(webhook_secrets_path=path))
    assert [k.kid for k in keys.get(None)] == ["k1"]
    assert [k.kid for k in keys.get("so-tnmt-hooks")] == ["b", "a"]  # signing order kept
    assert keys.get("other") == ()
    assert SECRET not in repr(keys)  # secrets stay out of logs and tracebacks


def test_yaml_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"default:\n  - {{kid: '2026-12', secret: {SECRET}}}\n")
    path.chmod(0o600)
    assert [k.kid for k in load_webhook_keys(settings(webhook_secrets_path=path)).get(None)] == [
        "2026-12"
    ]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"default": []}, "one or two"),
        ({"default": [{"kid": "a", "secret": SECRET}] * 3}, "one or two"),
        ({"default": [{"kid": "a", "secret": "short"}]}, "shorter than 16"),
        ({"default": [{"kid": "a:b", "secret": SECRET}]}, "letters, digits"),  # ':' splits the header
        ({"default": [{"kid": "a", "secret": SECRET, "x": 1}]}, "exactly the keys"),
        ({"default": [{"kid": "a", "secret": SECRET}, {"kid": "a", "secret": SECRET + "x"}]}, "two keys"),
        (["not", "a", "mapping"], "expected a mapping"),
    ],
)  # fmt: skip
def test_a_bad_document_is_refused_saying_which_entry(document: Any, problem: str) -> None:
    with pytest.raises(WebhookSecretsError, match=problem):
        load_webhook_keys(settings(webhook_secrets=SecretStr(json.dumps(document))))


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = write_secrets(tmp_path / "s.json")
    os.chmod(path, 0o644)
    with pytest.raises(WebhookSecretsError, match="chmod 600"):
        load_webhook_keys(settings(webhook_secrets_path=path))


def test_file_and_inline_together_are_refused(tmp_path: Path) -> None:
    path = write_secrets(tmp_path / "s.json")
    with pytest.raises(WebhookSecretsError, match="keep one"):
        load_webhook_keys(settings(webhook_secrets_path=path, webhook_secrets=inline_secrets()))


def test_the_deprecated_single_secret_is_the_default_entry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        keys = load_webhook_keys(settings(webhook_secret=SecretStr(SECRET)))
    assert [(k.kid, k.secret) for k in keys.get(DEFAULT_SECRET)] == [(DEFAULT_SECRET, SECRET)]
    assert "deprecated" in caplog.text
    both = settings(webhook_secret=SecretStr(SECRET), webhook_secrets=inline_secrets())
    with pytest.raises(WebhookSecretsError, match="drop DOSSIERFLOW_WEBHOOK_SECRET"):
        load_webhook_keys(both)


def test_the_worker_refuses_to_start_naming_the_supervisor_and_the_missing_secret() -> None:
    with pytest.raises(NotifierRefused) as caught:
        keys_at_start(catalog_with("so-tnmt-hooks"), settings(webhook_secrets=inline_secrets()))
    message = str(caught.value)
    assert "\n" not in message
    assert "agency STNMT" in message and "'so-tnmt-hooks'" in message
    assert "DOSSIERFLOW_ALLOW_UNSIGNED_WEBHOOKS" in message
    # With the reference's secret there, it starts.
    both = inline_secrets({"default": {"k": SECRET}, "so-tnmt-hooks": {"k": SECRET}})
    keys_at_start(catalog_with("so-tnmt-hooks"), settings(webhook_secrets=both))


def test_no_secret_at_all_is_refused_for_every_webhook_counted() -> None:
    with pytest.raises(NotifierRefused, match=r"agency SXD.*'default'.*\(and 1 more\)"):
        keys_at_start(catalog_with(None), settings())


def test_unsigned_webhooks_only_when_allowed_and_then_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        keys_at_start(catalog_with(None), settings(allow_unsigned_webhooks=True))
    (record,) = [r for r in caplog.records if "UNSIGNED" in r.getMessage()]
    assert record.levelno == logging.WARNING and "2 supervisor(s)" in record.getMessage()


def test_a_secrets_problem_refuses_the_start_too(tmp_path: Path) -> None:
    with pytest.raises(NotifierRefused, match="cannot read the webhook secrets file"):
        keys_at_start(catalog_with(None), settings(webhook_secrets_path=tmp_path / "missing"))


def test_the_worker_app_is_not_built_without_the_sample_catalogs_secrets() -> None:
    # The sample catalog names webhooks (127.0.0.1:8099): no secret, no worker.
    with pytest.raises(NotifierRefused, match="refusing to start: agency UBND-TINH"):
        create_app(settings())
    create_app(settings(webhook_secrets=inline_secrets()))
