"""`kafka.users.create`: the operator (as `franz operator`, with its chart's ClusterRole) writes one KafkaUser
per service that Strimzi's own KafkaUser CRD (from Strimzi's jar on Maven Central) accepts unchanged, waits
for the User Operator's Ready, and projects each user's credentials into that service's own Secret. No User
Operator runs here: the test writes what it would (the user's Secret and its Ready status)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest

from franz.devstack.strimzi import strimzi_crd
from franz_operator import users
from franz_operator.acls import SERVICES, strimzi_acls
from franz_operator.exceptions import KubeError
from franz_operator.kube import CONFIG_MAP, KAFKA_USER, PIPELINE, SECRET, Kube
from franz_operator.pipeline import from_body
from tests.helpers import ServiceProcess, api_client, install_crd, wait_until
from tests.integration import test_operator
from tests.integration.test_operator import create_pipeline, secret, wait_condition

# The operator process with exactly its chart's ClusterRole and admission policies, and a fresh namespace
# per test.
operator_kubeconfig = test_operator.operator_kubeconfig
admission_policies = test_operator.admission_policies
operator = test_operator.operator
namespace = test_operator.namespace

CA = "-----BEGIN CERTIFICATE-----\nMIIBcluster\n-----END CERTIFICATE-----\n"
CREDENTIALS = {"scram-sha-512": ("password",), "tls": ("user.crt", "user.key")}


@pytest.fixture(scope="module")
def strimzi_users(kube: Kube, kubeconfig: Path) -> Kube:
    """Strimzi's own KafkaUser CRD on the API server: its schema, not ours, judges the operator's users."""
    install_crd(api_client(kubeconfig), strimzi_crd("KafkaUser"))
    return kube


def secured_spec(prefix: str, authentication: str) -> dict[str, Any]:
    return {
        "kafka": {
            "bootstrapServers": "my-cluster-kafka-bootstrap:9093",
            "topicBackend": "strimzi",
            "strimzi": {"cluster": "my-cluster"},
            "tls": {
                "trustedCertificates": [{"secretName": "my-cluster-cluster-ca-cert", "certificate": "ca.crt"}]
            },
            "authentication": {"type": authentication},
            "users": {"create": True},
        },
        "topics": {role: {"name": f"{prefix}-{role}"} for role in ("intake", "formatted", "errors")},
    }


def play_user_operator(kube: Kube, user: dict[str, Any], authentication: str) -> dict[str, str]:
    """What Strimzi's User Operator does for a KafkaUser: a Secret named after it, then Ready."""
    metadata = user["metadata"]
    values = {key: f"{metadata['name']}-{key}-{uuid.uuid4().hex[:6]}" for key in CREDENTIALS[authentication]}
    secret(kube, metadata["namespace"], metadata["name"], {"ca.crt": "clients-ca", **values})
    status = {
        "observedGeneration": metadata["generation"],
        "username": metadata["name"] if authentication != "tls" else f"CN={metadata['name']}",
        "secret": metadata["name"],
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    }
    kube.merge_patch(KAFKA_USER, metadata["namespace"], metadata["name"], {"status": status}, status=True)
    return values


def decoded(found: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (found.get("data") or {}).items()}


@pytest.mark.parametrize("authentication", ["scram-sha-512", "tls"])
def test_one_kafka_user_per_service_with_exactly_its_acls_and_its_own_secret(
    strimzi_users: Kube, operator: ServiceProcess, namespace: str, authentication: str
) -> None:
    kube = strimzi_users
    prefix = f"u-{uuid.uuid4().hex[:8]}"
    secret(kube, namespace, "my-cluster-cluster-ca-cert", {"ca.crt": CA})
    name = create_pipeline(kube, namespace, secured_spec(prefix, authentication))
    waiting = wait_condition(kube, namespace, name, "KafkaAccessReady", "False", timeout=90)
    assert waiting["reason"] == "WaitingForUsers"

    pipeline = from_body(kube.get(PIPELINE, namespace, name) or {})
    created = {}
    for service in SERVICES:
        user_name = users.user_name(pipeline, service)
        found = wait_until(lambda: kube.get(KAFKA_USER, namespace, user_name), timeout=90)  # noqa: B023
        # Strimzi's structural schema prunes what it does not know: an unchanged spec was fully accepted.
        assert found["spec"] == users.kafka_user(pipeline, service)["spec"]
        assert found["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"
        assert found["spec"]["authentication"] == {"type": authentication}
        assert found["spec"]["authorization"]["acls"] == strimzi_acls(users.service_acls(pipeline, service))
        created[service] = play_user_operator(kube, found, authentication)

    wait_condition(kube, namespace, name, "KafkaAccessReady", "True", timeout=90)  # a busy machine is slow
    for service, values in created.items():
        own = decoded(kube.get(SECRET, namespace, f"franz-{name}-{service}-kafka") or {})
        # Its own credentials, the cluster CA (not the clients CA of the user's Secret), its user name.
        assert own == {**values, "ca.crt": CA, "username": users.user_name(pipeline, service)}
    status = (kube.get(PIPELINE, namespace, name) or {})["status"]
    assert {(u["service"], u["ready"]) for u in status["users"]} == {(s, True) for s in SERVICES}
    config = (kube.get(CONFIG_MAP, namespace, f"franz-{name}-config") or {})["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == ("SASL_SSL" if authentication == "scram-sha-512" else "SSL")
    assert config["KAFKA_SSL_CA_FILE"] == "/etc/franz/kafka/ca.crt"
    every_value = [v for values in created.values() for v in values.values()]
    assert not any(value in str(status) + str(config) for value in every_value), "credentials leaked"


def test_a_user_operator_that_refuses_a_user_is_reported(
    strimzi_users: Kube, operator: ServiceProcess, namespace: str
) -> None:
    kube = strimzi_users
    secret(kube, namespace, "my-cluster-cluster-ca-cert", {"ca.crt": CA})
    name = create_pipeline(kube, namespace, secured_spec(f"u-{uuid.uuid4().hex[:8]}", "scram-sha-512"))
    pipeline = from_body(kube.get(PIPELINE, namespace, name) or {})
    user_name = users.user_name(pipeline, "absturz")
    found = wait_until(lambda: kube.get(KAFKA_USER, namespace, user_name), timeout=90)
    condition = {"type": "Ready", "status": "False", "reason": "InvalidResourceException", "message": "no"}
    status = {"observedGeneration": found["metadata"]["generation"], "conditions": [condition]}
    kube.merge_patch(KAFKA_USER, namespace, user_name, {"status": status}, status=True)

    def reported() -> bool:
        message = wait_condition(kube, namespace, name, "KafkaAccessReady", "False", timeout=90)["message"]
        return f"KafkaUser {user_name}: Strimzi: InvalidResourceException: no" in message

    wait_until(reported, timeout=90)


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        (
            {
                "authentication": {
                    "type": "tls",
                    "certificateAndKey": {"secretName": "u", "certificate": "user.crt", "key": "user.key"},
                },
                "tls": {"trustedCertificates": [{"secretName": "ca"}]},
                "users": {"create": True},
            },
            "with users.create the operator makes each service's credentials",
        ),
        ({"authentication": {"type": "tls"}, "users": {"create": True}}, "it needs tls.trustedCertificates"),
        ({"authentication": {"type": "scram-sha-512"}}, "needs username and passwordSecret"),
        (
            {"topicBackend": "admin", "authentication": {"type": "scram-sha-512"}, "users": {"create": True}},
            "users.create needs kafka.strimzi.cluster",
        ),
        ({"users": {"create": True}, "strimzi": {"cluster": "c"}}, "users.create needs authentication.type"),
    ],
)
def test_impossible_kafka_security_is_refused_at_apply(
    kube: Kube, namespace: str, kafka: dict[str, Any], message: str
) -> None:
    spec = {"kafka": {"bootstrapServers": "k:9093", "topicBackend": "strimzi", "strimzi": {"cluster": "c"}}}
    spec["kafka"].update(kafka)
    if kafka.get("topicBackend") == "admin":
        del spec["kafka"]["strimzi"]
    with pytest.raises(KubeError) as refused:
        create_pipeline(kube, namespace, spec)
    assert refused.value.status == 422
    assert message in str(refused.value)
