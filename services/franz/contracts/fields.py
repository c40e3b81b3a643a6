"""What every schema shares: the vocabulary and limits of a ticket, and the rules for text and time fields.

Limits count characters, not bytes, after cleaning, so producer and consumer agree on what fits.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from typing import Any, Final

from franz.contracts.exceptions import ContractError

SCHEMA_VERSION: Final = 1

USERNAME_MAX_CHARS: Final = 100
MESSAGE_MAX_CHARS: Final = 4000
ID_MAX_CHARS: Final = 200
CATEGORY_MAX_CHARS: Final = 50

PRIORITIES: Final = ("low", "normal", "high", "urgent")
CATEGORIES: Final = ("general", "bug", "account", "billing", "feature")
DEFAULT_PRIORITY: Final = "normal"
DEFAULT_CATEGORY: Final = "general"

# Unicode category Cc (C0, DEL, C1) except tab and newline, and lone surrogates (Cs) from JSON escapes.
_CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def utc_now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clean_text(value: str) -> str:
    """NFC, trimmed, without control characters except newline and tab; NUL is refused, not stripped.

    A NUL byte is a sign of binary or hostile input, so it is an error rather than something to repair.
    """
    if "\x00" in value:
        raise ContractError("validation_error", "text contains a NUL character")
    return _CONTROL_CHARACTERS.sub("", unicodedata.normalize("NFC", value)).strip()


def required_text(record: dict[str, Any], field: str, max_chars: int) -> str:
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


def optional_text(record: dict[str, Any], field: str, max_chars: int) -> str | None:
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


def required_time(record: dict[str, Any], field: str) -> str:
    raw = required_text(record, field, 64)
    try:
        datetime.datetime.fromisoformat(raw)
    except ValueError:
        raise ContractError("validation_error", f"field {field!r} is not ISO 8601: {raw[:64]!r}") from None
    if "T" not in raw and " " not in raw:
        raise ContractError("validation_error", f"field {field!r} has a date but no time")
    return raw


def json_object(record: object) -> dict[str, Any]:
    """The record as a JSON object, or the validation error every schema gives for anything else."""
    if not isinstance(record, dict):
        raise ContractError("validation_error", f"expected a JSON object, got {type(record).__name__}")
    return record
