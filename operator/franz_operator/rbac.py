"""Exactly the API access the operator uses, as ClusterRole rules.

The operator chart's ClusterRole is checked against this list, so a new API call without a new rule (or a
rule nobody uses any more) fails the tests instead of a production cluster.
"""

from __future__ import annotations

from typing import Final

from franz_operator.constants import GROUP, PLURAL

Rule = dict[str, list[str]]

CLUSTER_RULES: Final[list[Rule]] = [
    # kopf lists the CRDs at start-up to resolve the resources its handlers name.
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["get", "list", "watch"],
    },
    # kopf follows namespaces when it serves every namespace.
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    # The pipelines: watched; patched for kopf's finalizer (deletionPolicy Delete pipelines) and its
    # progress annotations; status written.
    {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["patch"]},
    # Strimzi backend: the topics, watched so their Ready conditions reach the pipeline at once.
    {
        "apiGroups": ["kafka.strimzi.io"],
        "resources": ["kafkatopics"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    # kafka.users.create: one KafkaUser per service (server-side apply), read back for its Ready condition.
    {"apiGroups": ["kafka.strimzi.io"], "resources": ["kafkausers"], "verbs": ["get", "create", "patch"]},
    # The projected config and secrets (server-side apply creates them, so `create` too; the garbage
    # collector deletes them with their pipeline); source Secrets are only read.
    {
        "apiGroups": [""],
        "resources": ["configmaps", "secrets"],
        "verbs": ["get", "create", "patch"],
    },
    # Rollouts: the pipeline's Deployments (and sachbearbeiter's StatefulSet) get the hash of config and
    # secrets in their pod template.
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["list", "patch"]},
    # The operator's Kubernetes Events, posted by kopf (kopf.event): core/v1, created only.
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]
