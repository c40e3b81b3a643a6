"""The umbrella chart's values for Franz on the local node: the built image, an example pipeline on the
admin backend against the node's Kafka, and sachbearbeiter's store on a volume of the node's. `franz
cluster --node --demo`, the cluster tests and the node benchmark install the chart with these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from franz.devstack.images import ImageArchive

# The node runs no volume provisioner: sachbearbeiter's claims name this class, and `store_volume`
# makes the PersistentVolume for each, a directory of the node's bound to that claim.
NODE_STORAGE_CLASS = "franz-node"
STORE_SIZE = "1Gi"


def umbrella_values(*, pipeline: str, image: ImageArchive, pod_bootstrap: str) -> dict[str, Any]:
    repository, tag = image.reference.rsplit(":", 1)
    return {
        "global": {"pipeline": pipeline, "image": {"repository": repository, "tag": tag}},
        "examplePipeline": {
            "enabled": True,
            "spec": {
                "kafka": {"bootstrapServers": pod_bootstrap, "topicBackend": "admin", "strimzi": None},
                "topicDefaults": {"partitions": 3, "replicas": 1},
                "deadLetter": {"enabled": True, "suffix": "-dlq"},
                "secrets": {
                    "discordWebhook": {"name": "discord-webhook", "key": "url"},
                    "discordBotToken": {"name": "discord-bot", "key": "token"},
                },
                "deletionPolicy": "Retain",
            },
        },
        "sachbearbeiter": {"store": {"storageClassName": NODE_STORAGE_CLASS, "size": STORE_SIZE}},
    }


def store_volume(*, namespace: str, release: str, replica: int, directory: Path) -> dict[str, Any]:
    """A hostPath PersistentVolume for sachbearbeiter's claim `store-<release>-sachbearbeiter-<replica>`
    (the name a StatefulSet gives the claims of its volumeClaimTemplates), bound to it from the start.

    The directory is open to all: a hostPath volume keeps its owner, and the pod runs as an unprivileged
    user the node does not know.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)
    claim = f"store-{release}-sachbearbeiter-{replica}"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{namespace}-{claim}", "labels": {"app.kubernetes.io/part-of": "franz"}},
        "spec": {
            "capacity": {"storage": STORE_SIZE},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": NODE_STORAGE_CLASS,
            "hostPath": {"path": str(directory), "type": "Directory"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }
