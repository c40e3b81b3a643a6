"""sachbearbeiter's stage of the shared loop: formatted tickets and commands in, events and state out.

Per batch: decide every record against the partition's ledger, send the events and wait until the broker
acknowledged all of them, only then send the tickets' new states (and dead letters) and wait again; the
loop commits the input offsets after that. So a state record never describes an event the log lacks,
and a crash at any point leaves at most the batches since the last confirmed commit to be replayed,
which yields the same events with the same ids, skipped by every fold; the skipped input's ticket state
is sent again, which repairs a state that the crash left behind its events.

Where the memory comes from: each partition's ledger is folded from that partition's events when the
group assigns it, and forgotten when it is revoked. After a failed batch every ledger is folded again,
because memory may hold effects whose events never reached the log.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kafka import KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.contracts import ContractError, LifecycleTopics, TicketEvent, TicketState
from franz.runtime import metrics as runtime_metrics
from franz.runtime.dlq import dead_letter
from franz.runtime.loop import Stage, require_acknowledged
from franz.runtime.produce import Output
from franz.sachbearbeiter import core, metrics
from franz.sachbearbeiter.eventlog import partition_for

log = logging.getLogger(__name__)

SERVICE = "sachbearbeiter"

Restore = Callable[[int], core.Ledger]


@dataclass(slots=True)
class _Batch:
    """What one batch produced, counted in metrics only once its offsets are committed."""

    events: list[TicketEvent]
    states: dict[str, TicketState]
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
        restore: Restore,
        ack_timeout: float = 60.0,
    ) -> None:
        self.topics = topics
        self.partitions = partitions
        self._factory = producer_factory
        self.producer = producer_factory()
        self._restore = restore
        self.ack_timeout = ack_timeout
        self.ledgers: dict[int, core.Ledger] = {}
        self._owned: set[int] = set()
        self._in_hand: _Batch | None = None  # delivered, counted in the metrics once completed

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Fold the new partitions at once, so the ticket gauges are whole before the first record."""
        self._owned |= {tp.partition for tp in partitions}
        try:
            self._ensure_ledgers(self._owned)
        except Exception:
            # Retried by the next batch, whose failure then keeps its offsets uncommitted.
            log.warning("restoring assigned partitions failed; retrying with the next batch", exc_info=True)

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._owned.discard(tp.partition)
            self.ledgers.pop(tp.partition, None)

    def counts(self) -> Counter[core.GaugeKey]:
        total: Counter[core.GaugeKey] = Counter()
        for ledger in list(self.ledgers.values()):
            total.update(dict(ledger.counts))
        return total

    def _ensure_ledgers(self, partitions: set[int]) -> None:
        for partition in sorted(partitions - set(self.ledgers)):
            started = time.perf_counter()
            self.ledgers[partition] = self._restore(partition)
            elapsed = time.perf_counter() - started
            metrics.RESTORE_SECONDS.observe(elapsed)
            log.info(
                "partition restored from the event log",
                extra={
                    "partition": partition,
                    "tickets": len(self.ledgers[partition].tickets),
                    "seconds": round(elapsed, 3),
                },
            )

    def is_ready(self) -> bool:
        return self._owned <= set(self.ledgers)

    def deliver(self, records: Sequence[ConsumerRecord]) -> None:
        self._ensure_ledgers(self._owned | {record.partition for record in records})
        batch = _Batch(events=[], states={}, dead=[], changes=[], commands=Counter())
        # Creations first: a command in the same batch may be about a ticket created in it. (Across batches
        # the topics are read independently; a command for a ticket not yet read is refused as unknown.)
        for record in sorted(records, key=lambda record: record.topic != self.topics.formatted):
            self._handle(record, batch)
        self._send_all(
            [(self.topics.events, event["ticket_id"], contracts.encode(event)) for event in batch.events]
        )
        # Only after every event is in the log: a state never gets ahead of the audit trail.
        self._send_all(
            [
                (self.topics.state, ticket_id, contracts.encode(state))
                for ticket_id, state in batch.states.items()
            ]
            + [(output.topic, output.key, output.value) for output in batch.dead]
        )
        self._in_hand = batch

    def _handle(self, record: ConsumerRecord, batch: _Batch) -> None:
        ledger = self.ledgers[record.partition]
        command: contracts.TicketCommand | None = None
        try:
            if record.topic == self.topics.formatted:
                ticket = contracts.decode_formatted_ticket(record.value)
                self._check_partition(ticket["ticket_id"], record)
                if ledger.state(ticket["ticket_id"]) is not None:
                    self._republish(ledger, ticket["ticket_id"], batch)  # never a second ticket
                    return
                event = core.created(ticket)
            else:
                command = contracts.decode_command(record.value)
                self._check_partition(command["ticket_id"], record)
                if ledger.seen(command):
                    batch.commands[(command["command"], "duplicate")] += 1
                    self._republish(ledger, command["ticket_id"], batch)
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
        if change is not None:
            batch.states[event["ticket_id"]] = change.after
            batch.changes.append(change)

    @staticmethod
    def _republish(ledger: core.Ledger, ticket_id: str, batch: _Batch) -> None:
        """A replayed input may be one whose events reached the log before a crash while its state did not:
        sending the current state again repairs that, and is harmless otherwise (same key, same value)."""
        state = ledger.state(ticket_id)
        if state is not None:
            batch.states[ticket_id] = state

    def _check_partition(self, ticket_id: str, record: ConsumerRecord) -> None:
        expected = partition_for(ticket_id, self.partitions)
        if record.partition != expected:
            raise ContractError(
                "validation_error",
                f"record for {ticket_id} is in partition {record.partition}, not {expected}: key lifecycle "
                "records by ticket id with Kafka's default (murmur2) partitioner",
            )

    def _send_all(self, outputs: list[tuple[str, str | bytes | None, bytes]]) -> None:
        send = self.producer.send
        futures = [
            send(topic, key=key.encode() if isinstance(key, str) else key, value=value)
            for topic, key, value in outputs
        ]
        if futures:
            self.producer.flush(timeout=self.ack_timeout)
            require_acknowledged(futures, timeout=self.ack_timeout)

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
        """Memory may now hold effects whose events never reached the log: fold every ledger again."""
        self._in_hand = None
        self.ledgers.clear()
        old, self.producer = self.producer, self._factory()
        old.close(timeout=0)

    def close(self) -> None:
        self.producer.flush(timeout=self.ack_timeout)
        self.producer.close(timeout=self.ack_timeout)
