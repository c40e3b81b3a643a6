"""The bot's lifecycle commands end to end: discord.py's own objects, the local Discord API, the real broker
and a real `franz sachbearbeiter` deciding every command."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import discord.http
import pytest
from prometheus_client import REGISTRY

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.devstack.discord_api import EPHEMERAL, LocalDiscordApi
from franz.kummerkasten.bot import TicketBot
from franz.kummerkasten.core import Cooldown
from franz.kummerkasten.desk import TicketDesk
from franz.kummerkasten.publisher import IntakePublisher
from franz.runtime.clients import new_producer
from franz.runtime.ticketsapi import TicketsApi
from tests.helpers import read_topic
from tests.integration.lifecycle import Lifecycle
from tests.integration.test_kummerkasten import answered, deliver, run, user

STAFF_ROLE = 700_000_000_000_000_099
SUBMITTER = user(4242, "alice")
STAFFER = user(5151, "bob")
STRANGER = user(6161, "eve")


@pytest.fixture(autouse=True)
def _discord_api_base() -> Iterator[None]:
    original = discord.http.Route.BASE
    yield
    discord.http.Route.BASE = original


@pytest.fixture
def topics(lifecycle: Lifecycle) -> LifecycleTopics:
    lifecycle.start().wait_until_ready(timeout=120)
    return LifecycleTopics(**lifecycle.topics)


@pytest.fixture
def tickets_api(lifecycle: Lifecycle, topics: LifecycleTopics) -> TicketsApi:
    """sachbearbeiter's read API, which the desk asks for a ticket's status."""
    return TicketsApi([f"http://127.0.0.1:{lifecycle.started[0].metrics_port}"])


def submitted_ticket(bootstrap: str, topics: LifecycleTopics) -> str:
    """A ticket from alice, as aufbereitung would have formatted it."""
    source_id = f"discord:{uuid.uuid4().int % 10**18}"
    intake = contracts.new_raw_intake(
        username="alice", message="VPN drops", source_id=source_id, user_id="4242"
    )
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


async def status_becomes(desk: TicketDesk, ticket_id: str, status: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (state := await desk.state(ticket_id)) is None or state["status"] != status:
        if time.monotonic() > deadline:
            pytest.fail(f"{ticket_id} did not become {status} within {timeout}s")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def staffed_bot(
    bootstrap: str, topics: LifecycleTopics, tickets_api: TicketsApi, ticket_id: str
) -> AsyncIterator[tuple[LocalDiscordApi, TicketBot]]:
    api = await LocalDiscordApi().start()
    discord.http.Route.BASE = api.base
    publisher = IntakePublisher(bootstrap, "unused-intake", ack_timeout=5.0)
    desk = TicketDesk(
        bootstrap=bootstrap,
        topics=topics,
        group_id=f"bot-{uuid.uuid4().hex[:8]}",
        on_closed=lambda event: bot.closed(event),
        tickets=tickets_api,
    )
    bot = TicketBot(
        publisher=publisher, cooldown=Cooldown(30), guild_id=None, staff_role_id=STAFF_ROLE, desk=desk
    )
    try:
        await bot.login("test-token")
        await eventually(desk.ready)
        await status_becomes(desk, ticket_id, "open")
        yield api, bot
    finally:
        await bot.close()
        desk.stop()
        publisher.close()
        await api.stop()


def slash(name: str, **options: str) -> dict[str, Any]:
    return {
        "id": "9",
        "name": name,
        "type": 1,
        "options": [{"name": key, "type": 3, "value": value} for key, value in options.items()],
    }


async def ask(api: LocalDiscordApi, bot: TicketBot, data: dict[str, Any], author: dict[str, Any]) -> str:
    roles = (str(STAFF_ROLE),) if author is STAFFER else ()
    record = await answered(api, deliver(api, bot, data, author=author, roles=roles))
    [reply] = record.messages
    assert reply["flags"] & EPHEMERAL, "every lifecycle answer is private"
    return str(reply["content"])


def test_staff_assign_comment_and_close_with_outcomes_and_the_submitter_gets_a_dm(
    bootstrap: str, topics: LifecycleTopics, tickets_api: TicketsApi
) -> None:
    ticket_id = submitted_ticket(bootstrap, topics)

    async def scenario() -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
        async with staffed_bot(bootstrap, topics, tickets_api, ticket_id) as (api, bot):
            replies = [
                await ask(api, bot, slash("ticket-assign", ticket=ticket_id.lower()), STAFFER),
                await ask(
                    api, bot, slash("ticket-comment", ticket=ticket_id, text="rebooting the VPN"), STAFFER
                ),
                await ask(api, bot, slash("ticket-close", ticket=ticket_id, reason="fixed"), STAFFER),
                await ask(api, bot, slash("ticket-assign", ticket=ticket_id), STAFFER),
            ]
            await eventually(lambda: api.direct_messages)
            assert bot.desk is not None
            await status_becomes(bot.desk, ticket_id, "closed")
            replies.append(await ask(api, bot, slash("ticket-status", ticket=ticket_id), SUBMITTER))
            return replies, api.direct_messages

    replies, dms = run(scenario())
    assert replies[0] == f"✅ {ticket_id} assigned to bob."
    assert replies[1] == f"✅ {ticket_id} commented."
    assert replies[2].startswith(f"✅ {ticket_id} closed")
    assert replies[3] == f"⚠️ Not done: {ticket_id} is closed; reopen it first."
    assert f"**{ticket_id}** is **closed**" in replies[4]
    [(recipient, message)] = dms
    assert recipient == "4242"
    assert message["content"] == f"✅ Your ticket **{ticket_id}** was closed.\n> fixed"
    assert message["allowed_mentions"] == {"parse": []}
    events = [contracts.decode_event(r.value) for r in read_topic(bootstrap, topics.events, expected=5)]
    assert [e["actor"]["name"] for e in events[1:]] == ["bob"] * 4
    assert all((e["command_id"] or "").startswith("discord:") for e in events[1:]), "the interaction id"


def test_only_staff_change_tickets_and_only_the_submitter_or_staff_see_them(
    bootstrap: str, topics: LifecycleTopics, tickets_api: TicketsApi
) -> None:
    ticket_id = submitted_ticket(bootstrap, topics)

    async def scenario() -> list[str]:
        async with staffed_bot(bootstrap, topics, tickets_api, ticket_id) as (api, bot):
            return [
                await ask(api, bot, slash("ticket-close", ticket=ticket_id), SUBMITTER),
                await ask(api, bot, slash("ticket-status", ticket=ticket_id), STRANGER),
                await ask(api, bot, slash("ticket-status", ticket=ticket_id), SUBMITTER),
                await ask(api, bot, slash("ticket-status", ticket=ticket_id), STAFFER),
                await ask(api, bot, slash("ticket-status", ticket="not-an-id"), STAFFER),
            ]

    replies = run(scenario())
    assert replies[0] == "🔒 /ticket-close is for support staff only."
    assert (
        replies[1]
        == f"🔍 There is no ticket {ticket_id} that you can see. Ticket ids look like T-ABCDE-12345."
    )
    assert f"**{ticket_id}** is **open**" in replies[2]
    assert replies[2] == replies[3]
    assert replies[4].startswith("🔍 There is no ticket not-an-id")
    assert read_topic(bootstrap, topics.commands, expected=0, timeout=0) == [], "nothing was published"


def refusals() -> float:
    return REGISTRY.get_sample_value("franz_ticket_close_notices_total", {"outcome": "dms_closed"}) or 0.0


def test_a_submitter_who_refuses_dms_is_skipped_and_later_closes_are_still_announced(
    bootstrap: str, topics: LifecycleTopics, tickets_api: TicketsApi
) -> None:
    refused, accepted = submitted_ticket(bootstrap, topics), submitted_ticket(bootstrap, topics)

    async def scenario() -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
        async with staffed_bot(bootstrap, topics, tickets_api, accepted) as (api, bot):
            api.dms_closed.add("4242")
            before = refusals()
            first = await ask(api, bot, slash("ticket-close", ticket=refused), STAFFER)
            await eventually(lambda: refusals() > before)
            api.dms_closed.clear()
            second = await ask(api, bot, slash("ticket-close", ticket=accepted), STAFFER)
            await eventually(lambda: api.direct_messages)
            return [first, second], api.direct_messages

    replies, dms = run(scenario())
    assert all(reply.startswith("✅") for reply in replies)
    assert [message["content"].split("**")[1] for _, message in dms] == [accepted]
