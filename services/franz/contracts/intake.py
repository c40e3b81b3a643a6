"""Raw intake, topic `discordMSG` (keyed by `source_id`): the seed's `username`, `message`, `timestamp`."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from franz.contracts.codec import load_value
from franz.contracts.exceptions import ContractError
from franz.contracts.fields import (
    CATEGORY_MAX_CHARS,
    ID_MAX_CHARS,
    MESSAGE_MAX_CHARS,
    PRIORITIES,
    USERNAME_MAX_CHARS,
    json_object,
    optional_text,
    required_text,
    required_time,
    utc_now_iso,
)


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


def validate_raw_intake(record: object, *, message_max_chars: int = MESSAGE_MAX_CHARS) -> RawIntake:
    """Check and clean one raw intake record; raises ContractError naming the first problem.

    `message_max_chars` may be stricter than the contract's limit, never looser (a deployment's choice).
    """
    fields = json_object(record)
    intake: RawIntake = {
        "username": required_text(fields, "username", USERNAME_MAX_CHARS),
        "message": required_text(fields, "message", min(message_max_chars, MESSAGE_MAX_CHARS)),
        "timestamp": required_time(fields, "timestamp"),
    }
    for field in ("source_id", "user_id", "guild_id", "channel_id"):
        value = optional_text(fields, field, ID_MAX_CHARS)
        if value is not None:
            intake[field] = value
    category = optional_text(fields, "category", CATEGORY_MAX_CHARS)
    if category is not None:
        intake["category"] = category.lower()
    priority = optional_text(fields, "priority", CATEGORY_MAX_CHARS)
    if priority is not None:
        if priority.lower() not in PRIORITIES:
            raise ContractError(
                "validation_error",
                f"field 'priority' must be one of {', '.join(PRIORITIES)}, not {priority!r}",
            )
        intake["priority"] = priority.lower()
    return intake


def decode_raw_intake(value: bytes | None, *, message_max_chars: int = MESSAGE_MAX_CHARS) -> RawIntake:
    """Bytes from Kafka to a valid intake record, classifying every failure for the DLQ."""
    return validate_raw_intake(load_value(value), message_max_chars=message_max_chars)


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
