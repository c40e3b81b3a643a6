"""Reading the lifecycle topics to their end: restoring a partition's ledger, history, the state listing.

Every lifecycle topic is keyed by ticket id with Kafka's default partitioner, so a ticket's formatted
record, commands, events and state all live in the partition with the same number, provided the topics
have the same partition count (checked at start). That is what lets each instance own whole tickets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.partitioner.default import murmur2

from franz import contracts
from franz.exceptions import FranzError
from franz.runtime.clients import new_reader
from franz.runtime.security import PLAINTEXT, KafkaSecurity
from franz.sachbearbeiter.core import Ledger


class LogReadError(FranzError):
    """A topic could not be read to its end; what was read is not a complete picture."""


def partition_for(ticket_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as in the Java client) gives a ticket id."""
    hashed: int = murmur2(ticket_id.encode())
    return (hashed & 0x7FFFFFFF) % partitions


def partition_count(consumer: KafkaConsumer, topic: str) -> int:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise LogReadError(f"topic {topic!r} does not exist; create it (the FranzPipeline declares it)")
    return len(partitions)


def read_to_end(
    consumer: KafkaConsumer,
    partitions: Sequence[TopicPartition],
    *,
    stall_timeout: float = 60.0,
    start: int | None = None,
) -> Iterator[ConsumerRecord]:
    """Every record from the beginning (or offset `start`) to the end offsets as they were when reading
    began.

    Under `read_committed` the end is the last stable offset, so an open transaction is never waited for.
    """
    consumer.assign(list(partitions))
    if start is None:
        consumer.seek_to_beginning(*partitions)
    else:
        for tp in partitions:
            consumer.seek(tp, start)
    ends = consumer.end_offsets(list(partitions))
    remaining = {tp for tp in partitions if ends.get(tp, 0) > consumer.position(tp)}
    progress_at = time.monotonic()
    while remaining:
        polled = consumer.poll(timeout_ms=500)
        if polled:
            progress_at = time.monotonic()
        elif time.monotonic() - progress_at > stall_timeout:
            raise LogReadError(
                f"no records for {stall_timeout:.0f} s while reading {sorted(str(tp) for tp in remaining)} "
                "to its end; check that the brokers are up"
            )
        for tp, records in polled.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        for tp in list(remaining):
            if consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


def restore(
    bootstrap: str, topic: str, partition: int, *, security: KafkaSecurity = PLAINTEXT
) -> tuple[Ledger, int]:
    """The ledger of one partition, folded from its events alone; and how many events were read."""
    ledger, count = Ledger(), 0
    consumer = new_reader(bootstrap, client_id="franz-sachbearbeiter-restore", security=security)
    try:
        for record in read_to_end(consumer, [TopicPartition(topic, partition)]):
            ledger.apply(contracts.decode_event(record.value))
            count += 1
    finally:
        consumer.close()
    return ledger, count


def history(
    bootstrap: str, topic: str, ticket_id: str, *, security: KafkaSecurity = PLAINTEXT
) -> list[contracts.TicketEvent]:
    """A ticket's events in order; a duplicate left by a crash (same event id) is shown once."""
    consumer = new_reader(bootstrap, client_id="franz-history", security=security)
    try:
        partition = partition_for(ticket_id, partition_count(consumer, topic))
        events: dict[str, contracts.TicketEvent] = {}
        key = ticket_id.encode()
        for record in read_to_end(consumer, [TopicPartition(topic, partition)]):
            if record.key == key:
                event = contracts.decode_event(record.value)
                events.setdefault(event["event_id"], event)
    finally:
        consumer.close()
    return list(events.values())


def current_states(
    bootstrap: str, topic: str, *, security: KafkaSecurity = PLAINTEXT
) -> dict[str, contracts.TicketState]:
    """The compacted state topic read to its end: the latest state of every ticket."""
    consumer = new_reader(bootstrap, client_id="franz-tickets", security=security)
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count(consumer, topic))]
        states: dict[str, contracts.TicketState] = {}
        for record in read_to_end(consumer, partitions):
            if record.value is None:
                continue
            state = contracts.decode_state(record.value)
            states[state["ticket_id"]] = state
    finally:
        consumer.close()
    return states
