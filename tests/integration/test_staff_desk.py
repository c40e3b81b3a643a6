"""The staff desk end to end: the bot connected through the local Discord API's gateway (discord.py's own
parsers for GUILD_CREATE, MESSAGE_CREATE, THREAD_CREATE and INTERACTION_CREATE, its HTTP layer for every
post, thread and edit), the real broker and a real `franz sachbearbeiter` with its read API."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord.http
import pytest
import requests
import yarl
from discord.gateway import DiscordWebSocket

from franz.contracts import LifecycleTopics
from franz.devstack import discord_gateway as gw
from franz.devstack import discord_guild as dg
from franz.devstack.discord_api import EPHEMERAL, ROUTE_LIMITS, DiscordApiThread, LocalDiscordApi
from franz.kummerkasten.bot import TicketBot
from franz.kummerkasten.core import Cooldown
from franz.kummerkasten.desk import DESK_BATCH, TicketDesk
from franz.kummerkasten.publisher import IntakePublisher
from franz.kummerkasten.teams import parse_teams
from franz.runtime.errors import error_reporter
from franz.runtime.ticketsapi import TicketsApi
from tests.helpers import ServiceProcess, wait_until
from tests.integration.lifecycle import Lifecycle
from tests.integration.staffing import eventually, submitted_ticket, submitted_tickets
from tests.integration.test_kummerkasten import user

GUILD = 700_000_000_000_000_001
SUBMITTER = user(4242, "alice")
TOKEN = "test-token"


@pytest.fixture(autouse=True)
def _discord_endpoints() -> Iterator[None]:
    base, gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


class Desk:
    """The emulated guild: a desk channel, a transcripts channel and a staff role."""

    def __init__(self, api: LocalDiscordApi, deny: dict[str, int]) -> None:
        self.api = api
        self.desk = api.channels.add_channel(GUILD, "support-desk", bot_denied=deny.get("desk", 0))
        self.transcripts = api.channels.add_channel(GUILD, "transcripts")
        self.role = api.channels.add_role(GUILD, "Support")
        self.staffer = user(5151, "bob") | {"roles": [self.role]}

    def teams(self) -> str:
        team = {
            "name": "support",
            "default": True,
            "deskChannelId": self.desk,
            "staffRoleId": self.role,
            "transcriptsChannelId": self.transcripts,
        }
        return json.dumps([team])

    def posts(self) -> list[dict[str, Any]]:
        return list(self.api.channels.channels[self.desk].messages.values())

    def thread(self) -> Any:
        [thread] = [t for t in self.api.channels.threads() if t.parent_id == self.desk and t.type == 12]
        return thread

    async def press(self, message_id: str, custom_id: str, who: dict[str, Any]) -> str:
        payload = self.api.channels.component_interaction(message_id, custom_id, who)
        await self.api.dispatch_interaction(payload)
        return str(payload["id"])

    async def answer(self, interaction_id: str) -> dict[str, Any]:
        record = self.api.interactions[interaction_id]
        await eventually(lambda: record.messages or record.modal, timeout=30)
        return record.modal or record.messages[-1]


@asynccontextmanager
async def desk_bot(
    bootstrap: str,
    topics: LifecycleTopics,
    tickets_url: str,
    *,
    message_content: bool = True,
    deny: dict[str, int] | None = None,
) -> AsyncIterator[tuple[Desk, TicketBot]]:
    api = await LocalDiscordApi(guild_ids=[GUILD], heartbeat_interval_ms=1000).start()
    api.gateway.granted_intents = gw.MESSAGE_CONTENT_INTENT if message_content else 0
    desk = Desk(api, deny or {})
    discord.http.Route.BASE = api.base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{api.port}/gateway")
    publisher = IntakePublisher(bootstrap, "unused-intake", ack_timeout=5.0)
    ticket_desk = TicketDesk(
        bootstrap=bootstrap,
        topics=topics,
        group_id=f"bot-{uuid.uuid4().hex[:8]}",
        on_event=lambda event, maybe_done: bot.desk_event(event, maybe_done),
        reporter=error_reporter("kummerkasten", bootstrap=bootstrap, topic=f"errors-{uuid.uuid4().hex[:8]}"),
    )
    tickets = TicketsApi([tickets_url])
    bot = TicketBot(
        publisher=publisher,
        cooldown=Cooldown(30),
        guild_id=GUILD,
        desk=ticket_desk,
        routing=parse_teams(desk.teams()),
        tickets=tickets,
        message_content=message_content,
    )
    running = asyncio.create_task(bot.start("test-token"))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 60)
        await eventually(ticket_desk.ready)
        yield desk, bot
    finally:
        await bot.close()
        await asyncio.gather(running, return_exceptions=True)
        ticket_desk.stop()
        tickets.close()
        publisher.close()
        await api.stop()


def history(tickets_url: str, ticket_id: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{tickets_url}/tickets/{ticket_id}/history", timeout=5)
    return list(answer.json()["events"]) if answer.status_code == 200 else []


def test_a_ticket_is_posted_to_its_desk_worked_in_its_thread_and_closed_with_a_transcript(
    bootstrap: str, topics: LifecycleTopics, tickets_url: str
) -> None:
    async def scenario() -> None:
        async with desk_bot(bootstrap, topics, tickets_url) as (desk, bot):
            ticket_id = submitted_ticket(bootstrap, topics)

            # The desk post: pings the team's role and nothing else, with Claim and Close.
            [post] = await eventually(desk.posts, timeout=60)
            assert post["content"].startswith(f"<@&{desk.role}> New normal ticket {ticket_id}")
            assert (post["mention_roles"], post["mentions"], post["mention_everyone"]) == (
                [desk.role],
                [],
                False,
            )
            assert post["embeds"][0]["title"] == f"🎫 {ticket_id}"
            buttons = [b["custom_id"] for b in post["components"][0]["components"]]
            assert buttons == [f"franz:claim:{ticket_id}", f"franz:close:{ticket_id}"]

            # The private thread: not invitable, the submitter in it, the ticket's body first.
            thread = await eventually(lambda: [t for t in desk.api.channels.threads() if t.type == 12])
            thread = thread[0]
            assert thread.name.startswith(ticket_id)
            assert not thread.invitable
            opening = (await eventually(lambda: list(thread.messages.values())))[0]
            assert SUBMITTER["id"] in thread.members, "added before the first message"
            assert opening["content"].startswith(f"<@{SUBMITTER['id']}>, this is your private thread")
            linked = await eventually(
                lambda: (
                    bot.staff_desk
                    and requests.get(f"{tickets_url}/tickets/{ticket_id}", timeout=5)
                    .json()
                    .get("discord", {})
                    .get("thread_id")
                )
            )
            assert linked == thread.id, "the thread's id is recorded in the lifecycle"

            # Claim: assigned, the post shows it with Unclaim, the staffer is added to the thread.
            claimed = await desk.answer(
                await desk.press(post["id"], f"franz:claim:{ticket_id}", desk.staffer)
            )
            assert claimed["flags"] & EPHEMERAL
            assert claimed["content"] == f"✅ {ticket_id} assigned to bob."
            await eventually(lambda: post["components"][0]["components"][0]["label"] == "Unclaim")
            await eventually(lambda: desk.staffer["id"] in thread.members)

            # The conversation: the submitter and staff in the thread, a staff note on the desk post.
            await desk.api.channels.post_as_user(
                thread.id, SUBMITTER, "It still drops", attachments=["log.txt"]
            )
            await desk.api.channels.post_as_user(thread.id, desk.staffer, "Try the new profile")
            notes = await desk.api.channels.open_thread_as_user(post["id"], "internal", desk.staffer)
            await desk.api.channels.post_as_user(notes, desk.staffer, "probably the MTU")
            comments = await eventually(
                lambda: (
                    [e for e in history(tickets_url, ticket_id) if e["type"] == "CommentAdded"][2:]
                    and [e for e in history(tickets_url, ticket_id) if e["type"] == "CommentAdded"]
                )
            )
            assert [(c["actor"]["name"], c["payload"]["visibility"]) for c in comments] == [
                ("alice", "public"),
                ("bob", "public"),
                ("bob", "internal"),
            ]
            assert comments[0]["payload"]["attachments"][0]["name"] == "log.txt"
            state = requests.get(f"{tickets_url}/tickets/{ticket_id}", timeout=5).json()
            assert state["first_response_at"] == comments[1]["time"]

            # Close from the post: a modal for the reason, then the thread is locked and archived.
            asked = await desk.answer(await desk.press(post["id"], f"franz:close:{ticket_id}", desk.staffer))
            assert asked["custom_id"], "Close asks for the reason in a modal"
            reason = {asked["components"][0]["components"][0]["custom_id"]: "new VPN profile"}
            submitted = desk.api.channels.modal_interaction(
                desk.desk, asked["custom_id"], desk.staffer, reason
            )
            await desk.api.dispatch_interaction(submitted)
            closed = await desk.answer(str(submitted["id"]))
            assert closed["content"].startswith(f"✅ {ticket_id} closed")
            await eventually(lambda: thread.archived and thread.locked)
            said = list(thread.messages.values())[-1]
            assert said["content"] == "🔒 Closed by bob: new VPN profile"
            assert said["components"][0]["components"][0]["custom_id"] == f"franz:reopen:{ticket_id}"
            await eventually(lambda: post["components"][0]["components"][0]["label"] == "Reopen")

            # The submitter's DM carries the transcript without staff notes; the team's has them.
            [dm] = await eventually(
                lambda: [
                    m for c in desk.api.channels.channels.values() if c.type == 1 for m in c.messages.values()
                ]
            )
            assert "new VPN profile" in dm["content"]
            public = desk.api.channels.channels[dm["channel_id"]].files[dm["attachments"][0]["id"]].decode()
            assert "It still drops" in public
            assert "probably the MTU" not in public
            [copy] = await eventually(
                lambda: list(desk.api.channels.channels[desk.transcripts].messages.values())
            )
            internal = (
                desk.api.channels.channels[desk.transcripts].files[copy["attachments"][0]["id"]].decode()
            )
            assert "bob (internal note): probably the MTU" in internal

            # The submitter reopens from the DM: the thread opens again.
            reopen = await desk.press(dm["id"], f"franz:reopen:{ticket_id}", SUBMITTER)
            asked = await desk.answer(reopen)
            submitted = desk.api.channels.modal_interaction(
                dm["channel_id"], asked["custom_id"], SUBMITTER, {}
            )
            await desk.api.dispatch_interaction(submitted)
            assert (await desk.answer(str(submitted["id"])))["content"] == f"✅ {ticket_id} reopened."
            await eventually(lambda: not thread.archived)

    asyncio.run(scenario())


def test_queues_unclaim_reply_without_the_intent_and_a_deleted_thread(
    bootstrap: str, topics: LifecycleTopics, tickets_url: str
) -> None:
    async def scenario() -> None:
        async with desk_bot(bootstrap, topics, tickets_url, message_content=False) as (desk, _):
            first = submitted_ticket(bootstrap, topics, message="printer jams")
            [post] = await eventually(desk.posts, timeout=60)
            thread = (await eventually(lambda: [t for t in desk.api.channels.threads() if t.type == 12]))[0]

            # Without the Message Content intent a thread message arrives empty and is not recorded...
            await desk.api.channels.post_as_user(thread.id, SUBMITTER, "hello?")
            # ...and /reply is the recorded way: the answer shows in the thread and joins the trail.
            reply = desk.api.channels.modal_interaction(thread.id, "unused", desk.staffer, {})
            reply |= {
                "type": 2,
                "data": {
                    "id": "1",
                    "name": "reply",
                    "type": 1,
                    "options": [{"name": "text", "type": 3, "value": "we are on it"}],
                },
            }
            await desk.api.dispatch_interaction(reply)
            shown = await desk.answer(str(reply["id"]))
            assert shown["content"] == "**bob**: we are on it"
            assert not shown.get("flags", 0) & EPHEMERAL, "the answer is part of the conversation"
            comments = await eventually(
                lambda: [e for e in history(tickets_url, first) if e["type"] == "CommentAdded"]
            )
            assert [c["payload"]["text"] for c in comments] == ["we are on it"]

            # Claim a ticket whose thread Discord archived for quiet: it is unarchived, the staffer added.
            await desk.api.channels.auto_archive(thread.id)
            await desk.answer(await desk.press(post["id"], f"franz:claim:{first}", desk.staffer))
            await eventually(lambda: desk.staffer["id"] in thread.members)
            assert not thread.archived

            # Then Unclaim: the post offers Claim again.
            unclaimed = await desk.answer(
                await desk.press(post["id"], f"franz:unclaim:{first}", desk.staffer)
            )
            assert unclaimed["content"].startswith(f"✅ {first}")
            await eventually(lambda: post["components"][0]["components"][0]["label"] == "Claim")
            refused = await desk.answer(await desk.press(post["id"], f"franz:claim:{first}", SUBMITTER))
            assert refused["content"] == "🔒 /claim is for support staff only."

            # The queues: staff see their teams' open tickets, a submitter their own.
            second = submitted_ticket(bootstrap, topics, message="screen flickers")
            await eventually(lambda: len(desk.posts()) == 2)
            queue = desk.api.channels.modal_interaction(desk.desk, "unused", desk.staffer, {})
            queue |= {
                "type": 2,
                "data": {
                    "id": "2",
                    "name": "tickets",
                    "type": 1,
                    "options": [{"name": "view", "type": 3, "value": "unassigned"}],
                },
            }
            await desk.api.dispatch_interaction(queue)
            listed = await desk.answer(str(queue["id"]))
            assert listed["flags"] & EPHEMERAL
            assert first in listed["content"]
            assert second in listed["content"]
            mine = desk.api.channels.modal_interaction(desk.desk, "unused", SUBMITTER, {})
            mine |= {"type": 2, "data": {"id": "3", "name": "my-tickets", "type": 1}}
            await desk.api.dispatch_interaction(mine)
            own = await desk.answer(str(mine["id"]))
            assert "Your tickets" in own["content"]
            assert first in own["content"]

            # A moderator deletes the thread: a new one, once, with a note; its id is recorded.
            await desk.api.channels.delete_channel(thread.id)
            replaced = await eventually(
                lambda: [
                    t
                    for t in desk.api.channels.threads()
                    if t.type == 12 and not t.deleted and t.name.startswith(first)
                ]
            )
            opening = (await eventually(lambda: list(replaced[0].messages.values())))[0]["content"]
            assert "previous thread of this ticket was deleted" in opening
            await eventually(
                lambda: (
                    requests.get(f"{tickets_url}/tickets/{first}", timeout=5).json()["discord"]["thread_id"]
                    == replaced[0].id
                )
            )
            await asyncio.sleep(1)
            assert (
                len([t for t in desk.api.channels.threads() if t.name.startswith(first) and not t.deleted])
                == 1
            )

    asyncio.run(scenario())


def test_each_permission_the_bot_lacks_in_a_declared_channel_is_named_at_start(
    bootstrap: str, topics: LifecycleTopics, tickets_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> list[str]:
        async with desk_bot(
            bootstrap, topics, tickets_url, deny={"desk": dg.CREATE_PRIVATE_THREADS | dg.EMBED_LINKS}
        ) as _:

            def lacking() -> list[str]:
                return [r.getMessage() for r in caplog.records if "lacks" in r.getMessage()]

            # The start-up check logs every missing permission in one pass: wait for both denied ones.
            await eventually(lambda: len(lacking()) >= 2)
            return lacking()

    lines = asyncio.run(scenario())
    assert sorted(line.split(" in #")[0] for line in lines) == [
        "the bot lacks create_private_threads",
        "the bot lacks embed_links",
    ]
    assert all("support-desk" in line and "grant it to its role" in line for line in lines)


def test_kill_9_of_the_bot_amid_200_new_tickets_then_a_burst_of_500_within_discords_limits(
    bootstrap: str, lifecycle: Lifecycle, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    """Every ticket gets exactly its post and its thread across a kill -9 (the bot looks for what it made
    before acting again), and a burst stays within the rate limits (discord.py follows the headers)."""
    sachbearbeiter = lifecycle.start()
    topics = LifecycleTopics(**lifecycle.topics)
    api = LocalDiscordApi(token=TOKEN, guild_ids=[GUILD], heartbeat_interval_ms=1000)
    # Ten times Discord's message buckets, so hundreds of tickets take seconds, not minutes.
    api.limits.routes = {route: (limit * 10, per) for route, (limit, per) in ROUTE_LIMITS.items()}
    desk = Desk(api, {})
    env = {
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_GUILD_ID": str(GUILD),
        "DISCORD_TEAMS": desk.teams(),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC": new_topic("intake"),
        "COMMANDS_TOPIC": topics.commands,
        "EVENTS_TOPIC": topics.events,
        "STATE_TOPIC": topics.state,
        "KUMMERKASTEN_GROUP_ID": f"bot-{uuid.uuid4().hex[:8]}",
        "TICKETS_API_URL": f"http://127.0.0.1:{sachbearbeiter.metrics_port}",
    }

    def made() -> tuple[Counter[str], Counter[str]]:
        """Desk posts and private threads per ticket, as the emulator holds them."""

        def count(a: LocalDiscordApi) -> tuple[Counter[str], Counter[str]]:
            titles = [
                e["title"][2:] for m in a.channels.channels[desk.desk].messages.values() for e in m["embeds"]
            ]
            threads = [t.name.split(" ")[0] for t in a.channels.threads() if t.type == 12]
            return Counter(titles), Counter(threads)

        return emulator.read(count)

    with DiscordApiThread(api) as emulator:
        env["DISCORD_API_BASE"] = emulator.base
        bot = ServiceProcess("kummerkasten", env=env, log_dir=tmp_path)
        bot.start()
        emulator.wait_until_connected(timeout=120)
        first = submitted_tickets(bootstrap, topics, 200)
        wait_until(lambda: sum(made()[0].values()) >= 40, timeout=120)
        bot.kill()  # SIGKILL, in the middle of the stream
        restarted = ServiceProcess("kummerkasten", env=env, log_dir=tmp_path / "restarted")
        (tmp_path / "restarted").mkdir()
        restarted.start()
        wait_until(lambda: all(made()[0][t] and made()[1][t] for t in first), timeout=300)
        posts, threads = made()
        twice = sum(n - 1 for n in posts.values()) + sum(n - 1 for n in threads.values())
        print(f"kill -9 amid 200 tickets: {twice} duplicated posts or threads")
        assert twice <= DESK_BATCH, "at most the batch in flight is acted on twice"

        burst = submitted_tickets(bootstrap, topics, 500)
        wait_until(lambda: all(made()[0][t] and made()[1][t] for t in burst), timeout=600)
        limited, invalid = emulator.read(lambda a: (a.limits.limited_count, a.limits.invalid_requests()))
        print(f"700 tickets: {limited} answers 429, {invalid} invalid requests")
        assert limited <= 5, "no 429 storm: the bot paces itself by the headers"
        assert invalid <= 10, "far below Discord's 10,000 invalid requests per 10 minutes"
        assert restarted.stop() == 0
