"""The FranzPipeline CustomResourceDefinition, built as data (the chart's copy is generated from it).

What Kafka cannot do is refused by the API server at `kubectl apply`, through the schema and CEL rules:
partitions never decrease, topic names never change once set, names and suffixes are valid Kafka names,
the backend is one of the two we implement, and support teams route every category at most once with
exactly one default team.
"""

from __future__ import annotations

from typing import Any, Final

from franz.contracts import CATEGORIES
from franz_operator import access
from franz_operator.constants import (
    CRD_NAME,
    GROUP,
    KIND,
    PARTITIONED_LIKE_FORMATTED,
    PLURAL,
    TOPIC_ROLES,
    VERSION,
)

TOPIC_NAME_PATTERN: Final = r"^[a-zA-Z0-9._-]{1,249}$"
SNOWFLAKE_PATTERN: Final = r"^[0-9]{17,20}$"
MAX_TEAMS: Final = 20

_CONFIG: Final[dict[str, Any]] = {
    "type": "object",
    "description": 'Kafka topic configs, e.g. retention.ms: "604800000".',
    "maxProperties": 64,
    "additionalProperties": {"type": "string", "maxLength": 1024},
}


def _topic(default_name: str) -> dict[str, Any]:
    return {
        "type": "object",
        # The default names the topic, so rules over `name` hold for the defaulted object as well.
        "default": {"name": default_name},
        "properties": {
            "name": {
                "type": "string",
                "default": default_name,
                "maxLength": 249,
                "pattern": TOPIC_NAME_PATTERN,
                "description": "The Kafka topic name. Immutable once set.",
            },
            "partitions": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "description": "Defaults to topicDefaults.partitions. Can grow, never shrink; the "
                "lifecycle topics' (formatted, commands, events, state) cannot change.",
            },
            "replicas": {
                "type": "integer",
                "minimum": 1,
                "maximum": 32767,
                "description": "Defaults to topicDefaults.replicas.",
            },
            "config": _CONFIG,
        },
        "x-kubernetes-validations": [
            {
                "rule": "self.name == oldSelf.name",
                "message": "topic names are immutable: create a new pipeline to move to a new topic",
            },
            {
                "rule": "!has(oldSelf.partitions) || "
                "(has(self.partitions) && self.partitions >= oldSelf.partitions)",
                "message": "partitions can never decrease: Kafka cannot remove partitions from a topic",
            },
        ],
    }


def _secret_ref(default_key: str, what: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"The Secret (in the pipeline's namespace) and key holding {what}.",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "maxLength": 253},
            "key": {"type": "string", "default": default_key, "maxLength": 253},
        },
    }


def _lifecycle_partitions(spec: str, role: str) -> str:
    """CEL for the partitions a lifecycle topic gets: its own, else formatted's, else topicDefaults'."""
    own = f"has({spec}.topics.{role}.partitions) ? {spec}.topics.{role}.partitions : "
    formatted = (
        f"(has({spec}.topics.formatted.partitions) ? {spec}.topics.formatted.partitions "
        f": {spec}.topicDefaults.partitions)"
    )
    return formatted if role == "formatted" else f"({own}{formatted})"


# sachbearbeiter places tickets by `murmur2(ticket id) % partitions` and keeps one history per partition:
# a changed count moves ticket ids to other partitions and splits their histories.
_LIFECYCLE_PARTITIONS_FIXED = {
    "rule": " && ".join(
        f"{_lifecycle_partitions('self', role)} == {_lifecycle_partitions('oldSelf', role)}"
        for role in ("formatted", *PARTITIONED_LIKE_FORMATTED)
    ),
    "message": "the partitions of the lifecycle topics (formatted, commands, events, state) cannot change: "
    "sachbearbeiter places each ticket by its id and the partition count, and more partitions would move "
    "tickets away from their history; run a new pipeline with the new count instead",
}


def _snowflake(what: str) -> dict[str, Any]:
    return {"type": "string", "pattern": SNOWFLAKE_PATTERN, "description": f"{what} (a Discord id)."}


def _discord() -> dict[str, Any]:
    """Support teams and routing for the bot's staff desk: every category at most once, one default."""
    team = {
        "type": "object",
        "required": ["name", "deskChannelId", "staffRoleId"],
        "properties": {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 63,
                "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            },
            "categories": {
                "type": "array",
                "maxItems": len(CATEGORIES),
                "items": {"type": "string", "enum": list(CATEGORIES)},
                "x-kubernetes-list-type": "set",
                "description": "The categories this team takes; the default team takes the rest.",
            },
            "default": {"type": "boolean", "description": "This team takes every category no team names."},
            "deskChannelId": _snowflake("The channel where the team's desk posts go"),
            "staffRoleId": _snowflake("The role pinged on a new ticket; its members work the team's tickets"),
            "threadChannelId": _snowflake("Where private ticket threads open; default: the desk channel"),
            "transcriptsChannelId": _snowflake("Where transcripts of closed tickets are posted"),
        },
    }
    return {
        "type": "object",
        "properties": {
            "teams": {
                "type": "array",
                "maxItems": MAX_TEAMS,
                "items": team,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-validations": [
                    {
                        "rule": "self.size() == 0 || self.filter(t, has(t.default) && t.default).size() == 1",
                        "message": "exactly one team must be the default (default: true)",
                    },
                    {
                        "rule": "self.all(t, !has(t.categories) || t.categories.all(c, "
                        "self.filter(u, has(u.categories) && c in u.categories).size() == 1))",
                        "message": "each category can be routed to one team only",
                    },
                ],
            },
            "reopenDays": {
                "type": "integer",
                "minimum": 0,
                "maximum": 365,
                "default": 7,
                "description": "How many days after a close the submitter may reopen the ticket (0: never).",
            },
            "messageContent": {
                "type": "boolean",
                "default": False,
                "description": "The bot asks for the privileged Message Content intent: every message in a "
                "ticket thread is recorded; without it, /reply is the recorded way.",
            },
        },
    }


def _spec() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["kafka"],
        "x-kubernetes-validations": [_LIFECYCLE_PARTITIONS_FIXED],
        "properties": {
            "kafka": {
                "type": "object",
                "required": ["bootstrapServers"],
                "properties": {
                    "bootstrapServers": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 1024,
                        "description": "host:port[,host:port] the services connect to.",
                    },
                    "topicBackend": {
                        "type": "string",
                        "enum": ["strimzi", "admin"],
                        "default": "strimzi",
                        "description": "strimzi: KafkaTopic resources; admin: the Kafka admin API.",
                    },
                    "strimzi": {
                        "type": "object",
                        "required": ["cluster"],
                        "properties": {
                            "cluster": {
                                "type": "string",
                                "maxLength": 63,
                                "description": "The Kafka resource's name (label strimzi.io/cluster).",
                            },
                            "namespace": {
                                "type": "string",
                                "maxLength": 63,
                                "description": "Where the topic operator watches; default: the pipeline's.",
                            },
                        },
                    },
                    **access.crd_properties(),
                },
                "x-kubernetes-validations": [
                    {
                        "rule": "self.topicBackend != 'strimzi' || has(self.strimzi)",
                        "message": "topicBackend strimzi needs kafka.strimzi.cluster (the Kafka resource)",
                    },
                    *access.crd_rules(),
                ],
            },
            "topicDefaults": {
                "type": "object",
                "default": {},
                "properties": {
                    "partitions": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 3},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 32767, "default": 3},
                    "config": _CONFIG,
                },
                "x-kubernetes-validations": [
                    {
                        "rule": "!has(self.partitions) || !has(oldSelf.partitions) "
                        "|| self.partitions >= oldSelf.partitions",
                        "message": "topicDefaults.partitions can never decrease: "
                        "the topics that use it cannot lose partitions",
                    }
                ],
            },
            "topics": {
                "type": "object",
                "default": {},
                "properties": {role: _topic(name) for role, name in TOPIC_ROLES.items()},
            },
            "deadLetter": {
                "type": "object",
                "default": {},
                "properties": {
                    "enabled": {"type": "boolean", "default": True},
                    "suffix": {
                        "type": "string",
                        "default": "-dlq",
                        "pattern": r"^[a-zA-Z0-9._-]{1,32}$",
                        "description": "Appended to each processing stage's output topic.",
                    },
                    "config": _CONFIG,
                },
            },
            "secrets": {
                "type": "object",
                "default": {},
                "properties": {
                    "discordWebhook": _secret_ref("url", "the Discord webhook URL (absturz)"),
                    "discordBotToken": _secret_ref("token", "the Discord bot token (kummerkasten)"),
                },
            },
            "discord": _discord(),
            "deletionPolicy": {
                "type": "string",
                "enum": ["Retain", "Delete"],
                "default": "Retain",
                "description": "Retain keeps topics when the pipeline is deleted; Delete removes them.",
            },
        },
    }


def _status() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "observedGeneration": {"type": "integer"},
            "topicsReady": {"type": "string", "description": "ready/total, for the Topics column"},
            "conditions": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                        "reason": {"type": "string"},
                        "message": {"type": "string"},
                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                        "observedGeneration": {"type": "integer"},
                    },
                },
            },
            "users": {
                "type": "array",
                "description": "kafka.users.create: each service's KafkaUser and whether it is ready",
                "items": {
                    "type": "object",
                    "properties": {
                        "service": {"type": "string"},
                        "name": {"type": "string"},
                        "ready": {"type": "boolean"},
                        "message": {"type": "string"},
                    },
                },
            },
            "topics": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "role": {"type": "string"},
                        "name": {"type": "string"},
                        "partitions": {"type": "integer"},
                        "replicas": {"type": "integer"},
                        "ready": {"type": "boolean"},
                        "topicId": {"type": "string", "description": "Kafka's id of the topic, as recorded"},
                        "newTopicId": {
                            "type": "string",
                            "description": "the id of the topic that replaced it, until accepted",
                        },
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }


def custom_resource_definition() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/part-of": "franz"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": PLURAL,
                "singular": "franzpipeline",
                "kind": KIND,
                "shortNames": ["fp"],
                "categories": ["franz"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "Ready",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                        },
                        {"name": "Backend", "type": "string", "jsonPath": ".spec.kafka.topicBackend"},
                        {"name": "Topics", "type": "string", "jsonPath": ".status.topicsReady"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A Franz pipeline: Kafka topics, dead-letter queues, secrets.",
                            "required": ["spec"],
                            "properties": {"spec": _spec(), "status": _status()},
                            "x-kubernetes-validations": [
                                {
                                    "rule": "size(self.metadata.name) <= 63",
                                    "message": "pipeline names are at most 63 characters: "
                                    "they become label values on the objects the operator creates",
                                }
                            ],
                        }
                    },
                }
            ],
        },
    }
