"""One way to wait: an interruptible exponential backoff, and waiting until topics exist.

Every wait is on a stop event, so a shutdown requested in the middle of one ends it at once instead of
sitting out a delay of up to a minute (SIGTERM has a grace period; a wait must never use it up).
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module at start, and kafka-python takes a while to import
    from kafka import KafkaConsumer

log = logging.getLogger(__name__)

# How often a wait for topics asks the consumer's metadata, and how often it says what it still waits for.
_TOPIC_POLL_SECONDS = 0.5
_TOPIC_LOG_SECONDS = 10.0


def stop_event() -> threading.Event:
    """An event that SIGTERM and Ctrl-C set, so a command or a start-up wait ends in order, not by dying."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@dataclass(slots=True)
class Backoff:
    """Delays that double from `initial` up to `maximum`, each shortened by up to `jitter` of itself.

    Jitter only ever shortens a delay, so instances that failed together retry apart while no delay is
    longer than the doubling and the cap allow.
    """

    initial: float
    maximum: float
    jitter: float = field(default=0.2, kw_only=True)
    rng: Callable[[], float] = field(default=random.random, kw_only=True)
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.initial

    def next_delay(self) -> float:
        """The delay to wait now; the one after it is twice as long, up to `maximum`."""
        delay = self._next * (1.0 - self.jitter * self.rng())
        self._next = min(self._next * 2, self.maximum)
        return delay

    def wait(self, stop: threading.Event) -> bool:
        """Wait the next delay, or less when `stop` is set meanwhile; True when stopped."""
        return stop.wait(self.next_delay())

    def reset(self) -> None:
        """After a success: the next failure waits the shortest delay again."""
        self._next = self.initial


def wait_for_topics(
    consumer: KafkaConsumer, topics: Sequence[str], *, stop: threading.Event
) -> dict[str, int]:
    """Each topic's partition count, once every one of them has partitions.

    A consumer group that forms before a topic's metadata arrived assigns nothing and idles until the next
    metadata refresh, so services wait for their topics first. When `stop` is set first, the counts known
    then are returned, 0 for a topic still missing.
    """
    waited = 0.0
    while True:
        counts = {topic: len(consumer.partitions_for_topic(topic) or ()) for topic in topics}
        missing = [topic for topic, count in counts.items() if not count]
        if not missing or stop.is_set():
            return counts
        if waited % _TOPIC_LOG_SECONDS == 0:
            log.warning(
                "waiting for topics to exist (on a secured cluster, also for this user's ACLs on them)",
                extra={"missing": missing, "waited_seconds": waited},
            )
        stop.wait(_TOPIC_POLL_SECONDS)
        waited += _TOPIC_POLL_SECONDS
