"""The ticket lifecycle (sachbearbeiter): commands in (`ticket-commands`), events out (`ticket-events`, the
audit trail) and one current state per ticket (`tickets-state`, compacted); all keyed by `ticket_id`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, TypedDict

from franz.contracts import fields
from franz.contracts.codec import load_value, loads
from franz.contracts.exceptions import ContractError, UndecodableRecord
from franz.contracts.ids import parse_ticket_id

STATUSES: Final = ("open", "assigned", "closed")
CommandType = Literal["assign", "unassign", "update", "comment", "close", "reopen", "link"]
COMMAND_TYPES: Final[tuple[CommandType, ...]] = CommandType.__args__  # type: ignore[attr-defined]
EventType = Literal[
    "TicketCreated",
    "TicketAssigned",
    "TicketUnassigned",
    "TicketUpdated",
    "CommentAdded",
    "TicketClosed",
    "TicketReopened",
    "DiscordLinked",
    "CommandRejected",
]
EVENT_TYPES: Final[tuple[EventType, ...]] = EventType.__args__  # type: ignore[attr-defined]
COMMENT_MAX_CHARS: Final = 2000
Visibility = Literal["public", "internal"]  # internal: a staff note, never shown to the submitter
VISIBILITIES: Final[tuple[Visibility, ...]] = ("public", "internal")
ATTACHMENTS_MAX: Final = 10  # Discord's limit per message
URL_MAX_CHARS: Final = 2000
DISCORD_LINKS: Final = ("desk_channel_id", "desk_message_id", "thread_id")


class Actor(TypedDict):
    """Who did it: for Discord users `discord:<user id>` and their user name."""

    id: str
    name: str


class Attachment(TypedDict):
    """A file sent with a comment: its name and where Discord serves it."""

    name: str
    url: str


class DiscordLinks(TypedDict, total=False):
    """Where a ticket lives in Discord, recorded by the bot so each side effect happens once: the desk
    post (its channel and message) and the private thread with the submitter."""

    desk_channel_id: str
    desk_message_id: str
    thread_id: str


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
    visibility: NotRequired[Visibility]  # comment; public when absent
    attachments: NotRequired[list[Attachment]]  # comment
    discord: NotRequired[DiscordLinks]  # link


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
    first_response_at: NotRequired[str | None]  # the first public comment by someone but the submitter
    discord: NotRequired[DiscordLinks]


def _actor(record: dict[str, Any], field: str) -> Actor:
    value = record.get(field)
    if not isinstance(value, dict):
        raise ContractError("validation_error", f"field {field!r} must be an object with id and name")
    return {
        "id": fields.required_text(value, "id", fields.ID_MAX_CHARS),
        "name": fields.required_text(value, "name", fields.USERNAME_MAX_CHARS),
    }


def validate_command(record: object) -> TicketCommand:
    """Check one lifecycle command; raises ContractError naming the first problem."""
    given = fields.json_object(record)
    kind = given.get("command")
    if kind not in COMMAND_TYPES:
        raise ContractError("validation_error", f"field 'command' must be one of {', '.join(COMMAND_TYPES)}")
    command: TicketCommand = {
        "schema": fields.SCHEMA_VERSION,
        "command_id": fields.required_text(given, "command_id", fields.ID_MAX_CHARS),
        "ticket_id": parse_ticket_id(fields.required_text(given, "ticket_id", fields.ID_MAX_CHARS)),
        "command": kind,
        "time": fields.required_time(given, "time"),
        "actor": _actor(given, "actor"),
    }
    if kind == "assign":
        command["assignee"] = _actor(given, "assignee")
    elif kind == "update":
        for field, allowed in (("priority", fields.PRIORITIES), ("category", fields.CATEGORIES)):
            value = fields.optional_text(given, field, fields.CATEGORY_MAX_CHARS)
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
        _comment(given, command)
    elif kind == "link":
        command["discord"] = _links(given)
    elif kind != "unassign":
        text = fields.optional_text(given, "text", COMMENT_MAX_CHARS)
        if text is not None:
            command["text"] = text
    return command


def _comment(given: dict[str, Any], command: TicketCommand) -> None:
    """A comment has text, attachments or both; staff notes say `visibility: internal`."""
    attachments = given.get("attachments") or []
    if not isinstance(attachments, list) or len(attachments) > ATTACHMENTS_MAX:
        raise ContractError(
            "validation_error", f"field 'attachments' must be a list of at most {ATTACHMENTS_MAX}"
        )
    files: list[Attachment] = []
    for attachment in attachments:
        if not isinstance(attachment, dict):
            raise ContractError("validation_error", "each attachment must be an object with name and url")
        files.append(
            {
                "name": fields.required_text(attachment, "name", fields.ID_MAX_CHARS),
                "url": fields.required_text(attachment, "url", URL_MAX_CHARS),
            }
        )
    text = fields.optional_text(given, "text", COMMENT_MAX_CHARS)
    if text is None and not files:
        raise ContractError("validation_error", "a comment needs a text or an attachment")
    command["text"] = text or ""
    if files:
        command["attachments"] = files
    visibility = given.get("visibility", "public")
    if visibility not in VISIBILITIES:
        raise ContractError(
            "validation_error", f"field 'visibility' must be one of {', '.join(VISIBILITIES)}"
        )
    if visibility != "public":
        command["visibility"] = visibility


def _links(given: dict[str, Any]) -> DiscordLinks:
    value = given.get("discord")
    if not isinstance(value, dict):
        raise ContractError("validation_error", "field 'discord' must be an object of Discord ids")
    links: DiscordLinks = {}
    for key in DISCORD_LINKS:
        snowflake = fields.optional_text(value, key, fields.ID_MAX_CHARS)
        if snowflake is None:
            continue
        if not snowflake.isdigit():
            raise ContractError("validation_error", f"field 'discord.{key}' must be a Discord id")
        links[key] = snowflake
    unknown = sorted(set(value) - set(DISCORD_LINKS))
    if unknown or not links:
        raise ContractError("validation_error", f"field 'discord' takes {', '.join(DISCORD_LINKS)}")
    return links


def decode_command(value: bytes | None) -> TicketCommand:
    return validate_command(load_value(value))


def new_command(
    *, command: CommandType, ticket_id: str, command_id: str, actor: Actor, **options: object
) -> TicketCommand:
    """A lifecycle command for publishing (the bot and the CLI), validated by the service's own rules."""
    candidate = {
        "command": command,
        "ticket_id": ticket_id,
        "command_id": command_id,
        "time": fields.utc_now_iso(),
        "actor": actor,
        **{key: value for key, value in options.items() if value is not None},
    }
    return validate_command(candidate)


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event this version cannot read: a type it does not know, or a newer `schema`.

    A rolling upgrade writes such events before every reader has the new code. They stay in the log, folds
    ignore them, and views show them as unknown, so an older reader keeps working instead of stalling.
    """

    type: str
    schema: int
    event_id: str
    ticket_id: str
    time: str | None
    record: dict[str, Any]


def read_event(value: bytes | None) -> TicketEvent | UnknownEvent:
    """An event from the log, or an `UnknownEvent` for one from a newer version.

    Raises `UndecodableRecord` for bytes that are no event at all. The log is written only by
    sachbearbeiter, so a known event's shape is trusted.
    """
    record = loads(value or b"null")
    if not isinstance(record, dict):
        raise UndecodableRecord("validation_error", f"not a ticket event but a JSON {type(record).__name__}")
    kind, schema = record.get("type"), record.get("schema", fields.SCHEMA_VERSION)
    event_id, ticket_id = record.get("event_id"), record.get("ticket_id")
    if not isinstance(kind, str) or not isinstance(event_id, str) or not isinstance(ticket_id, str):
        raise UndecodableRecord(
            "validation_error", "not a ticket event: type, event_id and ticket_id are needed"
        )
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise UndecodableRecord("validation_error", f"not a ticket event: schema is {schema!r}")
    if kind not in EVENT_TYPES or schema > fields.SCHEMA_VERSION:
        when = record.get("time")
        return UnknownEvent(
            kind, schema, event_id, ticket_id, when if isinstance(when, str) else None, record
        )
    event: TicketEvent = record  # type: ignore[assignment]
    return event


def decode_event(value: bytes | None) -> TicketEvent:
    """A known event; anything else, an unknown one included, raises `ContractError`."""
    event = read_event(value)
    if isinstance(event, UnknownEvent):
        raise ContractError(
            "validation_error",
            f"event type {event.type!r} (schema {event.schema}) is unknown to this version",
        )
    return event


def decode_state(value: bytes | None) -> TicketState:
    record = loads(value or b"null")
    if not isinstance(record, dict) or "ticket_id" not in record or "status" not in record:
        raise UndecodableRecord("validation_error", "not a ticket state")
    state: TicketState = record  # type: ignore[assignment]
    return state
