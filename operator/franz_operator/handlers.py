"""What kopf's handlers in `main` do: each decorator there calls one function here.

One kopf daemon per pipeline runs the level-based reconcile: at once, again whenever the pipeline's spec
or one of its KafkaTopics changes, soon again while it is not Ready, and every resync interval in any
case, which is how drift nobody reports (a topic deleted in Kafka, a rotated source Secret) is repaired.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import kopf

from franz_operator.constants import FINALIZER, LABEL_PIPELINE, LABEL_PIPELINE_NAMESPACE
from franz_operator.exceptions import KubeError, OperatorError
from franz_operator.kube import PIPELINE, Kube
from franz_operator.reconcile import Reconciler

log = logging.getLogger(__name__)

Key = tuple[str, str]  # namespace, name: what a KafkaTopic's labels name its pipeline by
FIRST_RETRY_SECONDS: Final = 1.0
MAX_RETRY_SECONDS: Final = 60.0


def retry_delay(attempt: int) -> float:
    """1, 2, 4 … seconds, at most a minute: fast when a fix is quick, gentle on a broker that is down."""
    return float(min(FIRST_RETRY_SECONDS * 2 ** max(attempt - 1, 0), MAX_RETRY_SECONDS))


class Stopped(Protocol):
    """What a daemon uses of kopf's `stopped` flag (`kopf.DaemonStopped`): true once kopf asks it to end."""

    def __bool__(self) -> bool: ...

    def wait(self) -> Awaitable[object]: ...


@dataclass(slots=True)
class Wakeup:
    """How the watches reach a running daemon: kopf keeps a daemon's body current, but does not tell it
    when the body (or another object) changes."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    generation: int | None = None  # the spec generation the daemon last read


@dataclass(slots=True)
class Pipelines:
    """What the handlers share: the reconciler, the pool it blocks in, and a wake-up per running daemon."""

    reconciler: Reconciler
    executor: Executor  # the reconcile blocks (kubernetes and kafka-python clients): OPERATOR_WORKERS threads
    resync_seconds: float
    wakeups: dict[Key, Wakeup] = field(default_factory=dict)


async def run_pipeline(*, pipelines: Pipelines, body: kopf.Body, stopped: Stopped) -> None:
    """The daemon: reconcile, wait to be woken, repeat until kopf stops it (pipeline deleted, operator
    exiting). Not Ready is a state to look at again, not an error: kopf's retries are for crashes."""
    key = (body.metadata.namespace or "", body.metadata.name or "")
    wakeup = pipelines.wakeups[key] = Wakeup()
    failures = 0
    try:
        while not stopped:
            wakeup.event.clear()  # before the reconcile reads: a change during it runs it once more after
            # kopf keeps `body` current from the watch; the reconcile gets one event's snapshot of it.
            snapshot = dict(body)
            if snapshot["metadata"].get("deletionTimestamp"):
                # Being deleted, and kopf stops us next: nothing to bring back, and a reconcile now could
                # recreate what deletionPolicy Delete is removing.
                await stopped.wait()
                continue
            wakeup.generation = snapshot["metadata"].get("generation")
            ready = await _in_pool(
                pipelines.executor, functools.partial(_reconcile, pipelines.reconciler, snapshot)
            )
            failures = 0 if ready else failures + 1
            delay = pipelines.resync_seconds if ready else retry_delay(failures)
            await _sleep(wakeup=wakeup.event, stopped=stopped, timeout=min(delay, pipelines.resync_seconds))
    finally:
        if pipelines.wakeups.get(key) is wakeup:
            del pipelines.wakeups[key]
        pipelines.reconciler.forget(body.metadata.uid or "")


def wake_on_pipeline_event(*, pipelines: Pipelines, body: Mapping[str, Any]) -> None:
    """A new spec: reconcile now. Other writes (our status, kopf's finalizer) leave the generation as is,
    and deletion stops the daemon through kopf, so neither costs a reconcile."""
    metadata = body["metadata"]
    wakeup = pipelines.wakeups.get((metadata["namespace"], metadata["name"]))
    if wakeup is not None and metadata.get("generation") != wakeup.generation:
        wakeup.event.set()


def wake_on_kafka_topic_event(*, pipelines: Pipelines, labels: Mapping[str, str]) -> None:
    """Strimzi wrote a topic's status (or someone deleted the topic): look at its pipeline now."""
    wakeup = pipelines.wakeups.get((labels.get(LABEL_PIPELINE_NAMESPACE, ""), labels.get(LABEL_PIPELINE, "")))
    if wakeup is not None:
        wakeup.event.set()


def delete_topics(*, reconciler: Reconciler, body: Mapping[str, Any], retry: int) -> None:
    """deletionPolicy Delete: the pipeline goes once its topics are gone; until then, kopf retries."""
    try:
        reconciler.delete_topics(body)
    except OperatorError as error:
        raise kopf.TemporaryError(str(error), delay=retry_delay(retry + 1)) from error


def _reconcile(reconciler: Reconciler, body: Mapping[str, Any]) -> bool:
    """What the reconcile cannot help (the API server refusing the status write) is retried as not Ready."""
    try:
        return reconciler.reconcile(body)
    except OperatorError as error:
        metadata = body["metadata"]
        log.warning(
            "reconcile failed",
            extra={"pipeline": f"{metadata['namespace']}/{metadata['name']}", "error": str(error)},
        )
        return False


async def _in_pool(executor: Executor, call: Callable[[], bool]) -> bool:
    """`call()` on the pool, in kopf's context, which `kopf.event` needs to reach kopf's poster."""
    return await asyncio.get_running_loop().run_in_executor(executor, contextvars.copy_context().run, call)


async def _sleep(*, wakeup: asyncio.Event, stopped: Stopped, timeout: float) -> None:
    """Until the pipeline is woken, kopf stops the daemon, or `timeout` passes, whichever is first.

    Waiting on `stopped` too lets the daemon exit at once when kopf asks, so deleting a pipeline never
    waits for a resync interval, and kopf never has to cancel a reconcile halfway through its writes.
    """
    waiters = [asyncio.ensure_future(wakeup.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def release_retained_pipelines(*, kube: Kube, namespaces: Sequence[str]) -> None:
    """On the operator's way out, our finalizer comes off every Retain pipeline: kopf puts it on all of
    them (its daemons need it), but only a Delete pipeline needs us to go, so deleting a Retain one (or
    its namespace, or `helm uninstall` of the release that runs this operator) never waits for an
    operator that is gone. kopf adds it back when it next sees the pipeline."""
    scopes: list[str | None] = [*namespaces] or [None]  # None: every namespace
    for namespace in scopes:
        for body in kube.list_objects(PIPELINE, namespace):
            metadata = body["metadata"]
            finalizers = metadata.get("finalizers") or []
            if FINALIZER not in finalizers or body.get("spec", {}).get("deletionPolicy") == "Delete":
                continue
            try:
                kube.merge_patch(
                    PIPELINE,
                    metadata["namespace"],
                    metadata["name"],
                    # The resource version makes this lose to a concurrent change instead of undoing it.
                    {
                        "metadata": {
                            "finalizers": [name for name in finalizers if name != FINALIZER],
                            "resourceVersion": metadata["resourceVersion"],
                        }
                    },
                )
            except KubeError as error:
                log.warning(
                    "could not release a pipeline's finalizer on the way out",
                    extra={"pipeline": f"{metadata['namespace']}/{metadata['name']}", "error": str(error)},
                )
