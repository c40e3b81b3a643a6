"""Strimzi's KafkaTopic API as the tests install it, and a topic operator that behaves as Strimzi's does.

`TopicOperator` plays Strimzi's unidirectional topic operator (1.0) against the real kube-apiserver and the
real Kafka broker, in what the pipeline's tests depend on, as Strimzi was seen to behave:
- it watches one namespace, and only KafkaTopics labelled `strimzi.io/cluster: <its cluster>`;
- it puts its finalizer `strimzi.io/topic-operator` on each, and when one is deleted it deletes the topic
  in Kafka (records and all) before letting the KafkaTopic go;
- it creates missing topics (a recreated topic is a new, empty one with a new topicId), adds partitions,
  sets the spec's configs and resets every other dynamic topic config to the broker's default;
- it refuses what it cannot do with Strimzi's reasons: `NotSupported` for fewer partitions or other
  replicas (no Cruise Control here), `ResourceConflict` for a second KafkaTopic with a topic's name,
  `KafkaError` with Kafka's exception for what Kafka refuses;
- it reacts to a spec change at once and looks at every topic again each `full_reconcile_seconds` (how
  it notices what changed in Kafka behind its back);
- its status has observedGeneration, topicName, topicId and nanosecond lastTransitionTimes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import for_code

from franz_operator.constants import (
    STRIMZI_CLUSTER_LABEL,
    STRIMZI_GROUP,
    STRIMZI_TOPIC_PLURAL,
    STRIMZI_VERSION,
)
from franz_operator.exceptions import KubeError
from franz_operator.kube import KAFKA_TOPIC, Kube
from tests.helpers import api_client

FINALIZER: Final = "strimzi.io/topic-operator"
TOPIC_ALREADY_EXISTS: Final = 36  # a topic still being deleted: created on a later pass


def kafka_topic_crd() -> dict[str, Any]:
    condition = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "string"},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "lastTransitionTime": {"type": "string"},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{STRIMZI_TOPIC_PLURAL}.{STRIMZI_GROUP}"},
        "spec": {
            "group": STRIMZI_GROUP,
            "scope": "Namespaced",
            "names": {"kind": "KafkaTopic", "plural": STRIMZI_TOPIC_PLURAL, "singular": "kafkatopic"},
            "versions": [
                {
                    "name": STRIMZI_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "topicName": {"type": "string"},
                                        "partitions": {"type": "integer", "minimum": 1},
                                        "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                                        "config": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "conditions": {"type": "array", "items": condition},
                                        "observedGeneration": {"type": "integer"},
                                        "topicName": {"type": "string"},
                                        "topicId": {"type": "string"},
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def strimzi_now() -> str:
    """Strimzi's timestamps: ISO 8601 in UTC with nanoseconds (Java's Instant)."""
    now = time.time_ns()
    seconds = datetime.fromtimestamp(now // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{seconds}.{now % 1_000_000_000:09d}Z"


class Refused(Exception):
    """What Strimzi puts in the Ready condition when it cannot do what the KafkaTopic asks."""

    def __init__(self, reason: str, message: str, *, topic_id: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.topic_id = topic_id  # the topic's, when it exists in Kafka


class TopicOperator:
    """Strimzi's topic operator for one namespace and one Kafka cluster, on a thread of its own."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        bootstrap: str,
        namespace: str,
        cluster: str = "my-cluster",
        full_reconcile_seconds: float = 1.0,
    ) -> None:
        self.namespace = namespace
        self.cluster = cluster
        self._kube = Kube(api_client(kubeconfig))
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="strimzi-topic-operator")
        self._full_reconcile_seconds = full_reconcile_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"strimzi {namespace}", daemon=True)
        self.errors: list[BaseException] = []  # anything unexpected, for the test to see

    def __enter__(self) -> TopicOperator:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=30)
        self._admin.close()
        assert not self.errors, f"the fake topic operator failed: {self.errors!r}"

    def _run(self) -> None:
        last_full = 0.0
        while not self._stopped.wait(0.1):
            full = time.monotonic() - last_full >= self._full_reconcile_seconds
            try:
                self._pass(full=full)
            except KubeError as error:
                if error.status not in (404, 409):  # gone or changed meanwhile: the next pass sees it
                    self.errors.append(error)
            except Exception as error:
                self.errors.append(error)
            if full:
                last_full = time.monotonic()

    def _pass(self, *, full: bool) -> None:
        topics = self._kube.list_objects(
            KAFKA_TOPIC, self.namespace, label_selector=f"{STRIMZI_CLUSTER_LABEL}={self.cluster}"
        )
        # The oldest KafkaTopic of a topic name manages it; a later one is a conflict (Strimzi's rule).
        managers: dict[str, dict[str, Any]] = {}
        for topic in sorted(
            topics, key=lambda t: (t["metadata"]["creationTimestamp"], t["metadata"]["name"])
        ):
            managers.setdefault(topic_name(topic), topic)
        for topic in topics:
            metadata = topic["metadata"]
            manager = managers[topic_name(topic)]
            if metadata.get("deletionTimestamp"):
                self._finalize(topic, manages=manager is topic)
            elif FINALIZER not in (metadata.get("finalizers") or []):
                self._patch_finalizers(topic, [*(metadata.get("finalizers") or []), FINALIZER])
            elif full or (topic.get("status") or {}).get("observedGeneration") != metadata["generation"]:
                self._reconcile(topic, manager)

    def _finalize(self, topic: Mapping[str, Any], *, manages: bool) -> None:
        finalizers = topic["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            return
        if manages:
            name = topic_name(topic)
            self._admin.delete_topics([name], raise_errors=False)
            if any(t["error_code"] == 0 for t in self._admin.describe_topics([name])):
                return  # Kafka is still deleting it: the next pass lets the KafkaTopic go
        self._patch_finalizers(topic, [f for f in finalizers if f != FINALIZER])

    def _patch_finalizers(self, topic: Mapping[str, Any], finalizers: list[str]) -> None:
        metadata = topic["metadata"]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": metadata["resourceVersion"]}}
        self._kube.merge_patch(KAFKA_TOPIC, self.namespace, metadata["name"], patch)

    def _reconcile(self, topic: Mapping[str, Any], manager: Mapping[str, Any]) -> None:
        try:
            if manager is not topic:
                owner = manager["metadata"]["name"]
                raise Refused(
                    "ResourceConflict", f"Managed by Ref{{namespace='{self.namespace}', name='{owner}'}}"
                )
            topic_id = self._converge(topic)
        except Refused as refusal:
            self._write_status(topic, refusal.topic_id, refusal)
            return
        if topic_id:
            self._write_status(topic, topic_id, None)

    def _converge(self, topic: Mapping[str, Any]) -> str:
        """Kafka made to hold what the KafkaTopic says; its topicId ("" while Kafka is still busy)."""
        spec = topic.get("spec") or {}
        name = topic_name(topic)
        partitions, replicas = int(spec.get("partitions", 1)), int(spec.get("replicas", 1))
        config = {key: str(value) for key, value in (spec.get("config") or {}).items()}
        found = self._admin.describe_topics([name])[0]
        if found["error_code"] != 0:
            created = self._admin.create_topics(
                {name: {"num_partitions": partitions, "replication_factor": replicas, "configs": config}},
                raise_errors=False,
            )["topics"][0]
            if created["error_code"] == TOPIC_ALREADY_EXISTS:
                return ""
            if created["error_code"] != 0:
                raise Refused("KafkaError", kafka_exception(created["error_code"], created["error_message"]))
            found = self._admin.describe_topics([name])[0]
            return str(found["topic_id"] or "")
        topic_id = str(found["topic_id"])
        in_kafka = sorted(found["partitions"], key=lambda p: p["partition_index"])
        if len(in_kafka) > partitions:
            raise Refused("NotSupported", "Decreasing partitions not supported", topic_id=topic_id)
        differing = [p["partition_index"] for p in in_kafka if len(p["replica_nodes"]) != replicas]
        if differing:
            message = f"Replication factor change not supported, but required for partitions {differing}"
            raise Refused("NotSupported", message, topic_id=topic_id)
        if len(in_kafka) < partitions:
            self._admin.create_partitions({name: partitions})
        self._converge_config(name, config)
        return topic_id

    def _converge_config(self, name: str, config: Mapping[str, str]) -> None:
        """Strimzi sets the spec's configs and resets every other topic config set on the topic."""
        resource = ConfigResource(ConfigResourceType.TOPIC, name)
        current = self._admin.describe_configs([resource]).get("topic", {}).get(name, {})
        dynamic = {
            key: found["value"]
            for key, found in current.items()
            if found.get("config_source") == "DYNAMIC_TOPIC_CONFIG"
        }
        differing = {key: value for key, value in config.items() if dynamic.get(key) != value}
        if differing:
            self._admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=differing)])
        removed = [key for key in dynamic if key not in config]
        if removed:
            self._admin.reset_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=removed)])

    def _write_status(self, topic: Mapping[str, Any], topic_id: str, refusal: Refused | None) -> None:
        metadata = topic["metadata"]
        before = topic.get("status") or {}
        condition: dict[str, Any] = {"type": "Ready", "status": "True" if refusal is None else "False"}
        if refusal is not None:
            condition |= {"reason": refusal.reason, "message": str(refusal)}
        old: dict[str, Any] = next(
            (c for c in before.get("conditions") or [] if c.get("type") == "Ready"), {}
        )
        unchanged = {k: v for k, v in old.items() if k != "lastTransitionTime"} == condition
        condition["lastTransitionTime"] = old["lastTransitionTime"] if unchanged else strimzi_now()
        status: dict[str, Any] = {
            "observedGeneration": metadata["generation"],
            "topicName": topic_name(topic),
            "conditions": [condition],
        }
        if topic_id or before.get("topicId"):
            status["topicId"] = topic_id or before["topicId"]
        if status != before:
            self._kube.merge_patch(
                KAFKA_TOPIC, self.namespace, metadata["name"], {"status": status}, status=True
            )


def topic_name(topic: Mapping[str, Any]) -> str:
    return str((topic.get("spec") or {}).get("topicName") or topic["metadata"]["name"])


def kafka_exception(error_code: int, message: str | None) -> str:
    """Kafka's error as Strimzi quotes it: the Java exception's class and message."""
    error = for_code(error_code).__name__.removesuffix("Error")
    return f"org.apache.kafka.common.errors.{error}Exception: {message or ''}"
