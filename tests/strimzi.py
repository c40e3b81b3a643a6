"""Strimzi's KafkaTopic API as the tests install it: its group, version, kind, plural and status shape.

No topic operator runs here; a test plays its part by writing the status Strimzi would write.
"""

from __future__ import annotations

from typing import Any

from franz_operator.constants import STRIMZI_GROUP, STRIMZI_TOPIC_PLURAL, STRIMZI_VERSION
from franz_operator.kube import KAFKA_TOPIC, Kube


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
                                        "replicas": {"type": "integer", "minimum": 1},
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


def write_status(
    kube: Kube, topic: dict[str, Any], *, ready: bool, reason: str = "", message: str = ""
) -> None:
    """What Strimzi's topic operator writes once it has (or has not) reconciled the topic."""
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    if not ready:
        condition |= {"reason": reason, "message": message}
    metadata = topic["metadata"]
    status = {
        "observedGeneration": metadata["generation"],
        "topicName": topic["spec"]["topicName"],
        "conditions": [condition],
    }
    kube.merge_patch(KAFKA_TOPIC, metadata["namespace"], metadata["name"], {"status": status}, status=True)
