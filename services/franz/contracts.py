"""Message contracts: the one definition of field names, limits and ticket ids, used by every service.

Field names of the seed (`username`, `message`, `timestamp`; `contact`, `origin`, `body`, `date`; the DLQ's
`error`, `error_type`, `raw_value`, `time`) are kept exactly, so upstream services can be swapped for ours.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import unicodedata
from typing import Any, Final, Literal, NotRequired, TypedDict

import orjson

from franz.exceptions import FranzError

SCHEMA_VERSION: Final = 1

USERNAME_MAX_CHARS: Final = 100
MESSAGE_MAX_CHARS: Final = 4000
ID_MAX_CHARS: Final = 200
CATEGORY_MAX_CHARS: Final = 50
# A raw record this large cannot be a valid ticket (4000 characters of 4-byte UTF-8 plus fields stay below).
RAW_MAX_BYTES: Final = 64 * 1024

PRIORITIES: Final = ("low", "normal", "high", "urgent")
CATEGORIES: Final = ("general", "bug", "account", "billing", "feature")
DEFAULT_PRIORITY: Final = "normal"
DEFAULT_CATEGORY: Final = "general"
ORIGIN_DISCORD: Final = "Discord"

# The seed's topic names: the embedded default pipeline.
TOPIC_INTAKE: Final = "discordMSG"
TOPIC_FORMATTED: Final = "tickets-formatted"
TOPIC_FORMATTED_DLQ: Final = "tickets-formatted-dlq"
TOPIC_ERRORS: Final = "errors"
DEFAULT_TOPICS: Final = (TOPIC_INTAKE, TOPIC_FORMATTED, TOPIC_FORMATTED_DLQ, TOPIC_ERRORS)

ErrorType = Literal[
    "json_decode_error", "validation_error", "encoding_error", "too_large", "unexpected_error"
]


class RawIntake(TypedDict):
    """Topic `discordMSG`, keyed by `source_id`."""

    username: str
    message: str
    timestamp: str
    source_id: NotRequired[str]
    user_id: NotRequired[str]
    guild_id: NotRequired[str]
    channel_id: NotRequired[str]
    category: NotRequired[str]
    priority: NotRequired[str]


class TicketSource(TypedDict):
    id: str | None
    user_id: str | None
    guild_id: str | None
    channel_id: str | None


class FormattedTicket(TypedDict):
    """Topic `tickets-formatted`, keyed by `ticket_id`."""

    ticket_id: str
    schema: int
    contact: str
    origin: str
    body: str
    date: str
    source: TicketSource
    category: str
    priority: str


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


class ContractError(FranzError, ValueError):
    """A record breaks its contract; `error_type` is the DLQ's classification."""

    def __init__(self, error_type: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error_type: ErrorType = error_type


def utc_now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Unicode category Cc (C0, DEL, C1) except tab and newline, and lone surrogates (Cs) from JSON escapes.
_CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Crockford's base32 has no I, L, O or U to misread; digit i of RFC 4648's alphabet becomes digit i of his.
_TO_CROCKFORD: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def ticket_id_for(source_id: str | None, *, topic: str = "", partition: int = 0, offset: int = 0) -> str:
    """The ticket id: a hash of the idempotency key (else of the record's coordinates), so replays agree.

    The bot shows it to the submitter before aufbereitung ever sees the record; both call this function.
    50 bits keep the id short enough to read out loud while collisions stay unlikely below tens of millions.
    """
    key = f"source:{source_id}" if source_id else f"record:{topic}/{partition}/{offset}"
    # The first 50 bits of the digest, as ten base32 digits in Crockford's alphabet.
    digits = base64.b32encode(hashlib.sha256(key.encode()).digest()[:7]).decode().translate(_TO_CROCKFORD)
    return f"T-{digits[:5]}-{digits[5:10]}"


def clean_text(value: str) -> str:
    """NFC, trimmed, without control characters except newline and tab; NUL is refused, not stripped.

    A NUL byte is a sign of binary or hostile input, so it is an error rather than something to repair.
    """
    if "\x00" in value:
        raise ContractError("validation_error", "text contains a NUL character")
    return _CONTROL_CHARACTERS.sub("", unicodedata.normalize("NFC", value)).strip()


def _required_text(record: dict[str, Any], field: str, max_chars: int) -> str:
    if field not in record or record[field] is None:
        raise ContractError("validation_error", f"missing field {field!r}")
    value = record[field]
    if not isinstance(value, str):
        raise ContractError(
            "validation_error", f"field {field!r} must be a string, not {type(value).__name__}"
        )
    cleaned = clean_text(value)
    if not cleaned:
        raise ContractError("validation_error", f"field {field!r} is empty")
    if len(cleaned) > max_chars:
        raise ContractError(
            "validation_error", f"field {field!r} has {len(cleaned)} characters; the limit is {max_chars}"
        )
    return cleaned


def _optional_text(record: dict[str, Any], field: str, max_chars: int) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # Discord snowflakes arrive as numbers from some producers
    if not isinstance(value, str):
        raise ContractError(
            "validation_error", f"field {field!r} must be a string, not {type(value).__name__}"
        )
    cleaned = clean_text(value)
    if len(cleaned) > max_chars:
        raise ContractError(
            "validation_error", f"field {field!r} has {len(cleaned)} characters; the limit is {max_chars}"
        )
    return cleaned or None


def _timestamp(record: dict[str, Any]) -> str:
    raw = _required_text(record, "timestamp", 64)
    try:
        datetime.datetime.fromisoformat(raw)
    except ValueError:
        raise ContractError("validation_error", f"field 'timestamp' is not ISO 8601: {raw[:64]!r}") from None
    if "T" not in raw and " " not in raw:
        raise ContractError("validation_error", "field 'timestamp' has a date but no time")
    return raw


def validate_raw_intake(record: object) -> RawIntake:
    """Check and clean one raw intake record; raises ContractError naming the first problem."""
    if not isinstance(record, dict):
        raise ContractError("validation_error", f"expected a JSON object, got {type(record).__name__}")
    intake: RawIntake = {
        "username": _required_text(record, "username", USERNAME_MAX_CHARS),
        "message": _required_text(record, "message", MESSAGE_MAX_CHARS),
        "timestamp": _timestamp(record),
    }
    for field in ("source_id", "user_id", "guild_id", "channel_id"):
        value = _optional_text(record, field, ID_MAX_CHARS)
        if value is not None:
            intake[field] = value
    category = _optional_text(record, "category", CATEGORY_MAX_CHARS)
    if category is not None:
        intake["category"] = category.lower()
    priority = _optional_text(record, "priority", CATEGORY_MAX_CHARS)
    if priority is not None:
        if priority.lower() not in PRIORITIES:
            raise ContractError(
                "validation_error",
                f"field 'priority' must be one of {', '.join(PRIORITIES)}, not {priority!r}",
            )
        intake["priority"] = priority.lower()
    return intake


def decode_raw_intake(value: bytes | None) -> RawIntake:
    """Bytes from Kafka to a valid intake record, classifying every failure for the DLQ."""
    if value is None:
        raise ContractError("validation_error", "record has no value (tombstone)")
    if len(value) > RAW_MAX_BYTES:
        raise ContractError("too_large", f"record has {len(value)} bytes; the limit is {RAW_MAX_BYTES}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ContractError(
            "encoding_error", f"record is not UTF-8: {error.reason} at byte {error.start}"
        ) from None
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ContractError("json_decode_error", f"record is not JSON: {error}") from None
    return validate_raw_intake(parsed)


def format_ticket(intake: RawIntake, *, topic: str, partition: int, offset: int) -> FormattedTicket:
    """The formatted ticket for a valid intake record read at the given coordinates."""
    source_id = intake.get("source_id")
    return {
        "ticket_id": ticket_id_for(source_id, topic=topic, partition=partition, offset=offset),
        "schema": SCHEMA_VERSION,
        "contact": intake["username"],
        "origin": ORIGIN_DISCORD,
        "body": intake["message"],
        "date": intake["timestamp"],
        "source": {
            "id": source_id,
            "user_id": intake.get("user_id"),
            "guild_id": intake.get("guild_id"),
            "channel_id": intake.get("channel_id"),
        },
        "category": intake.get("category", DEFAULT_CATEGORY),
        "priority": intake.get("priority", DEFAULT_PRIORITY),
    }


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


def new_raw_intake(
    *,
    username: str,
    message: str,
    source_id: str,
    user_id: str | None = None,
    guild_id: str | None = None,
    channel_id: str | None = None,
    category: str | None = None,
    priority: str | None = None,
) -> RawIntake:
    """A raw intake record for publishing (the bot and `franz ticket`), validated by the same rules."""
    candidate: dict[str, Any] = {
        "username": username,
        "message": message,
        "timestamp": utc_now_iso(),
        "source_id": source_id,
        "user_id": user_id,
        "guild_id": guild_id,
        "channel_id": channel_id,
        "category": category,
        "priority": priority,
    }
    return validate_raw_intake({key: value for key, value in candidate.items() if value is not None})


def encode(record: object) -> bytes:
    """Compact UTF-8 JSON: the wire format of every Franz topic."""
    return orjson.dumps(record)
