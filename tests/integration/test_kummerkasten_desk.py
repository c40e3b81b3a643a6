"""The bot's event reader on the real broker: a record it cannot decode is skipped, counted and reported
once; an event from a newer version is passed over; neither stalls what comes after it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from franz import contracts
from franz.contracts import LifecycleTopics, TicketEvent
from franz.devstack.kafka import committed_total
from franz.kummerkasten.desk import TicketDesk
from franz.runtime.clients import new_producer
from franz.runtime.errors import error_reporter
from tests.helpers import read_topic, wait_until

TICKET = "T-AAAAA-BBBBB"


def test_poison_and_newer_records_are_passed_over_and_what_follows_them_is_handled(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topics = LifecycleTopics(
        formatted="unused", commands="unused", events=new_topic("events"), state="unused", dlq="unused"
    )
    errors, group = new_topic("errors"), f"bot-{uuid.uuid4().hex[:8]}"
    handled: list[TicketEvent] = []
    reporter = error_reporter("kummerkasten", bootstrap=bootstrap, topic=errors)
    desk = TicketDesk(
        bootstrap=bootstrap,
        topics=topics,
        group_id=group,
        on_event=lambda event, _: handled.append(event),
        reporter=reporter,
    ).start()
    close: TicketEvent = {
        "schema": contracts.SCHEMA_VERSION,
        "type": "TicketClosed",
        "event_id": "E-1",
        "ticket_id": TICKET,
        "time": "2026-11-21T10:00:00.000Z",
        "actor": {"id": "discord:5151", "name": "bob"},
        "command_id": None,
        "payload": {"submitter_id": "4242"},
    }
    newer = {**close, "type": "TicketMerged", "event_id": "E-2", "schema": contracts.SCHEMA_VERSION + 1}
    try:
        wait_until(desk.ready, timeout=60)
        producer = new_producer(bootstrap, client_id="test")
        for topic, value in [
            (topics.events, b"\xff\xfe not an event"),
            (topics.events, contracts.encode(newer)),
            (topics.events, contracts.encode(close)),
        ]:
            producer.send(topic, key=TICKET.encode(), value=value).get(30)
        producer.close()

        wait_until(lambda: handled, timeout=60)
        wait_until(lambda: committed_total(bootstrap, group) == 3, timeout=60)  # past every event
    finally:
        desk.stop()
        reporter.close()

    assert [event["event_id"] for event in handled] == ["E-1"]
    [report] = [json.loads(record.value) for record in read_topic(bootstrap, errors, expected=1)]
    assert (report["error_type"], report["context"]["source"]["topic"], report["count"]) == (
        "undecodable_record",
        topics.events,
        1,
    )
    assert report["context"]["source"]["offset"] == 0
