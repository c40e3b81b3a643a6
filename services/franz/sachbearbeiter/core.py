"""The pure core of sachbearbeiter: what a command does to a ticket (`decide`) and what an event does to
the state (`Ledger.apply`).

The live service and a rebuild from the event log run the same `apply`, so state rebuilt from the events
alone equals the state the service published. Every event id is derived from its cause (the ticket's
creation, or a command id), so replaying the same input yields the same events, and `apply` skips what
it has already folded: the log may hold a duplicate after a crash, the state never counts it twice.
"""

from __future__ import annotations

import datetime
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from franz import contracts
from franz.contracts import Actor, FormattedTicket, TicketCommand, TicketEvent, TicketState

RejectionCode = Literal["unknown_ticket", "not_closed", "already_closed", "closed", "unchanged"]
REJECTION_CODES: Final[tuple[RejectionCode, ...]] = get_args(RejectionCode)

# Retries of a command arrive within seconds or minutes; a ticket remembers this many of its command ids.
COMMAND_MEMORY = 1000
# Commands refused because their ticket does not exist, remembered per partition for the same reason.
UNKNOWN_MEMORY = 10_000
# Tickets of one partition kept decoded in memory; the others are loaded from the store when touched.
HOT_TICKETS = 2_000

GaugeKey = tuple[str, str, str]  # status, priority, category


@dataclass(frozen=True, slots=True)
class Change:
    """One event folded into a ticket: its state before (None when the event created it) and after."""

    event: TicketEvent
    before: TicketState | None
    after: TicketState


@dataclass(slots=True)
class Ticket:
    """A ticket's state with what the fold needs beside it: the commands it has taken (to skip retries),
    the log offset of the last event folded into the state (a restore from a state record skips the
    events that record already holds), and the offsets of all its events (the history index)."""

    state: TicketState
    commands: OrderedDict[str, None] = field(default_factory=OrderedDict)
    offset: int = -1
    history: list[int] = field(default_factory=list)

    def remember(self, command_id: str) -> None:
        self.commands[command_id] = None
        if len(self.commands) > COMMAND_MEMORY:
            self.commands.popitem(last=False)


def category_label(category: str) -> str:
    """Categories are free text in the intake contract; metrics label only the known ones."""
    return category if category in contracts.CATEGORIES else "other"


def gauge_key(state: TicketState) -> GaugeKey:
    return (state["status"], state["priority"], category_label(state["category"]))


def created(ticket: FormattedTicket) -> TicketEvent:
    """`TicketCreated` for a formatted ticket: its id depends on the ticket id alone, so a replay agrees."""
    source = ticket["source"]
    return {
        "schema": contracts.SCHEMA_VERSION,
        "type": "TicketCreated",
        "event_id": contracts.event_id_for(ticket["ticket_id"], "created"),
        "ticket_id": ticket["ticket_id"],
        "time": ticket["date"],
        "actor": {
            "id": f"discord:{source['user_id']}" if source["user_id"] else ticket["contact"],
            "name": ticket["contact"],
        },
        "command_id": None,
        "payload": dict(ticket),
    }


def _event(command: TicketCommand, kind: contracts.EventType, payload: dict[str, object]) -> TicketEvent:
    return {
        "schema": contracts.SCHEMA_VERSION,
        "type": kind,
        "event_id": contracts.event_id_for(command["ticket_id"], f"command:{command['command_id']}"),
        "ticket_id": command["ticket_id"],
        # The command's own time, not the clock's: a replayed command yields an identical event.
        "time": command["time"],
        "actor": command["actor"],
        "command_id": command["command_id"],
        "payload": payload,
    }


def _rejected(command: TicketCommand, code: RejectionCode, reason: str) -> TicketEvent:
    return _event(command, "CommandRejected", {"command": command["command"], "code": code, "reason": reason})


def decide(state: TicketState | None, command: TicketCommand) -> TicketEvent:
    """The one event a command yields: the change, or `CommandRejected` with a code and a reason.

    Rules: a closed ticket accepts only `reopen` (and the bot's `link` of its Discord ids); an open ticket
    cannot be reopened; a command that would change nothing (the same assignee, the same priority, links
    already recorded) is refused as `unchanged`.
    """
    ticket_id, kind = command["ticket_id"], command["command"]
    if state is None:
        return _rejected(command, "unknown_ticket", f"there is no ticket {ticket_id}; check the id")
    if kind == "link":
        known = state.get("discord") or {}
        new = {key: value for key, value in command["discord"].items() if known.get(key) != value}
        if not new:
            return _rejected(command, "unchanged", f"{ticket_id} already has these Discord ids")
        return _event(command, "DiscordLinked", {"discord": new})
    closed = state["status"] == "closed"
    if kind == "reopen":
        if not closed:
            return _rejected(command, "not_closed", f"{ticket_id} is {state['status']}, not closed")
        return _event(command, "TicketReopened", {"reason": command.get("text")})
    if closed:
        if kind == "close":
            return _rejected(command, "already_closed", f"{ticket_id} is already closed")
        return _rejected(command, "closed", f"{ticket_id} is closed; reopen it first")
    if kind == "assign":
        assignee = command["assignee"]
        if state["assignee"] is not None and state["assignee"]["id"] == assignee["id"]:
            return _rejected(command, "unchanged", f"{ticket_id} is already assigned to {assignee['name']}")
        return _event(command, "TicketAssigned", {"assignee": assignee, "previous": state["assignee"]})
    if kind == "unassign":
        if state["assignee"] is None:
            return _rejected(command, "unchanged", f"{ticket_id} is not assigned to anyone")
        return _event(command, "TicketUnassigned", {"previous": state["assignee"]})
    if kind == "update":
        changes = {
            name: {"from": state[name], "to": command[name]}
            for name in ("priority", "category")
            if name in command and command[name] != state[name]
        }
        if not changes:
            return _rejected(command, "unchanged", f"{ticket_id} already has these values")
        return _event(command, "TicketUpdated", {"changes": changes})
    if kind == "comment":
        comment: dict[str, object] = {
            "text": command["text"],
            "visibility": command.get("visibility", "public"),
        }
        if "attachments" in command:
            comment["attachments"] = command["attachments"]
        return _event(command, "CommentAdded", comment)
    return _event(
        command,
        "TicketClosed",
        {"reason": command.get("text"), "submitter_id": state["submitter_id"], "contact": state["contact"]},
    )


def _initial_state(event: TicketEvent) -> TicketState:
    payload = event["payload"]
    return {
        "schema": contracts.SCHEMA_VERSION,
        "ticket_id": event["ticket_id"],
        "status": "open",
        "contact": payload["contact"],
        "submitter_id": payload["source"]["user_id"],
        "category": payload["category"],
        "priority": payload["priority"],
        "body": payload["body"],
        "assignee": None,
        "created_at": event["time"],
        "updated_at": event["time"],
        "assigned_at": None,
        "closed_at": None,
        "comments": 0,
        "version": 1,
        "last_event_id": event["event_id"],
        "first_response_at": None,
        "discord": {},
    }


def _evolve(state: TicketState, event: TicketEvent) -> TicketState:
    """The state after one change event (never `TicketCreated` or `CommandRejected`)."""
    payload, kind = event["payload"], event["type"]
    after: TicketState = {
        **state,
        "updated_at": event["time"],
        "version": state["version"] + 1,
        "last_event_id": event["event_id"],
    }
    if kind == "TicketAssigned":
        assignee: Actor = payload["assignee"]
        after["assignee"] = assignee
        after["status"] = "assigned"
        after["assigned_at"] = state["assigned_at"] or event["time"]
    elif kind == "TicketUnassigned":
        after["assignee"] = None
        after["status"] = "open"
    elif kind == "TicketUpdated":
        for name, change in payload["changes"].items():
            after[name] = change["to"]  # type: ignore[literal-required]
    elif kind == "CommentAdded":
        after["comments"] = state["comments"] + 1
        if is_first_response(state, event):
            after["first_response_at"] = event["time"]
    elif kind == "DiscordLinked":
        after["discord"] = {**(state.get("discord") or {}), **payload["discord"]}
    elif kind == "TicketClosed":
        after["status"] = "closed"
        after["closed_at"] = event["time"]
    elif kind == "TicketReopened":
        after["status"] = "assigned" if state["assignee"] else "open"
        after["closed_at"] = None
    return after


def is_first_response(state: TicketState, event: TicketEvent) -> bool:
    """A public comment by someone other than the submitter, the first one: time to first response
    is measured to it (staff notes do not answer the submitter)."""
    submitter = f"discord:{state['submitter_id']}" if state["submitter_id"] else state["contact"]
    return (
        event["type"] == "CommentAdded"
        and event["payload"].get("visibility", "public") == "public"
        and event["actor"]["id"] != submitter
        and not state.get("first_response_at")
    )


class Ledger:
    """The tickets of one partition, folded from their events, and the commands that took effect.

    Tickets come from `load` (the store; by default nothing, so a fold from an empty start keeps every
    ticket in memory). What a fold changes stays in `dirty` until the caller takes it to write it; a bounded
    number of the tickets touched last stay decoded in memory, so memory does not grow with the tickets.
    """

    def __init__(
        self,
        load: Callable[[str], Ticket | None] | None = None,
        counts: Counter[GaugeKey] | None = None,
    ) -> None:
        self._load = load
        self.dirty: dict[str, Ticket] = {}
        self._hot: OrderedDict[str, Ticket] = OrderedDict()
        self.counts: Counter[GaugeKey] = Counter() if counts is None else counts
        self._unknown: OrderedDict[str, None] = OrderedDict()
        # Offsets of events about tickets that do not exist (refused commands), to show in their history.
        self.orphans: dict[str, list[int]] = {}

    @property
    def tickets(self) -> dict[str, Ticket]:
        """The tickets changed since they were last taken (without a store: every ticket folded)."""
        return self.dirty

    def ticket(self, ticket_id: str) -> Ticket | None:
        found = self.dirty.get(ticket_id) or self._hot.get(ticket_id)
        if found is None and self._load is not None:
            found = self._load(ticket_id)
            if found is not None:
                self._keep_hot(ticket_id, found)
        return found

    def state(self, ticket_id: str) -> TicketState | None:
        ticket = self.ticket(ticket_id)
        return None if ticket is None else ticket.state

    def take_dirty(self) -> dict[str, Ticket]:
        """The changed tickets, for the caller to write; from now on they are loaded like the others."""
        taken, self.dirty = self.dirty, {}
        for ticket_id, ticket in taken.items():
            self._keep_hot(ticket_id, ticket)
        return taken

    def take_orphans(self) -> dict[str, list[int]]:
        taken, self.orphans = self.orphans, {}
        return taken

    def _keep_hot(self, ticket_id: str, ticket: Ticket) -> None:
        self._hot[ticket_id] = ticket
        self._hot.move_to_end(ticket_id)
        if len(self._hot) > HOT_TICKETS:
            self._hot.popitem(last=False)

    def _touch(self, ticket_id: str, ticket: Ticket, offset: int | None) -> None:
        if offset is not None:
            ticket.history.append(offset)
            ticket.offset = offset
        self.dirty[ticket_id] = ticket

    def restored(self, ticket_id: str, ticket: Ticket) -> None:
        """A ticket as a state record holds it (restoring without a store): counted, to be written. A
        state topic not yet compacted holds earlier states of a ticket before its latest."""
        earlier = self.ticket(ticket_id)
        if earlier is not None:
            self.counts[gauge_key(earlier.state)] -= 1
        self.dirty[ticket_id] = ticket
        self.counts[gauge_key(ticket.state)] += 1

    def seen(self, command: TicketCommand) -> bool:
        """True when this command already took effect (or was refused): a retry or a replay."""
        ticket = self.ticket(command["ticket_id"])
        if ticket is None:
            return command["command_id"] in self._unknown
        return command["command_id"] in ticket.commands

    def logged(self, ticket_id: str, offset: int) -> None:
        """An event applied before it was sent is now in the log at `offset`: index it."""
        ticket = self.ticket(ticket_id)
        if ticket is not None:
            self._touch(ticket_id, ticket, offset)
        else:
            self.orphans.setdefault(ticket_id, []).append(offset)

    def apply(self, event: TicketEvent, offset: int | None = None) -> Change | None:
        """Fold one event (read from the log at `offset`, or about to be sent: None); None when it changes
        no state (a duplicate, a refusal, or an event the ticket's restored state already holds)."""
        ticket_id = event["ticket_id"]
        ticket = self.ticket(ticket_id)
        if ticket is not None and offset is not None and offset <= ticket.offset:
            return None
        command_id = event["command_id"]
        if event["type"] == "TicketCreated":
            if ticket is not None:
                self._touch(ticket_id, ticket, offset)
                return None
            state = _initial_state(event)
            self._touch(ticket_id, Ticket(state), offset)
            self.counts[gauge_key(state)] += 1
            return Change(event, None, state)
        if command_id is None:
            return None
        if ticket is None:
            self._unknown[command_id] = None
            if len(self._unknown) > UNKNOWN_MEMORY:
                self._unknown.popitem(last=False)
            if offset is not None:
                self.orphans.setdefault(ticket_id, []).append(offset)
            return None
        self._touch(ticket_id, ticket, offset)
        if command_id in ticket.commands:
            return None
        ticket.remember(command_id)
        if event["type"] == "CommandRejected":
            return None
        before = ticket.state
        ticket.state = _evolve(before, event)
        self.counts[gauge_key(before)] -= 1
        self.counts[gauge_key(ticket.state)] += 1
        return Change(event, before, ticket.state)


def seconds_between(start: str, end: str) -> float:
    """Seconds from one ISO time to another, never negative (clocks of different hosts disagree)."""
    begin, finish = datetime.datetime.fromisoformat(start), datetime.datetime.fromisoformat(end)
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=datetime.UTC)
    if finish.tzinfo is None:
        finish = finish.replace(tzinfo=datetime.UTC)
    return max((finish - begin).total_seconds(), 0.0)
