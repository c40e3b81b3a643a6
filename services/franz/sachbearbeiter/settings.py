"""sachbearbeiter's settings. Names differ from aufbereitung's (`SOURCE_TOPIC`, `GROUP_ID`) because every
service of a pipeline reads the same ConfigMap."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from franz.contracts import LifecycleTopics
from franz.runtime.security import KafkaSecurity
from franz.runtime.settings import Environment


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap: str
    errors_topic: str
    security: KafkaSecurity
    topics: LifecycleTopics
    group_id: str
    store_dir: Path  # the local ticket store; on Kubernetes a PersistentVolume, so a restart keeps it
    metrics_port: int
    log_level: str
    log_format: Literal["json", "text"]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Environment(environ)
        group_id = env.text("SACHBEARBEITER_GROUP_ID", "sachbearbeiter")
        return cls(
            bootstrap=env.bootstrap(),
            errors_topic=env.errors_topic(),
            security=env.kafka_security(),
            topics=env.lifecycle_topics(),
            group_id=group_id,
            store_dir=Path(
                env.text(
                    "SACHBEARBEITER_STORE_DIR",
                    str(Path(tempfile.gettempdir()) / f"franz-sachbearbeiter-{group_id}"),
                )
            ),
            metrics_port=env.metrics_port(),
            log_level=env.log_level(),
            log_format=env.log_format(),
        )
