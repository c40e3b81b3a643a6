"""The staff desk: from a ticket to its desk post in Discord, the requests it costs, and the bot's memory.

    .venv/bin/python benchmarks/desk.py [--rate 10] [--seconds 30] [--known 100000]

One local broker, one `franz sachbearbeiter` (its read API) and one `franz kummerkasten` as processes,
against the local Discord API. Tickets enter as aufbereitung writes them (`tickets-formatted`), at
`--rate` a second; the latency is from that write to the desk post's creation in the emulator. Two runs:
with Discord's message bucket (5 per 5 s per channel, which caps one desk at a post a second) at one
ticket a second, and with ten times that bucket at `--rate`. Then `--known` more tickets are created
behind the bot's back and its memory is read again: its view of tickets is the read API, so it does not
grow.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from franz import contracts
from franz.devstack import discord_api
from franz.devstack.discord_api import DiscordApiThread, LocalDiscordApi
from franz.devstack.kafka import LocalKafka, ensure_topics
from franz.devstack.process import ManagedProcess, free_port
from franz.runtime.clients import new_producer

sys.path.insert(0, str(Path(__file__).parents[1]))  # run as a script: the repository's root
from benchmarks.operator import rss_mb  # one way to read a process's memory

GUILD = 700_000_000_000_000_001
TOKEN = "bench-token"


def service(name: str, env: dict[str, str], logs: Path) -> ManagedProcess:
    process = ManagedProcess(
        name,
        [sys.executable, "-m", "franz", name],
        log_path=logs / f"{name}.log",
        env={"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json", **env},
    )
    process.start()
    return process


def tickets(count: int, number: int = 0) -> list[contracts.FormattedTicket]:
    made = []
    for offset in range(count):
        intake = contracts.new_raw_intake(
            username="alice",
            message=f"ticket {number + offset}",
            source_id=f"bench:{uuid.uuid4()}",
            user_id="4242",
        )
        made.append(contracts.format_ticket(intake, topic="discordMSG", partition=0, offset=number + offset))
    return made


def run(bootstrap: str, logs: Path, *, rate: float, seconds: float, scale: int, known: int) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    topics = {
        role: f"{role}-{suffix}" for role in ("formatted", "commands", "events", "state", "dlq", "intake")
    }
    configs = {topics["state"]: contracts.TOPIC_CONFIGS[contracts.TOPIC_STATE]}
    ensure_topics(bootstrap, topics.values(), partitions=3, configs=configs)
    api_port = free_port()
    sachbearbeiter = service(
        "sachbearbeiter",
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "FORMATTED_TOPIC": topics["formatted"],
            "COMMANDS_TOPIC": topics["commands"],
            "EVENTS_TOPIC": topics["events"],
            "STATE_TOPIC": topics["state"],
            "COMMANDS_DLQ_TOPIC": topics["dlq"],
            "SACHBEARBEITER_GROUP_ID": f"sach-{suffix}",
            "SACHBEARBEITER_STORE_DIR": str(logs / f"store-{suffix}"),
            "METRICS_PORT": str(api_port),
        },
        logs,
    )
    api = LocalDiscordApi(token=TOKEN, guild_ids=[GUILD])
    api.limits.routes = {
        route: (limit * scale, per) for route, (limit, per) in discord_api.ROUTE_LIMITS.items()
    }
    desk = api.channels.add_channel(GUILD, "support-desk")
    role = api.channels.add_role(GUILD, "Support")
    teams = [{"name": "support", "default": True, "deskChannelId": desk, "staffRoleId": role}]
    with DiscordApiThread(api) as emulator:
        bot_env = {
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": emulator.base,
            "DISCORD_GUILD_ID": str(GUILD),
            "DISCORD_TEAMS": json.dumps(teams),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC": topics["intake"],
            "COMMANDS_TOPIC": topics["commands"],
            "EVENTS_TOPIC": topics["events"],
            "STATE_TOPIC": topics["state"],
            "KUMMERKASTEN_GROUP_ID": f"bot-{suffix}",
            "TICKETS_API_URL": f"http://127.0.0.1:{api_port}",
            "METRICS_PORT": str(free_port()),
        }
        bot = service("kummerkasten", bot_env, logs)
        emulator.wait_until_connected(timeout=120)
        time.sleep(2)  # the bot's event reader has taken its partitions and committed where it starts
        sent: dict[str, float] = {}
        producer = new_producer(bootstrap, client_id="bench")
        count = int(rate * seconds)
        started = time.monotonic()
        for index, ticket in enumerate(tickets(count)):
            time.sleep(max(started + index / rate - time.monotonic(), 0))
            producer.send(
                topics["formatted"], key=ticket["ticket_id"].encode(), value=contracts.encode(ticket)
            )
            producer.flush()
            sent[ticket["ticket_id"]] = time.time()

        def posted(a: LocalDiscordApi) -> dict[str, str]:
            messages = a.channels.channels[desk].messages.values()
            return {m["embeds"][0]["title"][2:]: m["timestamp"] for m in messages if m["embeds"]}

        deadline = time.monotonic() + max(seconds * 3, 120)
        while len(found := emulator.read(posted)) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        latencies = sorted(
            time_of(found[ticket_id]) - at for ticket_id, at in sent.items() if ticket_id in found
        )
        requests_made, limited = emulator.read(lambda a: (a.limits.requests, a.limits.limited_count))
        figures: dict[str, Any] = {
            "tickets": count,
            "posted": len(found),
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
            "requests_per_ticket": requests_made / max(count, 1),
            "429s": limited,
            "bot_rss_mb": rss_mb(bot.pid, "VmRSS"),
        }
        if known:
            # Tickets created while the bot is away; a bot of a new group starts at the end of the log, so
            # it knows of them only through the read API, as of every ticket it did not just see.
            bot.stop()
            for ticket in tickets(known, number=count):
                producer.send(
                    topics["formatted"], key=ticket["ticket_id"].encode(), value=contracts.encode(ticket)
                )
            producer.flush()
            wait_folded(api_port, count + known)
            bot = service("kummerkasten", {**bot_env, "KUMMERKASTEN_GROUP_ID": f"bot-{suffix}-later"}, logs)
            emulator.wait_until_connected(timeout=120)
            time.sleep(5)
            figures["known"] = count + known
            figures["bot_rss_known_mb"] = rss_mb(bot.pid, "VmRSS")
        producer.close()
        bot.stop()
    sachbearbeiter.stop()
    return figures


def wait_folded(port: int, total: int) -> None:
    """Until sachbearbeiter's listing holds `total` tickets (paging through its read API)."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        seen, cursor = 0, None
        while True:
            params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
            page = requests.get(f"http://127.0.0.1:{port}/tickets", params=params, timeout=30).json()
            seen += len(page["tickets"])
            cursor = page["next"]
            if cursor is None:
                break
        if seen >= total:
            return
        time.sleep(5)
    raise TimeoutError(f"sachbearbeiter did not fold {total} tickets in time")


def time_of(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--known", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="franz-bench-desk-") as temp, LocalKafka() as kafka:
        logs = Path(temp)
        real = run(kafka.bootstrap, logs, rate=1.0, seconds=args.seconds, scale=1, known=0)
        print(
            f"Discord's buckets, 1 ticket/s: desk post p50 {real['p50']:.2f} s, p99 {real['p99']:.2f} s; "
            f"{real['requests_per_ticket']:.1f} requests per ticket, {real['429s']} answered 429; "
            f"{real['posted']}/{real['tickets']} posted"
        )
        fast = run(kafka.bootstrap, logs, rate=args.rate, seconds=args.seconds, scale=10, known=args.known)
        print(
            f"ten times Discord's buckets, {args.rate:g} tickets/s: desk post p50 {fast['p50']:.2f} s, "
            f"p99 {fast['p99']:.2f} s; {fast['requests_per_ticket']:.1f} requests per ticket, "
            f"{fast['429s']} answered 429; {fast['posted']}/{fast['tickets']} posted"
        )
        print(f"bot RSS after {fast['tickets']} tickets: {fast['bot_rss_mb']:.1f} MB")
        if args.known:
            print(f"bot RSS with {fast['known']} tickets known: {fast['bot_rss_known_mb']:.1f} MB")


if __name__ == "__main__":
    main()
