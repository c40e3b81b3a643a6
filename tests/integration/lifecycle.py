"""sachbearbeiter's lifecycle topics for a test: uuid-named topics, the service as child processes (one
store across their restarts), and records as the upstream services write them."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from franz import contracts
from franz.devstack.kafka import committed_total, ensure_topics
from franz.runtime.clients import new_producer
from franz.sachbearbeiter import eventlog
from tests.helpers import ServiceProcess, read_topic

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


def assign_comment_close(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Three commands per ticket, which leave each closed with one comment at version 4."""
    return [
        command(t["ticket_id"], kind, **fields)
        for t in tickets
        for kind, fields in (("assign", {"assignee": STAFF}), ("comment", {"text": "hi"}), ("close", {}))
    ]
