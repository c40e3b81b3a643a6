"""Dead-letter routing shared by the producing services: a record that cannot be handled becomes one
envelope on the DLQ with its source coordinates, so nothing is dropped and everything can be replayed.

A replay (`franz dlq replay`) puts the original bytes and key back on the source partition with the
`REPLAY_HEADER` naming the dead letter. That header is how a second replay knows a letter went back
already, and how a replayed record that fails again is dead-lettered with `replay_of`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Final

from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.contracts import DeadLetter
from franz.runtime.produce import Output

REPLAY_HEADER: Final = "franz-replay-of"


def coordinates(record: ConsumerRecord) -> contracts.RecordCoordinates:
    key = record.key
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
        "timestamp": record.timestamp,
    }


def replay_of(record: ConsumerRecord) -> str | None:
    """The dead letter a record is the replay of, from its header; None for an ordinary record."""
    for name, value in record.headers or ():
        if name == REPLAY_HEADER and isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return None


def dead_letter(record: ConsumerRecord, error: Exception, *, service: str, topic: str) -> Output:
    """The record's envelope for `topic`, keyed as the record was and counted as `dlq_<error_type>`."""
    letter = contracts.dead_letter(
        error=error,
        value=record.value,
        service=service,
        source=coordinates(record),
        replay_of=replay_of(record),
    )
    return Output(topic, record.key, contracts.encode(letter), f"dlq_{letter['error_type']}")


@dataclass(frozen=True, slots=True)
class Letter:
    """A dead letter as read back from its DLQ topic, and how to put its record back."""

    id: str  # <dlq topic>/<partition>/<offset>: what the replay header names
    offset: int
    envelope: DeadLetter

    @classmethod
    def of(cls, record: ConsumerRecord) -> Letter:
        """Raises `UndecodableRecord` for a record of the DLQ that is no envelope."""
        return cls(
            f"{record.topic}/{record.partition}/{record.offset}",
            record.offset,
            contracts.decode_dead_letter(record.value),
        )

    @property
    def target(self) -> tuple[str, int]:
        """The source topic and partition: a replay goes back exactly there."""
        source = self.envelope["source"]
        return source["topic"], source["partition"]

    @property
    def key(self) -> bytes | None:
        key = self.envelope["source"].get("key")
        return key.encode("utf-8") if isinstance(key, str) else None

    def selected(
        self,
        *,
        error_type: str | None = None,
        since: datetime.datetime | None = None,
        offsets: tuple[int, int] | None = None,
    ) -> bool:
        """Whether the filters of `franz dlq list`/`replay` choose this letter (no filter: every one)."""
        if error_type is not None and self.envelope.get("error_type") != error_type:
            return False
        if offsets is not None and not offsets[0] <= self.offset <= offsets[1]:
            return False
        if since is not None:
            try:
                written = datetime.datetime.fromisoformat(self.envelope["time"])
            except (KeyError, ValueError):
                return False
            return (written if written.tzinfo else written.replace(tzinfo=datetime.UTC)) >= since
        return True
