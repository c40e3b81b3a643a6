"""Pure builders: a `Pipeline` in, the objects and status it should have out. No API calls here."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from franz_operator import access
from franz_operator.constants import (
    ANNOTATION_ACCEPT_TOPIC_IDS,
    ANNOTATION_CONFIG_HASH,
    DEAD_LETTERED_ROLES,
    GROUP,
    KIND,
    LABEL_MANAGED_BY,
    LABEL_PIPELINE,
    LABEL_PIPELINE_NAMESPACE,
    LABEL_ROLE,
    MANAGED_BY,
    SECRET_KEYS,
    STRIMZI_CLUSTER_LABEL,
    STRIMZI_GROUP,
    STRIMZI_VERSION,
    TOPIC_ROLES,
    VERSION,
)
from franz_operator.pipeline import Pipeline, Topic, dead_letter_role, partitions_field, replicas_field

Object = dict[str, Any]
ConditionStatus = Literal["True", "False", "Unknown"]
CONDITION_TYPES = ("TopicsReady", "SecretsReady", "ConfigReady")

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def config_map_name(pipeline: Pipeline) -> str:
    return f"franz-{pipeline.name}-config"


def secret_name(pipeline: Pipeline) -> str:
    return f"franz-{pipeline.name}-secrets"


def labels(pipeline: Pipeline) -> dict[str, str]:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_PIPELINE: pipeline.name,
        LABEL_PIPELINE_NAMESPACE: pipeline.namespace,
    }


def owner_reference(pipeline: Pipeline) -> dict[str, Any]:
    """Ties the ConfigMap and Secret to the pipeline, so Kubernetes' garbage collector removes them with it
    (same namespace only: that is why topics in Strimzi's namespace need the deletion policy instead)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": pipeline.name,
        "uid": pipeline.uid,
        "controller": True,
    }


def service_environment(pipeline: Pipeline) -> dict[str, str]:
    """The services' settings (DESIGN.md §4) for this pipeline; every Deployment reads them with envFrom."""
    name = {role: pipeline.topic(role).name for role in TOPIC_ROLES}
    # With dead-lettering off, rejects go to the errors topic: reported, never lost.
    dead_letters = {
        role: pipeline.topic(dead_letter_role(role)).name
        if pipeline.has_role(dead_letter_role(role))
        else name["errors"]
        for role in DEAD_LETTERED_ROLES
    }
    # Groups carry namespace and name: two pipelines sharing a Kafka cluster must not share a group.
    group_prefix = f"franz-{pipeline.namespace}-{pipeline.name}"
    return desk_environment(pipeline) | {
        "KAFKA_BOOTSTRAP_SERVERS": pipeline.bootstrap_servers,
        # every service reports its operational failures here
        "ERRORS_TOPIC": name["errors"],
        # aufbereitung
        "SOURCE_TOPIC": name["intake"],
        "TARGET_TOPIC": name["formatted"],
        "DLQ_TOPIC": dead_letters["formatted"],
        "GROUP_ID": f"{group_prefix}-aufbereitung",
        # absturz: every topic something is reported from
        "KAFKA_TOPICS": ",".join(dict.fromkeys([name["errors"], *dead_letters.values()])),
        "CONSUMER_GROUP": f"{group_prefix}-absturz",
        # kummerkasten
        "KAFKA_TOPIC": name["intake"],
        "KUMMERKASTEN_GROUP_ID": f"{group_prefix}-kummerkasten",
        # sachbearbeiter (kummerkasten's staff commands use the same topics)
        "FORMATTED_TOPIC": name["formatted"],
        "COMMANDS_TOPIC": name["commands"],
        "EVENTS_TOPIC": name["events"],
        "STATE_TOPIC": name["state"],
        "COMMANDS_DLQ_TOPIC": dead_letters["commands"],
        "SACHBEARBEITER_GROUP_ID": f"{group_prefix}-sachbearbeiter",
        # a secured cluster: which of the files in each service's own Secret to use
        **access.client_environment(pipeline.access),
    }


def desk_environment(pipeline: Pipeline) -> dict[str, str]:
    """kummerkasten's staff desk: the teams as the JSON the bot reads (`DISCORD_TEAMS`), how long a
    submitter may reopen, and whether the bot asks for the Message Content intent."""
    discord = pipeline.discord
    environment = {
        "REOPEN_DAYS": str(discord.get("reopenDays", 7)),
        "DISCORD_MESSAGE_CONTENT": "true" if discord.get("messageContent") else "false",
    }
    if discord.get("teams"):
        environment["DISCORD_TEAMS"] = json.dumps(discord["teams"], separators=(",", ":"), sort_keys=True)
    return environment


def config_map(pipeline: Pipeline) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_map_name(pipeline),
            "namespace": pipeline.namespace,
            "labels": labels(pipeline),
            "ownerReferences": [owner_reference(pipeline)],
        },
        "data": service_environment(pipeline),
    }


def secret(pipeline: Pipeline, values: Mapping[str, str]) -> Object:
    """The pipeline's Secret; `values` maps a spec purpose (discordWebhook, …) to the source's value."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(pipeline),
            "namespace": pipeline.namespace,
            "labels": labels(pipeline),
            "ownerReferences": [owner_reference(pipeline)],
        },
        "data": {SECRET_KEYS[purpose]: _base64(value) for purpose, value in sorted(values.items())},
    }


def config_hash(config_data: Mapping[str, str], secret_data: Mapping[str, str]) -> str:
    """Changes whenever the services' environment does; secret values enter only through a digest."""
    canonical = json.dumps({"config": config_data, "secrets": secret_data}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def rollout_patch(digest: str) -> Object:
    return {"spec": {"template": {"metadata": {"annotations": {ANNOTATION_CONFIG_HASH: digest}}}}}


def kafka_topic_name(topic_name: str) -> str:
    """A Kubernetes name for a Kafka topic: the topic's own name when it is one (as Strimzi names them),
    otherwise a lower-cased form plus a digest, so `discordMSG` and `discordmsg` cannot collide."""
    if _DNS_SUBDOMAIN.match(topic_name):
        return topic_name
    lowered = re.sub(r"[^a-z0-9.-]", "-", topic_name.lower()).strip("-.") or "topic"
    return f"{lowered[:200]}-{hashlib.sha256(topic_name.encode()).hexdigest()[:8]}"


def kafka_topic(pipeline: Pipeline, topic: Topic) -> Object:
    return {
        "apiVersion": f"{STRIMZI_GROUP}/{STRIMZI_VERSION}",
        "kind": "KafkaTopic",
        "metadata": {
            "name": kafka_topic_name(topic.name),
            "namespace": pipeline.strimzi_namespace,
            "labels": {
                **labels(pipeline),
                STRIMZI_CLUSTER_LABEL: pipeline.strimzi_cluster or "",
                LABEL_ROLE: topic.role,
            },
        },
        "spec": {
            "topicName": topic.name,
            "partitions": topic.partitions,
            "replicas": topic.replicas,
            # No config, no key: server-side apply turns an empty map into null, which Strimzi's schema
            # refuses (`spec.config in body must be of type object`) and every later apply with it.
            **({"config": dict(topic.config)} if topic.config else {}),
        },
    }


def owned_by(obj: Mapping[str, Any], pipeline: Pipeline) -> bool:
    found = (obj.get("metadata") or {}).get("labels") or {}
    return bool(
        found.get(LABEL_PIPELINE) == pipeline.name
        and found.get(LABEL_PIPELINE_NAMESPACE) == pipeline.namespace
    )


def owner_of(obj: Mapping[str, Any]) -> str:
    found = (obj.get("metadata") or {}).get("labels") or {}
    if LABEL_PIPELINE not in found:
        return "nobody (created outside Franz)"
    return f"pipeline {found.get(LABEL_PIPELINE_NAMESPACE)}/{found.get(LABEL_PIPELINE)}"


# Why a topic is not ready, most urgent first: TopicsReady=False carries the first that applies.
TOPIC_REASONS = (
    "TopicRecreated",  # its records are gone: someone must look
    "KafkaTopicTerminating",
    "MorePartitionsInKafka",
    "ReplicasChangeNotSupported",
    "NotEnoughBrokers",
    "StrimziNotReconciling",
    "TopicsNotReady",  # waiting, or refused for a reason of its own (the message says which)
)


@dataclass(frozen=True, slots=True)
class TopicState:
    """What the backend found for one topic, as shown in the pipeline's status."""

    role: str
    name: str
    partitions: int
    replicas: int
    ready: bool
    message: str = ""
    reason: str = "TopicsNotReady"  # one of TOPIC_REASONS; read only while not ready
    topic_id: str = ""  # Kafka's id of the topic, once known
    new_topic_id: str = ""  # set while the topic is recreated and its new id not yet accepted

    def as_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "role": self.role,
            "name": self.name,
            "partitions": self.partitions,
            "replicas": self.replicas,
            "ready": self.ready,
        }
        if self.topic_id:
            entry["topicId"] = self.topic_id
        if self.new_topic_id:
            entry["newTopicId"] = self.new_topic_id
        if self.message:
            entry["message"] = self.message
        return entry


WAITING_FOR_STRIMZI = "waiting for Strimzi"


def strimzi_topic_state(topic: Topic, found: Mapping[str, Any]) -> TopicState:
    """A topic's state from its KafkaTopic as Strimzi's topic operator reports it."""
    status = found.get("status") or {}
    spec = found.get("spec") or {}
    partitions, replicas = int(spec.get("partitions", 0)), int(spec.get("replicas", 0))
    state = TopicState(
        topic.role,
        topic.name,
        partitions,
        replicas,
        False,
        WAITING_FOR_STRIMZI,
        topic_id=status.get("topicId", ""),
    )
    generation = (found.get("metadata") or {}).get("generation")
    if status.get("observedGeneration") != generation:
        return state
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        return state
    if ready.get("status") == "True":
        return replace(state, ready=True, message="")
    reason, message = ready.get("reason") or "NotReady", ready.get("message") or "no message"
    quoted = f"Strimzi: {reason}: {message}"
    if reason == "NotSupported" and "Decreasing partitions" in message:
        return replace(
            state, reason="MorePartitionsInKafka", message=more_partitions_in_kafka(topic, None, quoted)
        )
    if reason == "NotSupported" and "Replication factor change" in message:
        fix = (
            f"Strimzi changes replicas only with Cruise Control ({quoted}): set {replicas_field(topic.role)} "
            "back to the topic's replication factor, or enable Cruise Control in the Kafka resource"
        )
        return replace(state, reason="ReplicasChangeNotSupported", message=fix)
    if "InvalidReplicationFactor" in message:
        return replace(state, reason="NotEnoughBrokers", message=not_enough_brokers(topic, quoted))
    return replace(state, message=quoted)


def more_partitions_in_kafka(topic: Topic, in_kafka: int | None, cause: str) -> str:
    """Kafka holds more partitions than the spec (added behind the pipeline's back): the spec must grow."""
    count = f"{in_kafka} partitions" if in_kafka is not None else "more partitions"
    return (
        f"the topic has {count} in Kafka, the spec asks for {topic.partitions} ({cause}): Kafka cannot "
        f"remove partitions; raise {partitions_field(topic.role)} to at least "
        f"{in_kafka if in_kafka is not None else 'the count in Kafka'}"
    )


def not_enough_brokers(topic: Topic, cause: str) -> str:
    return (
        f"cannot create: Kafka has fewer brokers than the {topic.replicas} replicas asked for ({cause}): "
        f"set {replicas_field(topic.role)} to at most the number of brokers, or add brokers"
    )


def strimzi_not_reconciling(
    pipeline: Pipeline, found: Sequence[Mapping[str, Any]], *, now: str, grace_seconds: float
) -> str | None:
    """Why no KafkaTopic of the pipeline was ever reconciled, once none was for `grace_seconds` (`now` and
    creation times in RFC 3339): the topic operator watches one namespace and one cluster label, and
    silence is all a wrong one gives."""
    created = [t["metadata"]["creationTimestamp"] for t in found if t["metadata"].get("creationTimestamp")]
    if not created or any(t.get("status") for t in found):
        return None
    oldest = min(datetime.fromisoformat(stamp) for stamp in created)
    if (datetime.fromisoformat(now) - oldest).total_seconds() < grace_seconds:
        return None
    return (
        f"Strimzi has reconciled none of the pipeline's {len(found)} KafkaTopics in {grace_seconds:.0f} s: "
        f"they are in namespace {pipeline.strimzi_namespace}; spec.kafka.strimzi.namespace must name the "
        "namespace Strimzi's topic operator watches (its Kafka's, as a rule) and spec.kafka.strimzi.cluster "
        f"the Kafka resource ({pipeline.strimzi_cluster})"
    )


@dataclass(frozen=True, slots=True)
class Recreation:
    """A topic found with another id than the one the pipeline recorded: it was deleted, its records too."""

    name: str
    old_id: str
    new_id: str


def track_topic_ids(
    pipeline: Pipeline, previous: Mapping[str, Any], states: Sequence[TopicState]
) -> tuple[list[TopicState], list[Recreation]]:
    """Each topic keeps the id recorded in the status until the user accepts a new one; a topic found
    with another id is not ready (TopicRecreated). Returns the states and the recreations not reported
    before (each becomes one Event and one count)."""
    recorded = {entry.get("name"): entry for entry in previous.get("topics") or []}
    tracked: list[TopicState] = []
    new: list[Recreation] = []
    for state in states:
        before = recorded.get(state.name) or {}
        old_id, seen = before.get("topicId", ""), state.topic_id
        if not seen or not old_id or seen == old_id or seen in pipeline.accepted_topic_ids:
            tracked.append(replace(state, topic_id=seen or old_id))
            continue
        if before.get("newTopicId") != seen:
            new.append(Recreation(state.name, old_id, seen))
        accept = ",".join(sorted({*pipeline.accepted_topic_ids, seen}))
        message = (
            f"topic {state.name} was deleted and created again in Kafka (topicId {old_id} is now {seen}): "
            "the records it held are gone. Restore them if you need them (replay the source, or a backup), "
            f"then accept the new topic: kubectl annotate fp {pipeline.name} -n {pipeline.namespace} "
            f"--overwrite {ANNOTATION_ACCEPT_TOPIC_IDS}={accept}"
        )
        tracked.append(
            replace(
                state,
                ready=False,
                reason="TopicRecreated",
                message=message,
                topic_id=old_id,
                new_topic_id=seen,
            )
        )
    return tracked, new


def topics_condition(states: Sequence[TopicState]) -> Condition:
    waiting = [state for state in states if not state.ready]
    if not waiting:
        return Condition.of("TopicsReady", True, "Ready", f"{len(states)} topics ready")
    reason = min((state.reason for state in waiting), key=TOPIC_REASONS.index)
    message = "; ".join(f"{state.name}: {state.message}" for state in waiting)
    return Condition.of("TopicsReady", False, reason, message)


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str

    @classmethod
    def of(cls, type_: str, ok: bool, reason: str, message: str) -> Condition:
        return cls(type_, "True" if ok else "False", reason, message)


def ready_condition(conditions: Sequence[Condition]) -> Condition:
    failing = [c for c in conditions if c.status != "True"]
    if not failing:
        return Condition("Ready", "True", "Reconciled", "topics, secrets and config are in place")
    return Condition(
        "Ready", "False", failing[0].reason, "; ".join(f"{c.type}: {c.message}" for c in failing)
    )


def merge_conditions(
    previous: Iterable[Mapping[str, Any]], current: Sequence[Condition], *, generation: int, now: str
) -> list[dict[str, Any]]:
    """Conditions for the status; a condition keeps its lastTransitionTime while its status holds."""
    before = {c.get("type"): c for c in previous}
    merged = []
    for condition in current:
        old = before.get(condition.type) or {}
        unchanged = old.get("status") == condition.status and old.get("lastTransitionTime")
        merged.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "observedGeneration": generation,
                "lastTransitionTime": old["lastTransitionTime"] if unchanged else now,
            }
        )
    return merged


def status(
    pipeline: Pipeline,
    *,
    previous: Mapping[str, Any],
    conditions: Sequence[Condition],
    topics: Sequence[TopicState],
    now: str,
) -> dict[str, Any]:
    every = [*conditions, ready_condition(conditions)]
    return {
        "observedGeneration": pipeline.generation,
        "topicsReady": f"{sum(t.ready for t in topics)}/{len(topics)}",
        "conditions": merge_conditions(
            previous.get("conditions") or [], every, generation=pipeline.generation, now=now
        ),
        "topics": [topic.as_status() for topic in topics],
    }


def transitions(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[Condition]:
    """The conditions whose status changed (or appeared): each becomes one Kubernetes Event."""
    before = {c.get("type"): c.get("status") for c in previous.get("conditions") or []}
    return [
        Condition(c["type"], c["status"], c["reason"], c["message"])
        for c in current.get("conditions") or []
        if before.get(c["type"]) != c["status"]
    ]


def _base64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()
