"""Pure builders for a secured pipeline: one KafkaUser per service with exactly its ACLs, and each
service's own Secret of Kafka credentials. No API calls here (those are in `reconcile_users`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from franz_operator import access, acls, builders
from franz_operator.constants import STRIMZI_CLUSTER_LABEL, STRIMZI_GROUP, STRIMZI_VERSION
from franz_operator.pipeline import Pipeline

Object = dict[str, Any]
LABEL_SERVICE = "franz.dev/service"


def user_name(pipeline: Pipeline, service: str) -> str:
    """Namespace and pipeline in the name: pipelines of two namespaces may share a Kafka cluster."""
    return f"franz-{pipeline.namespace}-{pipeline.name}-{service}"


def service_secret_name(pipeline: Pipeline, service: str) -> str:
    return f"franz-{pipeline.name}-{service}-kafka"


def service_acls(pipeline: Pipeline, service: str) -> tuple[acls.Acl, ...]:
    """The ACLs of `service` in this pipeline: from the same environment its Deployment reads."""
    environment = builders.service_environment(pipeline)
    if pipeline.access.exactly_once:
        environment["EXACTLY_ONCE"] = "true"
    return acls.service_acls(service, environment)


def kafka_user(pipeline: Pipeline, service: str) -> Object:
    """Strimzi's KafkaUser (kafka.strimzi.io/v1) for one service; its User Operator makes the credentials."""
    return {
        "apiVersion": f"{STRIMZI_GROUP}/{STRIMZI_VERSION}",
        "kind": "KafkaUser",
        "metadata": {
            "name": user_name(pipeline, service),
            "namespace": pipeline.strimzi_namespace,
            "labels": {
                **builders.labels(pipeline),
                STRIMZI_CLUSTER_LABEL: pipeline.strimzi_cluster or "",
                LABEL_SERVICE: service,
            },
        },
        "spec": {
            "authentication": {"type": pipeline.access.authentication},
            "authorization": {
                "type": "simple",
                "acls": acls.strimzi_acls(service_acls(pipeline, service)),
            },
        },
    }


@dataclass(frozen=True, slots=True)
class UserState:
    """One service's Kafka identity as the pipeline's status shows it."""

    service: str
    name: str
    ready: bool
    message: str = ""

    def as_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"service": self.service, "name": self.name, "ready": self.ready}
        if self.message:
            entry["message"] = self.message
        return entry


WAITING_FOR_USER_OPERATOR = "waiting for Strimzi's User Operator"


def user_ready(found: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the User Operator has made this generation of the KafkaUser, and what it said if not."""
    status = found.get("status") or {}
    if status.get("observedGeneration") != (found.get("metadata") or {}).get("generation"):
        return False, WAITING_FOR_USER_OPERATOR
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        return False, WAITING_FOR_USER_OPERATOR
    if ready.get("status") == "True":
        return True, ""
    return False, f"Strimzi: {ready.get('reason') or 'NotReady'}: {ready.get('message') or 'no message'}"


def service_secret(pipeline: Pipeline, service: str, data: Mapping[str, str]) -> Object:
    """The service's own Secret; `data` is already base64, as read from the source Secrets."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": service_secret_name(pipeline, service),
            "namespace": pipeline.namespace,
            "labels": {**builders.labels(pipeline), LABEL_SERVICE: service},
            "ownerReferences": [builders.owner_reference(pipeline)],
        },
        "data": dict(sorted(data.items())),
    }


def user_credentials_keys(authentication: str | None) -> tuple[str, ...]:
    """What a User Operator Secret holds that the service needs (it also holds ca.crt: the clients CA,
    which signs user certificates; the services need the cluster CA, declared in spec.kafka.tls)."""
    if authentication == "tls":
        return (access.CERT_KEY, access.KEY_KEY)
    return (access.PASSWORD_KEY,)
