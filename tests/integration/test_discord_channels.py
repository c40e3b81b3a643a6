"""The emulator's channels, threads, messages and rate limits, driven through discord.py's own HTTP layer
and gateway parsers, as the staff desk will use them."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from franz.devstack import discord_gateway as gw
from franz.devstack import discord_guild as dg
from franz.devstack.discord_api import LocalDiscordApi
from franz.devstack.discord_ratelimit import VIA

GUILD = 700_000_000_000_000_001
SUBMITTER: dict[str, Any] = {
    "id": "4242",
    "username": "alice",
    "discriminator": "0",
    "avatar": None,
    "global_name": "Alice",
}
TOKEN = "test-token"


@pytest.fixture(autouse=True)
def _discord_endpoints() -> Iterator[None]:
    base, gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


class Recorder(discord.Client):
    """A discord.py client that keeps what the gateway told it, parsed by discord.py."""

    def __init__(self, intents: discord.Intents) -> None:
        super().__init__(intents=intents)
        self.received: list[discord.Message] = []
        self.interactions: list[discord.Interaction] = []
        self.deleted_threads: list[int] = []

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions.append(interaction)

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        self.deleted_threads.append(payload.thread_id)


@asynccontextmanager
async def connected(api: LocalDiscordApi, intents: discord.Intents | None = None) -> AsyncIterator[Recorder]:
    discord.http.Route.BASE = api.base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{api.port}/gateway")
    client = Recorder(intents or discord.Intents.default())
    running = asyncio.create_task(client.start(TOKEN))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 30)
        yield client
    finally:
        await client.close()
        await asyncio.gather(running, return_exceptions=True)


def run(scenario: Callable[[LocalDiscordApi], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        api = await LocalDiscordApi(guild_ids=[GUILD], heartbeat_interval_ms=1000, **options).start()
        try:
            await scenario(api)
        finally:
            await api.stop()

    asyncio.run(main())


async def eventually(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return result


def test_a_desk_post_pings_only_the_allowed_role_and_its_buttons_edit_it_through_discord_py() -> None:
    async def scenario(api: LocalDiscordApi) -> None:
        desk_id = api.channels.add_channel(GUILD, "desk")
        staff_role = api.channels.add_role(GUILD, "Support")
        async with connected(api) as client:
            desk = client.get_channel(int(desk_id))
            assert isinstance(desk, discord.TextChannel), "GUILD_CREATE carried the channel"
            view = discord.ui.View()
            view.add_item(discord.ui.Button(label="Claim", custom_id="claim:T-1"))
            post = await desk.send(
                f"<@&{staff_role}> new ticket from <@4242> @everyone",
                allowed_mentions=discord.AllowedMentions(
                    roles=[discord.Object(int(staff_role))], users=False, everyone=False
                ),
                view=view,
            )
            stored = api.channels.channels[desk_id].messages[str(post.id)]
            assert (stored["mention_roles"], stored["mentions"], stored["mention_everyone"]) == (
                [staff_role],
                [],
                False,
            )
            assert stored["components"][0]["components"][0]["custom_id"] == "claim:T-1"

            # A staffer presses Claim: discord.py parses the component interaction and edits the post.
            await api.dispatch_interaction(
                api.channels.component_interaction(str(post.id), "claim:T-1", SUBMITTER)
            )
            [pressed] = await eventually(lambda: client.interactions)
            assert pressed.type is discord.InteractionType.component
            assert pressed.data["custom_id"] == "claim:T-1"
            await pressed.response.edit_message(content="claimed by alice", view=None)
            assert stored["content"] == "claimed by alice"
            assert stored["components"] == []
            assert stored["edited_timestamp"] is not None

            # Closing asks for a reason in a modal; the submission comes back as a modal interaction.
            await api.dispatch_interaction(
                api.channels.component_interaction(str(post.id), "claim:T-1", SUBMITTER)
            )
            await eventually(lambda: len(client.interactions) == 2)
            modal = discord.ui.Modal(title="Close T-1", custom_id="close:T-1")
            modal.add_item(discord.ui.TextInput(label="Reason", custom_id="reason"))
            await client.interactions[1].response.send_modal(modal)
            record = api.interactions[str(client.interactions[1].id)]
            assert record.modal is not None
            assert record.modal["custom_id"] == "close:T-1"
            submitted = api.channels.modal_interaction(desk_id, "close:T-1", SUBMITTER, {"reason": "fixed"})
            await api.dispatch_interaction(submitted)
            done = (await eventually(lambda: client.interactions[2:]))[0]
            assert done.type is discord.InteractionType.modal_submit
            assert done.data["components"][0]["components"][0]["value"] == "fixed"

    run(scenario)


def test_a_private_thread_with_the_submitter_files_archive_lock_and_a_moderators_delete() -> None:
    async def scenario(api: LocalDiscordApi) -> None:
        desk_id = api.channels.add_channel(GUILD, "tickets")
        async with connected(api) as client:
            parent = client.get_channel(int(desk_id))
            assert isinstance(parent, discord.TextChannel)
            thread = await parent.create_thread(
                name="T-1 printer", type=discord.ChannelType.private_thread, invitable=False
            )
            assert thread.type is discord.ChannelType.private_thread
            assert thread.parent_id == int(desk_id)
            await thread.add_user(discord.Object(int(SUBMITTER["id"])))
            stored = api.channels.channels[str(thread.id)]
            assert stored.members == {api.bot_user["id"], SUBMITTER["id"]}
            assert not stored.invitable

            transcript = discord.File(io.BytesIO(b"T-1 transcript"), filename="T-1.txt")
            sent = await thread.send("closed", file=transcript)
            [attachment] = sent.attachments
            assert attachment.filename == "T-1.txt"
            assert attachment.size == len(b"T-1 transcript")
            async with aiohttp.ClientSession() as http, http.get(attachment.url) as answer:
                assert await answer.read() == b"T-1 transcript"

            await thread.edit(archived=True, locked=True)
            assert (stored.archived, stored.locked) == (True, True)
            with pytest.raises(dg.DiscordError) as refused:
                await api.channels.post_as_user(str(thread.id), SUBMITTER, "hello?")
            assert refused.value.code == 50083, "a person cannot post into a locked, archived thread"
            with pytest.raises(discord.HTTPException) as archived:
                await thread.add_user(discord.Object(5151))
            assert archived.value.code == 50083
            await thread.edit(archived=False, locked=False)
            await api.channels.post_as_user(str(thread.id), SUBMITTER, "still broken")
            assert not stored.archived

            await api.channels.delete_channel(str(thread.id))
            assert await eventually(lambda: client.deleted_threads) == [thread.id]
            with pytest.raises(discord.NotFound) as gone:
                await client.fetch_channel(thread.id)
            assert gone.value.code == 10003

    run(scenario)


def test_missing_permissions_show_in_discord_py_and_are_refused_with_50013() -> None:
    async def scenario(api: LocalDiscordApi) -> None:
        closed = api.channels.add_channel(
            GUILD, "no-threads", bot_denied=dg.CREATE_PRIVATE_THREADS | dg.ATTACH_FILES
        )
        async with connected(api) as client:
            channel = client.get_channel(int(closed))
            assert isinstance(channel, discord.TextChannel)
            permissions = channel.permissions_for(channel.guild.me)
            assert permissions.send_messages
            assert permissions.manage_threads
            assert not permissions.create_private_threads
            assert not permissions.attach_files
            with pytest.raises(discord.Forbidden) as refused:
                await channel.create_thread(name="T-2", type=discord.ChannelType.private_thread)
            assert refused.value.code == 50013
            with pytest.raises(discord.Forbidden):
                await channel.send(file=discord.File(io.BytesIO(b"x"), filename="x.txt"))
            assert api.limits.invalid_requests() == 2, "403s count toward Discord's invalid-request limit"

    run(scenario)


def test_a_person_s_message_reaches_the_bot_without_content_unless_it_has_the_intent() -> None:
    async def scenario(api: LocalDiscordApi) -> None:
        channel_id = api.channels.add_channel(GUILD, "tickets")
        async with connected(api) as client:
            await api.channels.post_as_user(
                channel_id, SUBMITTER, "my printer is on fire", attachments=["fire.png"]
            )
            [seen] = await eventually(lambda: client.received)
            assert seen.author.id == 4242
            assert seen.content == ""
            assert seen.attachments == []
        api.gateway.granted_intents = gw.MESSAGE_CONTENT_INTENT  # enabled "in the Developer Portal"
        intents = discord.Intents.default()
        intents.message_content = True
        async with connected(api, intents) as client:
            await api.channels.post_as_user(channel_id, SUBMITTER, "still on fire", attachments=["fire.png"])
            [seen] = await eventually(lambda: client.received)
            assert seen.content == "still on fire"
            assert [a.filename for a in seen.attachments] == ["fire.png"]

    run(scenario)


def test_discord_py_follows_the_rate_limit_headers_and_a_blind_burst_gets_429s() -> None:
    async def scenario(api: LocalDiscordApi) -> None:
        channel_id = api.channels.add_channel(GUILD, "desk")
        async with connected(api) as client:
            channel = client.get_channel(int(channel_id))
            assert isinstance(channel, discord.TextChannel)
            for number in range(7):  # past the channel's bucket of 5 per 5 s
                await channel.send(f"post {number}")
            assert len(api.channels.channels[channel_id].messages) == 7
            assert api.limits.limited_count == 0, "discord.py waited as the headers said, no 429"

        url = f"{api.base}/channels/{channel_id}/messages"
        headers = {"Authorization": f"Bot {TOKEN}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(headers=headers) as http:
            answers = []
            for number in range(6):
                async with http.post(url, json={"content": f"blind {number}"}) as answer:
                    answers.append((answer.status, dict(answer.headers), await answer.json()))
        statuses = [status for status, _, _ in answers]
        assert 429 in statuses
        assert statuses[: statuses.index(429)] == [200] * statuses.index(429)
        _, limited, body = answers[statuses.index(429)]
        assert limited["X-RateLimit-Scope"] == "user"
        assert limited["Via"] == VIA
        assert limited["X-RateLimit-Remaining"] == "0"
        assert float(limited["X-RateLimit-Reset-After"]) > 0
        assert body["global"] is False
        assert 0 < body["retry_after"] <= 5
        assert api.limits.invalid_requests() == statuses.count(429)

    run(scenario)


def test_the_global_limit_answers_429_global_and_a_silent_connection_is_closed_with_4009() -> None:
    async def scenario(api: LocalDiscordApi) -> None:
        api.gateway.heartbeat_timeout_ms = 1500
        api.limits.global_window.limit = 3
        channel_ids = [api.channels.add_channel(GUILD, f"c{n}") for n in range(4)]
        headers = {"Authorization": f"Bot {TOKEN}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(headers=headers) as http:
            statuses = []
            for channel_id in channel_ids:  # four buckets, one global limit
                async with http.post(
                    f"{api.base}/channels/{channel_id}/messages", json={"content": "x"}
                ) as answer:
                    statuses.append(answer.status)
                    last = (dict(answer.headers), await answer.json())
        assert statuses == [200, 200, 200, 429]
        assert last[0]["X-RateLimit-Global"] == "true"
        assert last[0]["X-RateLimit-Scope"] == "global"
        assert last[1]["global"] is True

        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{api.port}/gateway?v=10&encoding=json") as ws,
        ):
            await ws.receive_json()  # HELLO
            identify = {
                "token": TOKEN,
                "intents": 1,
                "properties": {"os": "linux", "browser": "t", "device": "t"},
            }
            await ws.send_json({"op": gw.IDENTIFY, "d": identify})
            while (message := await asyncio.wait_for(ws.receive(), 10)).type != aiohttp.WSMsgType.CLOSE:
                pass  # READY and GUILD_CREATE, then no heartbeat from us
            assert message.data == gw.SESSION_TIMED_OUT
        assert api.gateway.sessions == {}, "4009 ends the session"

    run(scenario)
