"""kummerkasten's settings, with the seed's variable names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.exceptions import ConfigError
from franz.runtime import ticketsapi
from franz.runtime.secrets import Secret
from franz.runtime.settings import Environment

DISCORD_API_BASE = "https://discord.com/api/v10"  # discord.py's own `discord.http.Route.BASE`


@dataclass(frozen=True, slots=True)
class Settings:
    token: Secret
    client_id: int | None
    guild_id: int | None
    bootstrap: str
    topic: str
    metrics_port: int
    log_level: str
    log_format: Literal["json", "text"]
    cooldown_seconds: float
    staff_role_id: int | None  # members with this role may assign, close and comment; unset: nobody
    lifecycle_topics: LifecycleTopics
    tickets_api: tuple[str, ...]  # sachbearbeiter's read API, every instance: for /ticket-status
    notify_group: str
    api_base: str  # Discord's HTTP API; the gateway URL is asked from it, so an emulator serves both

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(environ)
        return cls(
            token=Secret(env.text("DISCORD_TOKEN")),
            client_id=_snowflake(env, "DISCORD_CLIENT_ID"),
            guild_id=_snowflake(env, "DISCORD_GUILD_ID"),
            bootstrap=env.bootstrap(),
            topic=env.topic("KAFKA_TOPIC", contracts.TOPIC_INTAKE),
            metrics_port=env.metrics_port(),
            log_level=env.log_level(),
            log_format=env.log_format(),
            cooldown_seconds=env.number("TICKET_COOLDOWN_SECONDS", 30.0),
            staff_role_id=_snowflake(env, "STAFF_ROLE_ID"),
            lifecycle_topics=env.lifecycle_topics(),
            tickets_api=ticketsapi.parse_urls(env.text(ticketsapi.ENV_VAR, ticketsapi.LOCAL_URL)),
            notify_group=env.text("KUMMERKASTEN_GROUP_ID", "kummerkasten"),
            api_base=_api_base(env),
        )


def _snowflake(env: Environment, name: str) -> int | None:
    value = env.optional(name)
    if value is None:
        return None
    if not value.isdigit():
        raise ConfigError(f"{name} must be a Discord id (digits only), got {value!r}")
    return int(value)


def _api_base(env: Environment) -> str:
    value = env.text("DISCORD_API_BASE", DISCORD_API_BASE)
    parts = urlsplit(value)
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number below 65536
        valid = False
    if not valid or parts.query or parts.fragment:
        raise ConfigError(f"DISCORD_API_BASE must be an http(s) URL like {DISCORD_API_BASE}, got {value!r}")
    return value.rstrip("/")  # discord.py appends paths that start with "/"
