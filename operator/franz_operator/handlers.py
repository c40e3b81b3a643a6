"""What kopf's handlers in `main` do: each decorator there calls one function here.

One worker per pipeline (an asyncio task on kopf's loop, started by kopf's watch events) runs the
level-based reconcile: at once, again whenever the pipeline's spec or one of its KafkaTopics changes,
soon again while it is not Ready, and every resync interval in any case, which is how drift nobody
reports (a topic deleted in Kafka, a rotated source Secret) is repaired.

Not a `kopf.daemon`: kopf puts a finalizer on every object that has daemons, so deleting a Retain
pipeline (or its namespace, or `helm uninstall` of the release that also runs this operator) would wait
for an operator that may be gone. Only deletionPolicy Delete pipelines carry our finalizer (kopf adds it
for the deletion handler's filter): their topics do need us to go.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Final

import kopf

from franz_operator.constants import LABEL_PIPELINE, LABEL_PIPELINE_NAMESPACE
from franz_operator.exceptions import OperatorError
from franz_operator.pipeline import accepted_topic_ids
from franz_operator.reconcile import Reconciler

log = logging.getLogger(__name__)

Key = tuple[str, str]  # namespace, name: what a KafkaTopic's labels name its pipeline by
FIRST_RETRY_SECONDS: Final = 1.0
MAX_RETRY_SECONDS: Final = 60.0


def retry_delay(attempt: int) -> float:
    """1, 2, 4 … seconds, at most a minute: fast when a fix is quick, gentle on a broker that is down."""
    return float(min(FIRST_RETRY_SECONDS * 2 ** max(attempt - 1, 0), MAX_RETRY_SECONDS))


class StopFlag:
    """What a worker waits on to end: set once the pipeline is gone or the operator exits."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __bool__(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> object:
        return await self._event.wait()

    def stop(self) -> None:
        self._event.set()


@dataclass(slots=True)
class Worker:
    """One pipeline's worker: the newest body the watch delivered, what wakes it, and what stops it."""

    body: dict[str, Any]
    event: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: StopFlag = field(default_factory=StopFlag)
    generation: int | None = None  # the spec generation the worker last read
    accepted: frozenset[str] = frozenset()  # the recreated topics' ids accepted when it last read
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class Pipelines:
    """What the handlers share: the reconciler, the pool it blocks in, and a worker per pipeline."""

    reconciler: Reconciler
    executor: Executor  # the reconcile blocks (kubernetes and kafka-python clients): OPERATOR_WORKERS threads
    resync_seconds: float
    workers: dict[Key, Worker] = field(default_factory=dict)


def on_pipeline_event(*, pipelines: Pipelines, event_type: str | None, body: Mapping[str, Any]) -> None:
    """A pipeline's watch event: start its worker the first time, wake it for a new spec, a deletion or a
    recreated topic accepted (an annotation), stop it once the pipeline is gone. Our status writes leave
    the generation as it is: no reconcile."""
    metadata = body["metadata"]
    key = (metadata["namespace"], metadata["name"])
    worker = pipelines.workers.get(key)
    if event_type == "DELETED":
        if worker is not None:
            worker.stopped.stop()
        return
    if worker is None:
        worker = pipelines.workers[key] = Worker(body=dict(body))
        worker.task = asyncio.get_running_loop().create_task(
            run_pipeline(pipelines=pipelines, key=key, worker=worker), name=f"pipeline {key[0]}/{key[1]}"
        )
        return
    worker.body = dict(body)
    if (
        metadata.get("deletionTimestamp")
        or metadata.get("generation") != worker.generation
        or accepted_topic_ids(body) != worker.accepted
    ):
        worker.event.set()


async def stop_workers(pipelines: Pipelines, *, timeout: float = 10.0) -> None:
    """On the operator's way out: every worker ends after the reconcile it is in (requests time out)."""
    tasks = [worker.task for worker in pipelines.workers.values() if worker.task is not None]
    for worker in pipelines.workers.values():
        worker.stopped.stop()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


async def run_pipeline(*, pipelines: Pipelines, key: Key, worker: Worker) -> None:
    """The worker: reconcile, wait to be woken, repeat until stopped (pipeline deleted, operator exiting).
    Not Ready is a state to look at again, not an error; so is a reconcile that crashed (a bug, logged)."""
    failures = 0
    try:
        while not worker.stopped:
            worker.event.clear()  # before the reconcile reads: a change during it runs it once more after
            snapshot = worker.body
            if snapshot["metadata"].get("deletionTimestamp"):
                # Being deleted: nothing to bring back, and a reconcile now could recreate what
                # deletionPolicy Delete is removing. The DELETED event stops us.
                await _sleep(wakeup=worker.event, stopped=worker.stopped, timeout=pipelines.resync_seconds)
                continue
            worker.generation = snapshot["metadata"].get("generation")
            worker.accepted = accepted_topic_ids(snapshot)
            ready = await _in_pool(
                pipelines.executor, functools.partial(_reconcile, pipelines.reconciler, snapshot)
            )
            failures = 0 if ready else failures + 1
            delay = pipelines.resync_seconds if ready else retry_delay(failures)
            await _sleep(
                wakeup=worker.event, stopped=worker.stopped, timeout=min(delay, pipelines.resync_seconds)
            )
    finally:
        if pipelines.workers.get(key) is worker:
            del pipelines.workers[key]
        pipelines.reconciler.forget(worker.body["metadata"].get("uid") or "")


def wake_on_kafka_topic_event(*, pipelines: Pipelines, labels: Mapping[str, str]) -> None:
    """Strimzi wrote a topic's status (or someone deleted the topic): look at its pipeline now."""
    worker = pipelines.workers.get((labels.get(LABEL_PIPELINE_NAMESPACE, ""), labels.get(LABEL_PIPELINE, "")))
    if worker is not None:
        worker.event.set()


def delete_topics(*, reconciler: Reconciler, body: Mapping[str, Any], retry: int) -> None:
    """deletionPolicy Delete: the pipeline goes once its topics are gone; until then, kopf retries."""
    try:
        reconciler.delete_topics(body)
    except OperatorError as error:
        raise kopf.TemporaryError(str(error), delay=retry_delay(retry + 1)) from error


def _reconcile(reconciler: Reconciler, body: Mapping[str, Any]) -> bool:
    """What the reconcile cannot help (the API server refusing the status write) is retried as not Ready."""
    metadata = body["metadata"]
    try:
        return reconciler.reconcile(body)
    except OperatorError as error:
        log.warning(
            "reconcile failed",
            extra={"pipeline": f"{metadata['namespace']}/{metadata['name']}", "error": str(error)},
        )
    except Exception:
        log.exception("reconcile crashed", extra={"pipeline": f"{metadata['namespace']}/{metadata['name']}"})
    return False


async def _in_pool(executor: Executor, call: Callable[[], bool]) -> bool:
    """`call()` on the pool, in kopf's context, which `kopf.event` needs to reach kopf's poster."""
    return await asyncio.get_running_loop().run_in_executor(executor, contextvars.copy_context().run, call)


async def _sleep(*, wakeup: asyncio.Event, stopped: StopFlag, timeout: float) -> None:
    """Until the pipeline is woken, its worker is stopped, or `timeout` passes, whichever is first.

    Waiting on `stopped` too lets the worker exit at once, so deleting a pipeline never waits for a
    resync interval, and nothing has to cancel a reconcile halfway through its writes.
    """
    waiters = [asyncio.ensure_future(wakeup.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
