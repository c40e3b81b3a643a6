"""`franz kummerkasten`: run the bot, or print its command definitions."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal

from franz.kummerkasten import core
from franz.kummerkasten.bot import TicketBot, command_payloads
from franz.kummerkasten.desk import TicketDesk
from franz.kummerkasten.publisher import IntakePublisher
from franz.kummerkasten.settings import Settings
from franz.runtime.health import HealthServer
from franz.runtime.logs import configure_logging

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dump-commands",
        action="store_true",
        help="print the command payloads that would be registered, as JSON, without connecting to Discord",
    )
    parser.add_argument(
        "--sync", action="store_true", help="register the commands even if they look unchanged"
    )


def main(args: argparse.Namespace) -> int:
    if args.dump_commands:
        print(json.dumps(command_payloads(), indent=2))
        return 0
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    publisher = IntakePublisher(settings.bootstrap, settings.topic)
    desk = TicketDesk(
        bootstrap=settings.bootstrap,
        topics=settings.lifecycle_topics,
        group_id=settings.notify_group,
        on_closed=lambda event: bot.closed(event),
    )
    bot = TicketBot(
        publisher=publisher,
        cooldown=core.Cooldown(settings.cooldown_seconds),
        guild_id=settings.guild_id,
        force_sync=args.sync,
        staff_role_id=settings.staff_role_id,
        desk=desk,
    )
    health = HealthServer(
        port=settings.metrics_port, ready=lambda: bot.is_ready() and not bot.is_closed() and publisher.ready()
    ).start()
    log.info("kummerkasten starting", extra={"topic": settings.topic, "guild_id": settings.guild_id})
    try:
        asyncio.run(_run(bot, settings))
    finally:
        desk.stop()
        publisher.close()  # flushes: nothing acknowledged to a submitter is left in a buffer
        health.stop()
    return 0


async def _run(bot: TicketBot, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
    async with bot:
        await bot.start(settings.token.reveal())
