"""The bot's side of the ticket lifecycle, read from the event log in a worker thread: the outcome of each
command the bot sent (so staff read "done" or the refusal's reason, not just "sent"), and every event for
the staff desk to show in Discord. Ticket states are not kept here: the bot asks sachbearbeiter's read
API, so its memory does not grow with the number of tickets.

Offsets are committed after the desk acted (or Discord refused), so a restart does not skip an event; the
events of the first poll after a start may have been acted on before, and are marked so; a bot without
offsets starts at the end of the log, so the first start does not announce old tickets.

A record that does not decode is skipped, counted and reported once to `errors`; an event from a newer
version is skipped and counted. Neither is read again and again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata

from franz import contracts
from franz.contracts import LifecycleTopics, TicketEvent, UndecodableRecord, UnknownEvent
from franz.runtime import metrics
from franz.runtime.clients import new_consumer
from franz.runtime.errors import ErrorReporter
from franz.runtime.security import PLAINTEXT, KafkaSecurity
from franz.runtime.wait import Backoff, wait_for_topics

log = logging.getLogger(__name__)

# Events already acted on; a duplicate event (after a crash upstream) must not act twice.
ANNOUNCED_MEMORY = 10_000
DESK_BATCH = 50


class TicketDesk:
    def __init__(
        self,
        *,
        bootstrap: str,
        topics: LifecycleTopics,
        group_id: str,
        on_event: Callable[[TicketEvent, bool], None],
        reporter: ErrorReporter,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.reporter = reporter
        for reason in metrics.SKIP_REASONS:  # at 0 before the first skip, as every series
            metrics.RECORDS_SKIPPED.labels(reporter.service, topics.events, reason)
        self.topics = topics
        self.group_id = group_id
        self.on_event = on_event  # (event, maybe acted on before this start)
        self._waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[TicketEvent]]] = {}
        self._announced: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._guarded, args=(self._follow_events,), name="desk-events", daemon=True
            ),
        ]

    def start(self) -> TicketDesk:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def ready(self) -> bool:
        """True once the event log is assigned to us, so outcomes of new commands will be seen."""
        return self._listening.is_set()

    def expect(self, command_id: str) -> asyncio.Future[TicketEvent]:
        """Register interest in a command's outcome before sending it, so a fast answer is not missed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TicketEvent] = loop.create_future()
        with self._lock:
            self._waiters[command_id] = (loop, future)
        future.add_done_callback(lambda _: self._forget(command_id))
        return future

    def _forget(self, command_id: str) -> None:
        with self._lock:
            self._waiters.pop(command_id, None)

    def _guarded(self, follow: Callable[[Backoff], None]) -> None:
        """A worker never dies: a broker that is away is waited for, and the work resumes. A follower
        resets the backoff once it is connected, so a failure after a good while is retried soon."""
        backoff = Backoff(0.5, 5.0)
        while not self._stop.is_set():
            try:
                follow(backoff)
            except Exception:
                log.warning("reading the lifecycle topics failed; retrying", exc_info=True)
                backoff.wait(self._stop)

    def _follow_events(self, backoff: Backoff) -> None:
        consumer = new_consumer(
            self.bootstrap,
            client_id="franz-kummerkasten-events",
            security=self.security,
            group_id=self.group_id,
            auto_offset_reset="latest",
            isolation_level="read_committed",
            # Discord paces the desk (a channel takes about a message a second): small batches, so a
            # restart has little to look up again.
            max_poll_records=DESK_BATCH,
        )
        try:
            # The bot is one process (one gateway session per token): it takes every partition itself
            # rather than joining a group, so a restart after kill -9 never waits for a dead member's
            # session to expire. The group keeps only its committed offsets.
            topic = self.topics.events
            partitions = wait_for_topics(consumer, [topic], stop=self._stop)[topic]
            if not partitions:
                return  # stopped before the topic existed
            assigned = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(assigned)
            _start_at_the_end_once(consumer, assigned)
            backoff.reset()
            committed_once: set[int] = set()  # partitions whose first batch since this start is done
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=500)
                if consumer.assignment():
                    self._listening.set()
                batch = [
                    (event, partition.partition not in committed_once)
                    for partition, records in polled.items()
                    for record in records
                    if (event := self._decoded(record)) is not None
                ]
                # Outcomes first: a staffer's answer never waits for Discord work on earlier events.
                for event, _ in batch:
                    self._tell_waiter(event)
                for event, maybe_done in batch:
                    self._act(event, maybe_done=maybe_done)
                if polled:
                    consumer.commit()
                    committed_once |= {partition.partition for partition in polled}
        finally:
            self._listening.clear()
            consumer.close(autocommit=False)

    def _decoded(self, record: ConsumerRecord) -> TicketEvent | None:
        """The event, or None for one to pass over: committing past it is what keeps it from coming back."""
        try:
            event = contracts.read_event(record.value)
        except UndecodableRecord as error:
            self.reporter.report_undecodable(record, error, reader="the bot's event follower")
            return None
        if isinstance(event, UnknownEvent):
            metrics.RECORDS_SKIPPED.labels(self.reporter.service, record.topic, "unknown_event").inc()
            return None
        return event

    def _tell_waiter(self, event: TicketEvent) -> None:
        command_id = event["command_id"]
        if command_id is not None:
            with self._lock:
                waiter = self._waiters.get(command_id)
            if waiter is not None:
                loop, future = waiter
                loop.call_soon_threadsafe(_resolve, future, event)

    def _act(self, event: TicketEvent, *, maybe_done: bool) -> None:
        if event["event_id"] not in self._announced:
            self.on_event(event, maybe_done)
            self._announced[event["event_id"]] = None
            if len(self._announced) > ANNOUNCED_MEMORY:
                self._announced.popitem(last=False)


def _start_at_the_end_once(consumer: KafkaConsumer, assigned: list[TopicPartition]) -> None:
    """A group without offsets starts at the end, and says so at once: a crash during its first batch
    must resume there, not skip to a later end."""
    fresh = {tp: consumer.position(tp) for tp in assigned if consumer.committed(tp) is None}
    if fresh:
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in fresh.items()})


def _resolve(future: asyncio.Future[TicketEvent], event: TicketEvent) -> None:
    if not future.done():
        future.set_result(event)
