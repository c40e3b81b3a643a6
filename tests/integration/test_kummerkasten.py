"""kummerkasten driven through discord.py's own objects against the real broker and a local Discord API.

Interactions are delivered the way the gateway delivers them (`parse_interaction_create` with an
interaction payload), so discord.py's CommandTree, option parsing, modals and HTTP layer all run for
real; only Discord's HTTP API is the local stand-in (`franz.devstack.discord_api`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import discord
import discord.http
import pytest

from franz import contracts
from franz.devstack.discord_api import EPHEMERAL, InteractionRecord, LocalDiscordApi
from franz.devstack.process import free_port
from franz.kummerkasten.bot import TicketBot
from franz.kummerkasten.core import Cooldown
from franz.kummerkasten.publisher import IntakePublisher
from tests.helpers import FRANZ, read_topic

if TYPE_CHECKING:  # discord.types imports itself in circles at run time; it is for type checkers
    from discord.types.interactions import Interaction as InteractionPayload

GUILD_ID = 700_000_000_000_000_001
CHANNEL_ID = 700_000_000_000_000_002
_ids = itertools.count(1_300_000_000_000_000_000)


@pytest.fixture(autouse=True)
def _discord_api_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = discord.http.Route.BASE
    yield
    monkeypatch.setattr(discord.http.Route, "BASE", original)


@asynccontextmanager
async def running_bot(
    bootstrap: str,
    topic: str,
    *,
    cooldown: float = 30.0,
    guild_id: int | None = GUILD_ID,
    force_sync: bool = False,
    api: LocalDiscordApi | None = None,
) -> AsyncIterator[tuple[LocalDiscordApi, TicketBot]]:
    own_api = api is None
    api = api or await LocalDiscordApi().start()
    discord.http.Route.BASE = api.base
    publisher = IntakePublisher(bootstrap, topic, ack_timeout=5.0)
    bot = TicketBot(
        publisher=publisher, cooldown=Cooldown(cooldown), guild_id=guild_id, force_sync=force_sync
    )
    try:
        await bot.login("test-token")  # the documented login calls, then setup_hook: registration, Kafka
        yield api, bot
    finally:
        await bot.close()
        publisher.close()
        if own_api:
            await api.stop()


def user(user_id: int = 4242, name: str = "alice") -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
    }


def interaction(
    data: dict[str, Any],
    *,
    application_id: int,
    kind: int = 2,
    author: dict[str, Any] | None = None,
    roles: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An interaction payload as the gateway's INTERACTION_CREATE carries it, with a fresh id and token."""
    return {
        "id": str(next(_ids)),
        "application_id": str(application_id),
        "type": kind,
        "token": f"token-{next(_ids)}",
        "version": 1,
        "guild_id": str(GUILD_ID),
        "channel_id": str(CHANNEL_ID),
        "channel": {
            "id": str(CHANNEL_ID),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": "support",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        },
        "member": {
            "user": author or user(),
            "roles": list(roles),
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": "0",
            "pending": False,
        },
        "data": data,
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": "0",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0,
        "attachment_size_limit": 10_485_760,
    }


def deliver(
    api: LocalDiscordApi,
    bot: TicketBot,
    data: dict[str, Any],
    *,
    kind: int = 2,
    author: dict[str, Any] | None = None,
    roles: tuple[str, ...] = (),
) -> str:
    """Deliver one interaction as the gateway would; returns its id."""
    payload = interaction(data, kind=kind, author=author, roles=roles, application_id=api.application_id)
    api.new_interaction(interaction_id=payload["id"], token=payload["token"])
    # The gateway's INTERACTION_CREATE handler; the test writes the payload discord.py reads as typed.
    bot._connection.parse_interaction_create(cast("InteractionPayload", payload))
    return str(payload["id"])


def slash(message: str, **choices: str) -> dict[str, Any]:
    options = [{"name": "message", "type": 3, "value": message}]
    options += [{"name": name, "type": 3, "value": value} for name, value in choices.items()]
    return {"id": "1", "name": "ticket", "type": 1, "options": options}


async def answered(
    api: LocalDiscordApi, interaction_id: str, *, messages: int = 1, timeout: float = 30
) -> InteractionRecord:
    record = api.interactions[interaction_id]
    deadline = time.monotonic() + timeout
    while len(record.messages) < messages and not (record.callbacks and record.callbacks[0]["type"] == 9):
        if time.monotonic() > deadline:
            pytest.fail(f"no answer to interaction {interaction_id}: {record}")
        await asyncio.sleep(0.02)
    return record


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_slash_ticket_defers_publishes_and_confirms_privately_with_the_ticket_id(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("intake")

    async def scenario() -> tuple[str, InteractionRecord]:
        async with running_bot(bootstrap, topic) as (api, bot):
            interaction_id = deliver(
                api, bot, slash("My VPN drops every hour", category="bug", priority="high")
            )
            return interaction_id, await answered(api, interaction_id)

    interaction_id, record = run(scenario())
    [published] = read_topic(bootstrap, topic, expected=1)
    intake = json.loads(published.value)
    assert published.key == f"discord:{interaction_id}".encode()
    assert intake["source_id"] == f"discord:{interaction_id}"
    assert (intake["username"], intake["message"]) == ("alice", "My VPN drops every hour")
    assert (intake["user_id"], intake["guild_id"], intake["channel_id"]) == (
        "4242",
        str(GUILD_ID),
        str(CHANNEL_ID),
    )
    assert (intake["category"], intake["priority"]) == ("bug", "high")
    contracts.validate_raw_intake(intake)

    [defer] = record.callbacks
    assert defer["type"] == 5, "deferred (thinking) before publishing"
    assert defer["data"]["flags"] & EPHEMERAL
    [confirmation] = record.followups
    assert confirmation["flags"] & EPHEMERAL
    assert contracts.ticket_id_for(f"discord:{interaction_id}") in confirmation["content"]
    assert "My VPN drops every hour" in confirmation["content"]


def test_the_modal_path_publishes_the_long_text(bootstrap: str, new_topic: Callable[..., str]) -> None:
    topic = new_topic("intake")
    long_text = "Line one\n" + "details " * 400

    async def scenario() -> InteractionRecord:
        async with running_bot(bootstrap, topic) as (api, bot):
            opened = await answered(api, deliver(api, bot, {"id": "2", "name": "ticket-form", "type": 1}))
            [modal] = opened.callbacks
            assert modal["type"] == 9
            components = json.loads(json.dumps(modal["data"]["components"]))
            for row in components:  # fill the text input, whatever layout discord.py chose
                for item in row.get("components", []) + ([row["component"]] if "component" in row else []):
                    if item["type"] == 4:
                        assert item["max_length"] == contracts.MESSAGE_MAX_CHARS
                        item["value"] = long_text
            submitted = deliver(
                api, bot, {"custom_id": modal["data"]["custom_id"], "components": components}, kind=5
            )
            return await answered(api, submitted)

    record = run(scenario())
    [published] = read_topic(bootstrap, topic, expected=1)
    assert json.loads(published.value)["message"] == long_text.strip()
    assert record.callbacks[0]["type"] == 5
    assert "received" in record.followups[0]["content"]


def test_a_second_ticket_within_the_cooldown_is_refused_kindly(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("intake")

    async def scenario() -> InteractionRecord:
        async with running_bot(bootstrap, topic, cooldown=60) as (api, bot):
            await answered(api, deliver(api, bot, slash("first")))
            return await answered(api, deliver(api, bot, slash("second")))

    record = run(scenario())
    [refusal] = record.callbacks
    assert refusal["type"] == 4
    assert refusal["data"]["flags"] & EPHEMERAL
    assert "wait" in refusal["data"]["content"]
    assert [json.loads(r.value)["message"] for r in read_topic(bootstrap, topic, expected=1)] == ["first"]


def test_kafka_unavailable_defers_in_time_and_says_it_did_not_go_through(
    new_topic: Callable[..., str],
) -> None:
    nothing_listens = f"127.0.0.1:{free_port()}"

    async def scenario() -> InteractionRecord:
        async with running_bot(nothing_listens, "discordMSG") as (api, bot):
            return await answered(api, deliver(api, bot, slash("is anyone there?")), timeout=60)

    record = run(scenario())
    assert record.callbacks[0]["type"] == 5, "the 3-second deadline was met by deferring"
    [reply] = record.followups
    assert "did not go through" in reply["content"]
    assert "received" not in reply["content"]
    assert reply["flags"] & EPHEMERAL


def test_too_long_input_is_refused_and_nothing_is_published(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("intake")

    async def scenario() -> InteractionRecord:
        async with running_bot(bootstrap, topic) as (api, bot):
            return await answered(api, deliver(api, bot, slash("x" * (contracts.MESSAGE_MAX_CHARS + 1))))

    record = run(scenario())
    [reply] = record.messages
    assert "could not be accepted" in reply["content"]
    assert "the limit is 4000" in reply["content"]
    assert reply["flags"] & EPHEMERAL
    assert read_topic(bootstrap, topic, expected=0, timeout=0) == []


def test_commands_are_registered_to_the_guild_only_when_they_changed(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("intake")

    async def scenario() -> list[str]:
        api = await LocalDiscordApi().start()
        try:
            for force in (False, False, True):
                async with running_bot(bootstrap, topic, api=api, force_sync=force):
                    pass
            return api.command_writes
        finally:
            await api.stop()

    assert run(scenario()) == [str(GUILD_ID), str(GUILD_ID)], "first start, then only the forced --sync"


def test_dump_commands_prints_the_registered_payloads_without_discord() -> None:
    dumped = json.loads(
        subprocess.run(
            [*FRANZ, "kummerkasten", "--dump-commands"], capture_output=True, text=True, check=True
        ).stdout
    )
    by_name = {command["name"]: command for command in dumped}
    assert set(by_name) == {
        "ticket",
        "ticket-form",
        "ticket-status",
        "ticket-assign",
        "ticket-close",
        "ticket-comment",
        "ticket-reopen",
        "reply",
        "tickets",
        "my-tickets",
    }
    options = {option["name"]: option for option in by_name["ticket"]["options"]}
    assert options["message"] == {
        "type": 3,
        "name": "message",
        "description": "What do you need help with?",
        "required": True,
        "min_length": 1,
        "max_length": contracts.MESSAGE_MAX_CHARS,
    }
    assert [c["value"] for c in options["category"]["choices"]] == list(contracts.CATEGORIES)
    assert [c["value"] for c in options["priority"]["choices"]] == list(contracts.PRIORITIES)
    assert not options["category"]["required"]
