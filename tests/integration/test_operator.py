"""The operator, running as `franz operator`, against the real kube-apiserver and (admin backend) real Kafka,
with the rights of its chart's ClusterRole and nothing more.

Strimzi's topic operator is not running: the tests write the KafkaTopic status it would write.
Each test works in its own namespace; every wait polls with a deadline.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from franz.devstack.kafka import LocalKafka
from franz.devstack.kube import LocalControlPlane
from franz_operator.constants import (
    ANNOTATION_CONFIG_HASH,
    FINALIZER,
    GROUP,
    KIND,
    LABEL_PIPELINE,
    STRIMZI_CLUSTER_LABEL,
    VERSION,
)
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
from tests.helpers import ServiceProcess, wait_until
from tests.strimzi import write_status

NAMESPACE = Kind("", "v1", "namespaces")
EVENT = Kind("", "v1", "events")
SERVICE_ACCOUNT = Kind("", "v1", "serviceaccounts")
CLUSTER_ROLE = Kind("rbac.authorization.k8s.io", "v1", "clusterroles")
CLUSTER_ROLE_BINDING = Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
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
    name = f"franz-operator-{uuid.uuid4().hex[:8]}"
    namespace = name
    kube.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kube.create(
        SERVICE_ACCOUNT,
        namespace,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
    )
    rbac_api = "rbac.authorization.k8s.io/v1"
    kube.create(
        CLUSTER_ROLE,
        "",
        {"apiVersion": rbac_api, "kind": "ClusterRole", "metadata": {"name": name}, "rules": CLUSTER_RULES},
    )
    kube.create(
        CLUSTER_ROLE_BINDING,
        "",
        {
            "apiVersion": rbac_api,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )
    create_token: list[str | Path] = [
        kubectl,
        "--kubeconfig",
        control_plane.kubeconfig,
        "create",
        "token",
        name,
        "-n",
        namespace,
    ]
    token = subprocess.run(
        [*create_token, "--duration", "3h"],  # outlives any run of the suite
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = control_plane.write_kubeconfig(
        tmp_path_factory.mktemp("operator-account") / "kubeconfig", token=token
    )
    can_i: list[str | Path] = [kubectl, "--kubeconfig", path, "auth", "can-i"]
    refused = subprocess.run([*can_i, "delete", "namespaces"], capture_output=True, text=True)
    assert refused.stdout.strip() == "no", "the operator acts as its ServiceAccount, not as the admin"
    return path


@pytest.fixture(scope="module")
def operator(operator_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    process = ServiceProcess(
        "operator",
        # A short resync so drift tests take seconds; the default is 30 s.
        env={"KUBECONFIG": str(operator_kubeconfig), "OPERATOR_RESYNC_SECONDS": "2", "LOG_LEVEL": "DEBUG"},
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


def test_a_topic_deleted_in_kafka_comes_back(
    kube: Kube, operator: ServiceProcess, namespace: str, bootstrap: str
) -> None:
    prefix = f"op-{uuid.uuid4().hex[:8]}"
    name = create_pipeline(kube, namespace, admin_spec(bootstrap, prefix))
    wait_condition(kube, namespace, name, "Ready", "True")
    intake = f"{prefix}-intake"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([intake])
    finally:
        admin.close()
    wait_until(lambda: intake not in kafka_partitions(bootstrap, [intake]), timeout=15)
    wait_until(lambda: kafka_partitions(bootstrap, [intake]) == {intake: 2}, timeout=30)


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


def strimzi_spec(strimzi_namespace: str, prefix: str) -> dict[str, Any]:
    return {
        "kafka": {
            "bootstrapServers": "my-cluster-kafka-bootstrap.kafka:9092",
            "topicBackend": "strimzi",
            "strimzi": {"cluster": "my-cluster", "namespace": strimzi_namespace},
        },
        "topics": {
            "intake": {"name": f"{prefix}MSG"},
            "formatted": {"name": f"{prefix}-formatted", "partitions": 6},
            "errors": {"name": f"{prefix}-errors", "partitions": 1},
            **{role: {"name": f"{prefix}-{role}"} for role in LIFECYCLE},
        },
    }


def owned_topics(kube: Kube, namespace: str, pipeline: str) -> list[dict[str, Any]]:
    return kube.list_objects(KAFKA_TOPIC, namespace, label_selector=f"{LABEL_PIPELINE}={pipeline}")


def test_strimzi_backend_writes_kafka_topics_and_reads_their_status(
    kube: Kube, operator: ServiceProcess, namespace: str
) -> None:
    strimzi_namespace = new_namespace(kube)
    prefix = f"op{uuid.uuid4().hex[:6]}"
    name = create_pipeline(kube, namespace, strimzi_spec(strimzi_namespace, prefix))
    topics = wait_until(lambda: len(found := owned_topics(kube, strimzi_namespace, name)) == 8 and found)
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
        assert topic["spec"]["replicas"] == 3
    assert by_name[f"{prefix}-formatted"]["spec"]["partitions"] == 6
    assert by_name[f"{prefix}-state"]["spec"]["partitions"] == 6
    assert by_name[f"{prefix}-state"]["spec"]["config"] == {"cleanup.policy": "compact"}
    # A Kafka name that is not a Kubernetes name gets a lower-cased one with a digest.
    assert by_name[f"{prefix}MSG"]["metadata"]["name"].startswith(f"{prefix.lower()}msg-")

    waiting = wait_condition(kube, namespace, name, "TopicsReady", "False")
    assert "waiting for Strimzi" in waiting["message"]

    for topic in topics:
        write_status(kube, topic, ready=True)
    wait_condition(kube, namespace, name, "Ready", "True")
    assert (kube.get(PIPELINE, namespace, name) or {})["status"]["topicsReady"] == "8/8"

    # Strimzi refuses something: the pipeline says which topic and why.
    refused = by_name[f"{prefix}-errors"]
    write_status(
        kube, refused, ready=False, reason="NotSupported", message="Decreasing partitions not supported"
    )
    failing = wait_condition(kube, namespace, name, "TopicsReady", "False")
    assert (
        f"{prefix}-errors: Strimzi: NotSupported: Decreasing partitions not supported" in failing["message"]
    )
    write_status(kube, refused, ready=True)
    wait_condition(kube, namespace, name, "Ready", "True")

    # A deleted KafkaTopic comes back.
    assert kube.delete(KAFKA_TOPIC, strimzi_namespace, refused["metadata"]["name"])
    wait_until(lambda: kube.get(KAFKA_TOPIC, strimzi_namespace, refused["metadata"]["name"]), timeout=30)


def test_a_kafka_topic_of_another_pipeline_is_not_taken_over(
    kube: Kube, operator: ServiceProcess, namespace: str
) -> None:
    strimzi_namespace = new_namespace(kube)
    prefix = f"op{uuid.uuid4().hex[:6]}"
    first = create_pipeline(kube, namespace, strimzi_spec(strimzi_namespace, prefix), name="first")
    wait_until(lambda: len(owned_topics(kube, strimzi_namespace, first)) == 8)
    second = create_pipeline(kube, namespace, strimzi_spec(strimzi_namespace, prefix), name="second")
    conflict = wait_until(
        lambda: (
            "belongs to pipeline"
            in (c := condition(kube, namespace, second, "TopicsReady")).get("message", "")
            and c
        )
    )
    assert f"belongs to pipeline {namespace}/first" in conflict["message"]
    assert len(owned_topics(kube, strimzi_namespace, first)) == 8


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


def test_strimzi_delete_policy_removes_the_kafka_topics(
    kube: Kube, operator: ServiceProcess, namespace: str
) -> None:
    strimzi_namespace = new_namespace(kube)
    spec = {**strimzi_spec(strimzi_namespace, f"op{uuid.uuid4().hex[:6]}"), "deletionPolicy": "Delete"}
    name = create_pipeline(kube, namespace, spec)
    wait_until(lambda: len(owned_topics(kube, strimzi_namespace, name)) == 8)
    wait_until(
        lambda: FINALIZER in ((kube.get(PIPELINE, namespace, name) or {})["metadata"].get("finalizers") or [])
    )
    kube.delete(PIPELINE, namespace, name)
    wait_until(lambda: kube.get(PIPELINE, namespace, name) is None, timeout=30)
    assert owned_topics(kube, strimzi_namespace, name) == []


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

    operator.start()
    operator.wait_until_ready(timeout=60)
    kube.delete(PIPELINE, namespace, cleaned)
    wait_until(lambda: kube.get(PIPELINE, namespace, cleaned) is None, timeout=60)
