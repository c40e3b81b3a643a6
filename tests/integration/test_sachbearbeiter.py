"""sachbearbeiter against the real broker: transitions and refusals, replays, ordering, rebuilding the state
from the event log alone, and kill -9 mid-stream."""

from __future__ import annotations

import itertools
import json
import subprocess
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from franz import contracts
from franz.devstack.kafka import committed_total, ensure_topics
from franz.runtime.clients import new_producer
from franz.sachbearbeiter import eventlog
from tests.helpers import FRANZ, ServiceProcess, read_topic, wait_until

STAFF = {"id": "discord:7", "name": "sam"}
PARTITIONS = 3
_commands = itertools.count()


@dataclass
class Lifecycle:
    bootstrap: str
    topics: dict[str, str]
    group: str
    log_dir: Path
    started: list[ServiceProcess] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "FORMATTED_TOPIC": self.topics["formatted"],
            "COMMANDS_TOPIC": self.topics["commands"],
            "EVENTS_TOPIC": self.topics["events"],
            "STATE_TOPIC": self.topics["state"],
            "COMMANDS_DLQ_TOPIC": self.topics["dlq"],
            "SACHBEARBEITER_GROUP_ID": self.group,
            "SACHBEARBEITER_STORE_DIR": str(self.store),
        }

    @property
    def store(self) -> Path:
        """One store across the test's restarts, as a pod's volume outlives the pod."""
        return self.log_dir / "store"

    def start(self, **env: str) -> ServiceProcess:
        service = ServiceProcess("sachbearbeiter", env={**self.env, **env}, log_dir=self.log_dir)
        service.start()
        self.started.append(service)
        return service

    def send(self, role: str, records: list[dict[str, Any]]) -> None:
        producer = new_producer(self.bootstrap, client_id="test-lifecycle")
        for record in records:
            producer.send(self.topics[role], key=record["ticket_id"].encode(), value=contracts.encode(record))
        producer.flush()
        producer.close()

    def events(self, expected: int, **kwargs: Any) -> list[contracts.TicketEvent]:
        records = read_topic(self.bootstrap, self.topics["events"], expected=expected, **kwargs)
        return [contracts.decode_event(record.value) for record in records]

    def states(self) -> dict[str, contracts.TicketState]:
        return eventlog.current_states(self.bootstrap, self.topics["state"])

    def committed(self) -> int:
        return committed_total(self.bootstrap, self.group)


def create_topics(bootstrap: str, topics: dict[str, str]) -> None:
    configs = {
        topics["events"]: contracts.TOPIC_CONFIGS[contracts.TOPIC_EVENTS],
        topics["state"]: contracts.TOPIC_CONFIGS[contracts.TOPIC_STATE],
    }
    ensure_topics(bootstrap, topics.values(), partitions=PARTITIONS, configs=configs)


@pytest.fixture
def lifecycle(bootstrap: str, tmp_path: Path) -> Iterator[Lifecycle]:
    suffix = uuid.uuid4().hex[:10]
    topics = {role: f"{role}-{suffix}" for role in ("formatted", "commands", "events", "state", "dlq")}
    create_topics(bootstrap, topics)
    line = Lifecycle(bootstrap, topics, f"sachbearbeiter-{suffix}", tmp_path)
    yield line
    for service in line.started:
        service.kill()


def ticket(n: int, **overrides: Any) -> dict[str, Any]:
    source_id = f"test:{uuid.uuid4().hex}:{n}"
    return {
        "ticket_id": contracts.ticket_id_for(source_id),
        "schema": 1,
        "contact": f"user{n}",
        "origin": "Discord",
        "body": f"ticket {n}",
        "date": "2026-03-01T10:00:00.000Z",
        "source": {"id": source_id, "user_id": str(4000 + n), "guild_id": "1", "channel_id": "2"},
        "category": "bug",
        "priority": "normal",
        **overrides,
    }


def command(ticket_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    return dict(
        contracts.new_command(
            command=kind,  # type: ignore[arg-type]
            ticket_id=ticket_id,
            command_id=f"test:{uuid.uuid4().hex}:{next(_commands)}",
            actor=STAFF,  # type: ignore[arg-type]
            **fields,
        )
    )


def trail(events: list[contracts.TicketEvent], ticket_id: str) -> list[str]:
    return [
        event["type"] if event["type"] != "CommandRejected" else f"rejected:{event['payload']['code']}"
        for event in events
        if event["ticket_id"] == ticket_id
    ]


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
    tickets = [ticket(n) for n in range(1500)]
    commands = [
        command(t["ticket_id"], kind, **fields)
        for t in tickets
        for kind, fields in (("assign", {"assignee": STAFF}), ("comment", {"text": "hi"}), ("close", {}))
    ]
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
