"""The operator's reconcile against small in-memory fakes of the API server and Kafka: what it writes to the
status and when, which conditions and Events follow from what it finds. No I/O, milliseconds."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY

from franz_operator import builders
from franz_operator.admin_topics import AdminTopics, TopicsResult
from franz_operator.builders import TopicState
from franz_operator.constants import (
    ANNOTATION_ALLOW_DELETION,
    ANNOTATION_CONFIG_HASH,
    LABEL_PIPELINE,
    LABEL_PIPELINE_NAMESPACE,
)
from franz_operator.exceptions import KafkaUnavailable, KubeError, TopicsNotDeleted
from franz_operator.kube import (
    CONFIG_MAP,
    DEPLOYMENT,
    KAFKA_TOPIC,
    KINDS_BY_API_KIND,
    PIPELINE,
    SECRET,
    Applied,
    Kind,
    Kube,
    Object,
)
from franz_operator.pipeline import Topic, from_body
from franz_operator.reconcile import Reconciler

WEBHOOK_URL = "https://discord.com/api/webhooks/1/secret-token"


class FakeKube(Kube):
    """The API server as a dict of objects; `refuse` fails every request for a kind as the server would."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Object] = {}
        self.refuse: dict[str, KubeError] = {}
        self.status_writes: list[Object] = []
        self.patches: list[tuple[str, str, Object]] = []

    def put(self, kind: Kind, body: Object) -> None:
        metadata = body["metadata"]
        self.objects[(kind.plural, metadata["namespace"], metadata["name"])] = copy.deepcopy(body)

    def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        self._check(kind)
        found = self.objects.get((kind.plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list_objects(self, kind: Kind, namespace: str | None, *, label_selector: str = "") -> list[Object]:
        self._check(kind)
        wanted = dict(term.split("=") for term in label_selector.split(",") if term)
        return [
            copy.deepcopy(body)
            for (plural, in_namespace, _), body in self.objects.items()
            if plural == kind.plural
            and namespace in (None, in_namespace)
            and wanted.items() <= (body["metadata"].get("labels") or {}).items()
        ]

    def write_if_changed(self, current: Object | None, desired: Object) -> Applied:
        kind = KINDS_BY_API_KIND[desired["kind"]]
        self._check(kind)
        if current is not None and all(current.get(k) == v for k, v in desired.items() if k != "metadata"):
            return "unchanged"
        generation = ((current or {}).get("metadata") or {}).get("generation", 0) + 1
        self.put(kind, {**desired, "metadata": {**desired["metadata"], "generation": generation}})
        return "created" if current is None else "updated"

    def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        """As the API server: an object with finalizers is only marked, until they are removed."""
        self._check(kind)
        found = self.objects.get((kind.plural, namespace, name))
        if found is not None and found["metadata"].get("finalizers"):
            found["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            return True
        return self.objects.pop((kind.plural, namespace, name), None) is not None

    def merge_patch(
        self, kind: Kind, namespace: str, name: str, patch: Object, *, status: bool = False
    ) -> None:
        self._check(kind)
        if status:
            self.status_writes.append(copy.deepcopy(patch["status"]))
        else:
            self.patches.append((kind.plural, name, copy.deepcopy(patch)))
        _merge(self.objects[(kind.plural, namespace, name)], patch)

    def _check(self, kind: Kind) -> None:
        if kind.plural in self.refuse:
            raise self.refuse[kind.plural]


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeAdmin(AdminTopics):
    """Kafka's admin API: every topic exists as asked once reconciled, unless Kafka is `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.existing: set[str] = set()
        self.ids: dict[str, str] = {}  # Kafka's topic ids: `id-<name>` unless a test recreates one

    def reconcile(self, bootstrap: str, topics: Sequence[Topic]) -> TopicsResult:
        if self.down:
            raise KafkaUnavailable(f"Kafka at {bootstrap}: NoBrokersAvailable")
        changes = [f"created topic {t.name}" for t in topics if t.name not in self.existing]
        self.existing.update(t.name for t in topics)
        states = [
            TopicState(
                t.role, t.name, t.partitions, t.replicas, True, topic_id=self.ids.get(t.name, f"id-{t.name}")
            )
            for t in topics
        ]
        return TopicsResult(states, changes)

    def delete(self, bootstrap: str, names: Sequence[str]) -> list[str]:
        if self.down:
            raise KafkaUnavailable(f"Kafka at {bootstrap}: NoBrokersAvailable")
        deleted = [name for name in names if name in self.existing]
        self.existing.difference_update(names)
        return deleted


class Events:
    """What the reconciler posted, as (type, reason, message)."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    def __call__(self, body: Mapping[str, Any], *, warning: bool, reason: str, message: str) -> None:
        self.posted.append(("Warning" if warning else "Normal", reason, message))

    def take(self) -> list[tuple[str, str, str]]:
        posted, self.posted = self.posted, []
        return posted


class Clock:
    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self) -> str:
        self.ticks += 1
        return f"t{self.ticks}"


class World:
    """A reconciler wired to the fakes, and the pipeline it reconciles."""

    def __init__(self, **spec: Any) -> None:
        self.kube, self.admin, self.events = FakeKube(), FakeAdmin(), Events()
        self.not_ready: list[tuple[str, str]] = []  # what went to the pipeline's errors topic
        self.reconciler = Reconciler(
            kube=self.kube,
            admin=self.admin,
            post_event=self.events,
            clock=Clock(),
            report_not_ready=lambda pipeline, condition: self.not_ready.append(
                (condition.type, condition.reason)
            ),
        )
        self.kube.put(
            PIPELINE,
            {
                "apiVersion": "franz.dev/v1alpha1",
                "kind": "FranzPipeline",
                "metadata": {"name": "tickets", "namespace": "team", "uid": "u-1", "generation": 1},
                "spec": {"kafka": {"bootstrapServers": "k:9092", "topicBackend": "admin"}, **spec},
            },
        )

    def body(self) -> Object:
        found = self.kube.get(PIPELINE, "team", "tickets")
        assert found is not None
        return found

    def reconcile(self, body: Object | None = None) -> bool:
        return self.reconciler.reconcile(body if body is not None else self.body())

    def conditions(self) -> dict[str, dict[str, Any]]:
        return {c["type"]: c for c in self.body()["status"]["conditions"]}


def source_secret(world: World, value: str = WEBHOOK_URL, *, key: str = "url") -> None:
    data = {key: base64.b64encode(value.encode()).decode()}
    world.kube.put(
        SECRET, {"kind": "Secret", "metadata": {"name": "hook", "namespace": "team"}, "data": data}
    )


def deployment(world: World) -> None:
    world.kube.put(
        DEPLOYMENT,
        {
            "kind": "Deployment",
            "metadata": {"name": "absturz", "namespace": "team", "labels": {LABEL_PIPELINE: "tickets"}},
            "spec": {"template": {"metadata": {"labels": {"app": "absturz"}}}},
        },
    )


def test_a_first_reconcile_writes_everything_and_says_so_once() -> None:
    world = World()
    assert world.reconcile() is True

    assert [c["type"] for c in world.body()["status"]["conditions"]] == [
        "TopicsReady",
        "SecretsReady",
        "ConfigReady",
        "Ready",
    ]
    assert {t: (c["status"], c["reason"]) for t, c in world.conditions().items()} == {
        "TopicsReady": ("True", "Ready"),
        "SecretsReady": ("True", "NoneReferenced"),
        "ConfigReady": ("True", "Applied"),
        "Ready": ("True", "Reconciled"),
    }
    status = world.body()["status"]
    assert (status["observedGeneration"], status["topicsReady"]) == (1, "8/8")
    assert len(world.kube.status_writes) == 1
    assert world.kube.get(CONFIG_MAP, "team", "franz-tickets-config") is not None

    events = world.events.take()
    applied = [message for kind, reason, message in events if reason == "Applied"]
    assert "created ConfigMap franz-tickets-config" in applied
    assert "created Secret franz-tickets-secrets" in applied
    assert sum("created topic" in message for message in applied) == 8
    # Every condition appeared: one Normal Event each, named after the condition.
    transitions = [(kind, reason) for kind, reason, _ in events if reason != "Applied"]
    assert transitions == [
        ("Normal", "TopicsReady"),
        ("Normal", "SecretsReady"),
        ("Normal", "ConfigReady"),
        ("Normal", "Ready"),
    ]


def test_nothing_changed_means_no_status_write_and_no_events() -> None:
    world = World()
    world.reconcile()
    world.events.take()
    assert world.reconcile() is True  # the clock has moved on: only times would differ
    assert len(world.kube.status_writes) == 1
    assert world.events.take() == []


def test_a_body_older_than_our_last_status_write_does_not_rewrite_it() -> None:
    """The watch lags behind our writes: the daemon may hand over a body without the status we wrote."""
    world = World()
    stale = world.body()
    world.reconcile(stale)
    world.events.take()
    world.reconcile(stale)
    assert len(world.kube.status_writes) == 1
    assert world.events.take() == []


def test_a_condition_that_flips_keeps_the_others_transition_times_and_warns_once() -> None:
    world = World()
    world.reconcile()
    before = world.conditions()
    world.events.take()

    world.admin.down = True
    assert world.reconcile() is False
    after = world.conditions()
    assert (after["TopicsReady"]["status"], after["TopicsReady"]["reason"]) == ("False", "KafkaUnreachable")
    assert "k:9092" in after["TopicsReady"]["message"]
    assert "retrying" in after["TopicsReady"]["message"]
    assert (after["Ready"]["status"], after["Ready"]["reason"]) == ("False", "KafkaUnreachable")
    assert after["Ready"]["message"].startswith("TopicsReady: ")
    assert after["TopicsReady"]["lastTransitionTime"] != before["TopicsReady"]["lastTransitionTime"]
    for unchanged in ("SecretsReady", "ConfigReady"):
        assert after[unchanged]["lastTransitionTime"] == before[unchanged]["lastTransitionTime"]
    assert world.body()["status"]["topicsReady"] == "0/8"
    assert [(kind, reason) for kind, reason, _ in world.events.take()] == [
        ("Warning", "KafkaUnreachable"),
        ("Warning", "KafkaUnreachable"),
    ]

    assert world.not_ready == [("TopicsReady", "KafkaUnreachable"), ("Ready", "KafkaUnreachable")]

    # Still down: the same facts are not news.
    world.reconcile()
    assert world.events.take() == []
    assert len(world.kube.status_writes) == 2
    assert len(world.not_ready) == 2

    world.admin.down = False
    assert world.reconcile() is True
    assert [(kind, reason) for kind, reason, _ in world.events.take()] == [
        ("Normal", "TopicsReady"),
        ("Normal", "Ready"),
    ]
    assert len(world.not_ready) == 2  # back to Ready is no error


def test_a_missing_secret_is_named_and_the_last_good_copy_stays() -> None:
    world = World(secrets={"discordWebhook": {"name": "hook", "key": "url"}})
    deployment(world)
    assert world.reconcile() is False
    missing = world.conditions()["SecretsReady"]
    assert (missing["status"], missing["reason"]) == ("False", "SecretMissing")
    assert "Secret team/hook (spec.secrets.discordWebhook) does not exist" in missing["message"]
    assert "'url'" in missing["message"]
    assert world.kube.get(SECRET, "team", "franz-tickets-secrets") is None
    assert world.kube.patches == []  # no rollout without both config and secrets
    assert ("Warning", "SecretMissing") in [(kind, reason) for kind, reason, _ in world.events.take()]

    source_secret(world)
    assert world.reconcile() is True
    projected = world.kube.get(SECRET, "team", "franz-tickets-secrets") or {}
    assert base64.b64decode(projected["data"]["DISCORD_WEBHOOK_URL"]).decode() == WEBHOOK_URL

    # The key disappears from the source: the projected Secret keeps what the services run with.
    source_secret(world, key="other")
    assert world.reconcile() is False
    assert "has no key 'url'" in world.conditions()["SecretsReady"]["message"]
    assert world.kube.get(SECRET, "team", "franz-tickets-secrets") == projected


def test_secret_values_never_reach_status_or_events() -> None:
    world = World(secrets={"discordWebhook": {"name": "hook"}})
    source_secret(world)
    world.reconcile()
    texts = [str(world.body()["status"]), *(str(event) for event in world.events.take())]
    assert not any("secret-token" in text for text in texts)


def test_the_pipelines_deployments_roll_when_config_or_secrets_change_and_only_then() -> None:
    world = World(secrets={"discordWebhook": {"name": "hook"}})
    source_secret(world)
    deployment(world)
    world.reconcile()
    [(plural, name, patch)] = world.kube.patches
    assert (plural, name) == ("deployments", "absturz")
    first = patch["spec"]["template"]["metadata"]["annotations"][ANNOTATION_CONFIG_HASH]
    world.reconcile()
    assert len(world.kube.patches) == 1

    world.events.take()
    source_secret(world, "https://discord.com/api/webhooks/1/rotated")
    world.reconcile()
    assert len(world.kube.patches) == 2
    second = world.kube.patches[1][2]["spec"]["template"]["metadata"]["annotations"][ANNOTATION_CONFIG_HASH]
    assert second != first
    assert (
        "Normal",
        "Applied",
        "rolling Deployment absturz: its config or secrets changed",
    ) in world.events.take()


def test_a_refused_config_map_is_config_ready_false_with_the_servers_answer() -> None:
    world = World()
    world.kube.refuse["configmaps"] = KubeError(403, "configmaps is forbidden")
    assert world.reconcile() is False
    refused = world.conditions()["ConfigReady"]
    assert (refused["status"], refused["reason"], refused["message"]) == (
        "False",
        "ApplyFailed",
        "configmaps is forbidden",
    )


def test_a_refused_status_write_is_raised_for_the_daemon_to_retry() -> None:
    world = World()
    world.kube.refuse["franzpipelines"] = KubeError(0, "the API server did not answer")
    with pytest.raises(KubeError):
        world.reconcile(world.kube.objects[("franzpipelines", "team", "tickets")])


def strimzi_world() -> World:
    return World(kafka={"bootstrapServers": "k:9092", "topicBackend": "strimzi", "strimzi": {"cluster": "c"}})


def test_strimzi_topics_wait_for_strimzi_then_follow_its_ready_condition() -> None:
    world = strimzi_world()
    assert world.reconcile() is False
    waiting = world.conditions()["TopicsReady"]
    assert (waiting["reason"], builders.WAITING_FOR_STRIMZI in waiting["message"]) == ("TopicsNotReady", True)
    topics = world.kube.list_objects(KAFKA_TOPIC, "team")
    assert len(topics) == 8

    for topic in topics:
        ready = {"type": "Ready", "status": "True"}
        topic["status"] = {"observedGeneration": topic["metadata"]["generation"], "conditions": [ready]}
        world.kube.put(KAFKA_TOPIC, topic)
    assert world.reconcile() is True
    assert world.body()["status"]["topicsReady"] == "8/8"


def test_a_kafka_topic_of_someone_else_is_reported_not_taken_over() -> None:
    world = strimzi_world()
    foreign = builders.kafka_topic(from_body(world.body()), Topic("errors", "errors", 1, 3))
    foreign["metadata"]["labels"].update({LABEL_PIPELINE: "other", LABEL_PIPELINE_NAMESPACE: "elsewhere"})
    world.kube.put(KAFKA_TOPIC, foreign)
    world.reconcile()
    assert (
        "KafkaTopic team/errors belongs to pipeline elsewhere/other"
        in (world.conditions()["TopicsReady"]["message"])
    )
    assert world.kube.get(KAFKA_TOPIC, "team", "errors") == foreign


def test_no_kafka_topic_resource_is_strimzi_missing() -> None:
    world = strimzi_world()
    world.kube.refuse["kafkatopics"] = KubeError(404, "the server could not find the requested resource")
    world.reconcile()
    missing = world.conditions()["TopicsReady"]
    assert missing["reason"] == "StrimziMissing"
    assert "set kafka.topicBackend to admin" in missing["message"]


def test_topics_that_cannot_be_deleted_block_with_the_way_out_in_the_event() -> None:
    world = World(deletionPolicy="Delete")
    world.reconcile()
    world.events.take()
    world.admin.down = True
    with pytest.raises(TopicsNotDeleted):
        world.reconciler.delete_topics(world.body())
    [(kind, reason, message)] = world.events.take()
    assert (kind, reason) == ("Warning", "DeleteBlocked")
    assert "cannot delete the topics yet" in message
    assert "set spec.deletionPolicy to Retain" in message

    world.admin.down = False
    deleted = world.reconciler.delete_topics(world.body())
    assert len(deleted) == 8
    [(kind, reason, _)] = world.events.take()
    assert (kind, reason) == ("Normal", "TopicsDeleted")


def test_a_recreated_topic_is_one_warning_and_one_count_however_often_it_is_seen() -> None:
    world = World()
    world.reconcile()
    world.events.take()
    before = REGISTRY.get_sample_value("franz_operator_topics_recreated_total", {"backend": "admin"}) or 0.0
    world.admin.ids["errors"] = "id-new"
    assert world.reconcile() is False
    assert world.reconcile() is False
    recreated = [event for event in world.events.take() if event[1] == "TopicRecreated"]
    assert [kind for kind, _, message in recreated if message.startswith("topic errors was")] == ["Warning"]
    after = REGISTRY.get_sample_value("franz_operator_topics_recreated_total", {"backend": "admin"})
    assert after == before + 1
    assert world.conditions()["TopicsReady"]["reason"] == "TopicRecreated"
    entry = next(t for t in world.body()["status"]["topics"] if t["name"] == "errors")
    assert (entry["topicId"], entry["newTopicId"]) == ("id-errors", "id-new")


def test_a_kafka_topic_being_deleted_is_reported_and_never_written_to() -> None:
    world = strimzi_world()
    world.reconcile()
    [topic] = [t for t in world.kube.list_objects(KAFKA_TOPIC, "team") if t["spec"]["topicName"] == "errors"]
    topic["metadata"] |= {
        "finalizers": ["strimzi.io/topic-operator"],
        "deletionTimestamp": "2026-01-01T00:00:00Z",
    }
    topic["spec"]["partitions"] = 1  # what the operator would change, had it adopted the object
    world.kube.put(KAFKA_TOPIC, topic)
    world.reconcile()
    condition = world.conditions()["TopicsReady"]
    assert condition["reason"] == "KafkaTopicTerminating"
    assert "KafkaTopic team/errors is being deleted" in condition["message"]
    assert world.kube.get(KAFKA_TOPIC, "team", "errors") == topic


def test_deleting_strimzi_topics_allows_each_and_waits_for_strimzis_finalizer() -> None:
    world = World(
        kafka={"bootstrapServers": "k:9092", "topicBackend": "strimzi", "strimzi": {"cluster": "c"}},
        deletionPolicy="Delete",
    )
    world.reconcile()
    held = world.kube.get(KAFKA_TOPIC, "team", "errors")
    assert held is not None
    held["metadata"]["finalizers"] = ["strimzi.io/topic-operator"]
    world.kube.put(KAFKA_TOPIC, held)
    world.events.take()
    with pytest.raises(
        TopicsNotDeleted, match="waiting for Strimzi to delete the topics of KafkaTopics errors"
    ):
        world.reconciler.delete_topics(world.body())
    assert world.kube.list_objects(KAFKA_TOPIC, "team")[0]["metadata"]["name"] == "errors"
    annotations = {p[1]: p[2]["metadata"]["annotations"] for p in world.kube.patches if p[0] == "kafkatopics"}
    assert len(annotations) == 8
    assert all(a == {ANNOTATION_ALLOW_DELETION: "true"} for a in annotations.values())

    world.kube.objects.pop(("kafkatopics", "team", "errors"))  # Strimzi deleted the topic and let it go
    assert world.reconciler.delete_topics(world.body()) == []
