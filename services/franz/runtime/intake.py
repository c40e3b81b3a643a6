"""Publishing raw intake records: the one path used by the Discord bot and by `franz ticket`."""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError

from franz.contracts import RawIntake, encode, ticket_id_for
from franz.runtime.exceptions import PublishError
from franz.runtime.security import describe_failure


@dataclass(frozen=True, slots=True)
class PublishedTicket:
    ticket_id: str
    topic: str
    partition: int
    offset: int


def publish_intake(
    producer: KafkaProducer, *, topic: str, intake: RawIntake, timeout: float = 10.0
) -> PublishedTicket:
    """Send one intake record keyed by its source_id and wait for the broker's acknowledgement."""
    source_id = intake.get("source_id")
    if not source_id:
        raise ValueError("an intake record needs a source_id to be published (it is the idempotency key)")
    try:
        metadata = producer.send(topic, key=source_id.encode(), value=encode(intake)).get(timeout=timeout)
    except KafkaError as error:
        raise PublishError(
            f"Kafka did not acknowledge the ticket on {topic}: {describe_failure(error)}"
        ) from error
    return PublishedTicket(
        ticket_id=ticket_id_for(source_id), topic=topic, partition=metadata.partition, offset=metadata.offset
    )
