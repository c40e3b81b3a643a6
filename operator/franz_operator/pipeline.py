"""A FranzPipeline's spec read into frozen, typed values: the one place that knows the raw shape.

The API server has already applied the schema's defaults and rules, so this only fills what the schema
cannot (a topic's partitions and replicas fall back to `topicDefaults`) and derives the dead-letter topics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from franz_operator import access
from franz_operator.access import PLAINTEXT_ACCESS, KafkaAccess
from franz_operator.constants import (
    ANNOTATION_ACCEPT_TOPIC_IDS,
    DEAD_LETTERED_ROLES,
    PARTITIONED_LIKE_FORMATTED,
    ROLE_CONFIGS,
    TOPIC_ROLES,
)


@dataclass(frozen=True, slots=True)
class Topic:
    role: str  # a key of TOPIC_ROLES, or `<role>-dlq` for a dead-letter topic
    name: str
    partitions: int
    replicas: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SecretRef:
    purpose: str  # the spec's key: discordWebhook, discordBotToken
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class Pipeline:
    namespace: str
    name: str
    uid: str
    generation: int
    bootstrap_servers: str
    backend: Literal["strimzi", "admin"]
    strimzi_cluster: str | None
    strimzi_namespace: str  # where KafkaTopics live; the pipeline's own namespace unless the spec says
    topics: tuple[Topic, ...]
    secrets: tuple[SecretRef, ...]
    deletion_policy: Literal["Retain", "Delete"]
    discord: Mapping[str, Any] = field(default_factory=dict)  # spec.discord as applied (teams, reopen)
    accepted_topic_ids: frozenset[str] = frozenset()  # recreated topics whose new id the user accepted
    access: KafkaAccess = PLAINTEXT_ACCESS  # spec.kafka.tls, authentication and users

    def topic(self, role: str) -> Topic:
        return next(topic for topic in self.topics if topic.role == role)

    def has_role(self, role: str) -> bool:
        return any(topic.role == role for topic in self.topics)


def dead_letter_role(role: str) -> str:
    return f"{role}-dlq"


def partition_mismatches(pipeline: Pipeline) -> list[str]:
    """sachbearbeiter reads these topics side by side by ticket id, so their partitions must agree."""
    formatted = pipeline.topic("formatted")
    return [
        f"{topic.name} has {topic.partitions} partitions but {formatted.name} has {formatted.partitions}: "
        f"spec.topics.{topic.role}.partitions must equal spec.topics.formatted.partitions"
        for topic in pipeline.topics
        if topic.role in PARTITIONED_LIKE_FORMATTED and topic.partitions != formatted.partitions
    ]


def from_body(body: Mapping[str, Any]) -> Pipeline:
    """Read a FranzPipeline object (as the API returns it, defaults applied) into a `Pipeline`."""
    metadata = body["metadata"]
    spec = body.get("spec") or {}
    kafka = spec["kafka"]
    strimzi = kafka.get("strimzi") or {}
    defaults = spec.get("topicDefaults") or {}
    default_partitions = int(defaults.get("partitions", 3))
    default_replicas = int(defaults.get("replicas", 3))
    default_config = dict(defaults.get("config") or {})
    declared = spec.get("topics") or {}

    formatted_partitions = int((declared.get("formatted") or {}).get("partitions", default_partitions))
    topics: list[Topic] = []
    for role, seed_name in TOPIC_ROLES.items():
        topic = declared.get(role) or {}
        partitions = formatted_partitions if role in PARTITIONED_LIKE_FORMATTED else default_partitions
        topics.append(
            Topic(
                role=role,
                name=topic.get("name", seed_name),
                partitions=int(topic.get("partitions", partitions)),
                replicas=int(topic.get("replicas", default_replicas)),
                config={**default_config, **ROLE_CONFIGS[role], **(topic.get("config") or {})},
            )
        )
    dead_letter = spec.get("deadLetter") or {}
    if dead_letter.get("enabled", True):
        suffix = dead_letter.get("suffix", "-dlq")
        for role in DEAD_LETTERED_ROLES:
            output = next(topic for topic in topics if topic.role == role)
            topics.append(
                Topic(
                    role=dead_letter_role(role),
                    name=f"{output.name}{suffix}",
                    # Dead letters are rare; they need the defaults, not the output topic's throughput.
                    partitions=default_partitions,
                    replicas=default_replicas,
                    config={**default_config, **(dead_letter.get("config") or {})},
                )
            )
    secrets = tuple(
        SecretRef(purpose=purpose, name=ref["name"], key=ref.get("key", default_key))
        for purpose, default_key in (("discordWebhook", "url"), ("discordBotToken", "token"))
        if (ref := (spec.get("secrets") or {}).get(purpose))
    )
    return Pipeline(
        namespace=metadata["namespace"],
        name=metadata["name"],
        uid=metadata.get("uid", ""),
        generation=int(metadata.get("generation", 0)),
        bootstrap_servers=kafka["bootstrapServers"],
        backend="admin" if kafka.get("topicBackend") == "admin" else "strimzi",
        strimzi_cluster=strimzi.get("cluster"),
        strimzi_namespace=strimzi.get("namespace") or metadata["namespace"],
        topics=tuple(topics),
        secrets=secrets,
        deletion_policy="Delete" if spec.get("deletionPolicy") == "Delete" else "Retain",
        discord=dict(spec.get("discord") or {}),
        accepted_topic_ids=accepted_topic_ids(body),
        access=access.from_spec(kafka),
    )


def accepted_topic_ids(body: Mapping[str, Any]) -> frozenset[str]:
    annotation = ((body["metadata"].get("annotations") or {}).get(ANNOTATION_ACCEPT_TOPIC_IDS)) or ""
    return frozenset(part.strip() for part in annotation.split(",") if part.strip())


def partitions_field(role: str) -> str:
    """The spec field that sets a topic's partitions (dead-letter topics take topicDefaults')."""
    return f"spec.topics.{role}.partitions" if role in TOPIC_ROLES else "spec.topicDefaults.partitions"


def replicas_field(role: str) -> str:
    """Where a topic's replicas come from: its own field, else topicDefaults (dead-letter topics: always)."""
    if role in TOPIC_ROLES:
        return f"spec.topics.{role}.replicas (or spec.topicDefaults.replicas)"
    return "spec.topicDefaults.replicas"
