"""The bot's side of the ticket lifecycle.

- a ticket's current state (for `/ticket-status`), asked of sachbearbeiter's read API and cached for a
  few seconds for a bounded number of tickets, so the bot's memory does not grow with the tickets;
- the event log, read from Kafka in a worker thread in the bot's own consumer group: the outcome of each
  command the bot sent (so staff read "done" or the refusal's reason, not just "sent"), and every
  `TicketClosed` to tell the submitter about. Offsets are committed after the submitter was told (or
  Discord refused), so a restart does not skip a close; a group without offsets starts at the end, so the
  first start does not announce old closes. Each event also drops its ticket from the cache.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from franz import contracts
from franz.contracts import LifecycleTopics, TicketEvent, TicketState
from franz.runtime.clients import new_consumer
from franz.runtime.text import summary
from franz.runtime.ticketsapi import TicketsApi
from franz.runtime.wait import Backoff

log = logging.getLogger(__name__)

# Closes already announced; a duplicate event (after a crash upstream) must not DM the submitter twice.
ANNOUNCED_MEMORY = 10_000
# Ticket states kept after a lookup: people ask again about the ticket they just asked about.
CACHED_STATES = 1_000
CACHE_SECONDS = 5.0
BODY_CHARS = 200  # a status shows a summary of the body: a whole one could pass Discord's 2000 characters


class StateCache:
    """The states looked up last, each for a few seconds; the oldest go first. Used from the event loop
    (lookups) and the events thread (`forget`), hence the lock."""

    def __init__(self, *, size: int = CACHED_STATES, seconds: float = CACHE_SECONDS) -> None:
        self.size = size
        self.seconds = seconds
        self._states: OrderedDict[str, tuple[float, TicketState]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ticket_id: str) -> TicketState | None:
        with self._lock:
            found = self._states.get(ticket_id)
            if found is None or time.monotonic() - found[0] > self.seconds:
                return None
            return found[1]

    def put(self, ticket_id: str, state: TicketState) -> None:
        with self._lock:
            self._states[ticket_id] = (time.monotonic(), state)
            self._states.move_to_end(ticket_id)
            while len(self._states) > self.size:
                self._states.popitem(last=False)

    def forget(self, ticket_id: str) -> None:
        with self._lock:
            self._states.pop(ticket_id, None)


class TicketDesk:
    def __init__(
        self,
        *,
        bootstrap: str,
        topics: LifecycleTopics,
        group_id: str,
        on_closed: Callable[[TicketEvent], None],
        tickets: TicketsApi,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.group_id = group_id
        self.on_closed = on_closed
        self.tickets = tickets
        self.cache = StateCache()
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
        self.tickets.close()

    def ready(self) -> bool:
        """True once the event log is assigned to us, so outcomes of new commands will be seen."""
        return self._listening.is_set()

    async def state(self, ticket_id: str) -> TicketState | None:
        """The ticket's current state (None: there is no such ticket); raises TicketsApiError when
        sachbearbeiter cannot be asked. The request runs in a thread, so the gateway is never held up."""
        cached = self.cache.get(ticket_id)
        if cached is not None:
            return cached
        found = await asyncio.to_thread(self.tickets.ticket, ticket_id)
        if found is None:
            return None
        state: TicketState = {**found, "body": summary(found["body"], BODY_CHARS)}
        self.cache.put(ticket_id, state)
        return state

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
            group_id=self.group_id,
            auto_offset_reset="latest",
            isolation_level="read_committed",
        )
        try:
            consumer.subscribe([self.topics.events])
            backoff.reset()
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=500)
                if consumer.assignment():
                    self._listening.set()
                for records in polled.values():
                    for record in records:
                        self._handle(contracts.decode_event(record.value))
                if polled:
                    consumer.commit()
        finally:
            self._listening.clear()
            consumer.close(autocommit=False)

    def _handle(self, event: TicketEvent) -> None:
        self.cache.forget(event["ticket_id"])
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
