"""Names shared by the CRD, the builders, the API edge and the chart: one place to change them."""

from __future__ import annotations

from typing import Final

from franz import contracts

GROUP: Final = "franz.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "FranzPipeline"
PLURAL: Final = "franzpipelines"
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

# The default pipeline: the seed's topic names and the ticket lifecycle's, by role.
TOPIC_ROLES: Final = {
    "intake": contracts.TOPIC_INTAKE,
    "formatted": contracts.TOPIC_FORMATTED,
    "errors": contracts.TOPIC_ERRORS,
    "commands": contracts.TOPIC_COMMANDS,
    "events": contracts.TOPIC_EVENTS,
    "state": contracts.TOPIC_STATE,
}
# Roles whose records a stage dead-letters when it cannot process them: each gets `<name><suffix>`.
DEAD_LETTERED_ROLES: Final = ("formatted", "commands")
# Keyed by ticket id and read together by sachbearbeiter: one partition count for all of them.
PARTITIONED_LIKE_FORMATTED: Final = ("commands", "events", "state")
# What a role needs to work at all (the audit trail kept forever, the state compacted), under the spec's.
ROLE_CONFIGS: Final = {role: contracts.TOPIC_CONFIGS.get(name, {}) for role, name in TOPIC_ROLES.items()}

FIELD_MANAGER: Final = "franz-operator"
LABEL_PIPELINE: Final = "franz.dev/pipeline"
LABEL_PIPELINE_NAMESPACE: Final = "franz.dev/pipeline-namespace"
LABEL_ROLE: Final = "franz.dev/topic-role"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "franz-operator"
ANNOTATION_CONFIG_HASH: Final = "franz.dev/config-hash"
# Only deletionPolicy Delete pipelines carry it (kopf adds it for the deletion handler's filter): their
# topics must be deleted before they go. A Retain pipeline never waits for the operator.
FINALIZER: Final = "franz.dev/delete-topics"

# On a KafkaTopic: deleting it may delete the topic in Kafka (the admission policy refuses the deletion of
# the operator's KafkaTopics without it). The operator sets it itself for deletionPolicy Delete.
ANNOTATION_ALLOW_DELETION: Final = "franz.dev/allow-deletion"
# On a pipeline: the topic ids (comma-separated) of recreated topics whose loss of records is acknowledged.
ANNOTATION_ACCEPT_TOPIC_IDS: Final = "franz.dev/accept-topic-ids"

STRIMZI_GROUP: Final = "kafka.strimzi.io"
STRIMZI_VERSION: Final = "v1"
STRIMZI_TOPIC_PLURAL: Final = "kafkatopics"
STRIMZI_USER_PLURAL: Final = "kafkausers"
STRIMZI_CLUSTER_LABEL: Final = "strimzi.io/cluster"
# Strimzi's topic operator deletes the topic in Kafka before it removes this from a deleted KafkaTopic.
STRIMZI_FINALIZER: Final = "strimzi.io/topic-operator"

# The keys of the projected Secret are the variables the services read, so Deployments can `envFrom` it.
SECRET_KEYS: Final = {"discordWebhook": "DISCORD_WEBHOOK_URL", "discordBotToken": "DISCORD_TOKEN"}
