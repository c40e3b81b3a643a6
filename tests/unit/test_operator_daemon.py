"""The per-pipeline worker's schedule with a fake reconciler, driven by watch events as kopf delivers
them: when it reconciles, what wakes it, and that it ends when the pipeline goes. Real asyncio and
threads, no kopf, no I/O."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from franz_operator import handlers
from franz_operator.constants import ANNOTATION_ACCEPT_TOPIC_IDS, LABEL_PIPELINE, LABEL_PIPELINE_NAMESPACE
from franz_operator.exceptions import KubeError
from franz_operator.reconcile import Reconciler

KEY = ("team", "tickets")


class FakeReconciler(Reconciler):
    """Answers `ready` (or raises `error`), after waiting for `gate` when one is set."""

    def __init__(self) -> None:
        self.generations: list[int] = []
        self.ready = True
        self.error: Exception | None = None
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.forgotten: list[str] = []

    def reconcile(self, body: Mapping[str, Any]) -> bool:
        self.generations.append(body["metadata"]["generation"])
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        if self.error is not None:
            raise self.error
        return self.ready

    def forget(self, uid: str) -> None:
        self.forgotten.append(uid)


async def until(predicate: Callable[[], object], *, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.002)


class Daemon:
    """One pipeline's worker running on the fakes, started and stopped by its watch events."""

    def __init__(self, *, resync_seconds: float = 60.0) -> None:
        self.reconciler = FakeReconciler()
        self.pipelines = handlers.Pipelines(
            reconciler=self.reconciler,
            executor=ThreadPoolExecutor(max_workers=1),
            resync_seconds=resync_seconds,
        )
        self.raw: dict[str, Any] = {
            "metadata": {"namespace": "team", "name": "tickets", "uid": "u-1", "generation": 1}
        }

    async def __aenter__(self) -> Daemon:
        handlers.on_pipeline_event(pipelines=self.pipelines, event_type=None, body=self.raw)
        task = self.pipelines.workers[KEY].task
        assert task is not None
        self.task = task
        await until(lambda: self.reconciler.generations)
        return self

    async def __aexit__(self, *_: object) -> None:
        handlers.on_pipeline_event(pipelines=self.pipelines, event_type="DELETED", body=self.raw)
        await asyncio.wait_for(self.task, timeout=5)
        self.pipelines.executor.shutdown()

    def event(self, *, generation: int) -> None:
        """A watch event for the pipeline, as kopf delivers it: the body is already the new one."""
        self.raw["metadata"] = {**self.raw["metadata"], "generation": generation}
        handlers.on_pipeline_event(pipelines=self.pipelines, event_type="MODIFIED", body=self.raw)


def test_the_daemon_reconciles_at_once_for_a_new_spec_and_ends_when_stopped() -> None:
    async def scenario() -> None:
        async with Daemon() as daemon:
            assert daemon.reconciler.generations == [1]
            daemon.event(generation=1)  # our status write or kopf's finalizer: not a new spec
            await asyncio.sleep(0.05)
            assert daemon.reconciler.generations == [1]
            daemon.event(generation=2)
            await until(lambda: daemon.reconciler.generations == [1, 2])
        assert daemon.reconciler.forgotten == ["u-1"]
        assert daemon.pipelines.workers == {}

    asyncio.run(scenario())


def test_accepting_a_recreated_topic_wakes_the_pipeline_and_only_once() -> None:
    """The annotation is metadata (no new generation), yet the user waits for the status to clear."""

    async def scenario() -> None:
        async with Daemon() as daemon:
            daemon.raw["metadata"] = {
                **daemon.raw["metadata"],
                "annotations": {ANNOTATION_ACCEPT_TOPIC_IDS: "id-2"},
            }
            daemon.event(generation=1)
            await until(lambda: daemon.reconciler.generations == [1, 1])
            daemon.event(generation=1)
            await asyncio.sleep(0.05)
            assert daemon.reconciler.generations == [1, 1]

    asyncio.run(scenario())


def test_a_change_during_a_reconcile_runs_it_once_more_afterwards() -> None:
    async def scenario() -> None:
        async with Daemon() as daemon:
            daemon.reconciler.gate = gate = threading.Event()
            daemon.reconciler.entered.clear()
            daemon.event(generation=2)
            await until(daemon.reconciler.entered.is_set)
            daemon.event(generation=3)  # arrives while generation 2 is being reconciled
            daemon.event(generation=4)
            gate.set()
            await until(lambda: daemon.reconciler.generations == [1, 2, 4])
            await asyncio.sleep(0.05)
            assert daemon.reconciler.generations == [1, 2, 4]  # two events, one more reconcile

    asyncio.run(scenario())


def test_a_kafka_topic_event_wakes_its_own_pipeline_only() -> None:
    async def scenario() -> None:
        async with Daemon() as daemon:
            theirs = {LABEL_PIPELINE: "tickets", LABEL_PIPELINE_NAMESPACE: "other-team"}
            handlers.wake_on_kafka_topic_event(pipelines=daemon.pipelines, labels=theirs)
            await asyncio.sleep(0.05)
            assert len(daemon.reconciler.generations) == 1
            ours = {LABEL_PIPELINE: "tickets", LABEL_PIPELINE_NAMESPACE: "team"}
            handlers.wake_on_kafka_topic_event(pipelines=daemon.pipelines, labels=ours)
            await until(lambda: len(daemon.reconciler.generations) == 2)

    asyncio.run(scenario())


def test_not_ready_and_failed_reconciles_are_looked_at_again_without_an_event() -> None:
    async def scenario() -> None:
        # The retry delay is capped by the resync interval, short here.
        async with Daemon(resync_seconds=0.02) as daemon:
            daemon.reconciler.ready = False
            await until(lambda: len(daemon.reconciler.generations) >= 3)
            daemon.reconciler.error = KubeError(0, "the API server did not answer")
            count = len(daemon.reconciler.generations)
            await until(lambda: len(daemon.reconciler.generations) >= count + 2)  # the daemon lives on
            assert not daemon.task.done()

    asyncio.run(scenario())


def test_a_pipeline_being_deleted_is_not_reconciled_again() -> None:
    async def scenario() -> None:
        async with Daemon() as daemon:
            daemon.raw["metadata"] = {**daemon.raw["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}
            daemon.event(generation=2)  # the API server counts a deletion as a new generation
            await asyncio.sleep(0.05)
            assert daemon.reconciler.generations == [1]
        assert daemon.task.done()


def test_the_operators_cleanup_stops_every_worker() -> None:
    async def scenario() -> None:
        async with Daemon() as daemon:
            await handlers.stop_workers(daemon.pipelines, timeout=5)
            assert daemon.task.done()
            assert daemon.pipelines.workers == {}

    asyncio.run(scenario())

    asyncio.run(scenario())
