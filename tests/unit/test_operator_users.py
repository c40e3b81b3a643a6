"""The pure half of a secured pipeline: the ACLs each service gets, the KafkaUsers, the services' settings."""

from __future__ import annotations

from typing import Any

import pytest

from franz_operator import access, users
from franz_operator.acls import Acl, service_acls, strimzi_acls
from franz_operator.pipeline import from_body


def secured_body(**kafka: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "tickets", "namespace": "team", "uid": "u-1", "generation": 1},
        "spec": {
            "kafka": {
                "bootstrapServers": "k:9093",
                "topicBackend": "strimzi",
                "strimzi": {"cluster": "my-cluster", "namespace": "kafka"},
                "tls": {"trustedCertificates": [{"secretName": "my-cluster-cluster-ca-cert"}]},
                "authentication": {"type": "scram-sha-512"},
                "users": {"create": True},
                **kafka,
            }
        },
    }


def test_each_service_gets_exactly_what_it_reads_and_writes() -> None:
    pipeline = from_body(secured_body())
    group = "franz-team-tickets"
    assert users.service_acls(pipeline, "aufbereitung") == (
        Acl("group", f"{group}-aufbereitung", "Read"),
        Acl("topic", "discordMSG", "Read"),
        Acl("topic", "tickets-formatted", "Write"),
        Acl("topic", "tickets-formatted-dlq", "Write"),
    )
    assert users.service_acls(pipeline, "absturz") == (
        Acl("group", f"{group}-absturz", "Read"),
        Acl("topic", "errors", "Read"),
        Acl("topic", "ticket-commands-dlq", "Read"),
        Acl("topic", "tickets-formatted-dlq", "Read"),
    )
    assert users.service_acls(pipeline, "kummerkasten") == (
        Acl("group", f"{group}-kummerkasten", "Read"),
        Acl("topic", "discordMSG", "Write"),
        Acl("topic", "ticket-commands", "Write"),
        Acl("topic", "ticket-events", "Read"),
    )
    assert users.service_acls(pipeline, "sachbearbeiter") == (
        Acl("group", f"{group}-sachbearbeiter", "Read"),
        Acl("topic", "ticket-commands", "Read"),
        Acl("topic", "ticket-commands-dlq", "Write"),
        Acl("topic", "ticket-events", "Read"),
        Acl("topic", "ticket-events", "Write"),
        Acl("topic", "tickets-formatted", "Read"),
        Acl("topic", "tickets-state", "Write"),
    )


def test_exactly_once_adds_the_transactional_id_prefix_and_nothing_else() -> None:
    plain = users.service_acls(from_body(secured_body()), "aufbereitung")
    transactional = users.service_acls(
        from_body(secured_body(users={"create": True, "exactlyOnce": True})), "aufbereitung"
    )
    assert set(transactional) - set(plain) == {
        Acl("transactionalId", "franz-team-tickets-aufbereitung-", "Write", "prefix")
    }


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(ValueError, match="no Franz service is called 'operator'"):
        service_acls("operator", {})


def test_a_kafka_user_in_strimzis_shape_one_rule_per_resource() -> None:
    pipeline = from_body(secured_body())
    user = users.kafka_user(pipeline, "sachbearbeiter")
    assert user["apiVersion"] == "kafka.strimzi.io/v1"
    assert user["metadata"]["name"] == "franz-team-tickets-sachbearbeiter"
    assert user["metadata"]["namespace"] == "kafka"
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    rules = {rule["resource"]["name"]: rule["operations"] for rule in user["spec"]["authorization"]["acls"]}
    assert rules["ticket-events"] == ["Read", "Write"]
    assert user["spec"]["authorization"]["type"] == "simple"
    assert strimzi_acls((Acl("transactionalId", "p-", "Write", "prefix"),)) == [
        {
            "resource": {"type": "transactionalId", "name": "p-", "patternType": "prefix"},
            "operations": ["Write"],
            "host": "*",
        }
    ]


@pytest.mark.parametrize(
    ("kafka", "expected"),
    [
        ({}, {}),
        (
            {
                "tls": {"trustedCertificates": [{"secretName": "ca"}]},
                "authentication": {"type": "scram-sha-512"},
            },
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SSL_CA_FILE": "/etc/franz/kafka/ca.crt",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_PASSWORD_FILE": "/etc/franz/kafka/password",
            },
        ),
        (
            {"tls": {"trustedCertificates": [{"secretName": "ca"}]}, "authentication": {"type": "tls"}},
            {
                "KAFKA_SECURITY_PROTOCOL": "SSL",
                "KAFKA_SSL_CA_FILE": "/etc/franz/kafka/ca.crt",
                "KAFKA_SSL_CERT_FILE": "/etc/franz/kafka/user.crt",
                "KAFKA_SSL_KEY_FILE": "/etc/franz/kafka/user.key",
            },
        ),
        (
            {"tls": {"trustedCertificates": [{"secretName": "ca"}]}},
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": "/etc/franz/kafka/ca.crt"},
        ),
    ],
)
def test_the_services_are_told_which_mounted_files_to_use(
    kafka: dict[str, Any], expected: dict[str, str]
) -> None:
    assert access.client_environment(access.from_spec({"bootstrapServers": "k:1", **kafka})) == expected


def test_declared_credentials_are_projected_unless_users_are_created() -> None:
    declared = access.from_spec(
        {
            "tls": {
                "trustedCertificates": [
                    {"secretName": "ca", "certificate": "ca.crt"},
                    {"secretName": "old-ca"},
                ]
            },
            "authentication": {
                "type": "scram-sha-512",
                "username": "franz",
                "passwordSecret": {"secretName": "pw", "password": "p"},
            },
        }
    )
    assert access.declared_sources(declared) == {
        "ca.crt": (access.SecretKey("ca", "ca.crt"), access.SecretKey("old-ca", "ca.crt")),
        "password": (access.SecretKey("pw", "p"),),
    }
    created = access.from_spec({"authentication": {"type": "tls"}, "users": {"create": True}})
    assert access.declared_sources(created) == {}


def test_a_kafka_user_is_ready_only_for_its_generation() -> None:
    ready = [{"type": "Ready", "status": "True"}]
    assert users.user_ready(
        {"metadata": {"generation": 2}, "status": {"observedGeneration": 1, "conditions": ready}}
    ) == (
        False,
        users.WAITING_FOR_USER_OPERATOR,
    )
    assert users.user_ready(
        {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": ready}}
    ) == (True, "")
