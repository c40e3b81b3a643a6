"""The `admin` topic backend: topics created and altered with Kafka's admin API.

Partitions only grow and configs are set, never removed (a key dropped from the spec keeps its value), so
a mistake in a spec cannot lose data. Clients are kept per bootstrap address (kafka-python's admin client
may be shared by threads): a reconcile of an unchanged pipeline costs a few small requests, no new connection.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import AuthorizationError, KafkaError

from franz.runtime.clients import check_access
from franz.runtime.security import PLAINTEXT, KafkaSecurity, client_config, describe_failure
from franz_operator.builders import TopicState, more_partitions_in_kafka, not_enough_brokers
from franz_operator.exceptions import KafkaUnavailable
from franz_operator.pipeline import Topic

REQUEST_TIMEOUT_MS: Final = 10_000
# Kafka down must become a status quickly, not hold a worker for kafka-python's default 30 s.
BOOTSTRAP_TIMEOUT_MS: Final = 5_000
UNKNOWN_TOPIC: Final = 3
INVALID_REPLICATION_FACTOR: Final = 38
TOPIC_AUTHORIZATION_FAILED: Final = 29
# What the operator's own Kafka user needs on the pipeline's topics when the cluster enforces ACLs.
ADMIN_OPERATIONS: Final = (
    "Create, Describe, Alter, DescribeConfigs, AlterConfigs (Delete for deletionPolicy Delete)"
)


@dataclass(slots=True)
class TopicsResult:
    states: list[TopicState]
    changes: list[str] = field(default_factory=list)  # what this pass did, one line each, for Events


class AdminTopics:
    def __init__(self, *, security: KafkaSecurity = PLAINTEXT) -> None:
        """`security`: the operator's own Kafka identity (KAFKA_SECURITY_PROTOCOL and the rest, read once
        at start), used for every pipeline whose topics it manages through the admin API."""
        self.security = security
        self._clients: dict[str, KafkaAdminClient] = {}
        self._guard = threading.Lock()

    def reconcile(self, bootstrap: str, topics: Sequence[Topic]) -> TopicsResult:
        """Create missing topics, add partitions, set configs; the state of each topic afterwards."""
        try:
            return self._reconcile(self._client(bootstrap), topics)
        except KafkaError as error:
            self._forget(bootstrap)
            raise KafkaUnavailable(self._explain(bootstrap, error)) from error

    def partition_counts(self, bootstrap: str, names: Sequence[str]) -> dict[str, int]:
        """The partitions of each topic that exists: what Kafka holds when Strimzi refuses to shrink it."""
        try:
            described = self._client(bootstrap).describe_topics(list(names))
        except KafkaError as error:
            self._forget(bootstrap)
            raise KafkaUnavailable(f"Kafka at {bootstrap}: {error}") from error
        return {t["name"]: len(t["partitions"]) for t in described if t["error_code"] == 0}

    def delete(self, bootstrap: str, names: Sequence[str]) -> list[str]:
        """Delete the topics; returns those that existed."""
        try:
            result = self._client(bootstrap).delete_topics(list(names), raise_errors=False)
        except KafkaError as error:
            self._forget(bootstrap)
            raise KafkaUnavailable(self._explain(bootstrap, error)) from error
        return [t["name"] for t in result["topics"] if t["error_code"] == 0]

    def close(self) -> None:
        with self._guard:
            for admin in self._clients.values():
                admin.close()
            self._clients.clear()

    def _reconcile(self, admin: KafkaAdminClient, topics: Sequence[Topic]) -> TopicsResult:
        by_name = {topic.name: topic for topic in topics}
        described = {t["name"]: t for t in admin.describe_topics(list(by_name))}
        problems: dict[str, str] = {}
        short_of_brokers: set[str] = set()  # refused for more replicas than brokers: NotEnoughBrokers
        changes: list[str] = []

        for name, found in described.items():
            if found["error_code"] == TOPIC_AUTHORIZATION_FAILED:
                problems[name] = (
                    f"TopicAuthorizationFailed: the operator's Kafka user lacks an ACL on topic {name}; "
                    f"it needs {ADMIN_OPERATIONS}"
                )
        missing = [name for name, found in described.items() if found["error_code"] == UNKNOWN_TOPIC]
        if missing:
            created = admin.create_topics(
                {
                    name: {
                        "num_partitions": by_name[name].partitions,
                        "replication_factor": by_name[name].replicas,
                        "configs": dict(by_name[name].config),
                    }
                    for name in missing
                },
                raise_errors=False,
            )
            for result in created["topics"]:
                if result["error_code"] == INVALID_REPLICATION_FACTOR:
                    topic = by_name[result["name"]]
                    problems[topic.name] = not_enough_brokers(topic, result["error_message"])
                    short_of_brokers.add(topic.name)
                elif result["error_code"] != 0:
                    problems[result["name"]] = f"cannot create: {result['error_message']}"
                else:
                    changes.append(f"created topic {result['name']}")
            # Only the created ones: waiting for a refused topic to appear would time out as Kafka down.
            made = [result["name"] for result in created["topics"] if result["error_code"] == 0]
            if made:
                admin.wait_for_topics(made, timeout_ms=REQUEST_TIMEOUT_MS)
            described.update({t["name"]: t for t in admin.describe_topics(missing)})

        grow = {
            name: by_name[name].partitions
            for name, found in described.items()
            if found["error_code"] == 0 and len(found["partitions"]) < by_name[name].partitions
        }
        if grow:
            response = admin.create_partitions(grow, raise_errors=False)
            for result in response.results:
                if result.error_code != 0:
                    problems[result.name] = f"cannot add partitions: {result.error_message}"
                else:
                    changes.append(f"topic {result.name} now has {grow[result.name]} partitions")
            described.update({t["name"]: t for t in admin.describe_topics(list(grow))})

        existing = [name for name, found in described.items() if found["error_code"] == 0]
        problems.update(self._apply_configs(admin, [by_name[name] for name in existing], changes))
        states = [
            self._state(topic, described.get(topic.name), problems.get(topic.name), short_of_brokers)
            for topic in topics
        ]
        return TopicsResult(states, changes)

    @staticmethod
    def _apply_configs(
        admin: KafkaAdminClient, topics: Sequence[Topic], changes: list[str]
    ) -> dict[str, str]:
        wanted = [topic for topic in topics if topic.config]
        if not wanted:
            return {}
        current = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic.name) for topic in wanted]
        ).get("topic", {})
        resources = []
        for topic in wanted:
            found = current.get(topic.name, {})
            differing = {
                key: value
                for key, value in topic.config.items()
                if (found.get(key) or {}).get("value") != value
            }
            if differing:
                resources.append(ConfigResource(ConfigResourceType.TOPIC, topic.name, configs=differing))
        if not resources:
            return {}
        problems = {}
        try:
            results = admin.alter_configs(resources, raise_on_unknown=True).get("topic", {})
        except ValueError as error:  # an unknown or read-only key: the spec is wrong, not Kafka
            return {resource.name: f"cannot set config: {error}" for resource in resources}
        for name, result in results.items():
            if result != "OK":
                problems[name] = f"cannot set config: {result}"
            else:
                changes.append(f"set config of topic {name}")
        return problems

    @staticmethod
    def _state(
        topic: Topic, found: dict[str, Any] | None, problem: str | None, short_of_brokers: set[str]
    ) -> TopicState:
        if found is None or found["error_code"] != 0:
            reason = "NotEnoughBrokers" if topic.name in short_of_brokers else "TopicsNotReady"
            return TopicState(
                topic.role, topic.name, 0, 0, False, problem or "topic does not exist", reason=reason
            )
        partitions = len(found["partitions"])
        replicas = len(found["partitions"][0]["replica_nodes"]) if found["partitions"] else 0
        state = TopicState(
            topic.role, topic.name, partitions, replicas, True, topic_id=found["topic_id"] or ""
        )
        if problem:
            return replace(state, ready=False, message=problem)
        if partitions > topic.partitions:
            message = more_partitions_in_kafka(topic, partitions, "added outside the pipeline")
            return replace(state, ready=False, reason="MorePartitionsInKafka", message=message)
        if replicas != topic.replicas:
            message = f"{replicas} replicas, the spec asks for {topic.replicas}: reassign with Kafka's tools"
            return replace(state, message=message)
        return state

    def _client(self, bootstrap: str) -> KafkaAdminClient:
        with self._guard:
            if bootstrap not in self._clients:
                self._clients[bootstrap] = KafkaAdminClient(
                    bootstrap_servers=bootstrap,
                    client_id="franz-operator",
                    **client_config(self.security),
                    request_timeout_ms=REQUEST_TIMEOUT_MS,
                    bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                )
            return self._clients[bootstrap]

    def _explain(self, bootstrap: str, error: KafkaError) -> str:
        """Kafka's error as one line; for a client that never connected, why (address, CA, credentials)."""
        if isinstance(error, AuthorizationError):
            return f"Kafka at {bootstrap}: {describe_failure(error)}"
        return f"Kafka at {bootstrap}: {check_access(bootstrap, self.security) or error}"

    def _forget(self, bootstrap: str) -> None:
        """A client that failed is closed, so the next attempt starts from a fresh connection."""
        with self._guard:
            admin = self._clients.pop(bootstrap, None)
        if admin is not None:
            admin.close()
