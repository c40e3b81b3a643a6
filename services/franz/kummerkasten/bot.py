"""The Discord edge: slash commands, the modal, command registration, and the submit flow.

Every submission defers first (ephemeral, "thinking"), because Discord allows 3 seconds for the first
answer and Kafka may be slower than that; the confirmation follows only after the broker acknowledged
the record. Replies go to the submitter alone.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands

from franz import contracts
from franz.contracts import ContractError, TicketCommand, TicketEvent, TicketState
from franz.kummerkasten import core, metrics, posts
from franz.kummerkasten.desk import TicketDesk
from franz.kummerkasten.pacing import GLOBAL_PER_SECOND, Pacer, pace
from franz.kummerkasten.publisher import IntakePublisher
from franz.kummerkasten.staffdesk import StaffDesk
from franz.kummerkasten.teams import Routing, Team, single_team
from franz.runtime.exceptions import PublishError
from franz.runtime.ticketsapi import TicketsApi, TicketsApiError

log = logging.getLogger(__name__)

Submit = Callable[[discord.Interaction, str, str | None, str | None], Awaitable[None]]
# A lifecycle command: the interaction, the command ("status", "assign", …) and its options.
Staff = Callable[[discord.Interaction, str, dict[str, Any]], Awaitable[None]]
# How long a staff member waits for the outcome of a command before being told it is not confirmed yet.
OUTCOME_TIMEOUT_SECONDS = 8.0
DESK_EVENT_TIMEOUT_SECONDS = 120.0  # the Discord side of one event; Discord's rate limits may pace it
QUEUE_VIEWS = ("open", "unassigned", "mine")
QUEUE_PAGE = 10
MAX_QUEUE_PAGES = 20
THREAD_MEMORY = 10_000  # threads whose ticket is known without asking Discord


class TicketModal(discord.ui.Modal, title="Open a support ticket"):
    """`/ticket-form`: a long text field for people who want room to write."""

    message: discord.ui.TextInput[TicketModal] = discord.ui.TextInput(
        label="What do you need help with?",
        style=discord.TextStyle.paragraph,
        min_length=1,
        max_length=contracts.MESSAGE_MAX_CHARS,
    )

    def __init__(self, submit: Submit) -> None:
        super().__init__()
        self._submit = submit

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._submit(interaction, self.message.value, None, None)


def build_tree(client: discord.Client, submit: Submit, staff: Staff) -> app_commands.CommandTree[Any]:
    """The command definitions, as registered with Discord and as `--dump-commands` prints them."""
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    categories = [app_commands.Choice(name=c.title(), value=c) for c in contracts.CATEGORIES]
    priorities = [app_commands.Choice(name=p.title(), value=p) for p in contracts.PRIORITIES]

    @tree.command(name="ticket", description="Open a support ticket; only you see the answer")
    @app_commands.describe(
        message="What do you need help with?", category="What it is about", priority="How urgent it is"
    )
    @app_commands.choices(category=categories, priority=priorities)
    async def ticket(
        interaction: discord.Interaction,
        message: app_commands.Range[str, 1, contracts.MESSAGE_MAX_CHARS],
        category: app_commands.Choice[str] | None = None,
        priority: app_commands.Choice[str] | None = None,
    ) -> None:
        await submit(
            interaction, message, category.value if category else None, priority.value if priority else None
        )

    @tree.command(name="ticket-form", description="Open a support ticket in a form with room to write")
    async def ticket_form(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(TicketModal(submit))

    _add_lifecycle_commands(tree, staff)
    return tree


def _add_lifecycle_commands(tree: app_commands.CommandTree[Any], staff: Staff) -> None:
    @tree.command(name="ticket-status", description="Show a ticket's status (yours, or any ticket for staff)")
    @app_commands.describe(ticket="The ticket id, like T-ABCDE-12345")
    async def ticket_status(interaction: discord.Interaction, ticket: str) -> None:
        await staff(interaction, "status", {"ticket": ticket})

    @tree.command(
        name="ticket-assign", description="Staff: assign a ticket (to yourself unless you name someone)"
    )
    @app_commands.describe(ticket="The ticket id", to="Who takes it (default: you)")
    async def ticket_assign(
        interaction: discord.Interaction, ticket: str, to: discord.User | None = None
    ) -> None:
        await staff(interaction, "assign", {"ticket": ticket, "to": to})

    @tree.command(name="ticket-close", description="Staff: close a ticket; the submitter is told")
    @app_commands.describe(ticket="The ticket id", reason="Why, in a sentence the submitter will read")
    async def ticket_close(
        interaction: discord.Interaction, ticket: str, reason: app_commands.Range[str, 1, 500] | None = None
    ) -> None:
        await staff(interaction, "close", {"ticket": ticket, "text": reason})

    @tree.command(name="ticket-reopen", description="Staff: reopen a closed ticket")
    @app_commands.describe(ticket="The ticket id", reason="Why it is open again")
    async def ticket_reopen(
        interaction: discord.Interaction, ticket: str, reason: app_commands.Range[str, 1, 500] | None = None
    ) -> None:
        await staff(interaction, "reopen", {"ticket": ticket, "text": reason})

    @tree.command(name="reply", description="Answer in this ticket's thread; recorded with the ticket")
    @app_commands.describe(text="Your answer (leave it out for a form with room to write)")
    async def reply(
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, contracts.COMMENT_MAX_CHARS] | None = None,
    ) -> None:
        await staff(interaction, "reply", {"text": text})

    @tree.command(name="tickets", description="Staff: your teams' queue (only you see it)")
    @app_commands.describe(view="Which tickets")
    @app_commands.choices(view=[app_commands.Choice(name=v.title(), value=v) for v in QUEUE_VIEWS])
    async def tickets(interaction: discord.Interaction, view: app_commands.Choice[str] | None = None) -> None:
        await staff(interaction, "queue", {"view": view.value if view else "open"})

    @tree.command(name="my-tickets", description="Your tickets and where they stand (only you see it)")
    async def my_tickets(interaction: discord.Interaction) -> None:
        await staff(interaction, "queue", {"view": "submitted"})

    @tree.command(name="ticket-comment", description="Staff: add a comment to a ticket's audit trail")
    @app_commands.describe(ticket="The ticket id", text="The comment")
    async def ticket_comment(
        interaction: discord.Interaction,
        ticket: str,
        text: app_commands.Range[str, 1, contracts.COMMENT_MAX_CHARS],
    ) -> None:
        await staff(interaction, "comment", {"ticket": ticket, "text": text})


def command_payloads() -> list[dict[str, Any]]:
    """Exactly what would be registered, built without a connection to Discord."""
    client = discord.Client(intents=discord.Intents.default())

    async def no_submit(
        interaction: discord.Interaction, message: str, category: str | None, priority: str | None
    ) -> None:
        raise RuntimeError("not connected")

    async def no_staff(interaction: discord.Interaction, command: str, options: dict[str, Any]) -> None:
        raise RuntimeError("not connected")

    tree = build_tree(client, no_submit, no_staff)
    return [command.to_dict(tree) for command in tree.get_commands()]


class ReasonModal(discord.ui.Modal):
    """Close (or reopen) from a button: the reason the submitter will read, in a form."""

    reason: discord.ui.TextInput[ReasonModal] = discord.ui.TextInput(
        label="Reason (the submitter reads it)",
        style=discord.TextStyle.paragraph,
        max_length=500,
        required=False,
    )

    def __init__(
        self, title: str, done: Callable[[discord.Interaction, str | None], Awaitable[None]]
    ) -> None:
        super().__init__(title=title, timeout=600)
        self._done = done

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._done(interaction, self.reason.value or None)


class ReplyModal(discord.ui.Modal, title="Reply in this ticket"):
    """`/reply` without text: room to write a long answer."""

    text: discord.ui.TextInput[ReplyModal] = discord.ui.TextInput(
        label="Your answer", style=discord.TextStyle.paragraph, max_length=contracts.COMMENT_MAX_CHARS
    )

    def __init__(self, done: Callable[[discord.Interaction, str], Awaitable[None]]) -> None:
        super().__init__(timeout=900)
        self._done = done

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._done(interaction, self.text.value)


class TicketBot(discord.Client):
    def __init__(
        self,
        *,
        publisher: IntakePublisher,
        cooldown: core.Cooldown,
        guild_id: int | None,
        force_sync: bool = False,
        clock: Callable[[], float] = time.monotonic,
        staff_role_id: int | None = None,
        desk: TicketDesk | None = None,
        routing: Routing | None = None,
        tickets: TicketsApi | None = None,
        reopen_days: int = 7,
        message_content: bool = False,
    ) -> None:
        # Slash commands and modals need no privileged intent; recording thread messages needs Message
        # Content.
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(intents=intents)
        self.publisher = publisher
        self.cooldown = cooldown
        self.guild_id = guild_id
        self.force_sync = force_sync
        self.clock = clock
        self.routing = routing or single_team(staff_role_id)
        self.desk = desk  # the lifecycle commands need it; without it they answer staff-only
        self.staff_desk = (
            StaffDesk(
                self,
                routing=self.routing,
                tickets=tickets,
                publish=self._publish_link,
                reopen_days=reopen_days,
            )
            if tickets is not None and desk is not None
            else None
        )
        self.tree = build_tree(self, self.submit, self.lifecycle_command)
        pace(self, Pacer(GLOBAL_PER_SECOND))
        self._thread_tickets: OrderedDict[int, tuple[str, str] | None] = (
            OrderedDict()
        )  # thread → ticket, visibility

    async def setup_hook(self) -> None:
        await self.register_commands()
        await self.publisher.connect()
        if self.desk is not None:
            self.desk.start()

    async def on_ready(self) -> None:
        """The declared channels are checked once connected: each missing permission is one log line."""
        if self.staff_desk is None:
            return
        for line in await self.staff_desk.missing_permissions():
            metrics.MISSING_PERMISSIONS.inc()
            log.error(line)

    async def register_commands(self) -> None:
        """Register to the guild when DISCORD_GUILD_ID is set (instant), else globally; and only when the
        definitions differ from what Discord has, since registration is rate-limited per day."""
        application_id = self.application_id
        if application_id is None:
            raise RuntimeError("register_commands needs the application id, which login provides")
        guild = discord.Object(id=self.guild_id) if self.guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
            registered = await self.http.get_guild_commands(application_id, guild.id)
        else:
            registered = await self.http.get_global_commands(application_id)
        local = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        remote: list[dict[str, Any]] = [dict(command) for command in registered]
        if self.force_sync or core.normalised_commands(local) != core.normalised_commands(remote):
            await self.tree.sync(guild=guild)
            log.info("commands registered", extra={"scope": f"guild {guild.id}" if guild else "global"})
        else:
            log.info(
                "commands unchanged; not registering",
                extra={"scope": f"guild {guild.id}" if guild else "global"},
            )

    async def submit(
        self, interaction: discord.Interaction, message: str, category: str | None, priority: str | None
    ) -> None:
        """The one path from an interaction to Kafka, for the slash command and the modal alike."""
        user_id = interaction.user.id
        wait = self.cooldown.remaining(user_id, self.clock())
        if wait > 0:
            metrics.COOLDOWN_HITS.inc()
            await interaction.response.send_message(core.cooling_down(wait), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            intake = contracts.new_raw_intake(
                username=interaction.user.name,
                message=message,
                source_id=f"discord:{interaction.id}",
                user_id=str(user_id),
                guild_id=str(interaction.guild_id) if interaction.guild_id else None,
                channel_id=str(interaction.channel_id) if interaction.channel_id else None,
                category=category,
                priority=priority,
            )
        except ContractError as error:
            metrics.TICKETS_FAILED.labels("invalid").inc()
            await interaction.followup.send(core.invalid(str(error)), ephemeral=True)
            return
        started = time.perf_counter()
        try:
            published = await self.publisher.publish(intake)
        except PublishError as error:
            metrics.TICKETS_FAILED.labels("kafka").inc()
            log.warning("ticket not published", extra={"interaction_id": interaction.id, "error": str(error)})
            await interaction.followup.send(core.failure(), ephemeral=True)
            return
        metrics.PUBLISH_SECONDS.observe(time.perf_counter() - started)
        metrics.TICKETS_SUBMITTED.inc()
        self.cooldown.start(user_id, self.clock())
        log.info(
            "ticket published",
            extra={
                "ticket_id": published.ticket_id,
                "partition": published.partition,
                "offset": published.offset,
            },
        )
        await interaction.followup.send(core.confirmation(published.ticket_id, intake), ephemeral=True)

    def teams_of(self, user: discord.User | discord.Member) -> list[Team]:
        """The teams whose staff role the member holds. The interaction's member payload carries the
        member's role ids; they are compared directly, because the guild's role cache may not be filled
        (e.g. before the guild arrived on the gateway)."""
        if self.routing is None or not isinstance(user, discord.Member):
            return []
        return self.routing.teams_of(user._roles)

    def is_staff(self, user: discord.User | discord.Member) -> bool:
        return bool(self.teams_of(user))

    async def lifecycle_command(
        self, interaction: discord.Interaction, command: str, options: dict[str, Any]
    ) -> None:
        """`/ticket-status` for the submitter or staff; assign, close, comment for staff, with the outcome."""
        desk = self.desk
        staff = self.is_staff(interaction.user)
        if command == "reply":
            await self.reply(interaction, options.get("text"))
            return
        if command == "queue":
            await self.queue(interaction, options["view"], page=0)
            return
        if desk is None or (command != "status" and not staff):
            metrics.STAFF_COMMANDS.labels(command, "forbidden").inc()
            await interaction.response.send_message(core.staff_only(f"ticket-{command}"), ephemeral=True)
            return
        try:
            ticket_id = contracts.parse_ticket_id(options["ticket"])
        except ContractError:
            await interaction.response.send_message(
                core.ticket_not_visible(options["ticket"][:40]), ephemeral=True
            )
            return
        if command == "status":
            try:
                state = await self._ticket(ticket_id)
            except TicketsApiError as error:
                log.warning("looking up a ticket failed", extra={"error": str(error)})
                await interaction.response.send_message(core.status_unavailable(), ephemeral=True)
                return
            visible = state is not None and (staff or state["submitter_id"] == str(interaction.user.id))
            reply = (
                core.ticket_status(state)
                if state is not None and visible
                else core.ticket_not_visible(ticket_id)
            )
            await interaction.response.send_message(reply, ephemeral=True)
            return
        fields: dict[str, Any] = {"text": options.get("text")}
        if command == "assign":
            assignee = options.get("to") or interaction.user
            fields = {"assignee": {"id": f"discord:{assignee.id}", "name": assignee.name}}
        await self.send_command(interaction, command, ticket_id, fields)

    async def send_command(
        self, interaction: discord.Interaction, command: str, ticket_id: str, fields: dict[str, Any]
    ) -> None:
        """Publish a lifecycle command for this interaction and tell its author the outcome, privately."""
        desk = self.desk
        if desk is None:
            await interaction.response.send_message(core.staff_only(f"ticket-{command}"), ephemeral=True)
            return
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        ticket_command = contracts.new_command(
            command=command,  # type: ignore[arg-type]
            ticket_id=ticket_id,
            command_id=f"discord:{interaction.id}",
            actor={"id": f"discord:{interaction.user.id}", "name": interaction.user.name},
            **fields,
        )
        outcome = desk.expect(ticket_command["command_id"])
        try:
            await self.publisher.publish_command(ticket_command, topic=desk.topics.commands)
        except PublishError as error:
            outcome.cancel()
            metrics.STAFF_COMMANDS.labels(command, "failed").inc()
            log.warning(
                "command not published", extra={"interaction_id": interaction.id, "error": str(error)}
            )
            await interaction.followup.send(core.failure(), ephemeral=True)
            return
        try:
            event = await asyncio.wait_for(outcome, OUTCOME_TIMEOUT_SECONDS)
        except TimeoutError:
            metrics.STAFF_COMMANDS.labels(command, "unconfirmed").inc()
            await interaction.followup.send(core.command_unconfirmed(ticket_id), ephemeral=True)
            return
        rejected = event["type"] == "CommandRejected"
        metrics.STAFF_COMMANDS.labels(command, "rejected" if rejected else "applied").inc()
        await interaction.followup.send(core.command_outcome(event), ephemeral=True)

    def desk_event(self, event: TicketEvent, maybe_done: bool) -> None:
        """Called from the desk's thread for every lifecycle event: the Discord side of it, then the offset
        commits. Without a staff desk, a close is still told to the submitter."""
        if self.staff_desk is None:
            return
        future = asyncio.run_coroutine_threadsafe(
            self.staff_desk.apply(event, maybe_done=maybe_done), self.loop
        )
        future.result(timeout=DESK_EVENT_TIMEOUT_SECONDS)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """The desk's buttons (slash commands and modals are dispatched by discord.py itself)."""
        if interaction.type is not discord.InteractionType.component or interaction.data is None:
            return
        custom_id = str(interaction.data.get("custom_id", ""))
        if (page := posts.parse_page_id(custom_id)) is not None:
            await self.queue(interaction, page[0], page=page[1])
            return
        parsed = posts.parse_custom_id(custom_id)
        if parsed is None or self.desk is None:
            return
        action, ticket_id = parsed
        staff = self.is_staff(interaction.user)
        if action == "reopen" and not staff:
            state = await self._ticket(ticket_id)
            submitter = state is not None and state["submitter_id"] == str(interaction.user.id)
            if not submitter or self.staff_desk is None or not self.staff_desk.may_reopen(state, _now()):  # type: ignore[arg-type]
                await interaction.response.send_message(core.reopen_refused(ticket_id), ephemeral=True)
                return
        elif not staff:
            metrics.STAFF_COMMANDS.labels(action, "forbidden").inc()
            await interaction.response.send_message(core.staff_only(action), ephemeral=True)
            return
        if action == "claim":
            me = {"id": f"discord:{interaction.user.id}", "name": interaction.user.name}
            await self.send_command(interaction, "assign", ticket_id, {"assignee": me})
        elif action == "unclaim":
            await self.send_command(interaction, "unassign", ticket_id, {})
        else:

            async def with_reason(submitted: discord.Interaction, reason: str | None) -> None:
                await self.send_command(submitted, action, ticket_id, {"text": reason})

            verb = "Close" if action == "close" else "Reopen"
            await interaction.response.send_modal(ReasonModal(f"{verb} {ticket_id}", with_reason))

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A moderator deleted a ticket's private thread: the desk opens a new one."""
        found = self._thread_tickets.pop(payload.thread_id, None)
        if found is None and payload.thread is not None:
            ticket_id = posts.ticket_in_name(payload.thread.name)
            found = (ticket_id, "public") if ticket_id is not None else None
        if found is not None and found[1] == "public" and self.staff_desk is not None:
            await self.staff_desk.replace_thread(found[0])

    async def on_message(self, message: discord.Message) -> None:
        """Every message in a ticket's thread is a comment on the ticket (public in the private thread with
        the submitter, internal in the staff thread on the desk post), once: its id is the command id."""
        if message.author.bot or not isinstance(message.channel, discord.Thread) or self.desk is None:
            return
        if not message.content and not message.attachments:
            return  # without the Message Content intent Discord sends no text: /reply is the way then
        found = await self._ticket_of_thread(message.channel)
        if found is None:
            return
        ticket_id, visibility = found
        fields: dict[str, Any] = {
            "text": message.content[: contracts.COMMENT_MAX_CHARS],
            "visibility": visibility,
        }
        if message.attachments:
            fields["attachments"] = [{"name": a.filename, "url": a.url} for a in message.attachments[:10]]
        command = contracts.new_command(
            command="comment",
            ticket_id=ticket_id,
            command_id=f"discord:message:{message.id}",
            actor={"id": f"discord:{message.author.id}", "name": message.author.name},
            **fields,
        )
        try:
            await self.publisher.publish_command(command, topic=self.desk.topics.commands)
        except PublishError as error:
            metrics.DESK_FAILURES.labels("record a thread message").inc()
            log.warning("thread message not recorded", extra={"ticket_id": ticket_id, "error": str(error)})
            return
        metrics.DESK_COMMENTS.labels(visibility).inc()

    async def reply(self, interaction: discord.Interaction, text: str | None) -> None:
        """`/reply` in a ticket's thread: the answer shows in the thread and is recorded as a comment."""
        channel = interaction.channel
        found = await self._ticket_of_thread(channel) if isinstance(channel, discord.Thread) else None
        if found is None or self.desk is None:
            await interaction.response.send_message(core.reply_outside_thread(), ephemeral=True)
            return
        ticket_id, visibility = found
        if text is None:
            await interaction.response.send_modal(
                ReplyModal(lambda i, t: self._record_reply(i, ticket_id, visibility, t))
            )
            return
        await self._record_reply(interaction, ticket_id, visibility, text)

    async def _record_reply(
        self, interaction: discord.Interaction, ticket_id: str, visibility: str, text: str
    ) -> None:
        await interaction.response.send_message(
            core.reply_shown(interaction.user.name, text), allowed_mentions=discord.AllowedMentions.none()
        )
        command = contracts.new_command(
            command="comment",
            ticket_id=ticket_id,
            command_id=f"discord:{interaction.id}",
            actor={"id": f"discord:{interaction.user.id}", "name": interaction.user.name},
            text=text,
            visibility=visibility,
        )
        try:
            await self.publisher.publish_command(command, topic=self.desk.topics.commands)  # type: ignore[union-attr]
        except PublishError:
            await interaction.followup.send(core.failure(), ephemeral=True)
            return
        metrics.DESK_COMMENTS.labels(visibility).inc()

    async def queue(self, interaction: discord.Interaction, view: str, *, page: int) -> None:
        """`/tickets` for staff (their teams' open, unassigned or own tickets) and `/my-tickets` for
        submitters, a page at a time with a button to the next, visible to the asker alone."""
        tickets = self.staff_desk.tickets if self.staff_desk is not None else None
        staff_teams = self.teams_of(interaction.user)
        if tickets is None or (view != "submitted" and not staff_teams):
            await interaction.response.send_message(core.staff_only("tickets"), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        query = queue_filters(view, interaction.user.id, staff_teams, self.routing)
        found = await asyncio.to_thread(queue_page, tickets, query, page)
        text, more = core.queue_text(view, found, page=page, page_size=QUEUE_PAGE)
        layout_view = discord.ui.View(timeout=None)
        if more:
            layout_view.add_item(discord.ui.Button(label="Next", custom_id=posts.page_id(view, page + 1)))
        layout_view.stop()
        await interaction.followup.send(text, view=layout_view, ephemeral=True)

    async def _ticket(self, ticket_id: str) -> TicketState | None:
        if self.staff_desk is None:
            return None
        return await asyncio.to_thread(self.staff_desk.tickets.ticket, ticket_id)

    async def _ticket_of_thread(self, thread: discord.Thread) -> tuple[str, str] | None:
        """The ticket a thread belongs to, and what its messages are: `public` in a ticket's private
        thread (named after the ticket, in a team's thread channel), `internal` in a thread staff opened
        on a desk post (its id is the post's)."""
        if thread.id in self._thread_tickets:
            return self._thread_tickets[thread.id]
        found: tuple[str, str] | None = None
        routing = self.routing
        if routing is not None:
            threads_in = {team.threads_in for team in routing.teams}
            desks = {team.desk_channel_id for team in routing.teams}
            ticket_id = posts.ticket_in_name(thread.name)
            if (
                thread.parent_id in threads_in
                and ticket_id is not None
                and thread.type is discord.ChannelType.private_thread
            ):
                found = (ticket_id, "public")
            elif thread.parent_id in desks and isinstance(thread.parent, discord.TextChannel):
                try:
                    starter = await thread.parent.fetch_message(thread.id)
                except discord.HTTPException:
                    starter = None
                if starter is not None and self.user is not None and starter.author.id == self.user.id:
                    titled = [posts.ticket_in_title(embed.title or "") for embed in starter.embeds]
                    found = next(((t, "internal") for t in titled if t is not None), None)
        self._thread_tickets[thread.id] = found
        while len(self._thread_tickets) > THREAD_MEMORY:
            self._thread_tickets.popitem(last=False)
        return found

    async def _publish_link(self, command: TicketCommand) -> None:
        if self.desk is None:
            raise RuntimeError("the staff desk publishes its links through the lifecycle topics")
        await self.publisher.publish_command(command, topic=self.desk.topics.commands)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True, slots=True)
class QueueQuery:
    statuses: tuple[str | None, ...]
    filters: dict[str, str | None]


def queue_filters(view: str, user_id: int, teams: list[Team], routing: Routing | None) -> QueueQuery:
    """The statuses to list, in order, and the read API's filters for a queue view: a submitter's own
    tickets, or the staffer's teams'."""
    if view == "submitted":
        return QueueQuery(statuses=(None,), filters={"submitter": str(user_id)})
    category = ",".join(sorted(team_categories(teams, routing)))
    if view == "mine":
        return QueueQuery(
            statuses=("assigned",), filters={"category": category, "assignee": f"discord:{user_id}"}
        )
    if view == "unassigned":
        return QueueQuery(statuses=("open",), filters={"category": category})
    return QueueQuery(statuses=("open", "assigned"), filters={"category": category})


def team_categories(teams: list[Team], routing: Routing | None) -> set[str]:
    """The categories a staffer's teams take: their own, and for the default team every category no
    other team takes."""
    taken = {c for team in (routing.teams if routing else ()) for c in team.categories}
    chosen: set[str] = set()
    for team in teams:
        chosen |= team.categories
        if team.default:
            chosen |= set(contracts.CATEGORIES) - taken
    return chosen


def queue_page(tickets: TicketsApi, query: QueueQuery, page: int) -> list[TicketState]:
    """One page of a queue, and one ticket more if there is a next page (the listing pages through
    every instance; a later page is counted from the start, bounded by MAX_QUEUE_PAGES)."""
    wanted = min(page, MAX_QUEUE_PAGES) * QUEUE_PAGE
    found: list[TicketState] = []
    for status in query.statuses:
        for state in tickets.tickets(status=status, page_size=QUEUE_PAGE * 5, **query.filters):
            found.append(state)
            if len(found) > wanted + QUEUE_PAGE:
                return found[wanted:]
    return found[wanted:]
