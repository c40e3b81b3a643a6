"""The loop's offset bookkeeping: what was delivered, what the broker has confirmed, what a revoke hands on.

Offsets of delivered batches are committed asynchronously: the next batch is polled while the commit is
on its way, which takes a broker round trip off every batch (and off every record's latency). An offset
stays uncommitted until the broker confirms it; a failed commit is covered by the next one (offsets only
grow), and the stop commits whatever is left synchronously. Only partitions this member still owns are
committed: a revoked partition's records belong to its next owner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from kafka import TopicPartition
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from kafka.structs import OffsetAndMetadata

from franz.runtime import metrics

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, OffsetAndMetadata]
CommitCallback = Callable[[Offsets, object], None]

# The group is re-forming: polling again completes it, so these are retried at once, without backoff.
REBALANCE_ERRORS = (
    RebalanceInProgressError,
    CommitFailedError,
    IllegalGenerationError,
    UnknownMemberIdError,
)

# A stop waits this long for the broker to confirm the last commit (the client's default is five minutes):
# well inside the charts' 60 s termination grace period, which also covers flushing the producer.
FINAL_COMMIT_TIMEOUT_MS = 15_000


class Committer(Protocol):
    """What a checkpoint needs of a consumer: kafka-python's `KafkaConsumer`, or a test's fake."""

    def assignment(self) -> Collection[TopicPartition]: ...

    def commit_async(self, offsets: Offsets, callback: CommitCallback) -> object: ...

    def commit(self, offsets: Offsets, timeout_ms: int) -> None: ...


class Checkpoint:
    """The offsets of delivered batches until the broker confirms them.

    The consumer runs commit callbacks inside `poll`/`commit` on the loop's thread, or inside a rebalance
    listener while that thread waits for it: never concurrently with the loop, so no lock is needed.
    """

    def __init__(self, consumer: Committer, *, service: str) -> None:
        self._consumer = consumer
        self.service = service
        # Offsets of delivered batches that the broker has not yet confirmed as committed.
        self.uncommitted: Offsets = {}
        self._in_flight = 0

    def delivered(self, offsets: Offsets) -> None:
        """Every side effect of the records below these offsets is complete: commit them."""
        self.uncommitted.update(offsets)
        self._commit_async()

    def idle(self) -> None:
        """Nothing was polled: send again what an earlier, failed commit left uncommitted."""
        if self.uncommitted and not self._in_flight:
            self._commit_async()

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Inside `poll`, before partitions move away: their last offsets go out now (the listener must not
        block), and from then on they belong to their next owner."""
        leaving = {tp: self.uncommitted[tp] for tp in partitions if tp in self.uncommitted}
        if not leaving:
            return
        try:
            self._consumer.commit_async(leaving, callback=_revoked_commit_answered)
        except Exception as error:
            _revoked_commit_answered(leaving, error)
        for tp in leaving:
            self.uncommitted.pop(tp, None)  # sending may have run a callback that removed it

    def commit_remaining(self) -> None:
        """On stop: wait for the broker to confirm every uncommitted offset we still own."""
        offsets = self._still_assigned()
        if not offsets:
            return
        try:
            self._consumer.commit(offsets, timeout_ms=FINAL_COMMIT_TIMEOUT_MS)
        except Exception as error:
            log.warning(
                "final commit failed; the next owner of these partitions will see their last records again",
                extra={"error": str(error), "error_class": type(error).__name__},
            )
            return
        self.uncommitted.clear()
        metrics.LAST_SUCCESS.labels(self.service).set_to_current_time()

    def _commit_async(self) -> None:
        """Send every uncommitted offset of a partition we still own; `_committed` hears the answer."""
        offsets = self._still_assigned()
        if not offsets:
            return
        try:
            self._consumer.commit_async(offsets, callback=self._committed)
        except Exception as error:
            # The offsets stay uncommitted and go out with the next batch's commit.
            log.warning(
                "commit not sent; retrying with the next batch",
                extra={"error": str(error), "error_class": type(error).__name__},
            )
            return
        self._in_flight += 1

    def _committed(self, offsets: Offsets, result: object) -> None:
        self._in_flight -= 1
        if isinstance(result, Exception):
            # Delivered is delivered: the offsets stay uncommitted, and the next commit covers them.
            _log_commit_failure("commit failed; the next commit covers its offsets", result)
            return
        for tp, offset in offsets.items():
            if self.uncommitted.get(tp) == offset:  # not when a later batch's offset is still on its way
                del self.uncommitted[tp]
        metrics.LAST_SUCCESS.labels(self.service).set_to_current_time()

    def _still_assigned(self) -> Offsets:
        """Offsets of partitions we still own: a revoked partition's records are its new owner's now."""
        assignment = self._consumer.assignment()
        return {tp: offset for tp, offset in self.uncommitted.items() if tp in assignment}


def _log_commit_failure(message: str, error: BaseException) -> None:
    """A rebalance interrupting a commit is routine (INFO); anything else deserves a look (WARNING)."""
    level = logging.INFO if isinstance(error, REBALANCE_ERRORS) else logging.WARNING
    log.log(level, message, extra={"error": str(error), "error_class": type(error).__name__})


def _revoked_commit_answered(_: Offsets, result: object) -> None:
    if isinstance(result, Exception):
        _log_commit_failure(
            "commit of revoked partitions failed; their next owner will see their last records again", result
        )
