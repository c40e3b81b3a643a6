"""aufbereitung's settings, with the seed's variable names so upstream deployments keep working."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from franz import contracts
from franz.runtime.security import KafkaSecurity
from franz.runtime.settings import Environment


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap: str
    errors_topic: str
    security: KafkaSecurity
    source_topic: str
    target_topic: str
    dlq_topic: str
    group_id: str
    metrics_port: int
    log_level: str
    log_format: Literal["json", "text"]
    exactly_once: bool
    transactional_id: str
    message_max_chars: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(environ)
        group_id = env.text("GROUP_ID", "discord-aufbereitung")
        return cls(
            bootstrap=env.bootstrap(),
            errors_topic=env.errors_topic(),
            security=env.kafka_security(),
            source_topic=env.topic("SOURCE_TOPIC", contracts.TOPIC_INTAKE),
            target_topic=env.topic("TARGET_TOPIC", contracts.TOPIC_FORMATTED),
            dlq_topic=env.topic("DLQ_TOPIC", contracts.TOPIC_FORMATTED_DLQ),
            group_id=group_id,
            metrics_port=env.metrics_port(),
            log_level=env.log_level(),
            log_format=env.log_format(),
            exactly_once=env.flag("EXACTLY_ONCE"),
            # Stable per instance (a StatefulSet or pod name in Kubernetes), so a restarted instance fences
            # its predecessor's open transaction instead of leaving it to time out.
            transactional_id=env.text("TRANSACTIONAL_ID", f"{group_id}-{socket.gethostname()}"),
            # A team may want shorter tickets than the contract allows; longer ones are dead-lettered.
            message_max_chars=env.integer(
                "MESSAGE_MAX_CHARS",
                contracts.MESSAGE_MAX_CHARS,
                minimum=1,
                maximum=contracts.MESSAGE_MAX_CHARS,
            ),
        )
