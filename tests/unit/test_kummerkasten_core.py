"""The bot's pure core: cooldowns, replies, and command comparison."""

from __future__ import annotations

import logging

from franz import contracts
from franz.devstack.stack import default_services
from franz.kummerkasten import core
from franz.kummerkasten.bot import command_payloads
from franz.runtime.logs import JsonFormatter, configure_logging


def test_cooldown_spaces_tickets_per_user_and_forgets_old_entries() -> None:
    cooldown = core.Cooldown(30)
    assert cooldown.remaining(1, now=100) == 0
    cooldown.start(1, now=100)
    assert cooldown.remaining(1, now=110) == 20
    assert cooldown.remaining(2, now=110) == 0
    assert cooldown.remaining(1, now=131) == 0
    cooldown.start(2, now=200)  # user 1's entry is past its cooldown and is dropped
    assert list(cooldown._last) == [2]


def test_replies_say_what_happened() -> None:
    intake = contracts.new_raw_intake(
        username="a", message="x " * 200, source_id="discord:1", priority="high"
    )
    text = core.confirmation("T-ABCDE-FGHJK", intake)
    assert "T-ABCDE-FGHJK" in text
    assert "priority: high" in text
    assert len(text) < 300
    assert "try again" in core.failure()
    assert "wait 13 s" in core.cooling_down(12.2)


def test_registered_commands_compare_equal_to_local_ones_despite_discords_additions() -> None:
    local = command_payloads()
    registered = [
        {
            **command,
            "id": "1",
            "application_id": "2",
            "version": "3",
            "default_member_permissions": None,
            "contexts": None,
            "nsfw": False,
        }
        for command in local
    ]
    assert core.normalised_commands(local) == core.normalised_commands(list(reversed(registered)))
    changed = [dict(local[0], description="something else"), *local[1:]]
    assert core.normalised_commands(local) != core.normalised_commands(changed)


def test_chatty_libraries_stay_at_info_even_when_franz_logs_debug() -> None:
    configure_logging("DEBUG", "json")
    for name in ("discord", "urllib3", "discord.http"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO
    assert logging.getLogger("franz").getEffectiveLevel() == logging.DEBUG


def test_bot_tokens_are_redacted_from_log_lines() -> None:
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
    line = JsonFormatter().format(logging.makeLogRecord({"msg": "login with %s", "args": (token,)}))
    assert token not in line
    assert "[redacted-token]" in line


def test_franz_up_starts_the_bot_only_with_a_token() -> None:
    assert "kummerkasten" not in {spec.name for spec in default_services({})}
    assert "kummerkasten" in {spec.name for spec in default_services({"DISCORD_TOKEN": "x"})}
    assert {"aufbereitung", "absturz"} <= {spec.name for spec in default_services({})}
