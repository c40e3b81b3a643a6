"""The Discord edge: slash commands, the modal, command registration, and the submit flow.

Every submission defers first (ephemeral, "thinking"), because Discord allows 3 seconds for the first
answer and Kafka may be slower than that; the confirmation follows only after the broker acknowledged
the record. Replies go to the submitter alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from franz import contracts
from franz.contracts import ContractError
from franz.intake import PublishError
from franz.kummerkasten import core, metrics
from franz.kummerkasten.publisher import IntakePublisher

log = logging.getLogger(__name__)

Submit = Callable[[discord.Interaction, str, str | None, str | None], Awaitable[None]]


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


def build_tree(client: discord.Client, submit: Submit) -> app_commands.CommandTree[Any]:
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

    return tree


def command_payloads() -> list[dict[str, Any]]:
    """Exactly what would be registered, built without a connection to Discord."""
    client = discord.Client(intents=discord.Intents.default())

    async def no_submit(
        interaction: discord.Interaction, message: str, category: str | None, priority: str | None
    ) -> None:
        raise RuntimeError("not connected")

    tree = build_tree(client, no_submit)
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
    ) -> None:
        # Default intents: slash commands and modals need no privileged intent.
        super().__init__(intents=discord.Intents.default())
        self.publisher = publisher
        self.cooldown = cooldown
        self.guild_id = guild_id
        self.force_sync = force_sync
        self.clock = clock
        self.tree = build_tree(self, self.submit)

    async def setup_hook(self) -> None:
        await self.register_commands()
        await self.publisher.connect()

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
