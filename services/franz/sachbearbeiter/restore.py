"""Bringing one assigned partition's tickets up to date in the store, as fast as what is at hand allows.

- **With the store** (a restart): its mark says which event offset it reflects; only the events after it
  are folded (usually none).
- **Without it** (a new pod, a lost or untrusted store): the partition of the compacted `tickets-state`
  is loaded, then the events after the offset the consumer group's last commit says the state topic
  reflects (its commit metadata) are folded. Each state record carries the offset of the event it
  reflects (a header), so an event the state already holds is not folded twice.
- **Without either** (a group that never committed with a checkpoint: the first start, or the first
  after upgrading): the partition's events are folded from the beginning, once.

Every fold writes through the store in chunks; the partition's mark comes last, so a restore that is
killed half-way is never trusted. Memory stays bounded by the chunk and the ledger's hot tickets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.runtime.clients import new_consumer, new_reader
from franz.runtime.security import PLAINTEXT, KafkaSecurity
from franz.sachbearbeiter import eventlog, metrics
from franz.sachbearbeiter.core import Ledger, Ticket
from franz.sachbearbeiter.eventlog import partition_for
from franz.sachbearbeiter.store import PartitionsChanged, TicketStore

log = logging.getLogger(__name__)

# Ticket changes written to the store per write batch while folding or loading a partition.
CHUNK: Final = 5_000
# A state record's header: what the store holds of a ticket beside its state (see `state_header`).
STATE_HEADER: Final = "franz-ticket"
# Command ids carried in a state record's header: retries of a command come within minutes, and the
# event tail after a restore holds every command since the last commit anyway.
HEADER_COMMANDS: Final = 50


def state_header(ticket: Ticket) -> list[tuple[str, bytes]]:
    """What a new instance needs to restore the ticket from its state record alone: the offset of the
    last event folded into it, its event offsets (the history index) and its latest command ids."""
    commands = list(ticket.commands)[-HEADER_COMMANDS:]
    body = {"offset": ticket.offset, "history": ticket.history, "commands": commands}
    return [(STATE_HEADER, orjson.dumps(body))]


def ticket_from_state_record(record: ConsumerRecord) -> Ticket:
    """A ticket from a `tickets-state` record; without the header (written by an older version) it has
    no history index and folds every event of the tail."""
    state = contracts.decode_state(record.value)
    header: dict[str, Any] = {}
    for name, value in record.headers or ():
        if name == STATE_HEADER:
            header = orjson.loads(value)
    ticket = Ticket(state, offset=header.get("offset", -1), history=header.get("history", []))
    for command_id in header.get("commands", []):
        ticket.remember(command_id)
    return ticket


@dataclass(frozen=True, slots=True)
class Restored:
    ledger: Ledger
    next_offset: int  # the next event offset of the partition, reflected in the store
    source: str  # store | state_topic | event_log
    state_records: int  # records loaded from the state topic
    events: int  # events folded


def committed_checkpoints(
    bootstrap: str,
    group_id: str,
    topics: LifecycleTopics,
    *,
    partition: int,
    security: KafkaSecurity = PLAINTEXT,
) -> list[tuple[int, int]]:
    """(events offset, partition count) from the group's commits of this partition of both inputs."""
    consumer = new_consumer(
        bootstrap, client_id="franz-sachbearbeiter-checkpoint", group_id=group_id, security=security
    )
    try:
        found: list[tuple[int, int]] = []
        for topic in (topics.formatted, topics.commands):
            committed = consumer.committed(TopicPartition(topic, partition), metadata=True)
            checkpoint = eventlog.parse_checkpoint(committed.metadata if committed else None)
            if checkpoint is not None:
                found.append(checkpoint)
        return found
    finally:
        consumer.close(autocommit=False)


class Restorer:
    def __init__(
        self,
        *,
        bootstrap: str,
        topics: LifecycleTopics,
        group_id: str,
        store: TicketStore,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.topics = topics
        self.group_id = group_id
        self.store = store

    def restore(self, partition: int) -> Restored:
        started = time.perf_counter()
        reader = new_reader(self.bootstrap, client_id="franz-sachbearbeiter-restore", security=self.security)
        try:
            restored = self._restore(reader, partition)
        finally:
            reader.close()
        elapsed = time.perf_counter() - started
        metrics.RESTORE_SECONDS.labels(restored.source).observe(elapsed)
        log.info(
            "partition restored",
            extra={
                "partition": partition,
                "source": restored.source,
                "state_records": restored.state_records,
                "events_folded": restored.events,
                "seconds": round(elapsed, 3),
            },
        )
        return restored

    def _restore(self, reader: KafkaConsumer, partition: int) -> Restored:
        events = TopicPartition(self.topics.events, partition)
        first, end = eventlog.bounds(reader, events)
        mark = self.store.mark(partition)
        if mark is not None and first <= mark.events <= end:
            ledger = Ledger(self.store.loader(partition), mark.counts)
            return self._fold(reader, partition, ledger, mark.events, source="store")
        if mark is not None:
            log.warning(
                "the store's offset is not in the event log (the topic was recreated, or retention "
                "deleted the tail); restoring the partition without it",
                extra={"partition": partition, "store_offset": mark.events, "log": [first, end]},
            )
        self.store.drop(partition)
        ledger = Ledger(self.store.loader(partition))
        checkpoint = self._checkpoint(partition)
        if checkpoint is None:
            return self._fold(reader, partition, ledger, first, source="event_log")
        loaded = self._load_states(reader, partition, ledger)
        tail = max(min(checkpoint, end), first)
        folded = self._fold(reader, partition, ledger, tail, source="state_topic")
        return Restored(ledger, folded.next_offset, "state_topic", loaded, folded.events)

    def _checkpoint(self, partition: int) -> int | None:
        """The events offset the group's last commit of this partition says `tickets-state` reflects."""
        found = committed_checkpoints(
            self.bootstrap, self.group_id, self.topics, partition=partition, security=self.security
        )
        return max((events for events, _ in found), default=None)

    def _load_states(self, reader: KafkaConsumer, partition: int, ledger: Ledger) -> int:
        state_tp = TopicPartition(self.topics.state, partition)
        loaded = 0
        for record in eventlog.read_to_end(reader, [state_tp]):
            if record.value is None:
                continue  # a tombstone
            try:
                ticket = ticket_from_state_record(record)
            except (contracts.ContractError, orjson.JSONDecodeError) as error:
                eventlog.undecodable("restore", record, error)
                continue
            ticket_id = ticket.state["ticket_id"]
            placed = partition_for(ticket_id, self.store.partitions)
            if placed != partition:
                raise PartitionsChanged(
                    f"{ticket_id} is in {self.topics.state}/{partition}, but with "
                    f"{self.store.partitions} partitions it belongs in {placed}: the lifecycle topics "
                    "grew, which moves ticket ids to other partitions and splits their histories; give "
                    "them their old partition count again (recreate them), or run a new pipeline"
                )
            ledger.restored(ticket_id, ticket)
            loaded += 1
            if len(ledger.dirty) >= CHUNK:
                self.store.write(partition, ledger.take_dirty())
        self.store.write(partition, ledger.take_dirty())
        return loaded

    def _fold(
        self, reader: KafkaConsumer, partition: int, ledger: Ledger, start: int, *, source: str
    ) -> Restored:
        """Fold the events from `start` to the end into the ledger, writing through the store; the mark
        moves with each chunk when the ledger started from a mark, else only at the end."""
        trusted = self.store.mark(partition) is not None
        events_tp = TopicPartition(self.topics.events, partition)
        end = eventlog.bounds(reader, events_tp)[1]
        folded, next_offset = 0, start
        records: Iterable[ConsumerRecord] = eventlog.read_range(reader, {events_tp: start})
        for record in records:
            next_offset = record.offset + 1
            event = eventlog.read_event("fold", record)
            if event is None or isinstance(event, contracts.UnknownEvent):
                continue  # reported, or of a newer version: the fold passes over it
            ledger.apply(event, record.offset)
            folded += 1
            if len(ledger.dirty) >= CHUNK:
                self.store.write(
                    partition,
                    ledger.take_dirty(),
                    orphans=ledger.take_orphans(),
                    events=next_offset if trusted else None,
                    counts=ledger.counts,
                )
        end = max(end, next_offset)  # past the records a committed read never returns (aborted ones)
        self.store.write(
            partition, ledger.take_dirty(), orphans=ledger.take_orphans(), events=end, counts=ledger.counts
        )
        return Restored(ledger, end, source, 0, folded)
