"""The Discord edge: slash commands, the modal, command registration, and the submit flow.

Every submission defers first (ephemeral, "thinking"), because Discord allows 3 seconds for the first
answer and Kafka may be slower than that; the confirmation follows only after the broker acknowledged
the record. Replies go to the submitter alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from franz import contracts
from franz.contracts import ContractError, TicketEvent
from franz.kummerkasten import core, metrics
from franz.kummerkasten.desk import TicketDesk
from franz.kummerkasten.publisher import IntakePublisher
from franz.runtime.exceptions import PublishError
from franz.runtime.ticketsapi import TicketsApiError

log = logging.getLogger(__name__)

Submit = Callable[[discord.Interaction, str, str | None, str | None], Awaitable[None]]
# A lifecycle command: the interaction, the command ("status", "assign", …) and its options.
Staff = Callable[[discord.Interaction, str, dict[str, Any]], Awaitable[None]]
# How long a staff member waits for the outcome of a command before being told it is not confirmed yet.
OUTCOME_TIMEOUT_SECONDS = 8.0


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
    ) -> None:
        # Default intents: slash commands and modals need no privileged intent.
        super().__init__(intents=discord.Intents.default())
        self.publisher = publisher
        self.cooldown = cooldown
        self.guild_id = guild_id
        self.force_sync = force_sync
        self.clock = clock
        self.staff_role_id = staff_role_id
        self.desk = desk  # the lifecycle commands need it; without it they answer staff-only
        self.tree = build_tree(self, self.submit, self.lifecycle_command)

    async def setup_hook(self) -> None:
        await self.register_commands()
        await self.publisher.connect()
        if self.desk is not None:
            self.desk.start()

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

    def is_staff(self, user: discord.User | discord.Member) -> bool:
        """The interaction's member payload carries the member's role ids; they are compared directly,
        because the guild's role cache may not be filled (e.g. before the guild arrived on the gateway)."""
        if self.staff_role_id is None or not isinstance(user, discord.Member):
            return False
        return bool(user._roles.has(self.staff_role_id))

    async def lifecycle_command(
        self, interaction: discord.Interaction, command: str, options: dict[str, Any]
    ) -> None:
        """`/ticket-status` for the submitter or staff; assign, close, comment for staff, with the outcome."""
        desk = self.desk
        staff = self.is_staff(interaction.user)
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
                state = await desk.state(ticket_id)
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
        await interaction.response.defer(ephemeral=True, thinking=True)
        fields: dict[str, Any] = {"text": options.get("text")}
        if command == "assign":
            assignee = options.get("to") or interaction.user
            fields = {"assignee": {"id": f"discord:{assignee.id}", "name": assignee.name}}
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

    def closed(self, event: TicketEvent) -> None:
        """Called from the desk's thread for every close: tell the submitter, then let the offset commit."""
        asyncio.run_coroutine_threadsafe(self.tell_submitter(event), self.loop).result(timeout=60)

    async def tell_submitter(self, event: TicketEvent) -> None:
        """A direct message where Discord allows it: people can refuse DMs from server members (403, code
        50007), which is an answer, not a failure to retry."""
        submitter = event["payload"].get("submitter_id")
        if not submitter or not str(submitter).isdigit():
            metrics.CLOSE_NOTICES.labels("no_submitter").inc()
            return
        try:
            channel = await self.create_dm(discord.Object(id=int(submitter)))
            await channel.send(core.closed_notice(event), allowed_mentions=discord.AllowedMentions.none())
        except discord.Forbidden:
            metrics.CLOSE_NOTICES.labels("dms_closed").inc()
            log.info("submitter does not accept direct messages", extra={"ticket_id": event["ticket_id"]})
            return
        except discord.HTTPException as error:
            metrics.CLOSE_NOTICES.labels("failed").inc()
            log.warning(
                "telling the submitter failed",
                extra={"ticket_id": event["ticket_id"], "status": error.status},
            )
            return
        metrics.CLOSE_NOTICES.labels("sent").inc()
