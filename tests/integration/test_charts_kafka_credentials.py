"""The charts wire each service to its own Kafka credentials: the operator's per-service Secret, mounted
read-only as files (never keys in variables), where the pipeline's ConfigMap points the services."""

from __future__ import annotations

from pathlib import Path

import pytest

from franz_operator.access import KAFKA_FILES_DIR
from tests.integration.test_charts import by_kind, containers, render

SERVICES = ("aufbereitung", "absturz", "kummerkasten", "sachbearbeiter")


def workload(service: str) -> str:
    """sachbearbeiter keeps its store on a volume per replica: a StatefulSet; the others, Deployments."""
    return "StatefulSet" if service == "sachbearbeiter" else "Deployment"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_mounts_only_its_own_kafka_secret_read_only(helm: Path, service: str) -> None:
    manifests = render(helm, service, "--set", "pipeline=tickets", "--set", "kafkaCredentials.enabled=true")
    deployment = by_kind(manifests, workload(service))[f"franz-{service}"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = containers(deployment)
    own = f"franz-tickets-{service}-kafka"
    [volume] = [v for v in pod["volumes"] if v["name"] == "kafka-credentials"]
    assert volume["secret"] == {"secretName": own, "defaultMode": 0o440}
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "kafka-credentials"]
    assert mount == {"name": "kafka-credentials", "mountPath": KAFKA_FILES_DIR, "readOnly": True}
    from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    # Only the user name comes as a variable; certificates, keys and passwords stay files.
    assert from_secret["KAFKA_SASL_USERNAME"] == {"name": own, "key": "username", "optional": True}
    assert not {"KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_FILE"} & set(from_secret)


@pytest.mark.parametrize("service", SERVICES)
def test_a_plaintext_cluster_mounts_nothing(helm: Path, service: str) -> None:
    deployment = by_kind(render(helm, service), workload(service))[f"franz-{service}"]
    assert all(v["name"] != "kafka-credentials" for v in deployment["spec"]["template"]["spec"]["volumes"])
    [container] = containers(deployment)
    assert all(e["name"] != "KAFKA_SASL_USERNAME" for e in container["env"])


def test_a_secret_name_of_ones_own_is_mounted(helm: Path) -> None:
    manifests = render(
        helm,
        "aufbereitung",
        "--set",
        "kafkaCredentials.enabled=true",
        "--set",
        "kafkaCredentials.secretName=mine",
    )
    pod = by_kind(manifests, "Deployment")["franz-aufbereitung"]["spec"]["template"]["spec"]
    assert {"secretName": "mine", "defaultMode": 0o440} in [v.get("secret") for v in pod["volumes"]]
