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
# The ticket lifecycle (sachbearbeiter); every one keyed by ticket id and partitioned like TOPIC_FORMATTED.
TOPIC_COMMANDS: Final = "ticket-commands"
TOPIC_COMMANDS_DLQ: Final = "ticket-commands-dlq"
TOPIC_EVENTS: Final = "ticket-events"
TOPIC_STATE: Final = "tickets-state"
LIFECYCLE_TOPICS: Final = (TOPIC_COMMANDS, TOPIC_COMMANDS_DLQ, TOPIC_EVENTS, TOPIC_STATE)
DEFAULT_TOPICS: Final = (TOPIC_INTAKE, TOPIC_FORMATTED, TOPIC_FORMATTED_DLQ, TOPIC_ERRORS, *LIFECYCLE_TOPICS)
# Topic settings the lifecycle depends on: the event log is the audit trail (kept forever), and the state
# topic holds one current record per ticket (compacted).
TOPIC_CONFIGS: Final[dict[str, dict[str, str]]] = {
    TOPIC_EVENTS: {"retention.ms": "-1", "cleanup.policy": "delete"},
    TOPIC_STATE: {"cleanup.policy": "compact"},
}

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


def _timestamp(record: dict[str, Any], field: str = "timestamp") -> str:
    raw = _required_text(record, field, 64)
    try:
        datetime.datetime.fromisoformat(raw)
    except ValueError:
        raise ContractError("validation_error", f"field {field!r} is not ISO 8601: {raw[:64]!r}") from None
    if "T" not in raw and " " not in raw:
        raise ContractError("validation_error", f"field {field!r} has a date but no time")
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
    return validate_raw_intake(_loads(value))


def _loads(value: bytes) -> object:
    """Bytes to JSON, each failure classified for the DLQ."""
    if len(value) > RAW_MAX_BYTES:
        raise ContractError("too_large", f"record has {len(value)} bytes; the limit is {RAW_MAX_BYTES}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ContractError(
            "encoding_error", f"record is not UTF-8: {error.reason} at byte {error.start}"
        ) from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ContractError("json_decode_error", f"record is not JSON: {error}") from None


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


# The ticket lifecycle (sachbearbeiter): commands in, events out, one current state per ticket.

STATUSES: Final = ("open", "assigned", "closed")
CommandType = Literal["assign", "update", "comment", "close", "reopen"]
COMMAND_TYPES: Final[tuple[CommandType, ...]] = ("assign", "update", "comment", "close", "reopen")
EventType = Literal[
    "TicketCreated",
    "TicketAssigned",
    "TicketUpdated",
    "CommentAdded",
    "TicketClosed",
    "TicketReopened",
    "CommandRejected",
]
EVENT_TYPES: Final[tuple[EventType, ...]] = EventType.__args__  # type: ignore[attr-defined]
COMMENT_MAX_CHARS: Final = 2000
_TICKET_ID: Final = re.compile(r"T-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


class Actor(TypedDict):
    """Who did it: for Discord users `discord:<user id>` and their user name."""

    id: str
    name: str


class TicketCommand(TypedDict):
    """Topic `ticket-commands`, keyed by `ticket_id`. A retried command keeps its `command_id`, so it
    takes effect once however often it arrives."""

    schema: int
    command_id: str
    ticket_id: str
    command: CommandType
    time: str
    actor: Actor
    assignee: NotRequired[Actor]  # assign
    priority: NotRequired[str]  # update
    category: NotRequired[str]  # update
    text: NotRequired[str]  # the comment, or why a ticket is closed or reopened


class TicketEvent(TypedDict):
    """Topic `ticket-events`, keyed by `ticket_id`: the audit trail. Replays of the same input yield the
    same `event_id`, so a reader that skips ids it has seen folds every change once."""

    schema: int
    type: EventType
    event_id: str
    ticket_id: str
    time: str
    actor: Actor
    command_id: str | None
    payload: dict[str, Any]


class TicketState(TypedDict):
    """Topic `tickets-state` (compacted), keyed by `ticket_id`: the fold of the ticket's events."""

    schema: int
    ticket_id: str
    status: str
    contact: str
    submitter_id: str | None
    category: str
    priority: str
    body: str
    assignee: Actor | None
    created_at: str
    updated_at: str
    assigned_at: str | None  # the first assignment: time-to-assign is measured to it
    closed_at: str | None  # the latest close; None while the ticket is open
    comments: int
    version: int  # events applied
    last_event_id: str


def parse_ticket_id(text: str) -> str:
    """A ticket id as people type it (any case, spaces around) in its canonical form."""
    candidate = text.strip().upper()
    if not _TICKET_ID.fullmatch(candidate):
        raise ContractError(
            "validation_error", f"{text.strip()[:40]!r} is not a ticket id like T-ABCDE-12345"
        )
    return candidate


def event_id_for(ticket_id: str, cause: str) -> str:
    """Deterministic: the same cause (a command id, or the ticket's creation) always yields the same id."""
    return "E-" + hashlib.sha256(f"{ticket_id}|{cause}".encode()).hexdigest()[:20]


def _actor(record: dict[str, Any], field: str) -> Actor:
    value = record.get(field)
    if not isinstance(value, dict):
        raise ContractError("validation_error", f"field {field!r} must be an object with id and name")
    return {
        "id": _required_text(value, "id", ID_MAX_CHARS),
        "name": _required_text(value, "name", USERNAME_MAX_CHARS),
    }


def validate_command(record: object) -> TicketCommand:
    """Check one lifecycle command; raises ContractError naming the first problem."""
    if not isinstance(record, dict):
        raise ContractError("validation_error", f"expected a JSON object, got {type(record).__name__}")
    kind = record.get("command")
    if kind not in COMMAND_TYPES:
        raise ContractError("validation_error", f"field 'command' must be one of {', '.join(COMMAND_TYPES)}")
    command: TicketCommand = {
        "schema": SCHEMA_VERSION,
        "command_id": _required_text(record, "command_id", ID_MAX_CHARS),
        "ticket_id": parse_ticket_id(_required_text(record, "ticket_id", ID_MAX_CHARS)),
        "command": kind,
        "time": _timestamp(record, "time"),
        "actor": _actor(record, "actor"),
    }
    if kind == "assign":
        command["assignee"] = _actor(record, "assignee")
    elif kind == "update":
        for field, allowed in (("priority", PRIORITIES), ("category", CATEGORIES)):
            value = _optional_text(record, field, CATEGORY_MAX_CHARS)
            if value is None:
                continue
            if value.lower() not in allowed:
                raise ContractError(
                    "validation_error", f"field {field!r} must be one of {', '.join(allowed)}"
                )
            command[field] = value.lower()  # type: ignore[literal-required]
        if "priority" not in command and "category" not in command:
            raise ContractError("validation_error", "an update needs a priority or a category")
    elif kind == "comment":
        command["text"] = _required_text(record, "text", COMMENT_MAX_CHARS)
    else:
        text = _optional_text(record, "text", COMMENT_MAX_CHARS)
        if text is not None:
            command["text"] = text
    return command


def decode_command(value: bytes | None) -> TicketCommand:
    if value is None:
        raise ContractError("validation_error", "record has no value (tombstone)")
    return validate_command(_loads(value))


def new_command(
    *, command: CommandType, ticket_id: str, command_id: str, actor: Actor, **fields: object
) -> TicketCommand:
    """A lifecycle command for publishing (the bot and the CLI), validated by the service's own rules."""
    candidate = {
        "command": command,
        "ticket_id": ticket_id,
        "command_id": command_id,
        "time": utc_now_iso(),
        "actor": actor,
        **{key: value for key, value in fields.items() if value is not None},
    }
    return validate_command(candidate)


def decode_formatted_ticket(value: bytes | None) -> FormattedTicket:
    """A formatted ticket as aufbereitung writes it; anything else is refused with the reason."""
    if value is None:
        raise ContractError("validation_error", "record has no value (tombstone)")
    record = _loads(value)
    if not isinstance(record, dict):
        raise ContractError("validation_error", f"expected a JSON object, got {type(record).__name__}")
    source = record.get("source")
    if not isinstance(source, dict):
        raise ContractError("validation_error", "field 'source' must be an object")
    return {
        "ticket_id": parse_ticket_id(_required_text(record, "ticket_id", ID_MAX_CHARS)),
        "schema": SCHEMA_VERSION,
        "contact": _required_text(record, "contact", USERNAME_MAX_CHARS),
        "origin": _required_text(record, "origin", CATEGORY_MAX_CHARS),
        "body": _required_text(record, "body", MESSAGE_MAX_CHARS),
        "date": _timestamp(record, "date"),
        "source": {
            "id": _optional_text(source, "id", ID_MAX_CHARS),
            "user_id": _optional_text(source, "user_id", ID_MAX_CHARS),
            "guild_id": _optional_text(source, "guild_id", ID_MAX_CHARS),
            "channel_id": _optional_text(source, "channel_id", ID_MAX_CHARS),
        },
        "category": (_optional_text(record, "category", CATEGORY_MAX_CHARS) or DEFAULT_CATEGORY).lower(),
        "priority": (_optional_text(record, "priority", CATEGORY_MAX_CHARS) or DEFAULT_PRIORITY).lower(),
    }


def decode_event(value: bytes | None) -> TicketEvent:
    """An event from the log. The log is written only by sachbearbeiter, so this checks the shape only."""
    record = _loads(value or b"null")
    if not isinstance(record, dict) or record.get("type") not in EVENT_TYPES or "ticket_id" not in record:
        raise ContractError("validation_error", "not a ticket event")
    event: TicketEvent = record  # type: ignore[assignment]
    return event


def decode_state(value: bytes | None) -> TicketState:
    record = _loads(value or b"null")
    if not isinstance(record, dict) or "ticket_id" not in record or "status" not in record:
        raise ContractError("validation_error", "not a ticket state")
    state: TicketState = record  # type: ignore[assignment]
    return state
