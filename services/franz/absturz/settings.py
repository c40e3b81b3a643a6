"""absturz's settings, with the seed's variable names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from franz import contracts
from franz.exceptions import ConfigError
from franz.runtime.secrets import Secret
from franz.runtime.security import KafkaSecurity
from franz.runtime.settings import Environment


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap: str
    errors_topic: str
    security: KafkaSecurity
    topics: tuple[str, ...]
    group_id: str
    webhook_url: Secret
    metrics_port: int
    log_level: str
    log_format: Literal["json", "text"]
    batch_window_seconds: float
    request_timeout_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(environ)
        url = env.text("DISCORD_WEBHOOK_URL")
        if not url.startswith(("https://", "http://")) or "/webhooks/" not in url:
            # Say what is wrong without echoing the value: it holds the webhook's token.
            raise ConfigError(
                "DISCORD_WEBHOOK_URL must be a webhook URL: https://discord.com/api/webhooks/<id>/<token>"
            )
        return cls(
            bootstrap=env.bootstrap(),
            errors_topic=env.errors_topic(),
            security=env.kafka_security(),
            topics=env.topics("KAFKA_TOPICS", f"{contracts.TOPIC_ERRORS},{contracts.TOPIC_FORMATTED_DLQ}"),
            group_id=env.text("CONSUMER_GROUP", "absturz"),
            webhook_url=Secret(url),
            metrics_port=env.metrics_port(),
            log_level=env.log_level(),
            log_format=env.log_format(),
            # Alerts arriving within this window share requests; identical ones collapse into one embed.
            batch_window_seconds=env.number("ALERT_BATCH_WINDOW_SECONDS", 2.0),
            request_timeout_seconds=env.number("DISCORD_REQUEST_TIMEOUT_SECONDS", 10.0, minimum=0.1),
        )
