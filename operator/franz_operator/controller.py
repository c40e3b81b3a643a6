"""Workers that reconcile pipelines from a queue, with backoff for what is not ready and a periodic resync.

kopf's watches only say *which* pipeline to look at; the worker reads the pipeline fresh from the API, so
a burst of events costs one reconcile, and a missed one is caught by the resync within its interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Final

from franz_operator.exceptions import OperatorError
from franz_operator.kube import PIPELINE, Kube
from franz_operator.reconcile import Reconciler
from franz_operator.workqueue import WorkQueue

log = logging.getLogger(__name__)

Key = tuple[str, str]  # namespace, name
FIRST_RETRY_SECONDS: Final = 1.0
MAX_RETRY_SECONDS: Final = 60.0


def retry_delay(attempt: int) -> float:
    """1, 2, 4 … seconds, at most a minute: fast when a fix is quick, gentle on a broker that is down."""
    return float(min(FIRST_RETRY_SECONDS * 2 ** max(attempt - 1, 0), MAX_RETRY_SECONDS))


class Controller:
    def __init__(
        self,
        *,
        kube: Kube,
        reconciler: Reconciler,
        workers: int,
        resync_seconds: float,
        namespaces: Sequence[str] = (),
    ) -> None:
        self._kube = kube
        self._reconciler = reconciler
        self._queue: WorkQueue[Key] = WorkQueue()
        self._attempts: dict[Key, int] = {}
        self._resync_seconds = resync_seconds
        self._namespaces = tuple(namespaces)
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"reconcile-{n}", daemon=True) for n in range(workers)
        ]
        self._threads.append(threading.Thread(target=self._resync, name="resync", daemon=True))

    def start(self) -> Controller:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._queue.close()
        for thread in self._threads:
            thread.join(timeout=30)

    def enqueue(self, namespace: str, name: str) -> None:
        self._queue.add((namespace, name))

    def _work(self) -> None:
        while (key := self._queue.get()) is not None:
            try:
                self._reconcile(key)
            finally:
                self._queue.done(key)

    def _reconcile(self, key: Key) -> None:
        namespace, name = key
        try:
            body = self._kube.get(PIPELINE, namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                # Gone, or being deleted: nothing to bring back (deletion itself is kopf's handler's job).
                self._attempts.pop(key, None)
                return
            ready = self._reconciler.reconcile(body)
        except OperatorError as error:
            log.warning("reconcile failed", extra={"pipeline": f"{namespace}/{name}", "error": str(error)})
            ready = False
        except Exception:
            log.exception("reconcile crashed", extra={"pipeline": f"{namespace}/{name}"})
            ready = False
        if ready:
            self._attempts.pop(key, None)
            return
        attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        self._queue.add(key, delay=retry_delay(attempt))

    def _resync(self) -> None:
        """Every pipeline, every interval: brings back what was deleted or changed behind our back."""
        while not self._stopped.is_set():
            try:
                for namespace in self._namespaces or (None,):
                    for item in self._kube.list_objects(PIPELINE, namespace):
                        self.enqueue(item["metadata"]["namespace"], item["metadata"]["name"])
            except OperatorError as error:
                log.warning("cannot list pipelines for the resync", extra={"error": str(error)})
            self._stopped.wait(self._resync_seconds)
