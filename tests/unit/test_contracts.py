"""The contracts: limits counted in characters, sanitising, deterministic ticket ids, DLQ envelopes."""

from __future__ import annotations

import base64
import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from franz import contracts
from franz.contracts import ContractError

VALID = {"username": "alice", "message": "help", "timestamp": "2026-11-21T10:00:00.000Z"}


def decode(record: object) -> contracts.RawIntake:
    return contracts.decode_raw_intake(json.dumps(record).encode())


def test_seed_record_is_accepted_as_it_is() -> None:
    assert decode(VALID) == VALID


@pytest.mark.parametrize(
    ("field", "limit"), [("username", contracts.USERNAME_MAX_CHARS), ("message", contracts.MESSAGE_MAX_CHARS)]
)
def test_limits_count_characters_not_bytes(field: str, limit: int) -> None:
    at_limit = "😀" * limit  # four bytes each in UTF-8
    assert decode({**VALID, field: at_limit})[field] == at_limit  # type: ignore[literal-required]
    with pytest.raises(ContractError, match=f"has {limit + 1} characters; the limit is {limit}"):
        decode({**VALID, field: at_limit + "x"})


def test_text_is_trimmed_nfc_normalised_and_stripped_of_control_characters() -> None:
    cleaned = decode({**VALID, "message": "  Cafe\u0301\x07 line\n\tnext\x1b  "})["message"]
    assert cleaned == "Café line\n\tnext"
    assert unicodedata.is_normalized("NFC", cleaned)


def test_nul_is_refused_rather_than_repaired() -> None:
    with pytest.raises(ContractError, match="NUL"):
        decode({**VALID, "message": "a\x00b"})


@pytest.mark.parametrize(
    ("raw", "error_type"),
    [
        (b"\xff\xfe", "encoding_error"),
        (b"{not json", "json_decode_error"),
        (b"[1, 2]", "validation_error"),
        (json.dumps({**VALID, "username": 7}).encode(), "validation_error"),
        (json.dumps({"message": "x", "timestamp": VALID["timestamp"]}).encode(), "validation_error"),
        (json.dumps({**VALID, "timestamp": "yesterday"}).encode(), "validation_error"),
        (json.dumps({**VALID, "timestamp": "2026-11-21"}).encode(), "validation_error"),
        (json.dumps({**VALID, "priority": "whenever"}).encode(), "validation_error"),
        (json.dumps({**VALID, "message": "   "}).encode(), "validation_error"),
        (b"x" * (contracts.RAW_MAX_BYTES + 1), "too_large"),
        (b"[" * 30_000 + b"]" * 30_000, "json_decode_error"),
    ],
)
def test_every_invalid_kind_is_classified(raw: bytes, error_type: str) -> None:
    with pytest.raises(ContractError) as failure:
        contracts.decode_raw_intake(raw)
    assert failure.value.error_type == error_type


def test_ticket_id_is_deterministic_and_readable() -> None:
    first = contracts.ticket_id_for("discord:123")
    assert first == contracts.ticket_id_for("discord:123")
    assert first != contracts.ticket_id_for("discord:124")
    assert first.startswith("T-")
    assert len(first) == 13
    assert set(first[2:].replace("-", "")) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    by_coordinates = contracts.ticket_id_for(None, topic="discordMSG", partition=1, offset=7)
    assert by_coordinates == contracts.ticket_id_for(None, topic="discordMSG", partition=1, offset=7)
    assert by_coordinates != contracts.ticket_id_for(None, topic="discordMSG", partition=1, offset=8)


def test_formatted_ticket_keeps_the_seed_fields_and_adds_ours() -> None:
    intake = decode({**VALID, "source_id": "discord:9", "user_id": 42, "category": "Bug"})
    ticket = contracts.format_ticket(intake, topic="discordMSG", partition=0, offset=5)
    assert ticket == {
        "ticket_id": contracts.ticket_id_for("discord:9"),
        "schema": contracts.SCHEMA_VERSION,
        "contact": "alice",
        "origin": "Discord",
        "body": "help",
        "date": VALID["timestamp"],
        "source": {"id": "discord:9", "user_id": "42", "guild_id": None, "channel_id": None},
        "category": "bug",
        "priority": "normal",
    }


def test_dead_letter_keeps_undecodable_bytes_as_base64() -> None:
    raw = b"\xff\x00binary"
    source: contracts.RecordCoordinates = {
        "topic": "discordMSG",
        "partition": 2,
        "offset": 9,
        "key": None,
        "timestamp": 1,
    }
    with pytest.raises(ContractError) as failure:
        contracts.decode_raw_intake(raw)
    letter = contracts.dead_letter(error=failure.value, value=raw, service="aufbereitung", source=source)
    assert letter["error_type"] == "encoding_error"
    assert letter["raw_encoding"] == "base64"
    assert base64.b64decode(letter["raw_value"]) == raw
    assert letter["source"] == source
    assert letter["service"] == "aufbereitung"


@given(st.text())
def test_clean_text_never_leaves_control_characters(text: str) -> None:
    try:
        cleaned = contracts.clean_text(text)
    except ContractError:
        assert "\x00" in text
        return
    assert all(ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in cleaned)
    assert cleaned == cleaned.strip()


@given(st.binary(max_size=512))
def test_any_bytes_either_decode_or_raise_a_classified_contract_error(raw: bytes) -> None:
    classified = ("json_decode_error", "validation_error", "encoding_error", "too_large")
    try:
        contracts.decode_raw_intake(raw)
    except ContractError as error:
        error_type = error.error_type
    else:
        return
    assert error_type in classified


def _event(**fields: object) -> bytes:
    base = {"schema": 1, "type": "TicketClosed", "event_id": "E-1", "ticket_id": "T-AAAAA-BBBBB"}
    return json.dumps({**base, **fields}).encode()


@pytest.mark.parametrize(
    "value", [_event(type="TicketMerged"), _event(schema=contracts.SCHEMA_VERSION + 1, type="TicketClosed")]
)
def test_an_event_from_a_newer_version_is_kept_as_unknown_instead_of_refused(value: bytes) -> None:
    event = contracts.read_event(value)
    assert isinstance(event, contracts.UnknownEvent)
    assert (event.event_id, event.ticket_id) == ("E-1", "T-AAAAA-BBBBB")
    with pytest.raises(ContractError, match="unknown to this version"):
        contracts.decode_event(value)


def test_a_known_event_reads_as_itself() -> None:
    assert contracts.read_event(_event()) == json.loads(_event())


@pytest.mark.parametrize(
    "value",
    [b"\xff", b"{not json", b"[]", None, json.dumps({"type": "TicketClosed"}).encode(), _event(schema="2")],
)
def test_bytes_that_are_no_event_raise_the_one_undecodable_error(value: bytes | None) -> None:
    with pytest.raises(contracts.UndecodableRecord):
        contracts.read_event(value)
