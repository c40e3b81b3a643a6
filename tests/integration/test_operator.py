"""The operator, running as `franz operator`, against the real kube-apiserver and real Kafka, with the rights
of its chart's ClusterRole and nothing more, under its chart's admission policies.

Strimzi's topic operator is `tests.strimzi.TopicOperator`, which manages the topics in the real broker as
Strimzi's does (its finalizer, its refusals, its status). Each test works in its own namespaces; every wait
polls with a deadline.
"""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from franz.devstack.kafka import LocalKafka
from franz.devstack.kube import LocalControlPlane
from franz_operator.constants import (
    ANNOTATION_ACCEPT_TOPIC_IDS,
    ANNOTATION_ALLOW_DELETION,
    ANNOTATION_CONFIG_HASH,
    FINALIZER,
    GROUP,
    KIND,
    LABEL_PIPELINE,
    STRIMZI_CLUSTER_LABEL,
    VERSION,
)
from franz_operator.exceptions import KubeError
from franz_operator.kube import (
    CONFIG_MAP,
    DEPLOYMENT,
    KAFKA_TOPIC,
    PIPELINE,
    SECRET,
    STATEFUL_SET,
    Kind,
    Kube,
)
from franz_operator.rbac import CLUSTER_RULES
from tests.helpers import NAMESPACE, ServiceProcess, read_topic, service_account_kubeconfig, wait_until
from tests.strimzi import FINALIZER as STRIMZI_FINALIZER
from tests.strimzi import TopicOperator

EVENT = Kind("", "v1", "events")
ADMISSION_KINDS = {
    "ValidatingAdmissionPolicy": Kind("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies"),
    "ValidatingAdmissionPolicyBinding": Kind(
        "admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings"
    ),
}
LIFECYCLE = ("commands", "events", "state")
CHARTS = Path(__file__).resolve().parents[2] / "charts"
WEBHOOK_URL = "https://discord.com/api/webhooks/123/very-secret-webhook-token"
BOT_TOKEN = "bot-token-that-must-never-leak"


@pytest.fixture(scope="module")
def operator_kubeconfig(
    kube: Kube, control_plane: LocalControlPlane, kubectl: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Credentials of a ServiceAccount bound to exactly `rbac.CLUSTER_RULES`, as the chart deploys it:
    every test of this module then also proves the operator needs no right its ClusterRole lacks."""
    path = service_account_kubeconfig(
        kube, control_plane, kubectl, tmp_path_factory.mktemp("operator-account"), rules=CLUSTER_RULES
    )
    can_i: list[str | Path] = [kubectl, "--kubeconfig", path, "auth", "can-i"]
    refused = subprocess.run([*can_i, "delete", "namespaces"], capture_output=True, text=True)
    assert refused.stdout.strip() == "no", "the operator acts as its ServiceAccount, not as the admin"
    return path


@pytest.fixture(scope="module")
def admission_policies(kube: Kube, helm: Path) -> Iterator[list[dict[str, Any]]]:
    """The operator chart's ValidatingAdmissionPolicies and bindings, as `helm template` renders them, in
    force on the API server (its policy informer takes a moment: probed until it refuses)."""
    rendered = subprocess.run(
        [
            helm,
            "template",
            "franz",
            str(CHARTS / "franz-operator"),
            "--show-only",
            "templates/operator-validatingadmissionpolicy.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    assert sorted(o["kind"] for o in objects) == sorted([*ADMISSION_KINDS] * 2)
    for body in objects:
        kube.create(ADMISSION_KINDS[body["kind"]], "", body)
    probe = new_namespace(kube)
    wait_until(lambda: deletion_refused(kube, probe), timeout=30, interval=0.2)
    # The probes go the ways the policies leave open, so no operator ever sees them.
    allow = {"metadata": {"annotations": {ANNOTATION_ALLOW_DELETION: "true"}}}
    kube.merge_patch(KAFKA_TOPIC, probe, "probe", allow)
    assert kube.delete(KAFKA_TOPIC, probe, "probe")
    kube.merge_patch(PIPELINE, probe, "probe", {"spec": {"deletionPolicy": "Retain"}})
    assert kube.delete(PIPELINE, probe, "probe")
    yield objects
    for body in objects:
        kube.delete(ADMISSION_KINDS[body["kind"]], "", body["metadata"]["name"])


def deletion_refused(kube: Kube, namespace: str) -> bool:
    """Whether both policies refuse: a KafkaTopic of the operator's, and a Delete pipeline no operator
    has taken charge of (each recreated when the API server still let it go)."""
    topic = {
        "apiVersion": f"{KAFKA_TOPIC.group}/{KAFKA_TOPIC.version}",
        "kind": "KafkaTopic",
        "metadata": {"name": "probe", "labels": {"app.kubernetes.io/managed-by": "franz-operator"}},
        "spec": {"partitions": 1},
    }
    pipeline = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": "probe"},
        "spec": {
            "kafka": {"bootstrapServers": "k:9092", "topicBackend": "admin"},
            "deletionPolicy": "Delete",
        },
    }
    refused = True
    for kind, body in ((KAFKA_TOPIC, topic), (PIPELINE, pipeline)):
        if kube.get(kind, namespace, "probe") is None:
            kube.create(kind, namespace, body)
        try:
            kube.delete(kind, namespace, "probe")
        except KubeError as error:
            if error.status != 403:
                raise
            continue
        refused = False
    return refused


@pytest.fixture(scope="module")
def operator(
    operator_kubeconfig: Path,
    admission_policies: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceProcess]:
    process = ServiceProcess(
        "operator",
        # A short resync so drift tests take seconds (the default is 30 s), and a short wait for Strimzi
        # before the status says it does not reconcile (the default is 60 s).
        env={
            "KUBECONFIG": str(operator_kubeconfig),
            "OPERATOR_RESYNC_SECONDS": "2",
            "OPERATOR_STRIMZI_GRACE_SECONDS": "5",
            "LOG_LEVEL": "DEBUG",
        },
        log_dir=tmp_path_factory.mktemp("operator"),
    )
    process.start()
    process.wait_until_ready(timeout=60)
    yield process
    process.stop()


@pytest.fixture
def namespace(kube: Kube) -> str:
    """A fresh namespace (they never finish deleting here: no controllers run, so none is deleted)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def secret(kube: Kube, namespace: str, name: str, data: dict[str, str]) -> None:
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
        }
    )


def create_pipeline(kube: Kube, namespace: str, spec: dict[str, Any], *, name: str = "tickets") -> str:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}, "spec": spec}
    kube.create(PIPELINE, namespace, body)
    return name


def admin_spec(bootstrap: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "kafka": {"bootstrapServers": bootstrap, "topicBackend": "admin"},
        "topicDefaults": {"partitions": 2, "replicas": 1, "config": {"retention.ms": "86400000"}},
        "topics": {
            "intake": {"name": f"{prefix}-intake"},
            "formatted": {"name": f"{prefix}-formatted", "partitions": 3},
            "errors": {"name": f"{prefix}-errors", "partitions": 1},
            **{role: {"name": f"{prefix}-{role}"} for role in LIFECYCLE},
        },
        **extra,
    }


def condition(kube: Kube, namespace: str, name: str, kind: str) -> dict[str, Any]:
    found = kube.get(PIPELINE, namespace, name) or {}
    conditions = (found.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def wait_condition(
    kube: Kube, namespace: str, name: str, kind: str, status: str, *, timeout: float = 30
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = condition(kube, namespace, name, kind)
        return found if found.get("status") == status else None

    return wait_until(reached, timeout=timeout, interval=0.2)


def kafka_partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {
            t["name"]: len(t["partitions"]) for t in admin.describe_topics(topics) if t["error_code"] == 0
        }
    finally:
        admin.close()


def topic_configs(bootstrap: str, topic: str) -> dict[str, Any]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        found: dict[str, Any] = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    return dict(found["topic"][topic])


def events(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    return kube.list_objects(EVENT, namespace)


def test_admin_backend_creates_topics_config_and_secrets(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    prefix = f"op-{uuid.uuid4().hex[:8]}"
    secret(kube, namespace, "discord-webhook", {"url": WEBHOOK_URL})
    secret(kube, namespace, "discord-bot", {"token": BOT_TOKEN})
    name = create_pipeline(
        kube,
        namespace,
        admin_spec(
            bootstrap,
            prefix,
            secrets={
                "discordWebhook": {"name": "discord-webhook"},
                "discordBotToken": {"name": "discord-bot"},
            },
        ),
    )
    ready = wait_condition(kube, namespace, name, "Ready", "True")
    assert ready["reason"] == "Reconciled"

    # The lifecycle topics are partitioned like `formatted` (sachbearbeiter reads them side by side);
    # dead-letter topics take topicDefaults.
    partitions = {
        "intake": 2,
        "formatted": 3,
        "errors": 1,
        "commands": 3,
        "events": 3,
        "state": 3,
        "formatted-dlq": 2,
        "commands-dlq": 2,
    }
    topic = {role: f"{prefix}-{role}" for role in partitions}
    assert kafka_partitions(bootstrap, list(topic.values())) == {topic[r]: n for r, n in partitions.items()}
    status = (kube.get(PIPELINE, namespace, name) or {})["status"]
    assert status["topicsReady"] == "8/8"
    assert status["observedGeneration"] == 1
    assert {t["role"]: (t["name"], t["partitions"], t["replicas"], t["ready"]) for t in status["topics"]} == {
        role: (topic[role], count, 1, True) for role, count in partitions.items()
    }
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "TopicsReady": "True",
        "SecretsReady": "True",
        "ConfigReady": "True",
    }

    config = kube.get(CONFIG_MAP, namespace, "franz-tickets-config") or {}
    assert config["data"] == {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ERRORS_TOPIC": topic["errors"],
        # the staff desk's defaults (no spec.discord here)
        "REOPEN_DAYS": "7",
        "DISCORD_MESSAGE_CONTENT": "false",
        "SOURCE_TOPIC": topic["intake"],
        "TARGET_TOPIC": topic["formatted"],
        "DLQ_TOPIC": topic["formatted-dlq"],
        "GROUP_ID": f"franz-{namespace}-tickets-aufbereitung",
        "KAFKA_TOPICS": f"{topic['errors']},{topic['formatted-dlq']},{topic['commands-dlq']}",
        "CONSUMER_GROUP": f"franz-{namespace}-tickets-absturz",
        "KAFKA_TOPIC": topic["intake"],
        "KUMMERKASTEN_GROUP_ID": f"franz-{namespace}-tickets-kummerkasten",
        "FORMATTED_TOPIC": topic["formatted"],
        "COMMANDS_TOPIC": topic["commands"],
        "EVENTS_TOPIC": topic["events"],
        "STATE_TOPIC": topic["state"],
        "COMMANDS_DLQ_TOPIC": topic["commands-dlq"],
        "SACHBEARBEITER_GROUP_ID": f"franz-{namespace}-tickets-sachbearbeiter",
    }
    state_config = topic_configs(bootstrap, topic["state"])
    assert state_config["cleanup.policy"]["value"] == "compact"
    assert topic_configs(bootstrap, topic["events"])["retention.ms"]["value"] == "-1"
    projected = kube.get(SECRET, namespace, "franz-tickets-secrets") or {}
    decoded = {key: base64.b64decode(value).decode() for key, value in projected["data"].items()}
    assert decoded == {"DISCORD_WEBHOOK_URL": WEBHOOK_URL, "DISCORD_TOKEN": BOT_TOKEN}
    pipeline_uid = (kube.get(PIPELINE, namespace, name) or {})["metadata"]["uid"]
    for owned in (config, projected):
        assert owned["metadata"]["ownerReferences"][0]["uid"] == pipeline_uid
        assert owned["metadata"]["labels"][LABEL_PIPELINE] == name

    # kopf posts Events in the background (with retries), so they may land just after the status.
    def messages() -> list[str]:
        return [event["message"] for event in events(kube, namespace)]

    wait_until(lambda: any(f"created topic {topic['formatted']}" in message for message in messages()))
    wait_until(lambda: any("created ConfigMap franz-tickets-config" in message for message in messages()))
    # Retain: no finalizer, so deleting the pipeline never waits for the operator.
    assert FINALIZER not in finalizers(kube, namespace, name)

    assert operator.metric("franz_operator_reconciliations_total", result="ready") >= 1
    assert operator.metric("franz_operator_pipelines", ready="true") >= 1


def test_partitions_grow_and_configs_follow_the_spec(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    prefix = f"op-{uuid.uuid4().hex[:8]}"
    name = create_pipeline(kube, namespace, admin_spec(bootstrap, prefix))
    wait_condition(kube, namespace, name, "Ready", "True")

    kube.merge_patch(
        PIPELINE,
        namespace,
        name,
        # The intake: the lifecycle topics' partitions are fixed (the CRD refuses a change).
        {"spec": {"topics": {"intake": {"partitions": 5, "config": {"retention.ms": "3600000"}}}}},
    )
    intake = f"{prefix}-intake"
    wait_until(lambda: kafka_partitions(bootstrap, [intake]) == {intake: 5}, timeout=30)

    def status_shows_five() -> bool:
        status = (kube.get(PIPELINE, namespace, name) or {}).get("status") or {}
        return status.get("observedGeneration") == 2 and any(
            t["name"] == intake and t["partitions"] == 5 for t in status.get("topics", [])
        )

    wait_until(status_shows_five, timeout=30)
    assert topic_configs(bootstrap, intake)["retention.ms"]["value"] == "3600000"


def test_a_topic_deleted_in_kafka_comes_back_and_the_loss_is_reported(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    """The services need the topic, so it is created again; its records are gone, so the pipeline says so
    (Kafka's new topic id) until the loss is accepted."""
    prefix = f"op-{uuid.uuid4().hex[:8]}"
    name = create_pipeline(kube, namespace, admin_spec(bootstrap, prefix))
    wait_condition(kube, namespace, name, "Ready", "True")
    intake = f"{prefix}-intake"
    old_id = kafka_topic_ids(bootstrap, [intake])[intake]
    assert status_topics(kube, namespace, name)["intake"]["topicId"] == old_id
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([intake])
    finally:
        admin.close()
    wait_until(lambda: kafka_partitions(bootstrap, [intake]) == {intake: 2}, timeout=30)
    recreated = wait_until(
        lambda: (c := condition(kube, namespace, name, "TopicsReady")).get("reason") == "TopicRecreated" and c
    )
    new_id = kafka_topic_ids(bootstrap, [intake])[intake]
    assert f"(topicId {old_id} is now {new_id})" in recreated["message"]
    wait_until(lambda: any(e["reason"] == "TopicRecreated" for e in events(kube, namespace)))
    assert operator.metric("franz_operator_topics_recreated_total", backend="admin") >= 1

    kube.merge_patch(
        PIPELINE, namespace, name, {"metadata": {"annotations": {ANNOTATION_ACCEPT_TOPIC_IDS: new_id}}}
    )
    wait_condition(kube, namespace, name, "Ready", "True")
    assert status_topics(kube, namespace, name)["intake"]["topicId"] == new_id
    # One Event per recreation, however many reconciles saw it (and one per condition that changed).
    assert len([e for e in events(kube, namespace) if e["message"].startswith(f"topic {intake} was")]) == 1


def test_missing_secret_is_named_and_recovers_when_created(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    name = create_pipeline(
        kube,
        namespace,
        admin_spec(
            bootstrap,
            f"op-{uuid.uuid4().hex[:8]}",
            secrets={"discordWebhook": {"name": "hook", "key": "url"}},
        ),
    )
    missing = wait_condition(kube, namespace, name, "SecretsReady", "False")
    assert missing["reason"] == "SecretMissing"
    assert f"Secret {namespace}/hook" in missing["message"]
    assert "does not exist" in missing["message"]
    assert condition(kube, namespace, name, "Ready")["status"] == "False"
    assert kube.get(SECRET, namespace, "franz-tickets-secrets") is None

    secret(kube, namespace, "hook", {"wrong-key": WEBHOOK_URL})
    wait_until(
        lambda: "has no key 'url'" in condition(kube, namespace, name, "SecretsReady").get("message", "")
    )

    secret(kube, namespace, "hook", {"url": WEBHOOK_URL})
    wait_condition(kube, namespace, name, "Ready", "True")
    warnings = [e for e in events(kube, namespace) if e["type"] == "Warning"]
    assert any(e["reason"] == "SecretMissing" for e in warnings)


def test_rotating_a_secret_rolls_the_pipelines_deployments(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    secret(kube, namespace, "hook", {"url": WEBHOOK_URL})
    deployment = deployment_body(namespace, "absturz", pipeline="tickets")
    kube.create(DEPLOYMENT, namespace, deployment)
    unrelated = deployment_body(namespace, "someone-else", pipeline="other")
    kube.create(DEPLOYMENT, namespace, unrelated)
    name = create_pipeline(
        kube,
        namespace,
        admin_spec(bootstrap, f"op-{uuid.uuid4().hex[:8]}", secrets={"discordWebhook": {"name": "hook"}}),
    )
    wait_condition(kube, namespace, name, "Ready", "True")
    first = wait_until(lambda: config_hash(kube, namespace, "absturz"))

    rotated = "https://discord.com/api/webhooks/123/rotated-token"
    secret(kube, namespace, "hook", {"url": rotated})

    def projected_value() -> str:
        found = kube.get(SECRET, namespace, "franz-tickets-secrets") or {}
        return base64.b64decode(found["data"]["DISCORD_WEBHOOK_URL"]).decode()

    wait_until(lambda: projected_value() == rotated, timeout=30)
    second = wait_until(lambda: (h := config_hash(kube, namespace, "absturz")) != first and h, timeout=30)
    assert second != first
    assert config_hash(kube, namespace, "someone-else") is None

    # Secret values never reach status, events or the operator's log.
    texts = [str(kube.get(PIPELINE, namespace, name)), *(str(e) for e in events(kube, namespace))]
    texts.append(operator.log_path.read_text())
    for text in texts:
        assert "rotated-token" not in text
        assert "very-secret-webhook-token" not in text


def deployment_body(namespace: str, name: str, *, pipeline: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {LABEL_PIPELINE: pipeline}},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "franz:dev", "args": ["absturz"]}]},
            },
        },
    }


def config_hash(kube: Kube, namespace: str, name: str, kind: Kind = DEPLOYMENT) -> str | None:
    found = kube.get(kind, namespace, name) or {}
    annotations = found["spec"]["template"]["metadata"].get("annotations") or {}
    value: str | None = annotations.get(ANNOTATION_CONFIG_HASH)
    return value


def test_a_secret_reference_removed_from_the_spec_removes_its_value(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    secret(kube, namespace, "hook", {"url": WEBHOOK_URL})
    secret(kube, namespace, "bot", {"token": BOT_TOKEN})
    kube.create(DEPLOYMENT, namespace, deployment_body(namespace, "kummerkasten", pipeline="tickets"))
    references = {"discordWebhook": {"name": "hook"}, "discordBotToken": {"name": "bot"}}
    name = create_pipeline(
        kube, namespace, admin_spec(bootstrap, f"op-{uuid.uuid4().hex[:8]}", secrets=references)
    )
    wait_condition(kube, namespace, name, "Ready", "True")
    first = wait_until(lambda: config_hash(kube, namespace, "kummerkasten"))

    def projected_keys() -> set[str]:
        return set((kube.get(SECRET, namespace, "franz-tickets-secrets") or {}).get("data") or {})

    assert projected_keys() == {"DISCORD_WEBHOOK_URL", "DISCORD_TOKEN"}
    kube.merge_patch(PIPELINE, namespace, name, {"spec": {"secrets": {"discordBotToken": None}}})
    wait_until(lambda: projected_keys() == {"DISCORD_WEBHOOK_URL"}, timeout=30)
    # The pods restart without the value.
    wait_until(lambda: config_hash(kube, namespace, "kummerkasten") != first, timeout=30)


def test_deleted_config_map_and_secret_come_back(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    secret(kube, namespace, "hook", {"url": WEBHOOK_URL})
    name = create_pipeline(
        kube,
        namespace,
        admin_spec(bootstrap, f"op-{uuid.uuid4().hex[:8]}", secrets={"discordWebhook": {"name": "hook"}}),
    )
    wait_condition(kube, namespace, name, "Ready", "True")
    assert kube.delete(CONFIG_MAP, namespace, "franz-tickets-config")
    assert kube.delete(SECRET, namespace, "franz-tickets-secrets")
    wait_until(lambda: kube.get(CONFIG_MAP, namespace, "franz-tickets-config"), timeout=30)
    wait_until(lambda: kube.get(SECRET, namespace, "franz-tickets-secrets"), timeout=30)


def strimzi_spec(strimzi_namespace: str | None, prefix: str, bootstrap: str, **extra: Any) -> dict[str, Any]:
    """A Strimzi pipeline whose topics fit the one local broker (replicas 1) unless `extra` says otherwise."""
    strimzi = {"cluster": "my-cluster", **({"namespace": strimzi_namespace} if strimzi_namespace else {})}
    return {
        "kafka": {"bootstrapServers": bootstrap, "topicBackend": "strimzi", "strimzi": strimzi},
        "topicDefaults": {"partitions": 2, "replicas": 1},
        "topics": {
            "intake": {"name": f"{prefix}MSG"},
            "formatted": {"name": f"{prefix}-formatted", "partitions": 3},
            "errors": {"name": f"{prefix}-errors", "partitions": 1},
            **{role: {"name": f"{prefix}-{role}"} for role in LIFECYCLE},
        },
        **extra,
    }


def backend_spec(backend: str, strimzi_namespace: str, prefix: str, bootstrap: str) -> dict[str, Any]:
    """The same pipeline on either backend (topic names differ: `<prefix>MSG` or `<prefix>-intake`)."""
    if backend == "strimzi":
        return strimzi_spec(strimzi_namespace, prefix, bootstrap)
    return admin_spec(bootstrap, prefix)


@pytest.fixture
def strimzi(kubeconfig: Path, kube: Kube, bootstrap: str) -> Iterator[TopicOperator]:
    """Strimzi's topic operator for a namespace of its own and the Kafka `my-cluster` (the local broker)."""
    with TopicOperator(kubeconfig=kubeconfig, bootstrap=bootstrap, namespace=new_namespace(kube)) as running:
        yield running


def owned_topics(kube: Kube, namespace: str, pipeline: str) -> list[dict[str, Any]]:
    return kube.list_objects(KAFKA_TOPIC, namespace, label_selector=f"{LABEL_PIPELINE}={pipeline}")


def status_topics(kube: Kube, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    """The pipeline's status entry of each topic, by role."""
    status = (kube.get(PIPELINE, namespace, name) or {}).get("status") or {}
    return {topic["role"]: topic for topic in status.get("topics") or []}


def kafka_topic_ids(bootstrap: str, topics: list[str]) -> dict[str, str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: t["topic_id"] for t in admin.describe_topics(topics) if t["error_code"] == 0}
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for futures in [producer.send(topic, f"record {n}".encode()) for n in range(count)]:
            futures.get(timeout=30)
    finally:
        producer.close()


def test_strimzi_backend_writes_kafka_topics_and_strimzi_makes_them(
    kube: Kube, operator: ServiceProcess, namespace: str, strimzi: TopicOperator, bootstrap: str
) -> None:
    prefix = f"op{uuid.uuid4().hex[:6]}"
    name = create_pipeline(kube, namespace, strimzi_spec(strimzi.namespace, prefix, bootstrap))
    topics = wait_until(lambda: len(found := owned_topics(kube, strimzi.namespace, name)) == 8 and found)
    by_name = {t["spec"]["topicName"]: t for t in topics}
    assert set(by_name) == {
        f"{prefix}MSG",
        f"{prefix}-formatted",
        f"{prefix}-errors",
        f"{prefix}-formatted-dlq",
        *(f"{prefix}-{role}" for role in LIFECYCLE),
        f"{prefix}-commands-dlq",
    }
    for topic in topics:
        assert topic["metadata"]["labels"][STRIMZI_CLUSTER_LABEL] == "my-cluster"
        assert topic["spec"]["replicas"] == 1
    assert by_name[f"{prefix}-state"]["spec"]["partitions"] == 3
    assert by_name[f"{prefix}-state"]["spec"]["config"] == {"cleanup.policy": "compact"}
    # No config, no key: an empty map would be null after server-side apply, which Strimzi's schema refuses.
    assert "config" not in by_name[f"{prefix}MSG"]["spec"]
    # A Kafka name that is not a Kubernetes name gets a lower-cased one with a digest.
    assert by_name[f"{prefix}MSG"]["metadata"]["name"].startswith(f"{prefix.lower()}msg-")

    wait_condition(kube, namespace, name, "Ready", "True")
    assert (kube.get(PIPELINE, namespace, name) or {})["status"]["topicsReady"] == "8/8"
    assert kafka_partitions(bootstrap, [f"{prefix}-formatted", f"{prefix}-state"]) == {
        f"{prefix}-formatted": 3,
        f"{prefix}-state": 3,
    }
    # The status records each topic's id, as Kafka and Strimzi (its nanosecond timestamps and all) have it.
    ids = kafka_topic_ids(bootstrap, list(by_name))
    assert {t["name"]: t["topicId"] for t in status_topics(kube, namespace, name).values()} == ids
    formatted = kube.get(KAFKA_TOPIC, strimzi.namespace, by_name[f"{prefix}-formatted"]["metadata"]["name"])
    assert formatted is not None
    assert formatted["status"]["topicId"] == ids[f"{prefix}-formatted"]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", formatted["status"]["conditions"][0]["lastTransitionTime"]
    )
    assert STRIMZI_FINALIZER in formatted["metadata"]["finalizers"]


def test_deleting_a_pipelines_kafka_topic_is_refused_and_a_recreated_topic_is_reported(
    kube: Kube,
    operator: ServiceProcess,
    namespace: str,
    strimzi: TopicOperator,
    bootstrap: str,
    kubectl: Path,
    kubeconfig: Path,
) -> None:
    """Strimzi deletes the topic of a deleted KafkaTopic, records and all: the API server refuses it; with
    the opt-out, the operator's new KafkaTopic is a new, empty topic, and the pipeline says so until the
    loss is accepted."""
    prefix = f"op{uuid.uuid4().hex[:6]}"
    name = create_pipeline(kube, namespace, strimzi_spec(strimzi.namespace, prefix, bootstrap))
    wait_condition(kube, namespace, name, "Ready", "True")
    # Not the errors topic: the operator reports the pipeline's not-Ready conditions there.
    topic = f"{prefix}-formatted"
    produce(bootstrap, topic, 10)
    old_id = kafka_topic_ids(bootstrap, [topic])[topic]

    # What `kubectl delete kafkatopic` answers.
    delete: list[str | Path] = [
        kubectl,
        "--kubeconfig",
        kubeconfig,
        "delete",
        "kafkatopic",
        topic,
        "-n",
        strimzi.namespace,
    ]
    refused = subprocess.run(delete, capture_output=True, text=True)
    assert refused.returncode != 0
    assert f"belongs to FranzPipeline {namespace}/{name}" in refused.stderr
    assert f"makes Strimzi delete the topic {topic} and its records in Kafka" in refused.stderr
    assert "annotate the KafkaTopic franz.dev/allow-deletion=true" in refused.stderr
    assert len(read_topic(bootstrap, topic, expected=10)) == 10

    # Opted out: Strimzi deletes the topic, the operator makes a new KafkaTopic, Strimzi a new empty topic.
    kube.merge_patch(
        KAFKA_TOPIC,
        strimzi.namespace,
        topic,
        {"metadata": {"annotations": {ANNOTATION_ALLOW_DELETION: "true"}}},
    )
    subprocess.run(delete, capture_output=True, text=True, check=True)
    recreated = wait_condition(kube, namespace, name, "TopicsReady", "False", timeout=60)
    recreated = wait_until(
        lambda: (
            (c := condition(kube, namespace, name, "TopicsReady")).get("reason") == "TopicRecreated" and c
        ),
        timeout=60,
    )
    new_id = kafka_topic_ids(bootstrap, [topic])[topic]
    assert new_id != old_id
    assert (
        f"topic {topic} was deleted and created again in Kafka (topicId {old_id} is now {new_id})"
        in recreated["message"]
    )
    assert "the records it held are gone" in recreated["message"]
    accept = f"kubectl annotate fp {name} -n {namespace} --overwrite {ANNOTATION_ACCEPT_TOPIC_IDS}={new_id}"
    assert accept in recreated["message"]
    assert condition(kube, namespace, name, "Ready")["reason"] == "TopicRecreated"
    entry = status_topics(kube, namespace, name)["formatted"]
    assert (entry["topicId"], entry["newTopicId"], entry["ready"]) == (old_id, new_id, False)
    assert read_topic(bootstrap, topic, expected=0, timeout=1) == []
    wait_until(
        lambda: any(
            e["reason"] == "TopicRecreated" and e["type"] == "Warning" and new_id in e["message"]
            for e in events(kube, namespace)
        )
    )
    assert operator.metric("franz_operator_topics_recreated_total", backend="strimzi") >= 1

    # Accepted: the new id is the topic's, and the pipeline is Ready again.
    kube.merge_patch(
        PIPELINE, namespace, name, {"metadata": {"annotations": {ANNOTATION_ACCEPT_TOPIC_IDS: new_id}}}
    )
    wait_condition(kube, namespace, name, "Ready", "True")
    assert status_topics(kube, namespace, name)["formatted"]["topicId"] == new_id
    assert "newTopicId" not in status_topics(kube, namespace, name)["formatted"]


def test_a_terminating_kafka_topic_is_never_adopted(
    kube: Kube, operator: ServiceProcess, namespace: str, kubeconfig: Path, bootstrap: str
) -> None:
    """A KafkaTopic being deleted (Strimzi down, its finalizer holding it) is reported, not written to;
    once Strimzi has deleted the topic the operator makes it again, and the new topic is reported."""
    strimzi_namespace = new_namespace(kube)
    prefix = f"op{uuid.uuid4().hex[:6]}"
    name = create_pipeline(kube, namespace, strimzi_spec(strimzi_namespace, prefix, bootstrap))
    with TopicOperator(kubeconfig=kubeconfig, bootstrap=bootstrap, namespace=strimzi_namespace):
        wait_condition(kube, namespace, name, "Ready", "True")
    intake = next(
        t for t in owned_topics(kube, strimzi_namespace, name) if t["spec"]["topicName"] == f"{prefix}MSG"
    )
    kafka_name = intake["metadata"]["name"]
    kube.merge_patch(
        KAFKA_TOPIC,
        strimzi_namespace,
        kafka_name,
        {"metadata": {"annotations": {ANNOTATION_ALLOW_DELETION: "true"}}},
    )
    assert kube.delete(KAFKA_TOPIC, strimzi_namespace, kafka_name)

    terminating = wait_until(
        lambda: (
            (c := condition(kube, namespace, name, "TopicsReady")).get("reason") == "KafkaTopicTerminating"
            and c
        )
    )
    assert f"KafkaTopic {strimzi_namespace}/{kafka_name} is being deleted" in terminating["message"]
    assert f"finalizer {STRIMZI_FINALIZER}" in terminating["message"]
    # A spec change does not reach it either.
    kube.merge_patch(PIPELINE, namespace, name, {"spec": {"topics": {"intake": {"partitions": 3}}}})
    wait_until(lambda: condition(kube, namespace, name, "TopicsReady").get("observedGeneration") == 2)
    assert (kube.get(KAFKA_TOPIC, strimzi_namespace, kafka_name) or {})["spec"]["partitions"] == 2

    with TopicOperator(kubeconfig=kubeconfig, bootstrap=bootstrap, namespace=strimzi_namespace):
        reported = wait_until(
            lambda: (
                (c := condition(kube, namespace, name, "TopicsReady")).get("reason") == "TopicRecreated" and c
            ),
            timeout=60,
        )
    assert f"topic {prefix}MSG was deleted and created again" in reported["message"]


def test_a_config_key_removed_from_the_spec_is_reset_and_later_changes_still_apply(
    kube: Kube, operator: ServiceProcess, namespace: str, strimzi: TopicOperator, bootstrap: str
) -> None:
    prefix = f"op{uuid.uuid4().hex[:6]}"
    spec = strimzi_spec(strimzi.namespace, prefix, bootstrap)
    spec["topicDefaults"]["config"] = {"retention.ms": "3600000"}
    name = create_pipeline(kube, namespace, spec)
    wait_condition(kube, namespace, name, "Ready", "True")
    intake = f"{prefix}MSG"
    assert topic_configs(bootstrap, intake)["retention.ms"]["value"] == "3600000"

    kube.merge_patch(PIPELINE, namespace, name, {"spec": {"topicDefaults": {"config": None}}})
    # Strimzi resets a removed key to the broker's default.
    wait_until(
        lambda: topic_configs(bootstrap, intake).get("retention.ms", {}).get("value") != "3600000", timeout=30
    )
    kafka_topic = next(
        t for t in owned_topics(kube, strimzi.namespace, name) if t["spec"]["topicName"] == intake
    )
    assert "config" not in kafka_topic["spec"]

    # The next change applies: nothing the operator wrote before blocks it.
    kube.merge_patch(PIPELINE, namespace, name, {"spec": {"topics": {"intake": {"partitions": 4}}}})
    wait_until(lambda: kafka_partitions(bootstrap, [intake]) == {intake: 4}, timeout=30)
    wait_condition(kube, namespace, name, "Ready", "True")
    assert condition(kube, namespace, name, "TopicsReady")["reason"] == "Ready"


def test_replica_changes_strimzi_cannot_make_are_named(
    kube: Kube, operator: ServiceProcess, namespace: str, strimzi: TopicOperator, bootstrap: str
) -> None:
    prefix = f"op{uuid.uuid4().hex[:6]}"
    name = create_pipeline(kube, namespace, strimzi_spec(strimzi.namespace, prefix, bootstrap))
    wait_condition(kube, namespace, name, "Ready", "True")
    kube.merge_patch(PIPELINE, namespace, name, {"spec": {"topics": {"errors": {"replicas": 2}}}})
    refused = wait_until(
        lambda: (
            (c := condition(kube, namespace, name, "TopicsReady")).get("reason")
            == "ReplicasChangeNotSupported"
            and c
        )
    )
    assert "Replication factor change not supported, but required for partitions [0]" in refused["message"]
    assert (
        "set spec.topics.errors.replicas (or spec.topicDefaults.replicas) back to the topic"
        in refused["message"]
    )
    assert "enable Cruise Control" in refused["message"]
    kube.merge_patch(PIPELINE, namespace, name, {"spec": {"topics": {"errors": {"replicas": 1}}}})
    wait_condition(kube, namespace, name, "Ready", "True")


@pytest.mark.parametrize("backend", ["strimzi", "admin"])
def test_more_replicas_than_brokers_names_the_fix(
    kube: Kube, operator: ServiceProcess, namespace: str, strimzi: TopicOperator, bootstrap: str, backend: str
) -> None:
    prefix = f"op{uuid.uuid4().hex[:6]}"
    spec = backend_spec(backend, strimzi.namespace, prefix, bootstrap)
    del spec["topicDefaults"]["replicas"]  # 3, the default, on a one-broker cluster
    name = create_pipeline(kube, namespace, spec)
    refused = wait_until(
        lambda: (
            (c := condition(kube, namespace, name, "TopicsReady")).get("reason") == "NotEnoughBrokers"
            and "waiting" not in c["message"]
            and c
        ),
        timeout=60,
    )
    assert (
        f"{prefix}-formatted: cannot create: Kafka has fewer brokers than the 3 replicas asked for"
        in refused["message"]
    )
    fix = (
        "set spec.topics.formatted.replicas (or spec.topicDefaults.replicas) to at most the number of brokers"
    )
    assert f"{fix}, or add brokers" in refused["message"]
    assert "set spec.topicDefaults.replicas to at most the number of brokers" in refused["message"]  # DLQs
    assert "InvalidReplicationFactor" in refused["message"] or backend == "admin"


def test_kafka_topics_no_topic_operator_watches_are_named_after_a_while(
    kube: Kube, operator: ServiceProcess, namespace: str, strimzi: TopicOperator, bootstrap: str
) -> None:
    """`strimzi.namespace` omitted: the KafkaTopics go to the pipeline's namespace, which Strimzi does not
    watch; after the grace period (5 s here, a minute by default) the status says so."""
    name = create_pipeline(kube, namespace, strimzi_spec(None, f"op{uuid.uuid4().hex[:6]}", bootstrap))
    silent = wait_until(
        lambda: (
            (c := condition(kube, namespace, name, "TopicsReady")).get("reason") == "StrimziNotReconciling"
            and c
        ),
        timeout=60,
    )
    assert f"they are in namespace {namespace}" in silent["message"]
    assert (
        "spec.kafka.strimzi.namespace must name the namespace Strimzi's topic operator watches"
        in silent["message"]
    )
    assert len(owned_topics(kube, namespace, name)) == 8

    kube.merge_patch(
        PIPELINE, namespace, name, {"spec": {"kafka": {"strimzi": {"namespace": strimzi.namespace}}}}
    )
    wait_condition(kube, namespace, name, "Ready", "True", timeout=60)


@pytest.mark.parametrize("backend", ["strimzi", "admin"])
def test_partitions_added_in_kafka_are_reported_with_kafkas_count(
    kube: Kube, operator: ServiceProcess, namespace: str, strimzi: TopicOperator, bootstrap: str, backend: str
) -> None:
    """Strimzi notices at its next periodic reconcile, the admin backend at the operator's next one."""
    spec = backend_spec(backend, strimzi.namespace, f"op{uuid.uuid4().hex[:6]}", bootstrap)
    name = create_pipeline(kube, namespace, spec)
    wait_condition(kube, namespace, name, "Ready", "True")
    intake = spec["topics"]["intake"]["name"]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_partitions({intake: 5})
    finally:
        admin.close()

    grown = wait_until(
        lambda: (
            (c := condition(kube, namespace, name, "TopicsReady")).get("reason") == "MorePartitionsInKafka"
            and c
        ),
        timeout=30,
    )
    assert f"{intake}: the topic has 5 partitions in Kafka, the spec asks for 2" in grown["message"]
    assert "raise spec.topics.intake.partitions to at least 5" in grown["message"]
    assert status_topics(kube, namespace, name)["intake"]["partitions"] == 5

    kube.merge_patch(PIPELINE, namespace, name, {"spec": {"topics": {"intake": {"partitions": 5}}}})
    wait_condition(kube, namespace, name, "Ready", "True")


def test_a_kafka_topic_of_another_pipeline_is_not_taken_over(
    kube: Kube, operator: ServiceProcess, namespace: str, strimzi: TopicOperator, bootstrap: str
) -> None:
    prefix = f"op{uuid.uuid4().hex[:6]}"
    first = create_pipeline(kube, namespace, strimzi_spec(strimzi.namespace, prefix, bootstrap), name="first")
    wait_condition(kube, namespace, first, "Ready", "True")
    second = create_pipeline(
        kube, namespace, strimzi_spec(strimzi.namespace, prefix, bootstrap), name="second"
    )
    conflict = wait_until(
        lambda: (
            "belongs to pipeline"
            in (c := condition(kube, namespace, second, "TopicsReady")).get("message", "")
            and c
        )
    )
    assert f"belongs to pipeline {namespace}/first" in conflict["message"]
    assert len(owned_topics(kube, strimzi.namespace, first)) == 8
    assert condition(kube, namespace, first, "Ready")["status"] == "True"


def test_a_second_kafka_topic_for_one_topic_is_strimzis_resource_conflict(
    kube: Kube, operator: ServiceProcess, namespace: str, strimzi: TopicOperator, bootstrap: str
) -> None:
    """A KafkaTopic made by hand for the pipeline's topic name, under another Kubernetes name: Strimzi lets
    the older one manage the topic and says so on the other; the pipeline quotes it."""
    prefix = f"op{uuid.uuid4().hex[:6]}"
    errors = f"{prefix}-errors"
    kube.create(
        KAFKA_TOPIC,
        strimzi.namespace,
        {
            "apiVersion": f"{KAFKA_TOPIC.group}/{KAFKA_TOPIC.version}",
            "kind": "KafkaTopic",
            "metadata": {"name": "by-hand", "labels": {STRIMZI_CLUSTER_LABEL: "my-cluster"}},
            "spec": {"topicName": errors, "partitions": 1, "replicas": 1},
        },
    )
    name = create_pipeline(kube, namespace, strimzi_spec(strimzi.namespace, prefix, bootstrap))
    conflict = wait_until(
        lambda: (
            "ResourceConflict" in (c := condition(kube, namespace, name, "TopicsReady")).get("message", "")
            and c
        )
    )
    managed_by = f"Managed by Ref{{namespace='{strimzi.namespace}', name='by-hand'}}"
    assert f"{errors}: Strimzi: ResourceConflict: {managed_by}" in conflict["message"]


def new_namespace(kube: Kube) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def test_deletion_policies(kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str) -> None:
    kept_prefix, deleted_prefix = f"op-{uuid.uuid4().hex[:8]}", f"op-{uuid.uuid4().hex[:8]}"
    kept = create_pipeline(kube, namespace, admin_spec(bootstrap, kept_prefix), name="kept")
    deleted = create_pipeline(
        kube, namespace, admin_spec(bootstrap, deleted_prefix, deletionPolicy="Delete"), name="deleted"
    )
    wait_condition(kube, namespace, kept, "Ready", "True")
    wait_condition(kube, namespace, deleted, "Ready", "True")
    wait_until(
        lambda: (
            FINALIZER in ((kube.get(PIPELINE, namespace, deleted) or {})["metadata"].get("finalizers") or [])
        )
    )

    kube.delete(PIPELINE, namespace, kept)
    kube.delete(PIPELINE, namespace, deleted)
    wait_until(lambda: kube.get(PIPELINE, namespace, kept) is None, timeout=15)
    wait_until(lambda: kube.get(PIPELINE, namespace, deleted) is None, timeout=30)

    kept_topics = [f"{kept_prefix}-intake", f"{kept_prefix}-formatted"]
    assert set(kafka_partitions(bootstrap, kept_topics)) == set(kept_topics)
    deleted_topics = [
        f"{deleted_prefix}-intake",
        f"{deleted_prefix}-formatted",
        f"{deleted_prefix}-formatted-dlq",
    ]
    wait_until(lambda: not kafka_partitions(bootstrap, deleted_topics), timeout=30)


def test_strimzi_delete_policy_deletes_the_topics_before_the_pipeline_goes(
    kube: Kube, operator: ServiceProcess, namespace: str, kubeconfig: Path, bootstrap: str
) -> None:
    """The operator annotates its KafkaTopics (the admission policy lets them go) and deletes them; the
    pipeline stays until Strimzi has deleted the topics in Kafka and let the KafkaTopics go."""
    strimzi_namespace = new_namespace(kube)
    prefix = f"op{uuid.uuid4().hex[:6]}"
    name = create_pipeline(
        kube, namespace, strimzi_spec(strimzi_namespace, prefix, bootstrap, deletionPolicy="Delete")
    )
    with TopicOperator(kubeconfig=kubeconfig, bootstrap=bootstrap, namespace=strimzi_namespace):
        wait_condition(kube, namespace, name, "Ready", "True")
    wait_until(lambda: FINALIZER in finalizers(kube, namespace, name))
    kube.delete(PIPELINE, namespace, name)
    # Strimzi is down: the KafkaTopics are Terminating, and the pipeline waits for them.
    wait_until(
        lambda: any(
            "waiting for Strimzi to delete the topics" in e["message"] for e in events(kube, namespace)
        ),
        timeout=30,
    )
    assert kube.get(PIPELINE, namespace, name) is not None
    assert all(t["metadata"].get("deletionTimestamp") for t in owned_topics(kube, strimzi_namespace, name))
    assert f"{prefix}-errors" in kafka_partitions(bootstrap, [f"{prefix}-errors"])

    with TopicOperator(kubeconfig=kubeconfig, bootstrap=bootstrap, namespace=strimzi_namespace):
        wait_until(lambda: kube.get(PIPELINE, namespace, name) is None, timeout=60)
    assert owned_topics(kube, strimzi_namespace, name) == []
    assert kafka_partitions(bootstrap, [f"{prefix}MSG", f"{prefix}-errors"]) == {}


@pytest.fixture
def lone_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    broker = LocalKafka(data_dir=tmp_path / "kafka")
    yield broker
    broker.close()


def test_kafka_down_is_reported_and_retried_until_it_is_back(
    kube: Kube, operator: ServiceProcess, namespace: str, lone_kafka: LocalKafka
) -> None:
    prefix = f"op-{uuid.uuid4().hex[:8]}"
    name = create_pipeline(kube, namespace, admin_spec(lone_kafka.bootstrap, prefix))
    down = wait_condition(kube, namespace, name, "TopicsReady", "False", timeout=40)
    assert down["reason"] == "KafkaUnreachable"
    assert lone_kafka.bootstrap in down["message"]
    assert "retrying" in down["message"]

    lone_kafka.start()
    wait_condition(kube, namespace, name, "Ready", "True", timeout=90)
    assert set(kafka_partitions(lone_kafka.bootstrap, [f"{prefix}-intake"])) == {f"{prefix}-intake"}


def test_a_pipeline_whose_topics_cannot_be_deleted_stays_until_its_policy_says_retain(
    kube: Kube, operator: ServiceProcess, namespace: str, lone_kafka: LocalKafka
) -> None:
    """Kafka is down: Delete cannot be honoured, so the pipeline stays and says why; Retain lets it go."""
    spec = admin_spec(lone_kafka.bootstrap, f"op-{uuid.uuid4().hex[:8]}", deletionPolicy="Delete")
    name = create_pipeline(kube, namespace, spec)
    wait_until(
        lambda: FINALIZER in ((kube.get(PIPELINE, namespace, name) or {})["metadata"].get("finalizers") or [])
    )
    kube.delete(PIPELINE, namespace, name)
    wait_until(
        lambda: any("cannot delete the topics yet" in e["message"] for e in events(kube, namespace)),
        timeout=60,
    )
    assert kube.get(PIPELINE, namespace, name) is not None

    kube.merge_patch(PIPELINE, namespace, name, {"spec": {"deletionPolicy": "Retain"}})
    wait_until(lambda: kube.get(PIPELINE, namespace, name) is None, timeout=60)


def test_the_umbrella_charts_services_find_what_the_operator_writes(
    kube: Kube, operator: ServiceProcess, helm: Path, kubeconfig: Path, bootstrap: str, tmp_path: Path
) -> None:
    """The contract between the charts and the operator: names, keys, labels and the rollout annotation."""
    namespace = new_namespace(kube)
    secret(kube, namespace, "discord-webhook", {"url": WEBHOOK_URL})
    secret(kube, namespace, "discord-bot", {"token": BOT_TOKEN})
    prefix = f"op-{uuid.uuid4().hex[:8]}"
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "global": {"pipeline": "support"},
                # The operator under test runs as a process here; the release brings the services.
                "operator": {"enabled": False},
                "examplePipeline": {
                    "enabled": True,
                    "spec": {
                        "kafka": {"bootstrapServers": bootstrap, "topicBackend": "admin", "strimzi": None},
                        "topicDefaults": {"partitions": 1, "replicas": 1},
                        "topics": {
                            role: {"name": f"{prefix}-{role}"} for role in ("intake", "formatted", "errors")
                        },
                    },
                },
            }
        )
    )
    release = f"franz-{uuid.uuid4().hex[:6]}"
    helm_args = ["--kubeconfig", str(kubeconfig), "--namespace", namespace, "-f", str(values)]
    subprocess.run(
        [str(helm), "install", release, str(CHARTS / "franz"), *helm_args], check=True, capture_output=True
    )
    wait_condition(kube, namespace, "support", "Ready", "True", timeout=60)

    selector = f"{LABEL_PIPELINE}=support"
    workloads = {
        kind: kube.list_objects(kind, namespace, label_selector=selector)
        for kind in (DEPLOYMENT, STATEFUL_SET)
    }
    # Three Deployments, and sachbearbeiter's StatefulSet (its store's volume per replica).
    assert (len(workloads[DEPLOYMENT]), len(workloads[STATEFUL_SET])) == (3, 1)
    deployments = [*workloads[DEPLOYMENT], *workloads[STATEFUL_SET]]
    for deployment in deployments:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for source in container.get("envFrom") or []:
            assert kube.get(CONFIG_MAP, namespace, source["configMapRef"]["name"]) is not None
        for variable in container.get("env") or []:
            reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if reference:
                found = kube.get(SECRET, namespace, reference["name"]) or {}
                assert reference["key"] in (found.get("data") or {}), variable["name"]
    names = [(kind, w["metadata"]["name"]) for kind, listed in workloads.items() for w in listed]
    wait_until(lambda: all(config_hash(kube, namespace, name, kind) for kind, name in names), timeout=30)

    # A helm upgrade leaves the operator's annotation alone: the pods do not roll for nothing.
    before = {name: config_hash(kube, namespace, name, kind) for kind, name in names}
    subprocess.run(
        [str(helm), "upgrade", release, str(CHARTS / "franz"), *helm_args], check=True, capture_output=True
    )
    assert {name: config_hash(kube, namespace, name, kind) for kind, name in names} == before


def finalizers(kube: Kube, namespace: str, name: str) -> list[str]:
    found: list[str] = ((kube.get(PIPELINE, namespace, name) or {})["metadata"].get("finalizers")) or []
    return found


def test_deleting_a_retain_pipeline_never_waits_for_a_stopped_operator(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    """`helm uninstall` of a release with the operator and a pipeline deletes both at once: a Retain
    pipeline must not wait for an operator that is gone; a Delete one has the finalizer its topics need."""
    kept = create_pipeline(kube, namespace, admin_spec(bootstrap, f"op-{uuid.uuid4().hex[:8]}"), name="kept")
    cleaned = create_pipeline(
        kube,
        namespace,
        admin_spec(bootstrap, f"op-{uuid.uuid4().hex[:8]}", deletionPolicy="Delete"),
        name="cleaned",
    )
    for name in (kept, cleaned):
        wait_condition(kube, namespace, name, "Ready", "True", timeout=60)
    assert FINALIZER not in finalizers(kube, namespace, kept)
    assert FINALIZER in finalizers(kube, namespace, cleaned)

    assert operator.stop() == 0
    assert FINALIZER not in finalizers(kube, namespace, kept)
    assert FINALIZER in finalizers(kube, namespace, cleaned)
    kube.delete(PIPELINE, namespace, kept)
    wait_until(lambda: kube.get(PIPELINE, namespace, kept) is None, timeout=10)

    # A Delete pipeline the operator has not seen has no finalizer: deleting it now would leave its
    # topics behind, so the API server refuses and says what to do.
    unseen = create_pipeline(
        kube,
        namespace,
        admin_spec(bootstrap, f"op-{uuid.uuid4().hex[:8]}", deletionPolicy="Delete"),
        name="unseen",
    )
    with pytest.raises(KubeError) as refused:
        kube.delete(PIPELINE, namespace, unseen)
    assert refused.value.status == 403
    assert "the franz operator has not taken charge of it yet" in str(refused.value)
    assert "set spec.deletionPolicy to Retain" in str(refused.value)
    kube.merge_patch(PIPELINE, namespace, unseen, {"spec": {"deletionPolicy": "Retain"}})
    assert kube.delete(PIPELINE, namespace, unseen)

    operator.start()
    operator.wait_until_ready(timeout=60)
    kube.delete(PIPELINE, namespace, cleaned)
    wait_until(lambda: kube.get(PIPELINE, namespace, cleaned) is None, timeout=60)
