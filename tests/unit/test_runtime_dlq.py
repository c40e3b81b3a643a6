"""Dead letters read back: the original bytes exactly, the filters of `franz dlq`, the replay marker."""

from __future__ import annotations

import datetime

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.runtime.dlq import REPLAY_HEADER, Letter, dead_letter

FIELDS = ConsumerRecord._fields


def record(
    value: bytes | None, *, offset: int = 7, headers: list[tuple[str, bytes]] | None = None
) -> ConsumerRecord:
    values = dict.fromkeys(FIELDS)
    values.update(
        topic="discordMSG",
        partition=2,
        offset=offset,
        timestamp=1,
        key=b"k",
        value=value,
        headers=headers or [],
    )
    return ConsumerRecord(**values)


@pytest.mark.parametrize("raw", [b'{"username": "x"}', b"\xff\xfe binary", b""])
def test_a_letter_gives_back_the_original_bytes_and_key_and_where_they_go(raw: bytes) -> None:
    output = dead_letter(record(raw), ValueError("broken"), service="aufbereitung", topic="dlq")
    letter = Letter.of(record(output.value, offset=3)._replace(topic="dlq", partition=0))
    assert contracts.original_value(letter.envelope) == raw
    assert (letter.id, letter.target, letter.key) == ("dlq/0/3", ("discordMSG", 2), b"k")
    assert "replay_of" not in letter.envelope


def test_a_replayed_record_that_fails_again_names_the_letter_it_came_from() -> None:
    replayed = record(b"{}", headers=[(REPLAY_HEADER, b"dlq/0/3")])
    output = dead_letter(replayed, ValueError("still broken"), service="aufbereitung", topic="dlq")
    assert contracts.decode_dead_letter(output.value)["replay_of"] == "dlq/0/3"


def test_the_filters_choose_by_error_type_offsets_and_time() -> None:
    letter = Letter.of(record(dead_letter(record(b"x"), ValueError("e"), service="a", topic="dlq").value))
    written = datetime.datetime.fromisoformat(letter.envelope["time"])
    assert letter.selected()
    assert letter.selected(error_type="unexpected_error", offsets=(7, 7), since=written)
    assert not letter.selected(error_type="validation_error")
    assert not letter.selected(offsets=(8, 20))
    assert not letter.selected(since=written + datetime.timedelta(seconds=1))


def test_a_record_of_the_dlq_that_is_no_envelope_is_undecodable() -> None:
    with pytest.raises(contracts.UndecodableRecord):
        Letter.of(record(b'{"error": "no source"}'))
