"""A real sachbearbeiter with its read API for the bot's tests, and tickets as aufbereitung writes them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.runtime.clients import new_producer
from tests.integration.lifecycle import Lifecycle


@pytest.fixture
def sachbearbeiter(lifecycle: Lifecycle) -> tuple[LifecycleTopics, str]:
    """sachbearbeiter running on fresh topics, and the URL of its read API."""
    service = lifecycle.start()
    service.wait_until_ready()  # its read API answers from then on
    return LifecycleTopics(**lifecycle.topics), f"http://127.0.0.1:{service.metrics_port}"


@pytest.fixture
def topics(sachbearbeiter: tuple[LifecycleTopics, str]) -> LifecycleTopics:
    return sachbearbeiter[0]


@pytest.fixture
def tickets_url(sachbearbeiter: tuple[LifecycleTopics, str]) -> str:
    return sachbearbeiter[1]


def submitted_ticket(bootstrap: str, topics: LifecycleTopics, *, message: str = "VPN drops") -> str:
    """A ticket from alice, as aufbereitung would have formatted it."""
    source_id = f"discord:{uuid.uuid4().int % 10**18}"
    intake = contracts.new_raw_intake(username="alice", message=message, source_id=source_id, user_id="4242")
    ticket = contracts.format_ticket(intake, topic="discordMSG", partition=0, offset=0)
    producer = new_producer(bootstrap, client_id="test")
    producer.send(topics.formatted, key=ticket["ticket_id"].encode(), value=contracts.encode(ticket)).get(30)
    producer.close()
    return ticket["ticket_id"]


async def eventually(predicate: Callable[[], Any], *, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)
    return result


def submitted_tickets(bootstrap: str, topics: LifecycleTopics, count: int) -> list[str]:
    """`count` tickets from alice at once, as aufbereitung would have formatted them."""
    producer = new_producer(bootstrap, client_id="test")
    ids = []
    for number in range(count):
        source_id = f"discord:{uuid.uuid4().int % 10**18}"
        intake = contracts.new_raw_intake(
            username="alice", message=f"ticket {number}", source_id=source_id, user_id="4242"
        )
        ticket = contracts.format_ticket(intake, topic="discordMSG", partition=0, offset=number)
        producer.send(topics.formatted, key=ticket["ticket_id"].encode(), value=contracts.encode(ticket))
        ids.append(ticket["ticket_id"])
    producer.flush()
    producer.close()
    return ids
