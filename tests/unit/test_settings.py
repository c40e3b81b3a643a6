"""Settings fail at start with one line that names the variable."""

from __future__ import annotations

import pytest

from franz.exceptions import ConfigError
from franz.runtime.settings import Environment


def test_bootstrap_accepts_the_seed_names_in_order_of_precedence() -> None:
    assert Environment({}).bootstrap() == "127.0.0.1:9092"
    assert Environment({"KAFKA_BROKER": "a:1"}).bootstrap() == "a:1"
    assert Environment({"KAFKA_BROKERS": "b:2,c:3", "KAFKA_BROKER": "a:1"}).bootstrap() == "b:2,c:3"
    assert Environment({"KAFKA_BOOTSTRAP_SERVERS": "d:4", "KAFKA_BROKERS": "b:2"}).bootstrap() == "d:4"


@pytest.mark.parametrize(
    ("environ", "read", "variable"),
    [
        ({"KAFKA_BOOTSTRAP_SERVERS": "no-port"}, lambda env: env.bootstrap(), "KAFKA_BOOTSTRAP_SERVERS"),
        ({"METRICS_PORT": "http"}, lambda env: env.integer("METRICS_PORT", 8000), "METRICS_PORT"),
        (
            {"METRICS_PORT": "70000"},
            lambda env: env.integer("METRICS_PORT", 8000, maximum=65535),
            "METRICS_PORT",
        ),
        ({"LOG_LEVEL": "loud"}, lambda env: env.log_level(), "LOG_LEVEL"),
        ({"LOG_FORMAT": "xml"}, lambda env: env.log_format(), "LOG_FORMAT"),
        ({"EXACTLY_ONCE": "maybe"}, lambda env: env.flag("EXACTLY_ONCE"), "EXACTLY_ONCE"),
        ({"SOURCE_TOPIC": "bad topic!"}, lambda env: env.topic("SOURCE_TOPIC", "x"), "SOURCE_TOPIC"),
        ({"KAFKA_TOPICS": " , "}, lambda env: env.topics("KAFKA_TOPICS", "x"), "KAFKA_TOPICS"),
        ({}, lambda env: env.text("DISCORD_WEBHOOK_URL"), "DISCORD_WEBHOOK_URL"),
    ],
)
def test_a_bad_setting_names_its_variable(environ: dict[str, str], read: object, variable: str) -> None:
    with pytest.raises(ConfigError) as failure:
        read(Environment(environ))  # type: ignore[operator]
    assert str(failure.value).startswith(variable)
    assert "\n" not in str(failure.value)


def test_log_level_and_format_are_case_insensitive_with_defaults() -> None:
    assert Environment({"LOG_LEVEL": "debug", "LOG_FORMAT": "TEXT"}).log_level() == "DEBUG"
    assert Environment({"LOG_FORMAT": "TEXT"}).log_format() == "text"
    assert Environment({}).log_format() == "json"


def test_discord_api_base_defaults_to_discord_and_accepts_an_emulator() -> None:
    from franz.kummerkasten.settings import Settings

    assert Settings.from_env({"DISCORD_TOKEN": "t"}).api_base == "https://discord.com/api/v10"
    emulator = Settings.from_env(
        {"DISCORD_TOKEN": "t", "DISCORD_API_BASE": "http://10.200.0.1:8080/api/v10/"}
    )
    assert emulator.api_base == "http://10.200.0.1:8080/api/v10"


@pytest.mark.parametrize(
    "value",
    ["ws://10.200.0.1/gateway", "discord.com/api/v10", "https://", "http://h:port/api", "http://h/?x=1"],
)
def test_discord_api_base_must_be_an_http_url(value: str) -> None:
    from franz.kummerkasten.settings import Settings

    with pytest.raises(ConfigError) as failure:
        Settings.from_env({"DISCORD_TOKEN": "t", "DISCORD_API_BASE": value})
    assert str(failure.value).startswith("DISCORD_API_BASE must be an http(s) URL")
    assert "\n" not in str(failure.value)
