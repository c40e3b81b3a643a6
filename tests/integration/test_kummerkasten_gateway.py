"""`franz kummerkasten` as a real process: it reaches the local Discord emulator through DISCORD_API_BASE,
connects through the emulator's gateway as discord.py does with Discord, and answers a `/ticket` delivered
as INTERACTION_CREATE, with the record on the real broker."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from franz import contracts
from franz.devstack.discord_api import EPHEMERAL, DiscordApiThread, InteractionRecord, LocalDiscordApi
from franz.devstack.discord_gateway import AUTHENTICATION_FAILED
from tests.helpers import ServiceProcess, read_topic, wait_until
from tests.integration.test_kummerkasten import GUILD_ID, interaction, slash, user

TOKEN = "gateway-test-token"  # the emulator's bot token


@contextmanager
def bot_process(
    emulator: DiscordApiThread, bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, *, token: str
) -> Iterator[tuple[ServiceProcess, str]]:
    intake = new_topic("intake")
    process = ServiceProcess(
        "kummerkasten",
        env={
            "DISCORD_TOKEN": token,
            "DISCORD_API_BASE": emulator.base,
            "DISCORD_GUILD_ID": str(GUILD_ID),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC": intake,
            "COMMANDS_TOPIC": new_topic("commands"),
            "EVENTS_TOPIC": new_topic("events"),
            "STATE_TOPIC": new_topic("state"),
            "KUMMERKASTEN_GROUP_ID": f"bot-{uuid.uuid4().hex[:8]}",
        },
        log_dir=tmp_path,
    )
    process.start()
    try:
        yield process, intake
    finally:
        process.stop()


def answered(emulator: DiscordApiThread, interaction_id: str) -> InteractionRecord:
    def confirmed() -> InteractionRecord | None:
        record = emulator.interaction(interaction_id)
        return record if record.followups else None

    return wait_until(confirmed, timeout=60)


def test_the_bot_process_connects_through_the_gateway_and_answers_a_ticket_in_time(
    bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    api = LocalDiscordApi(token=TOKEN, guild_ids=[GUILD_ID], heartbeat_interval_ms=500)
    with (
        DiscordApiThread(api) as emulator,
        bot_process(emulator, bootstrap, new_topic, tmp_path, token=TOKEN) as (bot, intake),
    ):
        emulator.wait_until_connected(timeout=120)  # READY sent: login, registration and Kafka came first
        assert "ticket" in {command["name"] for command in emulator.commands()[str(GUILD_ID)]}
        # discord.py asks for zlib-stream; the emulator compresses for real and the bot reads it.
        assert emulator.read(lambda a: a.gateway.queries)[0] == {
            "v": "10",
            "encoding": "json",
            "compress": "zlib-stream",
        }

        payload = interaction(slash("Printer on fire", category="bug"), application_id=api.application_id)
        emulator.dispatch_interaction(payload)
        record = answered(emulator, payload["id"])
        # The emulator refuses a first answer after 3 s (404, code 10062): an accepted one was in time.
        [defer] = record.callbacks
        assert defer["type"] == 5
        assert defer["data"]["flags"] & EPHEMERAL
        [confirmation] = record.followups
        assert confirmation["flags"] & EPHEMERAL
        assert contracts.ticket_id_for(f"discord:{payload['id']}") in confirmation["content"]
        [published] = read_topic(bootstrap, intake, expected=1)
        assert published.key == f"discord:{payload['id']}".encode()
        assert json.loads(published.value)["message"] == "Printer on fire"

        # Heartbeats flow: discord.py beats every 0.5 s here, and every beat is acknowledged.
        wait_until(lambda: emulator.read(lambda a: a.gateway.heartbeat_acks) >= 5, timeout=30)

        # RECONNECT: the bot resumes its session (no new IDENTIFY) and goes on answering.
        emulator.request_reconnect()
        wait_until(lambda: emulator.read(lambda a: (a.gateway.resumes, a.gateway.connected())) == (1, 1))
        after = interaction(
            slash("Still on fire"), author=user(5151, "bob"), application_id=api.application_id
        )
        emulator.dispatch_interaction(after)
        assert answered(emulator, after["id"]).callbacks[0]["type"] == 5
        assert len(emulator.read(lambda a: a.gateway.identifies)) == 1

        # INVALID_SESSION: the bot identifies anew, at the URL /gateway/bot gave (discord.py's fallback).
        emulator.invalidate_sessions()
        wait_until(
            lambda: emulator.read(lambda a: (len(a.gateway.identifies), a.gateway.connected())) == (2, 1),
            timeout=60,
        )
        last = interaction(slash("Fire is out"), author=user(6161, "eve"), application_id=api.application_id)
        emulator.dispatch_interaction(last)
        assert answered(emulator, last["id"]).callbacks[0]["type"] == 5
        assert bot.stop() == 0, "SIGTERM closes the gateway and exits 0"


def test_a_wrong_token_is_closed_with_4004_and_the_bot_exits_naming_the_variable(
    bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    wrong = "not-the-bots-token"
    with (
        DiscordApiThread(LocalDiscordApi(token=TOKEN)) as emulator,
        bot_process(emulator, bootstrap, new_topic, tmp_path, token=wrong) as (bot, _),
    ):
        assert bot.wait(timeout=120) == 2
        assert emulator.read(lambda a: a.gateway.close_codes) == [AUTHENTICATION_FAILED]
        assert emulator.read(lambda a: a.gateway.connected()) == 0
    log = bot.log_path.read_text()
    assert "DISCORD_TOKEN was refused by Discord's gateway (4004 Authentication failed)" in log
    assert wrong not in log, "the token never reaches the log"


def test_the_gateway_url_names_the_address_the_client_used() -> None:
    """A bot in a pod reaches the emulator through a forwarded address; the URL it is told must be that."""
    with DiscordApiThread(host="0.0.0.0") as emulator:
        forwarded = f"10.200.0.1:{emulator.port}"
        answers = []
        for path in ("/api/v10/gateway", "/api/v10/gateway/bot"):
            request = urllib.request.Request(
                f"http://127.0.0.1:{emulator.port}{path}",
                headers={"Host": forwarded, "Authorization": "Bot x"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                answers.append(json.load(response))
    assert [answer["url"] for answer in answers] == [f"ws://{forwarded}/gateway"] * 2
    assert answers[1]["shards"] == 1
    limit = answers[1]["session_start_limit"]
    assert (limit["total"], limit["remaining"], limit["max_concurrency"]) == (1000, 1000, 1)
    assert 0 < limit["reset_after"] <= 86_400_000
