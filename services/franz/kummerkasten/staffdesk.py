"""The staff desk in Discord, driven by the lifecycle's events: a post per ticket in its team's desk channel
(with Claim/Unclaim and Close/Reopen buttons), a private thread with the submitter, and on close a locked
thread and a transcript for the submitter and the team.

Every side effect happens once per ticket across restarts and replays. The Discord ids of what the desk
created are recorded in the lifecycle (a `link` command, folded by sachbearbeiter into the ticket's state);
before creating anything for an event that may have been handled before the bot last stopped, the desk
looks for it in Discord (the desk channel's recent posts, the channel's active threads). Edits are
idempotent by nature. The bot reads ticket states and histories from sachbearbeiter's read API.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from franz import contracts
from franz.contracts import DiscordLinks, TicketCommand, TicketEvent, TicketState
from franz.kummerkasten import metrics, posts
from franz.kummerkasten.teams import Routing, Team
from franz.runtime.ticketsapi import TicketsApi

log = logging.getLogger(__name__)

Publish = Callable[[TicketCommand], Awaitable[None]]
BUTTON_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}
# Events that change nothing the desk shows (a comment is already in the thread it was written in).
QUIET_EVENTS = frozenset({"CommandRejected", "CommentAdded"})
LINK_MEMORY = 10_000  # tickets whose Discord ids are kept at hand (the rest are asked from the read API)
STATE_WAIT_SECONDS = 10.0  # how long an event waits for the read API to reflect it
LOOKBACK_MESSAGES = 100  # how far back the desk channel is searched for a post made before a crash
BOT_ACTOR: contracts.Actor = {"id": "franz:kummerkasten", "name": "franz"}
# What the bot needs in each kind of channel (discord.Permissions attribute names).
NEEDED = {
    "desk": ("view_channel", "send_messages", "embed_links", "read_message_history"),
    "ticket threads": (
        "view_channel",
        "create_private_threads",
        "send_messages_in_threads",
        "manage_threads",
        "attach_files",
    ),
    "transcripts": ("view_channel", "send_messages", "attach_files"),
}


def layout(post: posts.Post) -> discord.ui.View:
    """The buttons as a view that is layout only: stopped, so discord.py does not keep one per message in
    memory; the bot answers the buttons in `on_interaction` by their custom ids."""
    view = discord.ui.View(timeout=None)
    for button in post.buttons:
        view.add_item(
            discord.ui.Button(
                label=button.label, custom_id=button.custom_id, style=BUTTON_STYLES[button.style]
            )
        )
    view.stop()
    return view


def only_role(role_id: int | None) -> discord.AllowedMentions:
    """The one mention a post may make: its team's role. User text never pings anyone."""
    roles = [discord.Object(role_id)] if role_id is not None else False
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


class StaffDesk:
    def __init__(
        self,
        client: discord.Client,
        *,
        routing: Routing | None,
        tickets: TicketsApi,
        publish: Publish,
        reopen_days: int,
    ) -> None:
        self.client = client
        self.routing = routing
        self.tickets = tickets
        self.publish = publish
        self.reopen_days = reopen_days
        self._links: OrderedDict[str, DiscordLinks] = OrderedDict()

    # -- start ----------------------------------------------------------------------------------------

    async def missing_permissions(self) -> list[str]:
        """One line per permission the bot lacks in a declared channel, naming channel, purpose and fix."""
        lines: list[str] = []
        for channel_id, kind, purpose in self.routing.channels() if self.routing is not None else []:
            try:
                channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
            except discord.HTTPException as error:
                lines.append(
                    f"channel {channel_id} ({purpose}) cannot be read ({error.status}): check the id"
                )
                continue
            if not isinstance(channel, discord.TextChannel):
                lines.append(f"channel {channel_id} ({purpose}) is not a text channel")
                continue
            granted = channel.permissions_for(channel.guild.me)
            lines += [
                f"the bot lacks {name} in #{channel.name} ({channel_id}, {purpose}): grant it to its role"
                for name in NEEDED[kind]
                if not getattr(granted, name)
            ]
        return lines

    # -- events ---------------------------------------------------------------------------------------

    async def apply(self, event: TicketEvent, *, maybe_done: bool) -> None:
        """The Discord side of one lifecycle event. `maybe_done`: the bot may have handled it before it
        last stopped, so anything it would create is looked for first."""
        kind = event["type"]
        if kind in QUIET_EVENTS:
            return
        if kind == "DiscordLinked":
            self._remember(event["ticket_id"], event["payload"]["discord"])
            return
        state = await self._state(event)
        if state is None:
            log.warning(
                "no state for an event yet; the desk skips it", extra={"ticket_id": event["ticket_id"]}
            )
            return
        team = self.routing.team_for(state["category"]) if self.routing is not None else None
        if team is None or team.desk_channel_id is None:
            if kind == "TicketClosed":
                await self.tell_submitter(state, event, team=None, maybe_done=maybe_done)
            return
        links = await self._ensure(state, team, maybe_done=maybe_done)
        if kind != "TicketCreated":
            await self._refresh_post(state, team, links)
        thread = await self._thread(links)
        if thread is None and "thread_id" in links and kind != "TicketClosed":
            await self.replace_thread(state["ticket_id"])
            thread = await self._thread({**links, **self._links.get(state["ticket_id"], {})})
        if kind == "TicketAssigned" and thread is not None:
            assignee = event["payload"]["assignee"]["id"]
            if assignee.startswith("discord:") and assignee[8:].isdigit():
                await self._awake(thread)
                await self._call(
                    thread.add_user(discord.Object(int(assignee[8:]))), "add the assignee to the thread"
                )
        elif kind == "TicketClosed":
            if thread is not None:
                await self._awake(thread)
                await self._call(
                    thread.send(
                        posts.closed_line(event),
                        view=self._reopen_button(state),
                        allowed_mentions=only_role(None),
                    ),
                    "say closed",
                )
                await self._call(thread.edit(archived=True, locked=True), "lock the thread")
            await self.tell_submitter(state, event, team=team, maybe_done=maybe_done)
        elif kind == "TicketReopened" and thread is not None:
            await self._call(thread.edit(archived=False, locked=False), "reopen the thread")
            await self._call(
                thread.send(posts.reopened_line(event), allowed_mentions=only_role(None)), "say reopened"
            )

    async def _state(self, event: TicketEvent) -> TicketState | None:
        """The ticket's state as of this event or later (the read API folds events as they commit, so it
        may lag a moment behind the log): a state changed at or after the event's time."""
        deadline = time.monotonic() + STATE_WAIT_SECONDS
        while True:
            state = await asyncio.to_thread(self.tickets.ticket, event["ticket_id"])
            late = time.monotonic() > deadline
            if state is not None and (state["updated_at"] >= event["time"] or late):
                return state
            if late:
                return None
            await asyncio.sleep(0.1)

    async def _ensure(self, state: TicketState, team: Team, *, maybe_done: bool) -> DiscordLinks:
        """The ticket's desk post and private thread, created once; their ids recorded in the lifecycle."""
        ticket_id = state["ticket_id"]
        links: DiscordLinks = {**(state.get("discord") or {}), **self._links.get(ticket_id, {})}
        found: DiscordLinks = {}
        if "desk_message_id" not in links and team.desk_channel_id is not None:
            desk = await self._text_channel(team.desk_channel_id)
            message = await self._find_post(desk, ticket_id) if maybe_done else None
            if message is None:
                post = posts.desk_post(state, staff_role_id=team.staff_role_id)
                message = await desk.send(
                    post.content,
                    embed=discord.Embed.from_dict(post.embed),
                    view=layout(post),
                    allowed_mentions=only_role(post.ping_role_id),
                )
                metrics.DESK_POSTS.inc()
            found |= {"desk_channel_id": str(desk.id), "desk_message_id": str(message.id)}
        if "thread_id" not in links and team.threads_in is not None:
            parent = await self._text_channel(team.threads_in)
            thread = await self._find_thread(parent, ticket_id) if maybe_done else None
            if thread is None:
                thread = await self._open_thread(parent, state, posts.thread_opening(state))
            found["thread_id"] = str(thread.id)
        if found:
            await self._link(ticket_id, links, found)
        return {**links, **found}

    async def _open_thread(
        self, parent: discord.TextChannel, state: TicketState, opening: str
    ) -> discord.Thread:
        """A private thread, not invitable, with the submitter (and the assignee) in it."""
        thread = await parent.create_thread(
            name=posts.thread_name(state),
            type=discord.ChannelType.private_thread,
            invitable=False,
            auto_archive_duration=10080,
        )
        people = [state["submitter_id"]] if state["submitter_id"] else []
        if state["assignee"] and state["assignee"]["id"].startswith("discord:"):
            people.append(state["assignee"]["id"].removeprefix("discord:"))
        for person in people:
            if person.isdigit():
                await self._call(thread.add_user(discord.Object(int(person))), "add a person to the thread")
        mentions = discord.AllowedMentions(users=True, roles=False, everyone=False)
        await thread.send(opening, allowed_mentions=mentions)
        metrics.DESK_THREADS.inc()
        return thread

    async def replace_thread(self, ticket_id: str) -> None:
        """A moderator deleted the ticket's thread: a new one, once (its id is recorded), with a note."""
        state = await asyncio.to_thread(self.tickets.ticket, ticket_id)
        team = self.routing.team_for(state["category"]) if state is not None and self.routing else None
        if state is None or team is None or team.threads_in is None or state["status"] == "closed":
            return
        links: DiscordLinks = {**(state.get("discord") or {}), **self._links.get(ticket_id, {})}
        if await self._thread(links) is not None:
            return  # already replaced, or never gone
        parent = await self._text_channel(team.threads_in)
        thread = await self._open_thread(parent, state, posts.thread_replaced(state))
        await self._link(ticket_id, links, {"thread_id": str(thread.id)})

    async def _link(self, ticket_id: str, links: DiscordLinks, found: DiscordLinks) -> None:
        """Record new Discord ids in the lifecycle (a retry of the same ids is the same command)."""
        self._remember(ticket_id, {**links, **found})
        ids = ":".join(sorted(str(value) for value in found.values()))
        await self.publish(
            contracts.new_command(
                command="link",
                ticket_id=ticket_id,
                command_id=f"discord-link:{ticket_id}:{ids}",
                actor=BOT_ACTOR,
                discord=found,
            )
        )

    async def _refresh_post(self, state: TicketState, team: Team, links: DiscordLinks) -> None:
        if "desk_message_id" not in links or "desk_channel_id" not in links:
            return
        post = posts.desk_post(state, staff_role_id=team.staff_role_id)
        channel = await self._text_channel(int(links["desk_channel_id"]))
        message = channel.get_partial_message(int(links["desk_message_id"]))
        await self._call(
            message.edit(
                content=post.content,
                embed=discord.Embed.from_dict(post.embed),
                view=layout(post),
                allowed_mentions=only_role(None),
            ),
            "edit the desk post",
        )

    async def _awake(self, thread: discord.Thread) -> None:
        """Discord archives a quiet thread by itself (after a week here); it is unarchived before the desk
        acts in it, since an archived thread refuses new members (code 50083)."""
        if thread.archived and not thread.locked:
            await self._call(thread.edit(archived=False), "unarchive the thread")

    def _reopen_button(self, state: TicketState) -> discord.ui.View:
        """A Reopen button for the submitter while reopening is allowed (staff use the desk post's)."""
        view = discord.ui.View(timeout=None)
        if self.reopen_days > 0:
            view.add_item(
                discord.ui.Button(label="Reopen", custom_id=posts.custom_id("reopen", state["ticket_id"]))
            )
        view.stop()
        return view

    async def _thread(self, links: DiscordLinks) -> discord.Thread | None:
        """The ticket's thread; a thread a moderator deleted is opened anew, once, with a note."""
        if "thread_id" not in links:
            return None
        thread_id = int(links["thread_id"])
        cached = self.client.get_channel(thread_id)
        if isinstance(cached, discord.Thread):
            return cached
        try:
            fetched = await self.client.fetch_channel(thread_id)
        except discord.NotFound:
            return None
        return fetched if isinstance(fetched, discord.Thread) else None

    async def _find_post(self, desk: discord.TextChannel, ticket_id: str) -> discord.Message | None:
        title = posts.desk_post_title(ticket_id)
        me = self.client.user
        async for message in desk.history(limit=LOOKBACK_MESSAGES):
            if (
                me is not None
                and message.author.id == me.id
                and any(e.title == title for e in message.embeds)
            ):
                return message
        return None

    async def _find_thread(self, parent: discord.TextChannel, ticket_id: str) -> discord.Thread | None:
        for thread in await parent.guild.active_threads():
            if thread.parent_id == parent.id and thread.name.startswith(ticket_id):
                return thread
        return None

    async def _text_channel(self, channel_id: int) -> discord.TextChannel:
        channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            raise TypeError(f"channel {channel_id} is not a text channel")
        return channel

    def _remember(self, ticket_id: str, links: DiscordLinks) -> None:
        self._links[ticket_id] = {**self._links.get(ticket_id, {}), **links}
        self._links.move_to_end(ticket_id)
        while len(self._links) > LINK_MEMORY:
            self._links.popitem(last=False)

    async def _call(self, action: Awaitable[Any], what: str) -> None:
        """A side effect whose failure is reported, not retried forever: Discord's answer is final."""
        try:
            await action
        except discord.HTTPException as error:
            metrics.DESK_FAILURES.labels(what).inc()
            log.warning("the desk could not %s", what, extra={"status": error.status, "code": error.code})

    # -- the submitter --------------------------------------------------------------------------------

    async def tell_submitter(
        self, state: TicketState, event: TicketEvent, *, team: Team | None, maybe_done: bool
    ) -> None:
        """A direct message with the reason and the transcript, and a Reopen button while reopening is
        allowed; the team's transcripts channel gets the staff transcript. Each is looked for first when
        the event may have been handled before. People can refuse DMs (403, code 50007): that is an
        answer, not a failure to retry."""
        ticket_id = state["ticket_id"]
        history = await asyncio.to_thread(self.tickets.history, ticket_id) or []
        if team is not None and team.transcripts_channel_id is not None:
            transcripts = await self._text_channel(team.transcripts_channel_id)
            caption = posts.transcript_caption(state)
            if not (maybe_done and await self._already_sent(transcripts, caption)):
                await self._call(
                    transcripts.send(
                        caption,
                        file=_text_file(posts.transcript(history, for_staff=True), ticket_id),
                        allowed_mentions=only_role(None),
                    ),
                    "post the transcript",
                )
        submitter = state["submitter_id"]
        if not submitter or not submitter.isdigit():
            metrics.CLOSE_NOTICES.labels("no_submitter").inc()
            return
        notice = posts.closed_notice(event, reopen_days=self.reopen_days)
        try:
            channel = await self.client.create_dm(discord.Object(id=int(submitter)))
            if maybe_done and await self._already_sent(channel, notice):
                return
            await channel.send(
                notice,
                file=_text_file(posts.transcript(history, for_staff=False), ticket_id),
                view=self._reopen_button(state),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.Forbidden:
            metrics.CLOSE_NOTICES.labels("dms_closed").inc()
            log.info("submitter does not accept direct messages", extra={"ticket_id": ticket_id})
            return
        except discord.HTTPException as error:
            metrics.CLOSE_NOTICES.labels("failed").inc()
            log.warning(
                "telling the submitter failed", extra={"ticket_id": ticket_id, "status": error.status}
            )
            return
        metrics.CLOSE_NOTICES.labels("sent").inc()

    async def _already_sent(self, channel: discord.abc.Messageable, content: str) -> bool:
        """Whether the bot's recent messages in `channel` already say `content`."""
        me = self.client.user
        async for message in channel.history(limit=LOOKBACK_MESSAGES):
            if me is not None and message.author.id == me.id and message.content == content:
                return True
        return False

    def may_reopen(self, state: TicketState, now: datetime.datetime) -> bool:
        """A submitter may reopen for `reopen_days` after the close."""
        closed_at = state["closed_at"]
        if self.reopen_days <= 0 or closed_at is None:
            return False
        return now - datetime.datetime.fromisoformat(closed_at) <= datetime.timedelta(days=self.reopen_days)


def _text_file(text: str, ticket_id: str) -> discord.File:
    return discord.File(io.BytesIO(text.encode()), filename=f"{ticket_id}.txt")
