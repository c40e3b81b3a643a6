"""The one way to wait: backoff that doubles to a cap, jitter that only shortens, a stop that ends a wait."""

from __future__ import annotations

import threading
import time

from franz.runtime.wait import Backoff, wait_for_topics


def test_delays_double_up_to_the_cap_and_start_again_after_a_reset() -> None:
    backoff = Backoff(0.5, 3.0, rng=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_jitter_only_shortens_a_delay() -> None:
    longest, shortest = Backoff(10.0, 10.0, jitter=0.2, rng=lambda: 0.0), Backoff(10.0, 10.0, rng=lambda: 1.0)
    assert longest.next_delay() == 10.0
    assert shortest.next_delay() == 8.0


def test_a_stop_ends_the_wait_at_once() -> None:
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    assert Backoff(60.0, 60.0).wait(stop)
    assert time.monotonic() - started < 1.0
    assert not Backoff(0.001, 0.001).wait(threading.Event())


class _Metadata:
    """A consumer's metadata in which topics appear after a number of lookups."""

    def __init__(self, partitions: dict[str, int], *, after: int) -> None:
        self.partitions, self.after, self.lookups = partitions, after, 0

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        self.lookups += 1
        if self.lookups <= self.after or topic not in self.partitions:
            return None
        return set(range(self.partitions[topic]))


def test_topics_are_awaited_until_every_one_has_partitions() -> None:
    metadata = _Metadata({"a": 3, "b": 1}, after=2)
    assert wait_for_topics(metadata, ["a", "b"], stop=threading.Event()) == {"a": 3, "b": 1}


def test_a_stop_ends_the_wait_for_topics_with_what_is_known() -> None:
    stop = threading.Event()
    stop.set()
    assert wait_for_topics(_Metadata({"a": 2}, after=0), ["a", "missing"], stop=stop) == {
        "a": 2,
        "missing": 0,
    }
