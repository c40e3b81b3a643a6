"""sachbearbeiter against the real broker: transitions and refusals, replays, ordering, rebuilding the state
from the event log alone, and kill -9 mid-stream."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable

from kafka import KafkaAdminClient

from franz import contracts
from franz.runtime.clients import new_producer
from franz.sachbearbeiter import eventlog
from tests.helpers import FRANZ, read_topic, wait_until
from tests.integration.lifecycle import (
    PARTITIONS,
    STAFF,
    Lifecycle,
    assign_comment_close,
    command,
    create_topics,
    ticket,
    trail,
)


def test_every_transition_and_refusal_is_an_event_and_the_state_follows(lifecycle: Lifecycle) -> None:
    created = ticket(1)
    tid = created["ticket_id"]
    unknown = contracts.ticket_id_for("never-created")
    service = lifecycle.start()
    lifecycle.send("formatted", [created])
    lifecycle.events(expected=1)
    lifecycle.send(
        "commands",
        [
            command(tid, "assign", assignee={"id": "discord:8", "name": "kim"}),
            command(tid, "assign", assignee={"id": "discord:8", "name": "kim"}),
            command(tid, "update", priority="urgent", category="billing"),
            command(tid, "update", priority="urgent"),
            command(tid, "comment", text="on it"),
            command(tid, "close", text="fixed"),
            command(tid, "assign", assignee=STAFF),
            command(tid, "comment", text="late"),
            command(tid, "close"),
            command(tid, "reopen", text="back again"),
            command(tid, "reopen"),
            command(unknown, "close"),
        ],
    )
    events = lifecycle.events(expected=13)
    assert trail(events, tid) == [
        "TicketCreated",
        "TicketAssigned",
        "rejected:unchanged",
        "TicketUpdated",
        "rejected:unchanged",
        "CommentAdded",
        "TicketClosed",
        "rejected:closed",
        "rejected:closed",
        "rejected:already_closed",
        "TicketReopened",
        "rejected:not_closed",
    ]
    assert trail(events, unknown) == ["rejected:unknown_ticket"]
    refusal = next(e for e in events if e["type"] == "CommandRejected" and e["ticket_id"] == tid)
    assert refusal["payload"]["reason"] == f"{tid} is already assigned to kim"
    assert all(event["actor"] == STAFF for event in events if event["type"] != "TicketCreated")

    def reopened() -> contracts.TicketState | None:
        state = lifecycle.states().get(tid)
        return state if state is not None and state["version"] == 6 else None

    state = wait_until(reopened)
    assert state["status"] == "assigned", "reopened to its assignee"
    assert (state["priority"], state["category"], state["comments"]) == ("urgent", "billing", 1)
    assert state["assignee"] == {"id": "discord:8", "name": "kim"}
    assert state["closed_at"] is None
    assert unknown not in lifecycle.states()

    wait_until(lambda: service.metric("franz_ticket_commands_total", outcome="applied") == 5)
    assert service.metric("franz_ticket_commands_total", command="assign", outcome="rejected_closed") == 1
    assert service.metric("franz_tickets", status="assigned", priority="urgent", category="billing") == 1
    assert service.metric("franz_tickets_closed_total") == 1
    assert service.metric("franz_ticket_time_to_assign_seconds_count", priority="normal") == 1
    assert service.metric("franz_ticket_time_to_close_seconds_count", priority="urgent") == 1

    # The trail and the listing as people read them: from sachbearbeiter's read API, and from the topics.
    env = {
        **lifecycle.env,
        "PATH": "/usr/bin:/bin",
        "TICKETS_API_URL": f"http://127.0.0.1:{service.metrics_port}",
    }
    assert franz(env, "history", tid, "--json") == franz(env, "history", tid, "--json", "--from-log")
    assert franz(env, "tickets", "--json") == franz(env, "tickets", "--json", "--from-log")
    shown = franz(env, "history", tid.lower()).splitlines()
    assert len(shown) == 12
    assert shown[0].split()[1:3] == ["TicketCreated", "user1"]
    assert "assign refused (closed)" in shown[7]
    as_json = [json.loads(line) for line in franz(env, "history", tid, "--json").splitlines()]
    assert [event["type"] for event in as_json] == [
        event["type"] for event in events if event["ticket_id"] == tid
    ]
    listing = franz(env, "tickets", "--status", "assigned")
    assert listing.splitlines()[0] == "assigned (1)"
    assert tid in listing
    assert "close refused (unknown_ticket)" in franz(env, "history", unknown)
    never = contracts.ticket_id_for("never-mentioned")
    missing = subprocess.run([*FRANZ, "history", never], env=env, capture_output=True, text=True)
    assert missing.returncode == 2
    assert f"no events for {never}" in missing.stderr


def franz(env: dict[str, str], *args: str) -> str:
    return subprocess.run([*FRANZ, *args], env=env, capture_output=True, text=True, check=True).stdout


def test_replayed_tickets_and_duplicate_commands_take_effect_once(lifecycle: Lifecycle) -> None:
    created = ticket(2)
    tid = created["ticket_id"]
    close = command(tid, "close")
    service = lifecycle.start()
    lifecycle.send("formatted", [created, created])
    lifecycle.events(expected=1)
    lifecycle.send("commands", [close, close])
    lifecycle.send("formatted", [created])
    lifecycle.send("commands", [close])
    events = lifecycle.events(expected=2)
    assert trail(events, tid) == ["TicketCreated", "TicketClosed"]
    wait_until(lambda: service.metric("franz_ticket_commands_total", outcome="duplicate") == 2)
    assert service.metric("franz_tickets_created_total") == 1


def test_each_tickets_events_keep_the_order_of_its_commands(lifecycle: Lifecycle) -> None:
    tickets = [ticket(n) for n in range(30)]
    lifecycle.send("formatted", tickets)
    lifecycle.start()
    lifecycle.events(expected=len(tickets))
    comments = [
        command(t["ticket_id"], "comment", text=f"step {step}") for step in range(20) for t in tickets
    ]
    lifecycle.send("commands", comments)
    events = lifecycle.events(expected=len(tickets) + len(comments))
    by_ticket: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event["type"] == "CommentAdded":
            by_ticket[event["ticket_id"]].append(event["payload"]["text"])
    assert len(by_ticket) == len(tickets)
    for texts in by_ticket.values():
        assert texts == [f"step {step}" for step in range(20)]


def test_state_is_rebuilt_from_the_event_log_after_the_state_topic_is_deleted(lifecycle: Lifecycle) -> None:
    tickets = [ticket(n, priority=contracts.PRIORITIES[n % 4]) for n in range(40)]
    lifecycle.send("formatted", tickets)
    service = lifecycle.start()
    lifecycle.events(expected=len(tickets))
    lifecycle.send("commands", [command(t["ticket_id"], "assign", assignee=STAFF) for t in tickets[::2]])
    lifecycle.send("commands", [command(t["ticket_id"], "close") for t in tickets[::3]])
    expected = len(tickets) + 20 + 14
    lifecycle.events(expected=expected)
    wait_until(lambda: lifecycle.committed() == expected)
    before = lifecycle.states()
    assert len(before) == len(tickets)
    service.stop()

    admin = KafkaAdminClient(bootstrap_servers=lifecycle.bootstrap)
    admin.delete_topics([lifecycle.topics["state"]])
    wait_until(lambda: lifecycle.topics["state"] not in admin.list_topics())
    admin.close()
    create_topics(lifecycle.bootstrap, lifecycle.topics)
    assert lifecycle.states() == {}

    rebuilt = subprocess.run(
        [*FRANZ, "sachbearbeiter", "--rebuild-state"],
        env={**lifecycle.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(rebuilt.stdout)["tickets"] == len(tickets)
    assert lifecycle.states() == before

    # The service's memory comes from the log as well: it carries on where it left off.
    lifecycle.start()
    lifecycle.send("commands", [command(tickets[2]["ticket_id"], "assign", assignee=STAFF)])  # assigned
    lifecycle.send("commands", [command(tickets[3]["ticket_id"], "reopen")])  # closed
    events = lifecycle.events(expected=expected + 2)
    assert trail(events, tickets[2]["ticket_id"])[-1] == "rejected:unchanged"
    assert trail(events, tickets[3]["ticket_id"])[-1] == "TicketReopened"


def test_kill_9_mid_stream_loses_nothing_and_the_state_counts_each_change_once(lifecycle: Lifecycle) -> None:
    """Killed mid-creation (its store kept), then mid-commands with its store lost."""
    tickets = [ticket(n) for n in range(1500)]
    commands = assign_comment_close(tickets)
    total = len(tickets) + len(commands)
    lifecycle.send("formatted", tickets)
    lifecycle.start()
    wait_until(lambda: lifecycle.committed() > 300, timeout=120)
    lifecycle.started[-1].kill()  # mid-creation
    lifecycle.start()
    wait_until(lambda: lifecycle.committed() == len(tickets), timeout=180)
    lifecycle.send("commands", commands)
    wait_until(lambda: lifecycle.committed() > len(tickets) + 1000, timeout=120)
    lifecycle.started[-1].kill()  # mid-commands
    # And the store lost with it (a new pod): the state topic and the event tail after the group's
    # committed checkpoint hold everything, including what the state topic may lack.
    shutil.rmtree(lifecycle.store)
    second = lifecycle.start()
    wait_until(lambda: lifecycle.committed() == total, timeout=180)
    events = lifecycle.events(expected=total)
    ids = Counter(event["event_id"] for event in events)
    assert len(ids) == total, "every ticket and command has its event"
    assert sum(ids.values()) - total <= PARTITIONS * 500, "only the batches in flight came again"
    assert not [e for e in events if e["type"] == "CommandRejected"], "no replay was mistaken for a conflict"
    states = lifecycle.states()
    assert len(states) == len(tickets)
    assert {(s["status"], s["comments"], s["version"]) for s in states.values()} == {("closed", 1, 4)}
    wait_until(lambda: second.metric("franz_tickets", status="closed") == len(tickets))
    print(f"kill -9: {sum(ids.values()) - total} duplicate events of {total}, folded once")


def test_invalid_and_misrouted_records_go_to_the_dead_letter_topic(lifecycle: Lifecycle) -> None:
    created = ticket(3)
    wrong = next(
        p for p in range(PARTITIONS) if p != eventlog.partition_for(created["ticket_id"], PARTITIONS)
    )
    producer = new_producer(lifecycle.bootstrap, client_id="test")
    producer.send(lifecycle.topics["commands"], key=b"x", value=b"{not json")
    producer.send(lifecycle.topics["formatted"], partition=wrong, key=b"x", value=contracts.encode(created))
    producer.flush()
    producer.close()
    lifecycle.start()
    letters = [
        json.loads(r.value) for r in read_topic(lifecycle.bootstrap, lifecycle.topics["dlq"], expected=2)
    ]
    assert sorted(letter["error_type"] for letter in letters) == ["json_decode_error", "validation_error"]
    misrouted = next(letter for letter in letters if letter["error_type"] == "validation_error")
    assert "default (murmur2) partitioner" in misrouted["error"]
    assert misrouted["source"]["partition"] == wrong


def test_topics_with_different_partition_counts_stop_it_at_start(
    lifecycle: Lifecycle, new_topic: Callable[..., str]
) -> None:
    service = lifecycle.start(EVENTS_TOPIC=new_topic("events", partitions=1))
    assert service.wait(timeout=60) == 2
    last = service.log_path.read_text().strip().splitlines()[-1]
    assert "EVENTS_TOPIC" in last
    assert "same number of partitions" in last
