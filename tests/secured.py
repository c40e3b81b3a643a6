"""A secured broker as the tests use it: SCRAM users, client certificates and ACLs, made through the real
broker's admin API on its PLAINTEXT listener (whose principal is the super user, like Strimzi's internal one).

The ACLs granted are the operator's own (`franz_operator.acls.service_acls`); the principal is what Strimzi
would give the KafkaUser: `User:<name>` for scram-sha-512, `User:CN=<name>` for tls.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
    UserScramCredentialUpsertion,
)

from franz.devstack.kafka import LocalKafka, SecuredListeners
from franz_operator.acls import Acl

_RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactionalId": ResourceType.TRANSACTIONAL_ID,
}
_PATTERNS = {"literal": ACLResourcePatternType.LITERAL, "prefix": ACLResourcePatternType.PREFIXED}
_OPERATIONS = {"Read": ACLOperation.READ, "Write": ACLOperation.WRITE}


@dataclass(frozen=True)
class User:
    """A Kafka identity and the environment that makes a service use it."""

    name: str
    principal: str
    env: dict[str, str]


class SecuredKafka:
    def __init__(self, broker: LocalKafka, directory: Path) -> None:
        assert broker.secured is not None, "a SecuredKafka needs LocalKafka(secured=True)"
        self.broker = broker
        self.listeners: SecuredListeners = broker.secured
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT listener: the tests' own administration, never a service's."""
        return self.broker.bootstrap

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.listeners.sasl_port}"

    @property
    def tls_bootstrap(self) -> str:
        return f"127.0.0.1:{self.listeners.tls_port}"

    def _admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=15000)

    def scram_user(self, prefix: str = "user", *, mechanism: str = "SCRAM-SHA-512") -> User:
        """A new SCRAM user; its password sits in a file, as a mounted KafkaUser Secret's `password`."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        admin = self._admin()
        try:
            errors = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(name, mechanism, password)]
            )
        finally:
            admin.close()
        assert errors == {name: None}, errors
        password_file = self.directory / f"{name}.password"
        password_file.write_text(password)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.sasl_bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SSL_CA_FILE": str(self.listeners.authority.path),
            "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USERNAME": name,
            "KAFKA_SASL_PASSWORD_FILE": str(password_file),
        }
        return User(name, f"User:{name}", env)

    def tls_user(self, prefix: str = "user") -> User:
        """A new mutual-TLS user: a client certificate of the cluster's CA, CN=<name>."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        cert, key = self.listeners.authority.issue(name, common_name=name)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.tls_bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_FILE": str(self.listeners.authority.path),
            "KAFKA_SSL_CERT_FILE": str(cert),
            "KAFKA_SSL_KEY_FILE": str(key),
        }
        return User(name, f"User:CN={name}", env)

    def grant(self, user: User, acls: Iterable[Acl]) -> None:
        admin = self._admin()
        try:
            result = admin.create_acls([_kafka_acl(user.principal, acl) for acl in acls])
        finally:
            admin.close()
        assert not result["failed"], result["failed"]

    def grant_operations(
        self, user: User, pattern: ResourcePattern, operations: Iterable[ACLOperation]
    ) -> None:
        """ACLs beyond the services' kinds (the operator's admin backend creates and alters topics)."""
        admin = self._admin()
        try:
            result = admin.create_acls(
                [
                    ACL(user.principal, "*", operation, ACLPermissionType.ALLOW, pattern)
                    for operation in operations
                ]
            )
        finally:
            admin.close()
        assert not result["failed"], result["failed"]


def _kafka_acl(principal: str, acl: Acl) -> ACL:
    pattern = ResourcePattern(_RESOURCES[acl.resource_type], acl.name, _PATTERNS[acl.pattern_type])
    return ACL(principal, "*", _OPERATIONS[acl.operation], ACLPermissionType.ALLOW, pattern)
