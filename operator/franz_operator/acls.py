"""The Kafka ACLs each Franz service needs, derived from the environment it runs with: nothing more.

One pure function, `service_acls`, is the single source: the operator writes its result into each
service's KafkaUser, and the secured-broker tests grant exactly it (and prove every entry is needed).
Kafka's own implications keep the list short: Read and Write on a topic imply Describe, and Write on any
topic implies IdempotentWrite (KIP-679), so neither is listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

SERVICES = ("aufbereitung", "absturz", "kummerkasten", "sachbearbeiter")

ResourceType = Literal["topic", "group", "transactionalId"]
Operation = Literal["Read", "Write"]
PatternType = Literal["literal", "prefix"]


@dataclass(frozen=True, slots=True, order=True)
class Acl:
    """One allowed operation on one resource, as Strimzi's `simple` authorization spells it."""

    resource_type: ResourceType
    name: str
    operation: Operation
    pattern_type: PatternType = "literal"

    def describe(self) -> str:
        pattern = "" if self.pattern_type == "literal" else f" ({self.pattern_type})"
        return f"{self.operation} on {self.resource_type} {self.name}{pattern}"


def _topics(environment: Mapping[str, str], variable: str) -> list[str]:
    return [name.strip() for name in environment[variable].split(",") if name.strip()]


def service_acls(service: str, environment: Mapping[str, str]) -> tuple[Acl, ...]:
    """The ACLs `service` needs with the settings in `environment` (the operator's ConfigMap, plus
    EXACTLY_ONCE for aufbereitung), sorted and without duplicates.

    - aufbereitung reads SOURCE_TOPIC in GROUP_ID and writes TARGET_TOPIC and DLQ_TOPIC; exactly-once, its
      transactional ids (TRANSACTIONAL_ID defaults to `<GROUP_ID>-<pod>`) are `<GROUP_ID>-*`.
    - absturz reads KAFKA_TOPICS in CONSUMER_GROUP.
    - kummerkasten writes KAFKA_TOPIC and COMMANDS_TOPIC and reads EVENTS_TOPIC in KUMMERKASTEN_GROUP_ID
      (ticket states come from sachbearbeiter's read API, not from STATE_TOPIC).
    - sachbearbeiter reads FORMATTED_TOPIC and COMMANDS_TOPIC in SACHBEARBEITER_GROUP_ID, writes
      EVENTS_TOPIC, STATE_TOPIC and COMMANDS_DLQ_TOPIC, and reads EVENTS_TOPIC back to restore tickets.
    """
    env = environment
    acls: list[Acl] = []

    def read(*topics: str) -> None:
        acls.extend(Acl("topic", topic, "Read") for topic in topics)

    def write(*topics: str) -> None:
        acls.extend(Acl("topic", topic, "Write") for topic in topics)

    def group(variable: str) -> None:
        acls.append(Acl("group", env[variable], "Read"))

    if service == "aufbereitung":
        read(env["SOURCE_TOPIC"])
        group("GROUP_ID")
        write(env["TARGET_TOPIC"], env["DLQ_TOPIC"])
        if env.get("EXACTLY_ONCE", "").strip().lower() in ("1", "true", "yes", "on"):
            acls.append(Acl("transactionalId", f"{env['GROUP_ID']}-", "Write", "prefix"))
    elif service == "absturz":
        read(*_topics(env, "KAFKA_TOPICS"))
        group("CONSUMER_GROUP")
    elif service == "kummerkasten":
        write(env["KAFKA_TOPIC"], env["COMMANDS_TOPIC"])
        read(env["EVENTS_TOPIC"])  # ticket states come from sachbearbeiter's read API
        group("KUMMERKASTEN_GROUP_ID")
    elif service == "sachbearbeiter":
        read(env["FORMATTED_TOPIC"], env["COMMANDS_TOPIC"], env["EVENTS_TOPIC"])
        group("SACHBEARBEITER_GROUP_ID")
        write(env["EVENTS_TOPIC"], env["STATE_TOPIC"], env["COMMANDS_DLQ_TOPIC"])
    else:
        raise ValueError(f"no Franz service is called {service!r}; known: {', '.join(SERVICES)}")
    return tuple(sorted(set(acls)))


def strimzi_acls(acls: tuple[Acl, ...]) -> list[dict[str, object]]:
    """`spec.authorization.acls` of a KafkaUser: one rule per resource, its operations listed."""
    rules: dict[tuple[str, str, str], list[str]] = {}
    for acl in acls:
        rules.setdefault((acl.resource_type, acl.name, acl.pattern_type), []).append(acl.operation)
    return [
        {
            "resource": {"type": resource_type, "name": name, "patternType": pattern_type},
            "operations": sorted(operations),
            "host": "*",
        }
        for (resource_type, name, pattern_type), operations in rules.items()
    ]
