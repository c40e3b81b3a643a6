"""One level-based reconcile of a FranzPipeline: read what is, build what should be, write the difference.

Everything the operator does to a pipeline happens here, whatever woke its worker (a change, a KafkaTopic's
status, the periodic resync), so a missed event costs at most one resync interval and never correctness.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from franz_operator import builders, metrics, reconcile_users
from franz_operator.admin_topics import AdminTopics, TopicsResult
from franz_operator.builders import Condition, TopicState
from franz_operator.constants import (
    ANNOTATION_ALLOW_DELETION,
    ANNOTATION_CONFIG_HASH,
    LABEL_PIPELINE,
    LABEL_PIPELINE_NAMESPACE,
    STRIMZI_FINALIZER,
)
from franz_operator.exceptions import KafkaUnavailable, KubeError, OperatorError, TopicsNotDeleted
from franz_operator.kube import DEPLOYMENT, KAFKA_TOPIC, PIPELINE, SECRET, STATEFUL_SET, Kube
from franz_operator.pipeline import Pipeline, from_body, partition_mismatches

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PostEvent(Protocol):
    """Posts a Kubernetes Event about the pipeline `body`; kopf's poster in production (`kopf.event`),
    which sends it in the background and retries, so a failure to post never fails the reconcile."""

    def __call__(self, body: Mapping[str, Any], *, warning: bool, reason: str, message: str) -> None: ...


class ReportNotReady(Protocol):
    """Tells the pipeline's `errors` topic that one of its conditions has just turned not True
    (`alerts.PipelineAlerts` in production)."""

    def __call__(self, pipeline: Pipeline, condition: Condition) -> None: ...


class Reconciler:
    def __init__(
        self,
        *,
        kube: Kube,
        admin: AdminTopics,
        post_event: PostEvent,
        clock: Callable[[], str] = _now,
        strimzi_grace_seconds: float = 60.0,
        report_not_ready: ReportNotReady | None = None,
    ) -> None:
        self._kube = kube
        self._admin = admin
        self._post_event = post_event
        self._report_not_ready = report_not_ready
        self._clock = clock
        self._strimzi_grace_seconds = strimzi_grace_seconds
        self._written: dict[str, dict[str, Any]] = {}  # uid → the status we last wrote

    def reconcile(self, body: Mapping[str, Any]) -> bool:
        """Bring the pipeline to its spec and write its status; True when it is Ready."""
        started = time.perf_counter()
        pipeline = from_body(body)
        try:
            ready = self._reconcile(pipeline, body)
        except Exception:
            metrics.RECONCILIATIONS.labels(result="error").inc()
            raise
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        metrics.RECONCILIATIONS.labels(result="ready" if ready else "not_ready").inc()
        metrics.set_pipeline_ready(pipeline.uid, ready)
        return ready

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)
        metrics.forget_pipeline(uid)

    def delete_topics(self, body: Mapping[str, Any]) -> list[str]:
        """deletionPolicy Delete: remove the pipeline's topics; returns what was deleted."""
        pipeline = from_body(body)
        try:
            deleted = self._delete_topics(pipeline)
        except TopicsNotDeleted as waiting:  # deleted already: only Strimzi can finish it
            self._post_event(body, warning=True, reason="DeleteBlocked", message=str(waiting))
            raise
        except OperatorError as error:
            message = (
                f"cannot delete the topics yet ({error}); to delete the pipeline and keep its topics, "
                "set spec.deletionPolicy to Retain"
            )
            self._post_event(body, warning=True, reason="DeleteBlocked", message=message)
            raise TopicsNotDeleted(message) from error
        if deleted:
            self._post_event(
                body, warning=False, reason="TopicsDeleted", message="deleted " + ", ".join(deleted)
            )
        return deleted

    def _delete_topics(self, pipeline: Pipeline) -> list[str]:
        if pipeline.backend == "admin":
            names = [topic.name for topic in pipeline.topics]
            return [f"topic {name}" for name in self._admin.delete(pipeline.bootstrap_servers, names)]
        deleted = []
        for found in self._owned_kafka_topics(pipeline):
            name = found["metadata"]["name"]
            if found["metadata"].get("deletionTimestamp"):
                continue
            # The admission policy lets only annotated KafkaTopics of the operator's go.
            allow = {"metadata": {"annotations": {ANNOTATION_ALLOW_DELETION: "true"}}}
            self._kube.merge_patch(KAFKA_TOPIC, pipeline.strimzi_namespace, name, allow)
            if self._kube.delete(KAFKA_TOPIC, pipeline.strimzi_namespace, name):
                deleted.append(f"KafkaTopic {pipeline.strimzi_namespace}/{name}")
        # Strimzi's finalizer holds each KafkaTopic until the topic is gone from Kafka: the pipeline waits.
        remaining = [found["metadata"]["name"] for found in self._owned_kafka_topics(pipeline)]
        if remaining:
            raise TopicsNotDeleted(
                f"waiting for Strimzi to delete the topics of KafkaTopics {', '.join(sorted(remaining))} in "
                f"namespace {pipeline.strimzi_namespace} (finalizer {STRIMZI_FINALIZER}): check that its "
                "topic operator runs; the KafkaTopics are deleted, so deletionPolicy Retain would let the "
                "pipeline go but not keep the topics"
            )
        return deleted

    def _reconcile(self, pipeline: Pipeline, body: Mapping[str, Any]) -> bool:
        # The body may predate our last status write (the watch lags behind it): diff against what we wrote.
        previous = self._written.get(pipeline.uid, body.get("status") or {})
        changes: list[str] = []

        config = builders.config_map(pipeline)
        try:
            self._note(changes, self._kube.apply(config), f"ConfigMap {builders.config_map_name(pipeline)}")
            config_ready = Condition.of(
                "ConfigReady", True, "Applied", f"ConfigMap {builders.config_map_name(pipeline)} is current"
            )
        except KubeError as error:
            config_ready = Condition.of("ConfigReady", False, "ApplyFailed", str(error))

        values, missing = self._read_secrets(pipeline)
        secret = builders.secret(pipeline, values)
        if missing:
            # The Secret keeps its last good values: running services go on with what they had.
            secrets_ready = Condition.of("SecretsReady", False, "SecretMissing", "; ".join(missing))
        else:
            try:
                self._note(changes, self._kube.apply(secret), f"Secret {builders.secret_name(pipeline)}")
                secrets_ready = Condition.of(
                    "SecretsReady",
                    True,
                    "Projected" if values else "NoneReferenced",
                    f"Secret {builders.secret_name(pipeline)} holds {', '.join(sorted(values)) or 'no keys'}",
                )
            except KubeError as error:
                secrets_ready = Condition.of("SecretsReady", False, "ApplyFailed", str(error))

        topics, topics_ready = self._topics(pipeline, body, previous, changes)
        kafka_access = reconcile_users.reconcile_access(self._kube, pipeline)
        access_conditions = [kafka_access.condition] if kafka_access else []
        if kafka_access:
            changes.extend(kafka_access.changes)

        if all(c.status == "True" for c in (config_ready, secrets_ready, *access_conditions)):
            secret_data = {**secret["data"], **(kafka_access.secret_data if kafka_access else {})}
            digest = builders.config_hash(config["data"], secret_data)
            changes.extend(self._roll_out(pipeline, digest))

        for change in changes:
            self._post_event(body, warning=False, reason="Applied", message=change)

        conditions = [topics_ready, secrets_ready, config_ready, *access_conditions]
        status = builders.status(
            pipeline, previous=previous, conditions=conditions, topics=topics, now=self._clock()
        )
        if kafka_access and pipeline.access.create_users:
            status["users"] = [user.as_status() for user in kafka_access.users]
        if _without_times(status) != _without_times(previous):
            self._kube.merge_patch(
                PIPELINE, pipeline.namespace, pipeline.name, {"status": status}, status=True
            )
            for condition in builders.transitions(previous, status):
                self._post_event(
                    body,
                    warning=condition.status != "True",
                    reason=condition.reason if condition.status != "True" else condition.type,
                    message=f"{condition.type}={condition.status}: {condition.message}",
                )
                if condition.status != "True" and self._report_not_ready is not None:
                    self._report_not_ready(pipeline, condition)
        self._written[pipeline.uid] = status
        ready = all(c.status == "True" for c in conditions)
        # Every resync reconciles every pipeline: a quiet one that stays Ready is not news.
        log.log(
            logging.INFO if changes or not ready else logging.DEBUG,
            "reconciled",
            extra={
                "pipeline": f"{pipeline.namespace}/{pipeline.name}",
                "ready": ready,
                "topics_ready": status["topicsReady"],
                "changes": len(changes),
            },
        )
        return ready

    def _read_secrets(self, pipeline: Pipeline) -> tuple[dict[str, str], list[str]]:
        """The referenced values by purpose, and one line per reference that cannot be read."""
        values: dict[str, str] = {}
        missing: list[str] = []
        for ref in pipeline.secrets:
            where = f"Secret {pipeline.namespace}/{ref.name} (spec.secrets.{ref.purpose})"
            try:
                found = self._kube.get(SECRET, pipeline.namespace, ref.name)
            except KubeError as error:
                missing.append(f"cannot read {where}: {error}")
                continue
            if found is None:
                missing.append(f"{where} does not exist: create it with the key {ref.key!r}")
                continue
            encoded = (found.get("data") or {}).get(ref.key)
            if encoded is None:
                missing.append(f"{where} has no key {ref.key!r}")
                continue
            try:
                values[ref.purpose] = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                missing.append(f"{where}: the value under {ref.key!r} is not UTF-8 text")
        return values, missing

    def _topics(
        self, pipeline: Pipeline, body: Mapping[str, Any], previous: Mapping[str, Any], changes: list[str]
    ) -> tuple[list[TopicState], Condition]:
        states, failed = self._backend_topics(pipeline, changes)
        # Ids are tracked whatever the backend could tell: one it could not read keeps the recorded one.
        states, recreations = builders.track_topic_ids(pipeline, previous, states)
        for recreation in recreations:
            metrics.TOPICS_RECREATED.labels(backend=pipeline.backend).inc()
            log.warning(
                "topic recreated",
                extra={
                    "pipeline": f"{pipeline.namespace}/{pipeline.name}",
                    "topic": recreation.name,
                    "old_topic_id": recreation.old_id,
                    "new_topic_id": recreation.new_id,
                },
            )
            message = next(s.message for s in states if s.name == recreation.name)
            self._post_event(body, warning=True, reason="TopicRecreated", message=message)
        if failed is not None:
            return states, failed
        condition = builders.topics_condition(states)
        mismatches = partition_mismatches(pipeline)
        if mismatches and condition.reason != "TopicRecreated":  # lost records come first
            return states, Condition.of("TopicsReady", False, "PartitionMismatch", "; ".join(mismatches))
        return states, condition

    def _backend_topics(
        self, pipeline: Pipeline, changes: list[str]
    ) -> tuple[list[TopicState], Condition | None]:
        """The topics' states, and the condition when the backend could not be asked at all."""
        if pipeline.backend == "admin":
            try:
                result = self._admin.reconcile(pipeline.bootstrap_servers, pipeline.topics)
            except KafkaUnavailable as error:
                states = [
                    TopicState(t.role, t.name, 0, 0, False, "Kafka unreachable") for t in pipeline.topics
                ]
                message = f"{error}; retrying with backoff"
                return states, Condition.of("TopicsReady", False, "KafkaUnreachable", message)
        else:
            try:
                result = self._strimzi_topics(pipeline)
            except KubeError as error:
                states = [TopicState(t.role, t.name, 0, 0, False, "not applied") for t in pipeline.topics]
                if error.status == 404:
                    message = (
                        "the API server has no KafkaTopic resource "
                        f"({KAFKA_TOPIC.group}/{KAFKA_TOPIC.version}) in namespace "
                        f"{pipeline.strimzi_namespace}: install Strimzi 0.49 or later, "
                        "or set kafka.topicBackend to admin"
                    )
                    return states, Condition.of("TopicsReady", False, "StrimziMissing", message)
                return states, Condition.of("TopicsReady", False, "ApplyFailed", str(error))
        changes.extend(result.changes)
        return result.states, None

    def _strimzi_topics(self, pipeline: Pipeline) -> TopicsResult:
        result = TopicsResult(states=[])
        found: list[dict[str, Any]] = []
        for topic in pipeline.topics:
            desired = builders.kafka_topic(pipeline, topic)
            name = desired["metadata"]["name"]
            where = f"KafkaTopic {pipeline.strimzi_namespace}/{name}"
            current = self._kube.get(KAFKA_TOPIC, pipeline.strimzi_namespace, name)
            if current is not None and not builders.owned_by(current, pipeline):
                message = f"{where} belongs to {builders.owner_of(current)}"
                result.states.append(TopicState(topic.role, topic.name, 0, 0, False, message))
                continue
            if current is not None and current["metadata"].get("deletionTimestamp"):
                # Never adopted: Strimzi deletes the topic in Kafka before it lets the KafkaTopic go.
                message = (
                    f"{where} is being deleted: Strimzi deletes topic {topic.name} and its records in Kafka "
                    f"first (finalizer {STRIMZI_FINALIZER}); the operator creates it again, empty, once "
                    "it is gone"
                )
                state = TopicState(
                    topic.role, topic.name, 0, 0, False, message, reason="KafkaTopicTerminating"
                )
                result.states.append(state)
                continue
            existing_partitions = int(((current or {}).get("spec") or {}).get("partitions") or 0)
            if existing_partitions > topic.partitions:
                message = builders.more_partitions_in_kafka(topic, existing_partitions, f"{where} has them")
                state = TopicState(
                    topic.role,
                    topic.name,
                    existing_partitions,
                    0,
                    False,
                    message,
                    reason="MorePartitionsInKafka",
                )
                result.states.append(state)
                continue
            applied = self._kube.write_if_changed(current, desired)
            self._note(result.changes, applied, where)
            if current is not None and applied == "unchanged":
                found.append(current)
                result.states.append(builders.strimzi_topic_state(topic, current))
            else:  # just written: Strimzi has not seen this version yet
                waiting = builders.WAITING_FOR_STRIMZI
                result.states.append(
                    TopicState(topic.role, topic.name, topic.partitions, topic.replicas, False, waiting)
                )
        silent = builders.strimzi_not_reconciling(
            pipeline, found, now=self._clock(), grace_seconds=self._strimzi_grace_seconds
        )
        if silent is not None:
            result.states = [
                replace(s, reason="StrimziNotReconciling", message=silent)
                if s.message == builders.WAITING_FOR_STRIMZI
                else s
                for s in result.states
            ]
        result.states = self._kafkas_partition_counts(pipeline, result.states)
        return result

    def _kafkas_partition_counts(self, pipeline: Pipeline, states: list[TopicState]) -> list[TopicState]:
        """Strimzi says only that it cannot shrink a topic: Kafka tells how many partitions it has, when the
        operator can reach it (the status then shows the real count, the number to raise the spec to)."""
        grown = [
            state
            for state in states
            if state.reason == "MorePartitionsInKafka"
            and state.partitions <= pipeline.topic(state.role).partitions
        ]
        if not grown:
            return states
        try:
            counts = self._admin.partition_counts(pipeline.bootstrap_servers, [s.name for s in grown])
        except KafkaUnavailable:
            return states  # the message already names the fix, without the count
        return [
            replace(
                state,
                partitions=counts[state.name],
                message=builders.more_partitions_in_kafka(
                    pipeline.topic(state.role),
                    counts[state.name],
                    "Strimzi: NotSupported: Decreasing partitions not supported",
                ),
            )
            if state in grown and state.name in counts
            else state
            for state in states
        ]

    def _owned_kafka_topics(self, pipeline: Pipeline) -> list[dict[str, Any]]:
        selector = f"{LABEL_PIPELINE}={pipeline.name},{LABEL_PIPELINE_NAMESPACE}={pipeline.namespace}"
        return self._kube.list_objects(KAFKA_TOPIC, pipeline.strimzi_namespace, label_selector=selector)

    def _roll_out(self, pipeline: Pipeline, digest: str) -> list[str]:
        """Put the config hash on the pipeline's Deployments and StatefulSets (sachbearbeiter, for its
        store's volumes), so a change of config or secrets rolls them."""
        rolled = []
        for kind, label in ((DEPLOYMENT, "Deployment"), (STATEFUL_SET, "StatefulSet")):
            for workload in self._kube.list_objects(
                kind, pipeline.namespace, label_selector=f"{LABEL_PIPELINE}={pipeline.name}"
            ):
                template = ((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}
                if (template.get("annotations") or {}).get(ANNOTATION_CONFIG_HASH) == digest:
                    continue
                name = workload["metadata"]["name"]
                self._kube.merge_patch(kind, pipeline.namespace, name, builders.rollout_patch(digest))
                rolled.append(f"rolling {label} {name}: its config or secrets changed")
        return rolled

    @staticmethod
    def _note(changes: list[str], applied: str, what: str) -> None:
        if applied != "unchanged":
            changes.append(f"{applied} {what}")


def _without_times(status: Mapping[str, Any]) -> dict[str, Any]:
    """The status minus transition times, to tell a real change from a rewrite of the same facts."""
    conditions = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []
    ]
    return {**status, "conditions": conditions}
