"""`franz kummerkasten`: run the bot, or print its command definitions."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal

import discord
import discord.http
import yarl
from discord.gateway import DiscordWebSocket

from franz.exceptions import ConfigError
from franz.kummerkasten import core, metrics
from franz.kummerkasten.bot import TicketBot, command_payloads
from franz.kummerkasten.desk import TicketDesk
from franz.kummerkasten.publisher import IntakePublisher
from franz.kummerkasten.settings import Settings
from franz.runtime.errors import error_reporter
from franz.runtime.health import HealthServer
from franz.runtime.logs import configure_logging
from franz.runtime.service import wait_for_kafka
from franz.runtime.ticketsapi import TicketsApi
from franz.runtime.wait import stop_event

log = logging.getLogger(__name__)
AUTHENTICATION_FAILED = 4004  # the gateway's close code for a token it does not accept


def main(args: argparse.Namespace) -> int:
    if args.dump_commands:
        print(json.dumps(command_payloads(), indent=2))
        return 0
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    metrics.initialise()
    discord.http.Route.BASE = settings.api_base
    if wait_for_kafka(
        settings.bootstrap, settings.security, metrics_port=settings.metrics_port, stop=stop_event()
    ):
        return 0
    reporter = error_reporter(
        "kummerkasten", bootstrap=settings.bootstrap, topic=settings.errors_topic, security=settings.security
    )
    publisher = IntakePublisher(
        settings.bootstrap, settings.topic, security=settings.security, reporter=reporter
    )
    desk = TicketDesk(
        bootstrap=settings.bootstrap,
        security=settings.security,
        topics=settings.lifecycle_topics,
        group_id=settings.notify_group,
        on_event=lambda event, maybe_done: bot.desk_event(event, maybe_done),
        reporter=reporter,
    )
    tickets = TicketsApi(settings.tickets_api, timeout=2.0)  # inside Discord's 3 s for an answer
    bot = TicketBot(
        publisher=publisher,
        cooldown=core.Cooldown(settings.cooldown_seconds),
        guild_id=settings.guild_id,
        force_sync=args.sync,
        desk=desk,
        routing=settings.routing,
        tickets=tickets,
        reopen_days=settings.reopen_days,
        message_content=settings.message_content,
    )
    health = HealthServer(
        port=settings.metrics_port, ready=lambda: bot.is_ready() and not bot.is_closed() and publisher.ready()
    ).start()
    log.info("kummerkasten starting", extra={"topic": settings.topic, "guild_id": settings.guild_id})
    try:
        asyncio.run(_run(bot, settings))
    finally:
        desk.stop()
        tickets.close()
        publisher.close()  # flushes: nothing acknowledged to a submitter is left in a buffer
        reporter.close()
        health.stop()
    return 0


async def _run(bot: TicketBot, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
    async with bot:
        try:
            await bot.login(settings.token.reveal())
            await _use_gateway_of_api(bot)
            await bot.connect()
        except discord.LoginFailure:
            raise ConfigError("DISCORD_TOKEN was refused by Discord's API (401 Unauthorized)") from None
        except discord.ConnectionClosed as closed:
            if closed.code != AUTHENTICATION_FAILED:
                raise
            raise ConfigError(
                "DISCORD_TOKEN was refused by Discord's gateway (4004 Authentication failed)"
            ) from None


async def _use_gateway_of_api(bot: TicketBot) -> None:
    """A plain discord.Client always connects to its built-in wss://gateway.discord.gg; Discord documents
    asking the API (`GET /gateway/bot`) for the URL instead, and that is how DISCORD_API_BASE's gateway is
    found. discord.py falls back to this URL too when a session cannot be resumed."""
    _, url, _ = await bot.http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
