"""The one consume → process → deliver → commit loop that every consumer service runs.

A batch is polled, handed to a `Stage` that completes its side effects (records acknowledged by the
broker, a webhook accepted), and only then are the batch's offsets committed. When the stage fails,
nothing is committed: the consumer seeks back to the batch's first offsets and tries again after a
backoff, so a failed side effect is retried and never skipped. Batches are handled synchronously between
polls, and rebalances only happen inside `poll`, so a revoked partition never has handled-but-uncommitted
records.

Offsets of delivered batches go to the `Checkpoint`, which commits them asynchronously. Transactional
stages commit inside their transaction instead, synchronously, because the commit is part of the delivery.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata

from franz.runtime import metrics
from franz.runtime.checkpoint import REBALANCE_ERRORS, Checkpoint, Offsets
from franz.runtime.clients import new_consumer
from franz.runtime.exceptions import DeliveryError
from franz.runtime.security import PLAINTEXT, KafkaSecurity, describe_failure
from franz.runtime.wait import Backoff, wait_for_topics

if TYPE_CHECKING:  # errors → dlq → produce → loop: the loop only holds a reporter it is given
    from franz.runtime.errors import ErrorReporter

log = logging.getLogger(__name__)


class Stage(ABC):
    """What a service does with a batch. `deliver` must finish every side effect or raise."""

    # True when the commit is part of the side effect (a Kafka transaction): the stage then commits in
    # `commit`, a failed commit undoes the delivery and the batch is delivered again. Otherwise the loop
    # commits, and a delivered batch stays delivered whatever happens to its commit.
    atomic_commit = False

    def begin(self) -> None:  # noqa: B027 - optional hook
        """Called before `deliver`; transactional stages open their transaction here."""

    @abstractmethod
    def deliver(self, records: Sequence[ConsumerRecord]) -> None: ...

    def commit(self, consumer: KafkaConsumer, offsets: Offsets) -> None:
        """Atomic stages only: commit the offsets together with the delivery, or raise."""
        raise NotImplementedError(f"{type(self).__name__} sets atomic_commit but does not commit")

    def offset_metadata(self, tp: TopicPartition) -> str:
        """Committed with the partition's offset after a delivery: a stateful stage records there what a
        new instance needs to know about the state that offset reflects."""
        return ""

    def completed(self) -> None:  # noqa: B027 - optional hook
        """Called once per delivered batch after its offsets were committed (atomic stages) or handed to
        the consumer to commit: the batch will not be delivered again by this process."""

    def abort(self) -> None:  # noqa: B027 - optional hook
        """Called after a failed batch, before it is retried."""

    def is_ready(self) -> bool:
        return True

    def reportable(self, error: Exception) -> bool:
        """Whether a batch failing again and again with `error` goes to `errors`; False where the stage
        reported the cause itself already."""
        return True

    def idle(self) -> None:  # noqa: B027 - optional hook
        """Called when a poll returned nothing: a stage catches up there on work it put off (a restore)."""

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:  # noqa: B027 - optional hook
        """Called inside `poll` when the group gives this member partitions; stateful stages load here."""

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:  # noqa: B027 - optional hook
        """Called inside `poll` before partitions move away; stateful stages forget their state here."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release what the stage holds; called once, when the loop stops."""


@dataclass(frozen=True, slots=True)
class LoopConfig:
    service: str
    bootstrap: str
    group_id: str
    topics: tuple[str, ...]
    max_batch: int = 500
    linger_seconds: float = 0.0
    poll_timeout_ms: int = 200
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    isolation_level: str = "read_committed"
    # A batch that failed this many times in a row is reported to `errors` (repeats collapse there).
    report_after_failures: int = 3
    security: KafkaSecurity = PLAINTEXT


class KafkaLoop:
    """Runs a Stage over a consumer group until `stop()`; at-least-once unless the stage is transactional."""

    def __init__(
        self,
        config: LoopConfig,
        stage: Stage,
        consumer: KafkaConsumer | None = None,
        *,
        reporter: ErrorReporter | None = None,
        **consumer_overrides: Any,
    ) -> None:
        """`consumer` replaces the one built from `config` (unit tests hand in a fake); `consumer_overrides`
        adjust the one built. Without a `reporter`, failing batches are only logged and counted."""
        self.config = config
        self.stage = stage
        self.reporter = reporter
        self._failures = 0  # consecutive failed attempts at the batch in hand
        self._stop = threading.Event()
        self._assigned = False
        self._healthy_poll = False
        if consumer is None:
            consumer = new_consumer(
                config.bootstrap,
                client_id=f"franz-{config.service}",
                security=config.security,
                group_id=config.group_id,
                max_poll_records=config.max_batch,
                isolation_level=config.isolation_level,
                **consumer_overrides,
            )
        self.consumer = consumer
        self.checkpoint = Checkpoint(self.consumer, service=config.service)

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit it, leave the group and return."""
        self._stop.set()

    def is_ready(self) -> bool:
        return self._assigned and self._healthy_poll and self.stage.is_ready()

    def run(self) -> None:
        wait_for_topics(self.consumer, self.config.topics, stop=self._stop)
        self.consumer.subscribe(list(self.config.topics), listener=_Listener(self))
        backoff = Backoff(self.config.retry_initial_seconds, self.config.retry_max_seconds)
        log.info("consuming", extra={"topics": list(self.config.topics), "group": self.config.group_id})
        try:
            while not self._stop.is_set():
                try:
                    polled = self._poll_batch()
                except Exception as error:
                    # The client raises more than KafkaError while brokers come and go; nothing was handed
                    # out, so polling again after a pause is always safe.
                    self._healthy_poll = False
                    log.warning(
                        "poll failed; retrying",
                        extra={"error": describe_failure(error), "error_class": type(error).__name__},
                    )
                    backoff.wait(self._stop)
                    continue
                self._healthy_poll = True
                self._assigned = bool(self.consumer.assignment())
                self._record_lag()
                if not polled:
                    self.checkpoint.idle()
                    self.stage.idle()
                    continue
                if self._handle(polled):
                    backoff.reset()
                else:
                    backoff.wait(self._stop)
        finally:
            self.close()

    def _poll_batch(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        """One poll, or with `linger_seconds` several, merged until the batch is full or the time is up.

        Lingering trades a little latency for larger batches: absturz uses it to collapse an error storm
        into a few webhook requests. Memory stays bounded by `max_batch`.
        """
        polled: dict[TopicPartition, list[ConsumerRecord]] = self.consumer.poll(
            timeout_ms=self.config.poll_timeout_ms
        )
        if not polled or self.config.linger_seconds <= 0:
            return polled
        count = sum(len(records) for records in polled.values())
        deadline = time.monotonic() + self.config.linger_seconds
        while count < self.config.max_batch and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self.consumer.poll(
                timeout_ms=min(int(remaining * 1000), self.config.poll_timeout_ms),
                max_records=self.config.max_batch - count,
            )
            for tp, records in more.items():
                polled.setdefault(tp, []).extend(records)
                count += len(records)
        # A rebalance inside a later poll may have revoked partitions read earlier in this batch: their
        # records now belong to another member, and their offsets must not be committed by us.
        assignment = self.consumer.assignment()
        return {tp: records for tp, records in polled.items() if tp in assignment}

    def _handle(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
        """Deliver and commit one batch; on failure seek back so the same records come again.

        Returns False when the caller should back off before polling again.
        """
        records = [record for partition_records in polled.values() for record in partition_records]
        service = self.config.service
        metrics.BATCH_SIZE.labels(service).observe(len(records))
        started = time.perf_counter()
        try:
            self.stage.begin()
            self.stage.deliver(records)
        except Exception as error:
            # Deliberately broad: whatever went wrong, the batch's offsets must stay uncommitted.
            self._failed(polled, error, records)
            return False
        offsets: Offsets = {
            tp: OffsetAndMetadata(batch[-1].offset + 1, self.stage.offset_metadata(tp), -1)
            for tp, batch in polled.items()
            if batch
        }
        if self.stage.atomic_commit:
            try:
                self.stage.commit(self.consumer, offsets)
            except Exception as error:
                self._failed(polled, error, records)
                # A rebalance completes in the next poll: no reason to wait before it.
                return isinstance(error, REBALANCE_ERRORS)
            metrics.LAST_SUCCESS.labels(service).set_to_current_time()
        else:
            self.checkpoint.delivered(offsets)
        self._failures = 0
        self.stage.completed()
        metrics.BATCH_SECONDS.labels(service).observe(time.perf_counter() - started)
        return True

    def _failed(
        self,
        polled: dict[TopicPartition, list[ConsumerRecord]],
        error: Exception,
        records: list[ConsumerRecord],
    ) -> None:
        metrics.BATCH_FAILURES.labels(self.config.service, type(error).__name__).inc()
        log.warning(
            "batch failed; it will be retried from its first offsets",
            extra={
                "error": describe_failure(error),
                "error_class": type(error).__name__,
                "records": len(records),
                "partitions": {f"{tp.topic}/{tp.partition}": batch[0].offset for tp, batch in polled.items()},
            },
        )
        self._abort_quietly()
        self._seek_back(polled)
        if not isinstance(error, REBALANCE_ERRORS):  # routine, and over with the next poll
            self._failures += 1
            self._report_if_stuck(polled, error, records)

    def _report_if_stuck(
        self,
        polled: dict[TopicPartition, list[ConsumerRecord]],
        error: Exception,
        records: list[ConsumerRecord],
    ) -> None:
        """Past `report_after_failures` attempts the batch is stuck, not unlucky: tell `errors`, with the
        coordinates to look at. Every further attempt is a repeat of the same incident."""
        if (
            self.reporter is None
            or self._failures < self.config.report_after_failures
            or not self.stage.reportable(error)
        ):
            return
        first_offsets = {f"{tp.topic}/{tp.partition}": batch[0].offset for tp, batch in polled.items()}
        self.reporter.report(
            "batch_failing",
            f"{self.config.service} keeps failing a batch of {len(records)} records "
            f"({type(error).__name__}: {error}); its offsets stay uncommitted and it is retried",
            incident=",".join(sorted(first_offsets)),
            context={
                "group": self.config.group_id,
                "first_offsets": first_offsets,
                "records": len(records),
                "attempts": self._failures,
                "error_class": type(error).__name__,
            },
        )

    def _abort_quietly(self) -> None:
        try:
            self.stage.abort()
        except Exception:
            log.exception("aborting the failed batch failed too")

    def _seek_back(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assignment = self.consumer.assignment()
        for tp, batch in polled.items():
            if batch and tp in assignment:
                self.consumer.seek(tp, batch[0].offset)

    def _record_lag(self) -> None:
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = self.consumer.position(tp, timeout_ms=100)
            except Exception:  # noqa: S112 - lag is best effort; a broker that is away must not stop the loop
                continue
            if position is not None:
                metrics.CONSUMER_LAG.labels(self.config.service, tp.topic, str(tp.partition)).set(
                    max(highwater - position, 0)
                )

    def close(self) -> None:
        """Flush the stage, commit what was delivered, then leave the group at once so partitions move
        without a session timeout."""
        try:
            self.checkpoint.commit_remaining()
            self.stage.close()
        finally:
            self.consumer.close(autocommit=False)
            if self.reporter is not None:
                self.reporter.close()  # the repeats it still holds go out with their count
        log.info("stopped", extra={"group": self.config.group_id})


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands rebalances to the loop and its stage. Batches are handled between polls, so neither hook
    ever runs while a batch is half delivered."""

    def __init__(self, loop: KafkaLoop) -> None:
        self.loop = loop

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.loop.checkpoint.revoked(list(revoked))
        self.loop.stage.revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.loop.stage.assigned(list(assigned))


def require_acknowledged(futures: Sequence[Any], *, timeout: float) -> None:
    """Wait for every send; raise DeliveryError naming how many the broker did not acknowledge."""
    failures: list[BaseException] = []
    deadline = time.monotonic() + timeout
    for future in futures:
        try:
            future.get(timeout=max(deadline - time.monotonic(), 0.0))
        except Exception as error:
            failures.append(error)
    if failures:
        raise DeliveryError(
            f"{len(failures)} of {len(futures)} records were not acknowledged by the broker: "
            f"{describe_failure(failures[0])}"
        )
