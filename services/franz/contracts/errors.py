"""What goes wrong, as records: dead letters (`<output>-dlq`) keep the record and where it came from, so
it can be found and replayed; error events (`errors`) report a service's operational failure."""

from __future__ import annotations

import base64
from typing import Any, Literal, TypedDict

from franz.contracts.exceptions import ContractError, ErrorType
from franz.contracts.fields import utc_now_iso


class RecordCoordinates(TypedDict):
    """Where a record came from, so that it can be found and replayed."""

    topic: str
    partition: int
    offset: int
    key: str | None
    timestamp: int | None


class DeadLetter(TypedDict):
    """Topic `<output>-dlq`. `raw_value` is the original text, or base64 when it was not UTF-8."""

    error: str
    error_type: ErrorType
    raw_value: str
    raw_encoding: Literal["utf-8", "base64"]
    time: str
    service: str
    source: RecordCoordinates


class ErrorEvent(TypedDict):
    """Topic `errors`: a service's operational failure. Never secrets or ticket bodies."""

    service: str
    severity: Literal["info", "warning", "error", "critical"]
    error_type: str
    message: str
    time: str
    context: dict[str, Any]


def dead_letter(
    *, error: ContractError | Exception, value: bytes | None, service: str, source: RecordCoordinates
) -> DeadLetter:
    """The DLQ envelope: the seed's fields plus where the record came from; raw bytes are never lost."""
    raw = value or b""
    encoding: Literal["utf-8", "base64"]
    try:
        raw_value, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        raw_value, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    error_type: ErrorType = error.error_type if isinstance(error, ContractError) else "unexpected_error"
    return {
        "error": str(error),
        "error_type": error_type,
        "raw_value": raw_value,
        "raw_encoding": encoding,
        "time": utc_now_iso(),
        "service": service,
        "source": source,
    }
