"""sachbearbeiter's settings. Names differ from aufbereitung's (`SOURCE_TOPIC`, `GROUP_ID`) because every
service of a pipeline reads the same ConfigMap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.runtime.settings import Environment


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap: str
    topics: LifecycleTopics
    group_id: str
    metrics_port: int
    log_level: str
    log_format: Literal["json", "text"]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(environ)
        return cls(
            bootstrap=env.bootstrap(),
            topics=topics_from(env),
            group_id=env.text("SACHBEARBEITER_GROUP_ID", "sachbearbeiter"),
            metrics_port=env.metrics_port(),
            log_level=env.log_level(),
            log_format=env.log_format(),
        )


def topics_from(env: Environment) -> LifecycleTopics:
    """The lifecycle topics; the bot and the CLI read the same variables."""
    return LifecycleTopics(
        formatted=env.topic("FORMATTED_TOPIC", contracts.TOPIC_FORMATTED),
        commands=env.topic("COMMANDS_TOPIC", contracts.TOPIC_COMMANDS),
        events=env.topic("EVENTS_TOPIC", contracts.TOPIC_EVENTS),
        state=env.topic("STATE_TOPIC", contracts.TOPIC_STATE),
        dlq=env.topic("COMMANDS_DLQ_TOPIC", contracts.TOPIC_COMMANDS_DLQ),
    )
