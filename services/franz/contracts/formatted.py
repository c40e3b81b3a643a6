"""Formatted tickets, topic `tickets-formatted` (keyed by `ticket_id`): the seed's `contact`, `origin`,
`body`, `date`, plus a deterministic ticket id and where the ticket came from."""

from __future__ import annotations

from typing import Final, TypedDict

from franz.contracts.codec import load_value
from franz.contracts.exceptions import ContractError
from franz.contracts.fields import (
    CATEGORY_MAX_CHARS,
    DEFAULT_CATEGORY,
    DEFAULT_PRIORITY,
    ID_MAX_CHARS,
    MESSAGE_MAX_CHARS,
    SCHEMA_VERSION,
    USERNAME_MAX_CHARS,
    json_object,
    optional_text,
    required_text,
    required_time,
)
from franz.contracts.ids import parse_ticket_id, ticket_id_for
from franz.contracts.intake import RawIntake

ORIGIN_DISCORD: Final = "Discord"


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


def decode_formatted_ticket(value: bytes | None) -> FormattedTicket:
    """A formatted ticket as aufbereitung writes it; anything else is refused with the reason."""
    record = json_object(load_value(value))
    source = record.get("source")
    if not isinstance(source, dict):
        raise ContractError("validation_error", "field 'source' must be an object")
    return {
        "ticket_id": parse_ticket_id(required_text(record, "ticket_id", ID_MAX_CHARS)),
        "schema": SCHEMA_VERSION,
        "contact": required_text(record, "contact", USERNAME_MAX_CHARS),
        "origin": required_text(record, "origin", CATEGORY_MAX_CHARS),
        "body": required_text(record, "body", MESSAGE_MAX_CHARS),
        "date": required_time(record, "date"),
        "source": {
            "id": optional_text(source, "id", ID_MAX_CHARS),
            "user_id": optional_text(source, "user_id", ID_MAX_CHARS),
            "guild_id": optional_text(source, "guild_id", ID_MAX_CHARS),
            "channel_id": optional_text(source, "channel_id", ID_MAX_CHARS),
        },
        "category": (optional_text(record, "category", CATEGORY_MAX_CHARS) or DEFAULT_CATEGORY).lower(),
        "priority": (optional_text(record, "priority", CATEGORY_MAX_CHARS) or DEFAULT_PRIORITY).lower(),
    }
