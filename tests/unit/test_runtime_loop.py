"""The loop's delivery and commit rules, over a fake consumer and stage: no broker, milliseconds each.

The real client's behaviour (rebalances, partitions added while running) is tested against the broker in
tests/integration/test_runtime.py; here the rules are pinned: commit only what was delivered, a failure
commits nothing and comes again, a revoked partition's offsets go out and are forgotten, offsets only grow.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from franz.runtime import clients
from franz.runtime.checkpoint import FINAL_COMMIT_TIMEOUT_MS, Checkpoint, CommitCallback, Offsets
from franz.runtime.exceptions import KafkaClientIncompatible
from franz.runtime.loop import KafkaLoop, LoopConfig, Stage

TP0, TP1 = TopicPartition("in", 0), TopicPartition("in", 1)


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int


Polled = dict[TopicPartition, list[Record]]


def batch(tp: TopicPartition, first: int, last: int) -> Polled:
    return {tp: [Record(tp.topic, tp.partition, offset) for offset in range(first, last + 1)]}


def at(offset: int) -> OffsetAndMetadata:
    return OffsetAndMetadata(offset, "", -1)


class FakeConsumer:
    """The part of kafka-python's consumer the loop uses. Polls are scripted; commits are recorded, and
    the broker answers an asynchronous commit only when the test says so."""

    def __init__(self, assigned: Collection[TopicPartition], *, log: list[str] | None = None) -> None:
        self.assigned = set(assigned)
        self.log = [] if log is None else log
        self.polls: list[Polled | Callable[[], Polled]] = []
        self.on_exhausted: Callable[[], None] = lambda: None
        self.listener: object = None
        self.sent: list[Offsets] = []
        self.unanswered: list[tuple[Offsets, CommitCallback]] = []
        self.sync_commits: list[tuple[Offsets, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.closed_with_autocommit: bool | None = None

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {tp.partition for tp in self.assigned if tp.topic == topic}

    def subscribe(self, topics: list[str], *, listener: object) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int, max_records: int | None = None) -> Polled:
        if not self.polls:
            self.on_exhausted()
            return {}
        step = self.polls.pop(0)
        return step() if callable(step) else step

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def commit_async(self, offsets: Offsets, callback: CommitCallback) -> None:
        self.log.append(f"commit {_shown(offsets)}")
        self.sent.append(dict(offsets))
        self.unanswered.append((dict(offsets), callback))

    def answer(self, result: object = None) -> None:
        """The broker answers the oldest commit still unanswered: None for success, else the error."""
        offsets, callback = self.unanswered.pop(0)
        callback(offsets, result)

    def commit(self, offsets: Offsets, timeout_ms: int) -> None:
        self.sync_commits.append((dict(offsets), timeout_ms))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def close(self, *, autocommit: bool) -> None:
        self.closed_with_autocommit = autocommit


def _shown(offsets: Offsets) -> str:
    return ",".join(f"{tp.partition}@{meta.offset}" for tp, meta in sorted(offsets.items()))


@dataclass
class FakeStage(Stage):
    """Delivers by logging; fails the first `failures` deliveries."""

    log: list[str]
    failures: int = 0
    aborted: int = 0
    closed: bool = False
    revoked_partitions: list[list[TopicPartition]] = field(default_factory=list)

    def deliver(self, records: Sequence[Record]) -> None:
        if self.failures:
            self.failures -= 1
            self.log.append("deliver failed")
            raise RuntimeError("the broker did not acknowledge")
        self.log.append(f"deliver {[record.offset for record in records]}")

    def abort(self) -> None:
        self.aborted += 1

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        self.revoked_partitions.append(list(partitions))

    def close(self) -> None:
        self.closed = True


def run(consumer: FakeConsumer, stage: FakeStage) -> KafkaLoop:
    """Run the loop over the scripted polls; it stops once they are used up."""
    config = LoopConfig(
        service="test", bootstrap="unused:9092", group_id="g", topics=("in",), retry_initial_seconds=0.001
    )
    loop = KafkaLoop(config, stage, consumer=consumer)
    consumer.on_exhausted = loop.stop
    loop.run()
    return loop


def test_offsets_are_committed_only_after_the_batch_was_delivered() -> None:
    log: list[str] = []
    consumer = FakeConsumer([TP0], log=log)
    consumer.polls = [batch(TP0, 0, 2), batch(TP0, 3, 4)]
    run(consumer, FakeStage(log))
    assert log == ["deliver [0, 1, 2]", "commit 0@3", "deliver [3, 4]", "commit 0@5"]


def test_a_failed_delivery_seeks_back_commits_nothing_and_is_delivered_again() -> None:
    log: list[str] = []
    consumer = FakeConsumer([TP0], log=log)
    consumer.polls = [batch(TP0, 5, 7), batch(TP0, 5, 7)]  # after the seek back, the same records again
    stage = FakeStage(log, failures=1)
    run(consumer, stage)
    assert log == ["deliver failed", "deliver [5, 6, 7]", "commit 0@8"]
    assert consumer.seeks == [(TP0, 5)]
    assert stage.aborted == 1


def test_a_delivery_that_keeps_failing_is_never_committed() -> None:
    log: list[str] = []
    consumer = FakeConsumer([TP0], log=log)
    consumer.polls = [batch(TP0, 0, 1), batch(TP0, 0, 1)]
    run(consumer, FakeStage(log, failures=2))
    assert log == ["deliver failed", "deliver failed"]
    assert consumer.sent == []
    assert consumer.sync_commits == []
    assert consumer.seeks == [(TP0, 0), (TP0, 0)]


def test_revoked_partitions_send_their_last_offsets_and_are_forgotten() -> None:
    consumer = FakeConsumer([TP0, TP1])

    def rebalance() -> Polled:
        """Inside poll, before the first commit was answered: the group takes partition 0 away, and later
        gives it back, when its interim owner may have committed further than our old offset."""
        consumer.listener.on_partitions_revoked([TP0])  # type: ignore[attr-defined]
        consumer.listener.on_partitions_assigned([TP0])  # type: ignore[attr-defined]
        return {}

    consumer.polls = [{**batch(TP0, 0, 1), **batch(TP1, 10, 10)}, rebalance]
    stage = FakeStage([])
    loop = run(consumer, stage)
    assert consumer.sent == [{TP0: at(2), TP1: at(11)}, {TP0: at(2)}]
    assert stage.revoked_partitions == [[TP0]]
    assert loop.checkpoint.uncommitted == {}, "the final commit covered what was left"
    assert consumer.sync_commits == [({TP1: at(11)}, FINAL_COMMIT_TIMEOUT_MS)], "never the old offset of TP0"


def test_offsets_only_grow_and_a_failed_commit_is_covered_by_the_next() -> None:
    consumer = FakeConsumer([TP0])
    checkpoint = Checkpoint(consumer, service="test")
    checkpoint.delivered({TP0: at(11)})
    checkpoint.delivered({TP0: at(21)})
    consumer.answer()  # the commit of 11 confirmed late: 21 is still on its way and stays uncommitted
    assert checkpoint.uncommitted == {TP0: at(21)}
    consumer.answer(RuntimeError("coordinator moved"))
    assert checkpoint.uncommitted == {TP0: at(21)}
    checkpoint.idle()  # nothing polled: the failed commit is sent again, with the highest offset
    assert consumer.sent == [{TP0: at(11)}, {TP0: at(21)}, {TP0: at(21)}]
    consumer.answer()
    assert checkpoint.uncommitted == {}
    checkpoint.commit_remaining()
    assert consumer.sync_commits == [], "nothing was left for the final commit"


def test_the_stop_commits_what_was_delivered_and_leaves_the_group_without_autocommit() -> None:
    consumer = FakeConsumer([TP0])
    consumer.polls = [batch(TP0, 0, 3)]
    stage = FakeStage([])
    run(consumer, stage)
    assert consumer.sync_commits == [({TP0: at(4)}, FINAL_COMMIT_TIMEOUT_MS)]
    assert stage.closed
    assert consumer.closed_with_autocommit is False


def test_the_rejoin_fix_refuses_a_kafka_python_without_the_attribute_it_relies_on() -> None:
    class Rewritten:
        """A coordinator that keeps its join elsewhere, as a future kafka-python might."""

        def __init__(self) -> None:
            self.join_in_flight = None

        def need_rejoin(self) -> bool:
            return False

    with pytest.raises(KafkaClientIncompatible, match=r"install the version pyproject\.toml pins"):
        clients._finish_pending_joins(Rewritten)
