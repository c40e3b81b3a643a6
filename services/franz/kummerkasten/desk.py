"""The bot's side of the ticket lifecycle, read from Kafka in two worker threads.

- the current state of every ticket, from the compacted state topic (for `/ticket-status`);
- the event log, in the bot's own consumer group: the outcome of each command the bot sent (so staff read
  "done" or the refusal's reason, not just "sent"), and every `TicketClosed` to tell the submitter about.
  Offsets are committed after the submitter was told (or Discord refused), so a restart does not skip a
  close; a group without offsets starts at the end, so the first start does not announce old closes.

A record neither reader can decode is skipped, counted and reported once to `errors`; an event from a
newer version is skipped and counted. Neither is read again and again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.contracts import LifecycleTopics, TicketEvent, TicketState, UndecodableRecord, UnknownEvent
from franz.runtime import metrics
from franz.runtime.clients import new_consumer, new_reader
from franz.runtime.errors import ErrorReporter
from franz.runtime.security import PLAINTEXT, KafkaSecurity
from franz.runtime.text import summary
from franz.runtime.wait import Backoff, wait_for_topics

log = logging.getLogger(__name__)

# Closes already announced; a duplicate event (after a crash upstream) must not DM the submitter twice.
ANNOUNCED_MEMORY = 10_000
BODY_CHARS = 200  # the view keeps a summary, not whole ticket bodies, for every ticket


class TicketDesk:
    def __init__(
        self,
        *,
        bootstrap: str,
        topics: LifecycleTopics,
        group_id: str,
        on_closed: Callable[[TicketEvent], None],
        reporter: ErrorReporter,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.reporter = reporter
        for topic in (topics.events, topics.state):  # at 0 before the first skip, as every series
            for reason in metrics.SKIP_REASONS:
                metrics.RECORDS_SKIPPED.labels(reporter.service, topic, reason)
        self.topics = topics
        self.group_id = group_id
        self.on_closed = on_closed
        self._states: dict[str, TicketState] = {}
        self._waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[TicketEvent]]] = {}
        self._announced: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._guarded, args=(self._follow_state,), name="desk-state", daemon=True
            ),
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

    def state(self, ticket_id: str) -> TicketState | None:
        return self._states.get(ticket_id)

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

    def _follow_state(self, backoff: Backoff) -> None:
        consumer = new_reader(self.bootstrap, client_id="franz-kummerkasten-state", security=self.security)
        try:
            topic = self.topics.state
            partitions = wait_for_topics(consumer, [topic], stop=self._stop)[topic]
            if not partitions:
                return  # stopped before the topic existed
            assigned = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(assigned)
            consumer.seek_to_beginning(*assigned)
            backoff.reset()
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        if record.value is None:
                            continue
                        try:
                            state = contracts.decode_state(record.value)
                        except UndecodableRecord as error:
                            self.reporter.report_undecodable(record, error, reader="the bot's ticket states")
                            continue
                        self._states[state["ticket_id"]] = {
                            **state,
                            "body": summary(state["body"], BODY_CHARS),
                        }
        finally:
            consumer.close()

    def _follow_events(self, backoff: Backoff) -> None:
        consumer = new_consumer(
            self.bootstrap,
            client_id="franz-kummerkasten-events",
            security=self.security,
            group_id=self.group_id,
            auto_offset_reset="latest",
            isolation_level="read_committed",
        )
        try:
            # As the shared loop does: a group that forms before the topic's metadata arrived idles, and a
            # topic this user may not describe is then named in the log instead of waited for silently.
            if not wait_for_topics(consumer, [self.topics.events], stop=self._stop)[self.topics.events]:
                return
            consumer.subscribe([self.topics.events])
            backoff.reset()
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=500)
                if consumer.assignment():
                    self._listening.set()
                for records in polled.values():
                    for record in records:
                        event = self._decoded(record)
                        if event is not None:
                            self._handle(event)
                if polled:
                    consumer.commit()
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

    def _handle(self, event: TicketEvent) -> None:
        command_id = event["command_id"]
        if command_id is not None:
            with self._lock:
                waiter = self._waiters.get(command_id)
            if waiter is not None:
                loop, future = waiter
                loop.call_soon_threadsafe(_resolve, future, event)
        if event["type"] == "TicketClosed" and event["event_id"] not in self._announced:
            self.on_closed(event)
            self._announced[event["event_id"]] = None
            if len(self._announced) > ANNOUNCED_MEMORY:
                self._announced.popitem(last=False)


def _resolve(future: asyncio.Future[TicketEvent], event: TicketEvent) -> None:
    if not future.done():
        future.set_result(event)
