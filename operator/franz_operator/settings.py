"""The operator's settings, from the environment like every Franz service's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from franz.runtime.security import KafkaSecurity
from franz.runtime.settings import Environment


@dataclass(frozen=True, slots=True)
class Settings:
    metrics_port: int
    log_level: str
    log_format: Literal["json", "text"]
    resync_seconds: float
    workers: int
    strimzi_grace_seconds: float  # how long KafkaTopics may go unreconciled before the status says why
    namespaces: tuple[str, ...]  # empty: every namespace
    security: KafkaSecurity  # the admin topic backend's Kafka identity

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(environ)
        namespaces = env.text("OPERATOR_NAMESPACES", "")
        return cls(
            metrics_port=env.metrics_port(),
            log_level=env.log_level(),
            log_format=env.log_format(),
            resync_seconds=env.number("OPERATOR_RESYNC_SECONDS", 30.0, minimum=1.0),
            workers=env.integer("OPERATOR_WORKERS", 4, minimum=1, maximum=64),
            strimzi_grace_seconds=env.number("OPERATOR_STRIMZI_GRACE_SECONDS", 60.0, minimum=1.0),
            namespaces=tuple(n.strip() for n in namespaces.split(",") if n.strip()),
            security=env.kafka_security(),
        )
