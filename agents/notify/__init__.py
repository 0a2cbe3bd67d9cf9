"""Alert delivery: each alert on ``dossier-alerts`` to its supervisors by webhook and e-mail.

Who is told, and where, comes from the catalog when the alert is delivered
(``recipients``): never from the addresses inside a record, which are refused and
recorded. Webhooks go only to catalog URLs on the allowed hosts, signed with a timestamp
and the receiver's key id (``signature``, ``secrets``); SMTP AUTH only over TLS.

The notifier agent reads alerts in batches and delivers every (alert, channel, address)
of a batch concurrently, each with its own retries. What it guarantees (docs/alerts.md):

* **at least once**: an alert is acked only after every delivery of it succeeded or
  its failure record is on ``dossier-alerts-failed`` -- a failure is never silent;
* **once per alert id**, effectively: the ids of handled alerts are kept in a table
  (changelog-backed), so a re-delivered or re-sent alert is not sent again. The one
  window left is a crash after a delivery and before the table write: the alert is
  delivered again, with the same ``X-Dossierflow-Alert-Id`` header (and e-mail
  ``Message-ID``) for receivers to dedupe on.

Modules: ``channel`` (the ``Channel`` protocol, targets, outcomes, header checks),
``recipients`` (catalog resolution), ``retries`` (the policy every channel shares),
``webhook`` and ``email`` (one channel each), ``signature`` (webhook signing and the
receiver's ``verify``), ``secrets`` (the signing keys and the start-up check),
``messages`` (what supervisors read), ``registry`` (the channels, in order: add a new
one there), ``delivery`` (``Notifier``), ``failures`` (failure records), ``batch`` (one
batch without Kafka), ``agent`` (the faust wiring, ``register_notifier``: import it from
there, it needs faust). A new channel is one class in its own module, registered in
``registry.CHANNELS``, plus a ``ChannelContract`` subclass in tests/unit/notify.
"""

from agents.notify.batch import DeliveredBatch, deliver_batch
from agents.notify.channel import (
    ALERT_ID_HEADER,
    Channel,
    ChannelName,
    DeliveryOutcome,
    HeaderValueError,
    Target,
    checked_header,
    masked_url,
)
from agents.notify.delivery import Notifier
from agents.notify.email import EmailChannel, build_email, classify_smtp_error
from agents.notify.failures import failure_record, iter_failure_records, undecodable_record
from agents.notify.messages import duration_en, duration_vi, email_body, subject
from agents.notify.recipients import Resolution, UnresolvableAlert, resolve
from agents.notify.registry import CHANNELS, retry_budget_s
from agents.notify.retries import DeliveryError, RetryPolicy, with_retries
from agents.notify.secrets import (
    DEFAULT_SECRET,
    NotifierRefused,
    SigningKey,
    WebhookKeys,
    WebhookSecretsError,
    keys_at_start,
    load_webhook_keys,
)
from agents.notify.signature import SIGNATURE_HEADER, SignatureRejected, sign, verify
from agents.notify.webhook import WebhookChannel, destination_refused, is_retryable_status

__all__ = [
    "ALERT_ID_HEADER",
    "CHANNELS",
    "DEFAULT_SECRET",
    "SIGNATURE_HEADER",
    "Channel",
    "ChannelName",
    "DeliveredBatch",
    "DeliveryError",
    "DeliveryOutcome",
    "EmailChannel",
    "HeaderValueError",
    "Notifier",
    "NotifierRefused",
    "Resolution",
    "RetryPolicy",
    "SignatureRejected",
    "SigningKey",
    "Target",
    "UnresolvableAlert",
    "WebhookChannel",
    "WebhookKeys",
    "WebhookSecretsError",
    "build_email",
    "checked_header",
    "classify_smtp_error",
    "deliver_batch",
    "destination_refused",
    "duration_en",
    "duration_vi",
    "email_body",
    "failure_record",
    "is_retryable_status",
    "iter_failure_records",
    "keys_at_start",
    "load_webhook_keys",
    "masked_url",
    "resolve",
    "retry_budget_s",
    "sign",
    "subject",
    "undecodable_record",
    "verify",
    "with_retries",
]
