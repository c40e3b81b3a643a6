"""The umbrella chart's values for Franz on the local node: the built image, and an example pipeline
on the admin backend against the node's Kafka. `franz cluster --node --demo`, the cluster tests and
the node benchmark install the chart with these."""

from __future__ import annotations

from typing import Any

from franz.devstack.images import ImageArchive


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
    }
