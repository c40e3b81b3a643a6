"""Dead-letter routing shared by the producing services: a record that cannot be handled becomes one
envelope on the DLQ with its source coordinates, so nothing is dropped and everything can be replayed."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.runtime.produce import Output


def coordinates(record: ConsumerRecord) -> contracts.RecordCoordinates:
    key = record.key
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
        "timestamp": record.timestamp,
    }


def dead_letter(record: ConsumerRecord, error: Exception, *, service: str, topic: str) -> Output:
    """The record's envelope for `topic`, keyed as the record was and counted as `dlq_<error_type>`."""
    letter = contracts.dead_letter(
        error=error, value=record.value, service=service, source=coordinates(record)
    )
    return Output(topic, record.key, contracts.encode(letter), f"dlq_{letter['error_type']}")
