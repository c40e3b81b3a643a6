"""A delaying work queue of pipeline keys, as controllers use: one key is never worked on twice at once.

A key added while queued keeps its earliest due time; a key added while a worker holds it runs again
once that worker is done, so an event that arrives mid-reconcile is never lost.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class WorkQueue(Generic[Key]):
    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._due: dict[Key, float] = {}  # queued keys and when they are due
        self._heap: list[tuple[float, int, Key]] = []
        self._active: set[Key] = set()
        self._again: dict[Key, float] = {}  # keys added while active, with their delay
        self._counter = 0
        self._closed = False

    def add(self, key: Key, *, delay: float = 0.0) -> None:
        with self._ready:
            if key in self._active:
                self._again[key] = min(delay, self._again.get(key, delay))
                return
            self._push(key, time.monotonic() + delay)

    def get(self) -> Key | None:
        """The next due key (the caller must call `done` with it), or None once the queue is closed."""
        with self._ready:
            while not self._closed:
                now = time.monotonic()
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # an entry superseded by an earlier due time
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._active.add(key)
                    return key
                self._ready.wait(timeout=self._heap[0][0] - now if self._heap else None)
            return None

    def done(self, key: Key) -> None:
        with self._ready:
            self._active.discard(key)
            if key in self._again:
                self._push(key, time.monotonic() + self._again.pop(key))

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def __len__(self) -> int:
        with self._ready:
            return len(self._due)

    def _push(self, key: Key, due: float) -> None:
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        self._counter += 1
        heapq.heappush(self._heap, (due, self._counter, key))
        self._ready.notify()
