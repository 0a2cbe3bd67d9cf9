"""Driving ``RouterCore`` without Kafka: a batch's table writes applied to in-memory tables."""

from __future__ import annotations

from agents.runtime.router import Tables


def apply_writes(tables: Tables, writes: dict[str, dict[bytes, tuple[bytes | None, int]]]) -> None:
    """Do to ``tables`` what the runtime does with a batch's ``writes`` (None deletes)."""
    tables.apply(writes)
