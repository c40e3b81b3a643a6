"""Stages that turn each consumed record into records to produce, at-least-once or exactly-once."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from franz.runtime import metrics
from franz.runtime.checkpoint import Offsets
from franz.runtime.loop import Stage, require_acknowledged

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Output:
    """One record to produce; `outcome` labels it in `franz_records_total` (e.g. "ok", "dlq")."""

    topic: str
    key: bytes | None
    value: bytes
    outcome: str


Transform = Callable[[ConsumerRecord], Sequence[Output]]


class ProduceStage(Stage):
    """At-least-once: send every output of the batch, then wait until the broker acknowledged all of them.

    A producer whose sends failed is replaced before the retry: after a delivery timeout an idempotent
    producer's sequence state cannot be trusted, and a fresh one costs a few milliseconds.
    """

    def __init__(
        self,
        *,
        service: str,
        producer_factory: Callable[[], KafkaProducer],
        transform: Transform,
        ack_timeout: float = 60.0,
    ) -> None:
        self.service = service
        self._factory = producer_factory
        self.producer = self._new_producer()
        self.transform = transform
        self.ack_timeout = ack_timeout
        # Outputs of the batch in hand by (topic, outcome), counted once the batch is completed.
        self._pending_counts: Counter[tuple[str, str]] = Counter()

    def _new_producer(self) -> KafkaProducer:
        return self._factory()

    def _send_all(self, records: Sequence[ConsumerRecord]) -> list[object]:
        # Transform the whole batch first, then send in a tight loop: the producer's I/O thread then competes
        # for the interpreter lock during one short burst instead of around every record.
        outputs = [output for record in records for output in self.transform(record)]
        send = self.producer.send
        futures = [send(output.topic, key=output.key, value=output.value) for output in outputs]
        self._pending_counts = Counter((output.topic, output.outcome) for output in outputs)
        return futures

    def deliver(self, records: Sequence[ConsumerRecord]) -> None:
        futures = self._send_all(records)
        self.producer.flush(timeout=self.ack_timeout)
        require_acknowledged(futures, timeout=self.ack_timeout)

    def completed(self) -> None:
        for (topic, outcome), count in self._pending_counts.items():
            metrics.RECORDS.labels(self.service, topic, outcome).inc(count)
        self._pending_counts.clear()

    def abort(self) -> None:
        self._pending_counts.clear()
        old, self.producer = self.producer, self._new_producer()
        old.close(timeout=0)

    def close(self) -> None:
        self.producer.flush(timeout=self.ack_timeout)
        self.producer.close(timeout=self.ack_timeout)


class TransactionalProduceStage(ProduceStage):
    """Exactly-once: outputs and the consumed offsets commit in one Kafka transaction.

    Downstream consumers with `isolation_level=read_committed` see each input's outputs exactly once,
    even when the process is killed between producing and committing: the open transaction is aborted
    when the next instance with the same transactional id calls `init_transactions`.
    """

    atomic_commit = True

    def _new_producer(self) -> KafkaProducer:
        producer = self._factory()
        # Fences any earlier instance with this transactional id and aborts its open transaction.
        producer.init_transactions()
        return producer

    def begin(self) -> None:
        self.producer.begin_transaction()

    def deliver(self, records: Sequence[ConsumerRecord]) -> None:
        self._send_all(records)

    def commit(self, consumer: KafkaConsumer, offsets: Offsets) -> None:
        self.producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        self.producer.commit_transaction()

    def abort(self) -> None:
        self._pending_counts.clear()
        try:
            self.producer.abort_transaction()
        except Exception:
            log.warning("abort_transaction failed; starting a new transactional producer", exc_info=True)
            self.producer.close(timeout=0)
            self.producer = self._new_producer()

    def close(self) -> None:
        self.producer.close(timeout=self.ack_timeout)
