"""sachbearbeiter's read API, on its metrics port: a ticket, its history, and the listing, from the store.

    GET /tickets/ID            the ticket's current state
    GET /tickets/ID/history    its events, oldest first (`?cursor=` pages through a long one)
    GET /tickets?status=&category=&submitter=&assignee=&limit=&cursor=    states in store order, a page
        at a time, with the partitions this instance serves (a client checks that its instances together
        serve them all); `category` may list several, comma-separated; `submitter` is a Discord user id,
        `assignee` an actor id such as discord:<user id>

Read-only and bounded: a page holds at most `MAX_LIMIT` tickets and reads at most `SCAN_BUDGET` of them
(a page may come back short with a cursor to continue), a history page at most `HISTORY_PAGE` events.
Errors are JSON `{"error": ...}`: 400 for a request that cannot be right, 404 for a ticket that does not
exist, 421 for a ticket in a partition another instance serves (the client asks the next), and 503
while that partition is being restored here.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Mapping
from typing import Final

from kafka import TopicPartition

from franz import contracts
from franz.contracts import ContractError, TicketEvent, TicketState
from franz.runtime.clients import new_reader
from franz.runtime.health import JsonReply
from franz.runtime.security import PLAINTEXT, KafkaSecurity
from franz.sachbearbeiter import eventlog
from franz.sachbearbeiter.eventlog import partition_for
from franz.sachbearbeiter.store import TicketStore

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 500
SCAN_BUDGET: Final = 5_000
HISTORY_PAGE: Final = 500


class EventReader:
    """Events by offset from the event log, for the history: one consumer, one request at a time."""

    def __init__(self, bootstrap: str, topic: str, *, security: KafkaSecurity = PLAINTEXT) -> None:
        self.topic = topic
        self._consumer = new_reader(bootstrap, client_id="franz-sachbearbeiter-api", security=security)
        self._lock = threading.Lock()

    def events(self, partition: int, offsets: list[int]) -> list[TicketEvent]:
        with self._lock:
            records = list(
                eventlog.read_offsets(self._consumer, TopicPartition(self.topic, partition), offsets)
            )
        return eventlog.decode_history("api", records)

    def close(self) -> None:
        self._consumer.close()


def _error(status: int, message: str, **context: object) -> JsonReply:
    return status, {"error": message, **context}


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _number(query: Mapping[str, list[str]], name: str, default: int, maximum: int) -> int:
    raw = _first(query, name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValueError(f"{name} must be a whole number from 1 to {maximum}, not {raw[:20]!r}")
    return int(raw)


class TicketsApi:
    def __init__(
        self,
        *,
        store: TicketStore,
        served: Callable[[], set[int]],
        owned: Callable[[], set[int]],
        reader: EventReader,
    ) -> None:
        self.store = store
        self.served = served
        self.owned = owned
        self.reader = reader

    def __call__(self, path: str, query: Mapping[str, list[str]]) -> JsonReply | None:
        """The reply for an API path; None for a path that is not the API's."""
        parts = path.strip("/").split("/")
        if parts[0] != "tickets" or len(parts) > 3 or (len(parts) == 3 and parts[2] != "history"):
            return None
        try:
            if len(parts) == 1:
                return self._listing(query)
            return self._ticket(parts[1], query, history=len(parts) == 3)
        except ValueError as error:
            return _error(400, str(error))

    def _ticket(self, raw_id: str, query: Mapping[str, list[str]], *, history: bool) -> JsonReply:
        try:
            ticket_id = contracts.parse_ticket_id(raw_id)
        except ContractError as error:
            return _error(400, str(error))
        partition = partition_for(ticket_id, self.store.partitions)
        if partition not in self.served():
            if partition in self.owned():
                return _error(503, f"partition {partition} is being restored; ask again", partition=partition)
            return _error(421, f"partition {partition} is served by another instance", partition=partition)
        ticket = self.store.ticket(partition, ticket_id)
        if not history:
            if ticket is None:
                return _error(404, f"there is no ticket {ticket_id}", ticket_id=ticket_id)
            return 200, ticket.state
        # Commands refused because the ticket did not exist (yet) belong to its history too.
        offsets = sorted(
            {*self.store.orphan_offsets(partition, ticket_id), *(ticket.history if ticket else [])}
        )
        if not offsets:
            return _error(404, f"there are no events for {ticket_id}", ticket_id=ticket_id)
        raw = _first(query, "cursor") or "0"
        if not raw.isdigit() or int(raw) >= len(offsets):
            raise ValueError("cursor is not one this API handed out; start again without it")
        start = int(raw)
        page = offsets[start : start + HISTORY_PAGE]
        following = start + len(page)
        return 200, {
            "ticket_id": ticket_id,
            "events": self.reader.events(partition, page),
            "next": str(following) if following < len(offsets) else None,
        }

    def _listing(self, query: Mapping[str, list[str]]) -> JsonReply:
        status, submitter, assignee = (
            _first(query, "status"),
            _first(query, "submitter"),
            _first(query, "assignee"),
        )
        if status is not None and status not in contracts.STATUSES:
            raise ValueError(f"status must be one of {', '.join(contracts.STATUSES)}, not {status[:20]!r}")
        categories = {c for c in (_first(query, "category") or "").split(",") if c} or None
        limit = _number(query, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        cursor = _first(query, "cursor")
        after = _decode_cursor(cursor) if cursor else None

        def match(state: TicketState) -> bool:
            return (
                (status is None or state["status"] == status)
                and (categories is None or state["category"] in categories)
                and (submitter is None or state["submitter_id"] == submitter)
                and (
                    assignee is None
                    or (state["assignee"] is not None and state["assignee"]["id"] == assignee)
                )
            )

        served = self.served()
        found, last = self.store.scan(served, after=after, limit=limit, budget=SCAN_BUDGET, match=match)
        return 200, {
            "tickets": found,
            "next": base64.urlsafe_b64encode(last).decode() if last is not None else None,
            "partitions": sorted(served),
            "partition_count": self.store.partitions,
        }


def _decode_cursor(cursor: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(cursor.encode())
    except (binascii.Error, ValueError):
        raise ValueError("cursor is not one this API handed out; start again without it") from None
    if not key.startswith(b"t/"):
        raise ValueError("cursor is not one this API handed out; start again without it")
    return key
