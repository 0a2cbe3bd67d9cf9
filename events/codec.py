"""Bytes <-> models. The one codec every record crosses Kafka through."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from events.errors import ContractError, Problem, ReasonKind
from events.inbound import EVENT_TYPES, SCHEMA_VERSION, InboundEvent

MAX_EVENT_BYTES = 64 * 1024

_INBOUND: TypeAdapter[InboundEvent] = TypeAdapter(InboundEvent)
M = TypeVar("M", bound=BaseModel)


def parse_event(raw: bytes, max_bytes: int = MAX_EVENT_BYTES) -> InboundEvent:
    """Parse one inbound event from a Kafka record value of at most ``max_bytes``.

    Raises ``ContractError`` whose ``kind`` says which check failed and whose
    problems name the field (dotted path) and what is wrong with it.
    """
    if len(raw) > max_bytes:
        raise ContractError(
            ReasonKind.TOO_LARGE,
            [Problem("$", f"payload is {len(raw)} bytes; the limit is {max_bytes}")],
        )
    try:
        # Fast path: one pass in pydantic-core. Anything it refuses is re-checked below,
        # step by step, to say precisely what is wrong.
        event = _INBOUND.validate_json(raw, strict=True)
        if "schema_version" in event.model_fields_set:  # required on the wire
            return event
    except ValidationError:
        pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(
            ReasonKind.INVALID_ENCODING,
            [Problem("$", f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}")],
        ) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(
            ReasonKind.INVALID_JSON,
            [Problem("$", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")],
        ) from None
    return parse_event_obj(obj)


def parse_event_obj(obj: Any) -> InboundEvent:
    """Validate an already-decoded JSON value as an inbound event."""
    if not isinstance(obj, dict):
        raise ContractError(
            ReasonKind.SCHEMA_ERROR,
            [Problem("$", f"expected a JSON object, got {type(obj).__name__}")],
        )
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        shown = "missing" if "schema_version" not in obj else repr(version)
        raise ContractError(
            ReasonKind.UNSUPPORTED_VERSION,
            [Problem("schema_version", f"{shown}; this engine reads version {SCHEMA_VERSION}")],
        )
    kind = obj.get("type")
    if kind not in EVENT_TYPES:
        shown = "missing" if "type" not in obj else f"unknown type {kind!r}"
        raise ContractError(
            ReasonKind.UNKNOWN_TYPE,
            [Problem("type", f"{shown}; expected one of {', '.join(sorted(EVENT_TYPES))}")],
        )
    try:
        return _INBOUND.validate_python(obj)
    except ValidationError as exc:
        raise ContractError(ReasonKind.SCHEMA_ERROR, problems_of(exc)) from None


def problems_of(exc: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into ``field: problem`` pairs a person can act on."""
    problems = []
    for err in exc.errors(include_url=False):
        # The first location item of a discriminated union is the tag; drop it.
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "timezone_aware":
            message = "datetime must carry a UTC offset (e.g. +07:00); naive datetimes are invalid"
        problems.append(Problem(".".join(loc) or "$", message))
    return problems


def encode(model: BaseModel) -> bytes:
    """A model as the UTF-8 JSON bytes of one Kafka record value."""
    return model.model_dump_json(exclude_none=False).encode("utf-8")


def decode(model: type[M], raw: bytes) -> M:
    """Bytes written by ``encode`` back into ``model``; errors as ``ContractError``."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ContractError(ReasonKind.SCHEMA_ERROR, problems_of(exc)) from None
