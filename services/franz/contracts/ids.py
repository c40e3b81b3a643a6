"""Ticket and event ids: derived from what caused them by hashing, so a replay yields the same ids."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Final

from franz.contracts.exceptions import ContractError

# Crockford's base32 has no I, L, O or U to misread; digit i of RFC 4648's alphabet becomes digit i of his.
_TO_CROCKFORD: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")
_TICKET_ID: Final = re.compile(r"T-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


def ticket_id_for(source_id: str | None, *, topic: str = "", partition: int = 0, offset: int = 0) -> str:
    """The ticket id: a hash of the idempotency key (else of the record's coordinates), so replays agree.

    The bot shows it to the submitter before aufbereitung ever sees the record; both call this function.
    50 bits keep the id short enough to read out loud while collisions stay unlikely below tens of millions.
    """
    key = f"source:{source_id}" if source_id else f"record:{topic}/{partition}/{offset}"
    # The first 50 bits of the digest, as ten base32 digits in Crockford's alphabet.
    digits = base64.b32encode(hashlib.sha256(key.encode()).digest()[:7]).decode().translate(_TO_CROCKFORD)
    return f"T-{digits[:5]}-{digits[5:10]}"


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
