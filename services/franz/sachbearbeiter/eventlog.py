"""Reading the lifecycle topics: ranges of a partition, single offsets, the state listing; and the one
place where each reader handles a record it cannot decode (`undecodable`).

Every lifecycle topic is keyed by ticket id with Kafka's default partitioner, so a ticket's formatted
record, commands, events and state all live in the partition with the same number, provided the topics
have the same partition count (checked at start). That is what lets each instance own whole tickets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.partitioner.default import murmur2

from franz import contracts
from franz.exceptions import FranzError
from franz.runtime.clients import new_reader
from franz.runtime.errors import ErrorReporter
from franz.runtime.security import PLAINTEXT, KafkaSecurity
from franz.sachbearbeiter import metrics
from franz.sachbearbeiter.core import Ledger

log = logging.getLogger(__name__)


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


# Where undecodable records are reported once, with their coordinates; the service sets it at start.
reporter: ErrorReporter | None = None


def undecodable(reader: str, record: ConsumerRecord, error: Exception) -> None:
    """A record this reader cannot decode: counted and logged with its coordinates (and reported once to
    `errors` by the service), then skipped, so one bad record never stalls a reader."""
    metrics.SKIPPED.labels(reader, record.topic).inc()
    log.warning(
        f"skipped {record.topic}/{record.partition} offset {record.offset}: it cannot be decoded ({error})",
        extra={
            "reader": reader,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "error": str(error),
        },
    )
    if reporter is not None:
        reporter.report_undecodable(record, error, reader=f"sachbearbeiter's {reader}")


def read_event(reader: str, record: ConsumerRecord) -> contracts.TicketEvent | contracts.UnknownEvent | None:
    """The event of a record; an event of a newer version as `UnknownEvent`, counted as passed over (it
    stays in the log: folds ignore it, histories show it as unknown); None for a record that is no event
    (reported, skipped)."""
    try:
        event = contracts.read_event(record.value)
    except contracts.UndecodableRecord as error:
        undecodable(reader, record, error)
        return None
    if isinstance(event, contracts.UnknownEvent):
        metrics.SKIPPED.labels(reader, record.topic).inc()
    return event


def bounds(consumer: KafkaConsumer, tp: TopicPartition) -> tuple[int, int]:
    """The first offset still in the log and the end offset."""
    start: int = consumer.beginning_offsets([tp])[tp]
    end: int = consumer.end_offsets([tp])[tp]
    return start, end


def read_range(
    consumer: KafkaConsumer,
    starts: Mapping[TopicPartition, int | None],
    *,
    stall_timeout: float = 60.0,
) -> Iterator[ConsumerRecord]:
    """Every record from each start offset (None: the beginning) to the end offsets as they were when
    reading began.

    Under `read_committed` the end is the last stable offset, so an open transaction is never waited for.
    """
    partitions = list(starts)
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    for tp, offset in starts.items():
        if offset is not None:
            consumer.seek(tp, max(offset, consumer.position(tp)))
    ends = consumer.end_offsets(partitions)
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


def read_to_end(
    consumer: KafkaConsumer, partitions: Sequence[TopicPartition], *, start: int | None = None
) -> Iterator[ConsumerRecord]:
    """Every record from the beginning (or offset `start`) to the end offsets as they were."""
    return read_range(consumer, dict.fromkeys(partitions, start))


def read_offsets(
    consumer: KafkaConsumer, tp: TopicPartition, offsets: Iterable[int], *, timeout: float = 10.0
) -> Iterator[ConsumerRecord]:
    """The records at these offsets of one partition, in order: one fetch per run of nearby offsets,
    never a scan of the partition. An offset no longer in the log (retention) is passed over."""
    wanted = sorted(set(offsets))
    if not wanted:
        return
    consumer.assign([tp])
    deadline = time.monotonic() + timeout
    index = 0
    while index < len(wanted):
        consumer.seek(tp, wanted[index])
        polled = consumer.poll(timeout_ms=500).get(tp, [])
        if not polled:
            if time.monotonic() > deadline:
                raise LogReadError(f"{tp.topic}/{tp.partition} did not answer at offset {wanted[index]}")
            if consumer.position(tp) > wanted[index]:
                index += 1  # compacted, deleted, or an aborted transaction's record: not there
            continue
        for record in polled:
            while index < len(wanted) and wanted[index] < record.offset:
                index += 1  # passed over: no longer in the log
            if index < len(wanted) and record.offset == wanted[index]:
                yield record
                index += 1


def restore(
    bootstrap: str, topic: str, partition: int, *, security: KafkaSecurity = PLAINTEXT
) -> tuple[Ledger, int]:
    """The ledger of one partition, folded from its events alone, in memory (for `--rebuild-state`);
    and how many events were read."""
    ledger, count = Ledger(), 0
    consumer = new_reader(bootstrap, client_id="franz-sachbearbeiter-restore", security=security)
    try:
        for record in read_to_end(consumer, [TopicPartition(topic, partition)]):
            event = read_event("rebuild", record)
            if event is None or isinstance(event, contracts.UnknownEvent):
                continue
            ledger.apply(event, record.offset)
            count += 1
    finally:
        consumer.close()
    return ledger, count


def history(
    bootstrap: str, topic: str, ticket_id: str, *, security: KafkaSecurity = PLAINTEXT
) -> list[contracts.TicketEvent]:
    """A ticket's events in order, by scanning its partition (`franz history --from-log`); a duplicate
    left by a crash (same event id) is shown once."""
    consumer = new_reader(bootstrap, client_id="franz-history", security=security)
    try:
        partition = partition_for(ticket_id, partition_count(consumer, topic))
        key = ticket_id.encode()
        records = (
            record
            for record in read_to_end(consumer, [TopicPartition(topic, partition)])
            if record.key == key
        )
        return decode_history("history", records)
    finally:
        consumer.close()


def decode_history(reader: str, records: Iterable[ConsumerRecord]) -> list[contracts.TicketEvent]:
    """A ticket's events in order, each once; one of a newer version as the log holds it (a view shows
    its type as unknown)."""
    events: dict[str, contracts.TicketEvent] = {}
    for record in records:
        event = read_event(reader, record)
        if isinstance(event, contracts.UnknownEvent):
            events.setdefault(event.event_id, event.record)  # type: ignore[arg-type]
        elif event is not None:
            events.setdefault(event["event_id"], event)
    return list(events.values())


def current_states(
    bootstrap: str, topic: str, *, security: KafkaSecurity = PLAINTEXT
) -> dict[str, contracts.TicketState]:
    """The compacted state topic read to its end: the latest state of every ticket (`--from-log`)."""
    consumer = new_reader(bootstrap, client_id="franz-tickets", security=security)
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count(consumer, topic))]
        states: dict[str, contracts.TicketState] = {}
        for record in read_to_end(consumer, partitions):
            if record.value is None:
                continue
            try:
                state = contracts.decode_state(record.value)
            except contracts.ContractError as error:
                undecodable("tickets", record, error)
                continue
            states[state["ticket_id"]] = state
    finally:
        consumer.close()
    return states


# The events offset the committed input of a partition is reflected to in `tickets-state`, and the
# partition count the tickets were placed by: in the consumer group's commit metadata, so a new instance
# without a store knows where the state topic ends and the event tail begins.
CHECKPOINT_PREFIX: Final = "franz:"


def checkpoint_metadata(*, events: int, partitions: int) -> str:
    return f"{CHECKPOINT_PREFIX}events={events};partitions={partitions}"


def parse_checkpoint(metadata: str | None) -> tuple[int, int] | None:
    """(events offset, partitions) from commit metadata; None for a commit without one."""
    if not metadata or not metadata.startswith(CHECKPOINT_PREFIX):
        return None
    try:
        fields = dict(item.split("=", 1) for item in metadata[len(CHECKPOINT_PREFIX) :].split(";"))
        return int(fields["events"]), int(fields["partitions"])
    except (KeyError, ValueError):
        return None
