"""sachbearbeiter's stage of the shared loop: formatted tickets and commands in, events and state out.

Per batch: decide every record against the partition's ledger, send the events and wait until the broker
acknowledged all of them, only then send the tickets' new states (and dead letters) and wait again; the
loop commits the input offsets after that. So a state record never describes an event the log lacks,
and a crash at any point leaves at most the batches since the last confirmed commit to be replayed,
which yields the same events with the same ids, skipped by every fold; the skipped input's ticket state
is sent again, which repairs a state that the crash left behind its events.

Where the tickets come from: the local store (`store.py`), which a partition's restore brings up to
date when the group assigns it (`restore.py`); memory holds a batch's changes and a bounded number of hot
tickets. After each batch's events are acknowledged their offsets (the history index), the changed tickets
and the partition's next event offset go to the store in one write batch, before the states are sent.
After a failed batch the partitions are restored again from the store, which folds whatever of the
failed batch reached the log: memory may hold effects whose events never did.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kafka import KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.producer.future import RecordMetadata

from franz import contracts
from franz.contracts import ContractError, LifecycleTopics, TicketEvent
from franz.exceptions import FranzError
from franz.runtime import metrics as runtime_metrics
from franz.runtime.dlq import dead_letter
from franz.runtime.loop import Stage, require_acknowledged
from franz.runtime.produce import Output
from franz.sachbearbeiter import core, eventlog, metrics
from franz.sachbearbeiter.eventlog import partition_for
from franz.sachbearbeiter.restore import Restorer, state_header

log = logging.getLogger(__name__)


class ForeignEventsError(FranzError):
    """The event log moved on without this instance: what it holds is no longer the whole picture."""


SERVICE = "sachbearbeiter"

Header = list[tuple[str, bytes]]


@dataclass(slots=True)
class _Batch:
    """What one batch produced, counted in metrics only once its offsets are committed."""

    events: list[TicketEvent]
    states: set[tuple[int, str]]  # (partition, ticket id) whose state is sent
    dead: list[Output]
    changes: list[core.Change]
    commands: Counter[tuple[str, str]]


class LifecycleStage(Stage):
    def __init__(
        self,
        *,
        topics: LifecycleTopics,
        partitions: int,
        producer_factory: Callable[[], KafkaProducer],
        restorer: Restorer,
        ack_timeout: float = 60.0,
    ) -> None:
        self.topics = topics
        self.partitions = partitions
        self._factory = producer_factory
        self.producer = producer_factory()
        self.restorer = restorer
        self.ack_timeout = ack_timeout
        self.ledgers: dict[int, core.Ledger] = {}
        self.next_offsets: dict[int, int] = {}  # per partition: the next event offset the store reflects
        self._owned: set[int] = set()
        self._in_hand: _Batch | None = None  # delivered, counted in the metrics once completed

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Restored after the rebalance, between polls (`idle`, or the first batch): a restore inside the
        listener would hold up the group's protocol, and a long one would cost this member its place."""
        self._owned |= {tp.partition for tp in partitions}

    def idle(self) -> None:
        """Restore the assigned partitions before any record, so the ticket gauges and the read API are
        whole at once."""
        try:
            self._ensure_ledgers(self._owned)
        except Exception:
            # Retried by the next batch, whose failure then keeps its offsets uncommitted.
            log.warning("restoring assigned partitions failed; retrying with the next batch", exc_info=True)

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """The store keeps the partition (and its mark): should it come back, only its tail is folded."""
        for tp in partitions:
            self._owned.discard(tp.partition)
            self.ledgers.pop(tp.partition, None)

    def owned(self) -> set[int]:
        return set(self._owned)

    def served(self) -> set[int]:
        """The partitions whose tickets this instance answers for: owned and restored."""
        return self._owned & set(self.ledgers)

    def counts(self) -> Counter[core.GaugeKey]:
        total: Counter[core.GaugeKey] = Counter()
        for ledger in list(self.ledgers.values()):
            total.update(dict(ledger.counts))
        return total

    def _ensure_ledgers(self, partitions: set[int]) -> None:
        for partition in sorted(partitions - set(self.ledgers)):
            restored = self.restorer.restore(partition)
            self.next_offsets[partition] = restored.next_offset
            self.ledgers[partition] = restored.ledger

    def is_ready(self) -> bool:
        return self._owned <= set(self.ledgers)

    def deliver(self, records: Sequence[ConsumerRecord]) -> None:
        self._ensure_ledgers(self._owned | {record.partition for record in records})
        batch = _Batch(events=[], states=set(), dead=[], changes=[], commands=Counter())
        # Creations first: a command in the same batch may be about a ticket created in it. (Across batches
        # the topics are read independently; a command for a ticket not yet read is refused as unknown.)
        for record in sorted(records, key=lambda record: record.topic != self.topics.formatted):
            self._handle(record, batch)
        acknowledged = self._send_all(
            [(self.topics.events, event["ticket_id"], contracts.encode(event), []) for event in batch.events]
        )
        self._store(batch.events, acknowledged)
        # Only after every event is in the log and in the store: a state never gets ahead of the audit trail.
        self._send_all(
            [
                (self.topics.state, ticket_id, contracts.encode(ticket.state), state_header(ticket))
                for ticket_id, ticket in self._tickets(batch.states)
            ]
            + [(output.topic, output.key, output.value, []) for output in batch.dead]
        )
        self._in_hand = batch

    def _tickets(self, keys: set[tuple[int, str]]) -> list[tuple[str, core.Ticket]]:
        found = [(ticket_id, self.ledgers[partition].ticket(ticket_id)) for partition, ticket_id in keys]
        return [(ticket_id, ticket) for ticket_id, ticket in found if ticket is not None]

    def _store(self, events: list[TicketEvent], acknowledged: list[RecordMetadata]) -> None:
        """Index the acknowledged events, then write each partition's changed tickets and its next event
        offset in one batch.

        Offsets that do not follow on from the store's mean another writer added events in between (an
        instance that has not yet noticed it lost the partition): the batch fails, and its retry restores
        from the store, which folds the log in its order, ours and theirs alike.
        """
        logged: dict[int, list[int]] = {}
        for event, metadata in zip(events, acknowledged, strict=True):
            self.ledgers[metadata.partition].logged(event["ticket_id"], metadata.offset)
            logged.setdefault(metadata.partition, []).append(metadata.offset)
        for partition, offsets in logged.items():
            expected = self.next_offsets[partition]
            if offsets != list(range(expected, expected + len(offsets))):
                raise ForeignEventsError(
                    f"{self.topics.events}/{partition} has events from another writer between offset "
                    f"{expected} and {offsets[-1]}; restoring the partition from the log"
                )
        for partition, offsets in logged.items():
            ledger = self.ledgers[partition]
            self.next_offsets[partition] += len(offsets)
            self.restorer.store.write(
                partition,
                ledger.take_dirty(),
                orphans=ledger.take_orphans(),
                events=self.next_offsets[partition],
                counts=ledger.counts,
            )

    def offset_metadata(self, tp: TopicPartition) -> str:
        """For a new instance without a store: the event offset `tickets-state` reflects once this commit
        is in, and the partition count the tickets were placed by."""
        if tp.partition not in self.next_offsets:
            return ""
        return eventlog.checkpoint_metadata(
            events=self.next_offsets[tp.partition], partitions=self.partitions
        )

    def _handle(self, record: ConsumerRecord, batch: _Batch) -> None:
        ledger = self.ledgers[record.partition]
        command: contracts.TicketCommand | None = None
        try:
            if record.topic == self.topics.formatted:
                ticket = contracts.decode_formatted_ticket(record.value)
                self._check_partition(ticket["ticket_id"], record)
                if ledger.state(ticket["ticket_id"]) is not None:
                    batch.states.add((record.partition, ticket["ticket_id"]))  # never a second ticket
                    return
                event = core.created(ticket)
            else:
                command = contracts.decode_command(record.value)
                self._check_partition(command["ticket_id"], record)
                if ledger.seen(command):
                    batch.commands[(command["command"], "duplicate")] += 1
                    batch.states.add((record.partition, command["ticket_id"]))
                    return
                event = core.decide(ledger.state(command["ticket_id"]), command)
        except Exception as error:
            # One record that breaks its contract must not stop the stream: it is kept in the DLQ.
            batch.dead.append(dead_letter(record, error, service=SERVICE, topic=self.topics.dlq))
            return
        change = ledger.apply(event)
        batch.events.append(event)
        if command is not None:
            outcome = (
                "applied" if event["type"] != "CommandRejected" else f"rejected_{event['payload']['code']}"
            )
            batch.commands[(command["command"], outcome)] += 1
        if change is not None or command is not None:
            # A refusal changes no state, but the state record also carries the command ids the ticket
            # has taken: a new instance restored from it recognises the retry of a refused command too.
            batch.states.add((record.partition, event["ticket_id"]))
        if change is not None:
            batch.changes.append(change)

    def _check_partition(self, ticket_id: str, record: ConsumerRecord) -> None:
        expected = partition_for(ticket_id, self.partitions)
        if record.partition != expected:
            raise ContractError(
                "validation_error",
                f"record for {ticket_id} is in partition {record.partition}, not {expected}: key lifecycle "
                "records by ticket id with Kafka's default (murmur2) partitioner",
            )

    def _send_all(self, outputs: list[tuple[str, str | bytes | None, bytes, Header]]) -> list[RecordMetadata]:
        send = self.producer.send
        futures = [
            send(topic, key=key.encode() if isinstance(key, str) else key, value=value, headers=headers)
            for topic, key, value, headers in outputs
        ]
        if futures:
            self.producer.flush(timeout=self.ack_timeout)
            require_acknowledged(futures, timeout=self.ack_timeout)
        return [future.value for future in futures]

    def completed(self) -> None:
        batch, self._in_hand = self._in_hand, None
        if batch is None:
            return
        records = runtime_metrics.RECORDS
        records.labels(SERVICE, self.topics.events, "ok").inc(len(batch.events))
        records.labels(SERVICE, self.topics.state, "ok").inc(len(batch.states))
        for outcome, count in Counter(output.outcome for output in batch.dead).items():
            records.labels(SERVICE, self.topics.dlq, outcome).inc(count)
        for (command, outcome), count in batch.commands.items():
            metrics.COMMANDS.labels(command, outcome).inc(count)
        for change in batch.changes:
            metrics.record_change(change)

    def abort(self) -> None:
        """Memory may now hold effects whose events never reached the log: restore from the store again
        (which folds what of the failed batch did reach it)."""
        self._in_hand = None
        self.ledgers.clear()
        self.next_offsets.clear()
        old, self.producer = self.producer, self._factory()
        old.close(timeout=0)

    def close(self) -> None:
        self.producer.flush(timeout=self.ack_timeout)
        self.producer.close(timeout=self.ack_timeout)
