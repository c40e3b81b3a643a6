"""The lifecycle's pure core: transitions, refusals with reasons, deterministic events, an idempotent fold."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from franz import contracts
from franz.contracts import ContractError, TicketCommand, TicketEvent
from franz.sachbearbeiter import core
from franz.sachbearbeiter.core import Ledger

TICKET_ID = contracts.ticket_id_for("discord:1")
STAFF = {"id": "discord:7", "name": "sam"}
_ids = itertools.count()


def formatted(**overrides: Any) -> contracts.FormattedTicket:
    ticket: contracts.FormattedTicket = {
        "ticket_id": TICKET_ID,
        "schema": 1,
        "contact": "alice",
        "origin": "Discord",
        "body": "VPN drops",
        "date": "2026-03-01T10:00:00.000Z",
        "source": {"id": "discord:1", "user_id": "4242", "guild_id": "1", "channel_id": "2"},
        "category": "bug",
        "priority": "normal",
    }
    return {**ticket, **overrides}  # type: ignore[typeddict-item]


def command(kind: str, *, at: str = "2026-03-01T10:30:00.000Z", **fields: Any) -> TicketCommand:
    record = {
        "command": kind,
        "ticket_id": TICKET_ID,
        "command_id": f"test:{next(_ids)}",
        "time": at,
        "actor": STAFF,
        **fields,
    }
    return contracts.validate_command(record)


def ledger_with_ticket() -> Ledger:
    ledger = Ledger()
    ledger.apply(core.created(formatted()))
    return ledger


def run(ledger: Ledger, cmd: TicketCommand) -> TicketEvent:
    event = core.decide(ledger.state(cmd["ticket_id"]), cmd)
    ledger.apply(event)
    return event


def test_created_event_is_deterministic_and_folds_into_an_open_ticket() -> None:
    first, again = core.created(formatted()), core.created(formatted())
    assert first == again
    assert first["event_id"] == contracts.event_id_for(TICKET_ID, "created")
    assert first["actor"] == {"id": "discord:4242", "name": "alice"}
    ledger = Ledger()
    change = ledger.apply(first)
    assert change is not None
    assert change.after["status"] == "open"
    assert change.after["submitter_id"] == "4242"
    assert ledger.apply(again) is None, "a replayed creation is folded once"
    assert ledger.counts == {("open", "normal", "bug"): 1}


def test_the_whole_lifecycle_assign_update_comment_close_reopen() -> None:
    ledger = ledger_with_ticket()
    assigned = run(ledger, command("assign", assignee={"id": "discord:8", "name": "kim"}))
    assert assigned["type"] == "TicketAssigned"
    assert assigned["payload"] == {"assignee": {"id": "discord:8", "name": "kim"}, "previous": None}
    updated = run(ledger, command("update", priority="HIGH"))
    assert updated["payload"] == {"changes": {"priority": {"from": "normal", "to": "high"}}}
    assert run(ledger, command("comment", text="looking into it"))["type"] == "CommentAdded"
    closed = run(ledger, command("close", text="fixed", at="2026-03-01T12:00:00.000Z"))
    assert closed["type"] == "TicketClosed"
    assert closed["payload"]["submitter_id"] == "4242"
    state = ledger.state(TICKET_ID)
    assert state is not None
    assert (state["status"], state["priority"], state["comments"], state["version"]) == (
        "closed",
        "high",
        1,
        5,
    )
    assert state["assigned_at"] == "2026-03-01T10:30:00.000Z"
    assert state["closed_at"] == "2026-03-01T12:00:00.000Z"
    reopened = run(ledger, command("reopen", text="it is back"))
    assert reopened["type"] == "TicketReopened"
    state = ledger.state(TICKET_ID)
    assert state is not None
    assert (state["status"], state["closed_at"]) == ("assigned", None), "reopened to its assignee"
    assert ledger.counts[("assigned", "high", "bug")] == 1
    assert sum(ledger.counts.values()) == 1


@pytest.mark.parametrize(
    ("setup", "refused", "code"),
    [
        ([], command("reopen"), "not_closed"),
        ([command("close")], command("assign", assignee=STAFF), "closed"),
        ([command("close")], command("update", category="billing"), "closed"),
        ([command("close")], command("comment", text="late note"), "closed"),
        ([command("close")], command("close"), "already_closed"),
        ([command("assign", assignee=STAFF)], command("assign", assignee=STAFF), "unchanged"),
        ([], command("update", priority="normal"), "unchanged"),
    ],
)
def test_refusals_are_events_with_a_code_and_a_reason(
    setup: list[TicketCommand], refused: TicketCommand, code: str
) -> None:
    ledger = ledger_with_ticket()
    for cmd in setup:
        assert run(ledger, cmd)["type"] != "CommandRejected"
    before = ledger.state(TICKET_ID)
    event = run(ledger, refused)
    assert event["type"] == "CommandRejected"
    assert event["payload"]["code"] == code
    assert event["payload"]["command"] == refused["command"]
    assert TICKET_ID in event["payload"]["reason"]
    assert ledger.state(TICKET_ID) == before, "a refusal changes nothing"
    assert ledger.seen(refused), "and is remembered, so a retry is not refused twice"


def test_a_command_for_an_unknown_ticket_is_refused_and_remembered() -> None:
    ledger = Ledger()
    cmd = command("close")
    event = run(ledger, cmd)
    assert (event["type"], event["payload"]["code"]) == ("CommandRejected", "unknown_ticket")
    assert ledger.seen(cmd)
    assert ledger.tickets == {}


def test_a_replayed_command_yields_the_same_event_and_the_fold_skips_it() -> None:
    ledger = ledger_with_ticket()
    cmd = command("comment", text="hello")
    event = core.decide(ledger.state(TICKET_ID), cmd)
    assert core.decide(ledger.state(TICKET_ID), cmd) == event
    assert ledger.apply(event) is not None
    assert ledger.apply(event) is None
    state = ledger.state(TICKET_ID)
    assert state is not None
    assert state["comments"] == 1


def test_folding_the_log_with_duplicates_equals_the_live_state() -> None:
    live = ledger_with_ticket()
    log = [core.created(formatted())]
    for cmd in (
        command("assign", assignee=STAFF),
        command("comment", text="a"),
        command("close"),
        command("assign", assignee=STAFF),  # refused: closed
        command("reopen"),
    ):
        log.append(run(live, cmd))
    rebuilt = Ledger()
    for event in log + log[1:4]:  # a crash replayed part of the log
        rebuilt.apply(event)
    assert rebuilt.state(TICKET_ID) == live.state(TICKET_ID)
    assert rebuilt.counts == live.counts


def test_unknown_categories_are_labelled_other() -> None:
    ledger = Ledger()
    ledger.apply(core.created(formatted(category="printers on fire")))
    assert ledger.counts == {("open", "normal", "other"): 1}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"command": "delete"}, "field 'command' must be one of"),
        ({"command": "assign"}, "field 'assignee' must be an object"),
        ({"command": "update"}, "an update needs a priority or a category"),
        ({"command": "update", "priority": "whenever"}, "field 'priority' must be one of"),
        ({"command": "comment"}, "a comment needs a text or an attachment"),
        ({"command": "comment", "text": "x", "visibility": "secret"}, "field 'visibility' must be one of"),
        ({"command": "comment", "attachments": [{"name": "a.png"}]}, "missing field 'url'"),
        ({"command": "link"}, "field 'discord' must be an object"),
        ({"command": "link", "discord": {"thread_id": "abc"}}, "must be a Discord id"),
        ({"command": "link", "discord": {"channel": "1"}}, "field 'discord' takes desk_channel_id"),
        ({"command": "close", "ticket_id": "T-1"}, "is not a ticket id"),
        ({"command": "close", "time": "yesterday"}, "field 'time' is not ISO 8601"),
    ],
)
def test_invalid_commands_name_the_problem(record: dict[str, Any], message: str) -> None:
    base = {"ticket_id": TICKET_ID, "command_id": "c", "time": "2026-03-01T10:00:00Z", "actor": STAFF}
    with pytest.raises(ContractError, match=message):
        contracts.validate_command({**base, **record})


def test_ticket_ids_are_accepted_as_people_type_them() -> None:
    assert contracts.parse_ticket_id(f"  {TICKET_ID.lower()} ") == TICKET_ID


def test_durations_are_never_negative() -> None:
    assert core.seconds_between("2026-03-01T10:00:00Z", "2026-03-01T10:01:30Z") == 90
    assert core.seconds_between("2026-03-01T10:00:00Z", "2026-03-01T09:00:00Z") == 0


def test_unassign_link_and_notes_and_the_first_staff_response() -> None:
    ledger = ledger_with_ticket()
    assert run(ledger, command("unassign"))["payload"]["code"] == "unchanged", "nobody to unassign"
    run(ledger, command("assign", assignee=STAFF))
    unassigned = run(ledger, command("unassign"))
    assert unassigned["type"] == "TicketUnassigned"
    assert unassigned["payload"] == {"previous": STAFF}
    state = ledger.state(TICKET_ID)
    assert state is not None
    assert (state["status"], state["assignee"]) == ("open", None)

    linked = run(ledger, command("link", discord={"desk_channel_id": "11", "desk_message_id": "12"}))
    assert linked["payload"] == {"discord": {"desk_channel_id": "11", "desk_message_id": "12"}}
    run(ledger, command("link", discord={"thread_id": "13", "desk_message_id": "12"}))
    again = run(ledger, command("link", discord={"thread_id": "13"}))
    assert again["payload"]["code"] == "unchanged", "ids already recorded are not recorded twice"
    state = ledger.state(TICKET_ID)
    assert state is not None
    assert state.get("discord") == {"desk_channel_id": "11", "desk_message_id": "12", "thread_id": "13"}

    submitter = {"id": "discord:4242", "name": "alice"}
    run(ledger, command("comment", text="any news?", actor=submitter))
    note = run(
        ledger, command("comment", text="retry storm", visibility="internal", at="2026-03-01T10:40:00Z")
    )
    assert note["payload"]["visibility"] == "internal"
    state = ledger.state(TICKET_ID)
    assert state is not None
    assert state.get("first_response_at") is None, "neither the submitter nor a note answers"
    files = [{"name": "fix.txt", "url": "https://cdn.example/fix.txt"}]
    answer = run(ledger, command("comment", attachments=files, at="2026-03-01T10:50:00Z"))
    assert answer["payload"] == {"text": "", "visibility": "public", "attachments": files}
    state = ledger.state(TICKET_ID)
    assert state is not None
    assert state.get("first_response_at") == "2026-03-01T10:50:00Z"
    assert state["comments"] == 3

    run(ledger, command("close"))
    assert run(ledger, command("link", discord={"thread_id": "14"}))["type"] == "DiscordLinked", (
        "a closed ticket still records where it lives in Discord"
    )
