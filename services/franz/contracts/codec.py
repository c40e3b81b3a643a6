"""The wire format of every Franz topic: compact UTF-8 JSON, with each decoding failure classified."""

from __future__ import annotations

from typing import Final

import orjson

from franz.contracts.exceptions import UndecodableRecord

# A raw record this large cannot be a valid ticket (4000 characters of 4-byte UTF-8 plus fields stay below).
RAW_MAX_BYTES: Final = 64 * 1024


def encode(record: object) -> bytes:
    """Compact UTF-8 JSON: the wire format of every Franz topic."""
    return orjson.dumps(record)


def loads(value: bytes) -> object:
    """Bytes to JSON; each failure is an `UndecodableRecord`, classified for the DLQ."""
    if len(value) > RAW_MAX_BYTES:
        raise UndecodableRecord("too_large", f"record has {len(value)} bytes; the limit is {RAW_MAX_BYTES}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UndecodableRecord(
            "encoding_error", f"record is not UTF-8: {error.reason} at byte {error.start}"
        ) from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise UndecodableRecord("json_decode_error", f"record is not JSON: {error}") from None


def load_value(value: bytes | None) -> object:
    """A record's value as JSON; a tombstone (no value) breaks every contract that has a value."""
    if value is None:
        raise UndecodableRecord("validation_error", "record has no value (tombstone)")
    return loads(value)
