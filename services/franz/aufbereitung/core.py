"""The pure core of aufbereitung: one raw record in, one formatted ticket or one dead letter out."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.runtime.dlq import dead_letter
from franz.runtime.produce import Output

SERVICE = "aufbereitung"


def normalise(
    record: ConsumerRecord,
    *,
    target_topic: str,
    dlq_topic: str,
    message_max_chars: int = contracts.MESSAGE_MAX_CHARS,
) -> list[Output]:
    """Route one record: valid → `target_topic` keyed by ticket id; anything else → `dlq_topic`.

    Unexpected exceptions are dead-lettered too (as `unexpected_error`): one strange record must never
    stop the stream behind it, and the DLQ keeps it for replay once the bug is fixed.
    """
    try:
        intake = contracts.decode_raw_intake(record.value, message_max_chars=message_max_chars)
        ticket = contracts.format_ticket(
            intake, topic=record.topic, partition=record.partition, offset=record.offset
        )
    except Exception as error:
        return [dead_letter(record, error, service=SERVICE, topic=dlq_topic)]
    return [Output(target_topic, ticket["ticket_id"].encode(), contracts.encode(ticket), "ok")]
