"""Who sent a record: the router's first check, before the bytes are even decoded.

``SenderCheck.sender_of`` verifies a record's signature headers against the publisher
registry (``events.signature``, ``workflows.publishers``) and gives the ``Sender`` that
``workflows.routing.apply`` judges, or why the record is ``unauthenticated``. The
record's time is the broker's (``broker_time``): the events topic is created with
``message.timestamp.type=LogAppendTime`` (``agents.runtime.kafka_admin``), so the
broker, not the publisher, stamps it; a publisher-set CreateTime is not used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from agents.access.signing import verify
from events.signature import (
    KEY_HEADER,
    PUBLISHER_HEADER,
    SIGNATURE_HEADER,
    Unauthenticated,
)
from workflows.publishers import PublisherRegistry
from workflows.routing import Sender

__all__ = ["LOG_APPEND_TIME", "SenderCheck", "broker_time"]

log = logging.getLogger(__name__)

#: Kafka's timestamp types: 0 = CreateTime (the producer's), 1 = LogAppendTime (the broker's).
LOG_APPEND_TIME = 1
_warned_create_time = False


def broker_time(timestamp: float | None, timestamp_type: int | None) -> datetime | None:
    """A faust message's timestamp (seconds) when the broker set it; else None."""
    global _warned_create_time
    if timestamp is None or timestamp <= 0:
        return None
    if timestamp_type != LOG_APPEND_TIME:
        if not _warned_create_time:
            _warned_create_time = True
            log.warning(
                "records carry CreateTime timestamps (set by their publishers): the events "
                "topic needs message.timestamp.type=LogAppendTime for key rotation and "
                "plausible-time checks (docs/security.md)"
            )
        return None
    return datetime.fromtimestamp(timestamp, UTC)


@dataclass(frozen=True)
class SenderCheck:
    """The registry a worker verifies against, and whether a signature is required.

    ``require_signatures=False`` is a development escape: an unsigned record is taken
    as ``Sender(principal=None)`` (any agency); a record that carries signature headers
    is still verified, and refused when they do not verify.
    """

    registry: PublisherRegistry
    require_signatures: bool = True

    def sender_of(
        self,
        headers: Sequence[tuple[str, bytes]],
        key: bytes | None,
        value: bytes | None,
        at: datetime | None,
    ) -> Sender | Unauthenticated:
        if not self.require_signatures and not _signed(headers):
            return Sender(principal=None, agencies=None, broker_time=at)
        checked = verify(self.registry, headers, key, value, at)
        if isinstance(checked, Unauthenticated):
            return checked
        return Sender(principal=checked.publisher, agencies=checked.agencies, broker_time=at)


def _signed(headers: Sequence[tuple[str, bytes]]) -> bool:
    names = {PUBLISHER_HEADER, KEY_HEADER, SIGNATURE_HEADER}
    return any(name in names for name, _ in headers)
