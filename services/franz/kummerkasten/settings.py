"""kummerkasten's settings, with the seed's variable names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from franz import contracts
from franz.exceptions import ConfigError
from franz.runtime.secrets import Secret
from franz.runtime.settings import Environment
from franz.sachbearbeiter.settings import topics_from
from franz.sachbearbeiter.stage import Topics


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
    lifecycle_topics: Topics
    notify_group: str

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
            lifecycle_topics=topics_from(env),
            notify_group=env.text("KUMMERKASTEN_GROUP_ID", "kummerkasten"),
        )


def _snowflake(env: Environment, name: str) -> int | None:
    value = env.optional(name)
    if value is None:
        return None
    if not value.isdigit():
        raise ConfigError(f"{name} must be a Discord id (digits only), got {value!r}")
    return int(value)
