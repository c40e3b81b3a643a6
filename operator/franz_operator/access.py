"""How a pipeline's services reach a secured Kafka: `spec.kafka.tls`, `authentication` and `users`, read into
typed values, in the shapes Strimzi uses for its own clients (KafkaConnect, KafkaBridge).

Each service gets a Secret of its own, `franz-<pipeline>-<service>-kafka`, mounted read-only at
`KAFKA_FILES_DIR` by the chart: `ca.crt` (the cluster CA), then `user.crt` + `user.key` (tls) or `password`
(scram-sha-512), and `username`. The ConfigMap tells the services which of those files to use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

KAFKA_FILES_DIR: Final = "/etc/franz/kafka"
CA_KEY: Final = "ca.crt"
CERT_KEY: Final = "user.crt"
KEY_KEY: Final = "user.key"
PASSWORD_KEY: Final = "password"  # noqa: S105 - the name of a Secret key, as Strimzi names it
USERNAME_KEY: Final = "username"


@dataclass(frozen=True, slots=True)
class SecretKey:
    secret: str
    key: str


@dataclass(frozen=True, slots=True)
class KafkaAccess:
    """`trusted`: the CA certificates (TLS when any); `authentication`: None, tls or scram-sha-512; the
    credentials are the declared ones, or None when `create_users` makes the operator create a KafkaUser
    per service."""

    trusted: tuple[SecretKey, ...] = ()
    authentication: Literal["tls", "scram-sha-512"] | None = None
    certificate: SecretKey | None = None
    key: SecretKey | None = None
    username: str | None = None
    password: SecretKey | None = None
    create_users: bool = False
    exactly_once: bool = False

    @property
    def secured(self) -> bool:
        return bool(self.trusted) or self.authentication is not None

    @property
    def protocol(self) -> str:
        tls = bool(self.trusted) or self.authentication == "tls"
        if self.authentication == "scram-sha-512":
            return "SASL_SSL" if tls else "SASL_PLAINTEXT"
        return "SSL" if tls else "PLAINTEXT"


PLAINTEXT_ACCESS: Final = KafkaAccess()


def from_spec(kafka: Mapping[str, Any]) -> KafkaAccess:
    """`spec.kafka`'s security half; the CRD's rules have refused impossible combinations already."""
    tls = kafka.get("tls") or {}
    authentication = kafka.get("authentication") or {}
    users = kafka.get("users") or {}
    pair = authentication.get("certificateAndKey") or {}
    password = authentication.get("passwordSecret") or {}
    kind = authentication.get("type")
    return KafkaAccess(
        trusted=tuple(
            SecretKey(entry["secretName"], entry.get("certificate", CA_KEY))
            for entry in tls.get("trustedCertificates") or []
        ),
        authentication=kind if kind in ("tls", "scram-sha-512") else None,
        certificate=SecretKey(pair["secretName"], pair["certificate"]) if pair else None,
        key=SecretKey(pair["secretName"], pair["key"]) if pair else None,
        username=authentication.get("username"),
        password=SecretKey(password["secretName"], password["password"]) if password else None,
        create_users=bool(users.get("create")),
        exactly_once=bool(users.get("exactlyOnce")),
    )


def client_environment(access: KafkaAccess) -> dict[str, str]:
    """The security variables every service reads (runtime.settings), pointing at the mounted files."""
    if not access.secured:
        return {}
    env = {"KAFKA_SECURITY_PROTOCOL": access.protocol}
    if access.trusted:
        env["KAFKA_SSL_CA_FILE"] = f"{KAFKA_FILES_DIR}/{CA_KEY}"
    if access.authentication == "tls":
        env["KAFKA_SSL_CERT_FILE"] = f"{KAFKA_FILES_DIR}/{CERT_KEY}"
        env["KAFKA_SSL_KEY_FILE"] = f"{KAFKA_FILES_DIR}/{KEY_KEY}"
    elif access.authentication == "scram-sha-512":
        env["KAFKA_SASL_MECHANISM"] = "SCRAM-SHA-512"
        env["KAFKA_SASL_PASSWORD_FILE"] = f"{KAFKA_FILES_DIR}/{PASSWORD_KEY}"
    return env


def declared_sources(access: KafkaAccess) -> dict[str, tuple[SecretKey, ...]]:
    """Service-Secret key → the declared Secret keys its value comes from: the CA always (several trusted
    certificates joined into one PEM bundle), the credentials unless users are created."""
    sources: dict[str, tuple[SecretKey, ...]] = {CA_KEY: access.trusted} if access.trusted else {}
    if not access.create_users:
        if access.certificate is not None and access.key is not None:
            sources[CERT_KEY], sources[KEY_KEY] = (access.certificate,), (access.key,)
        if access.password is not None:
            sources[PASSWORD_KEY] = (access.password,)
    return sources


def crd_properties() -> dict[str, Any]:
    """`spec.kafka.tls`, `authentication` and `users` of the FranzPipeline schema, with their rules."""
    secret_key = {"type": "string", "maxLength": 253}
    return {
        "tls": {
            "type": "object",
            "description": "TLS to the brokers (Strimzi's client shape). Strimzi: Secret "
            "<cluster>-cluster-ca-cert, certificate ca.crt.",
            "required": ["trustedCertificates"],
            "properties": {
                "trustedCertificates": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 8,
                    "items": {
                        "type": "object",
                        "required": ["secretName"],
                        "properties": {
                            "secretName": secret_key,
                            "certificate": {**secret_key, "default": CA_KEY},
                        },
                    },
                },
            },
        },
        "authentication": {
            "type": "object",
            "description": "How the services authenticate (Strimzi's client shape). With users.create, "
            "only the type: the operator creates one KafkaUser per service.",
            "required": ["type"],
            "properties": {
                "type": {"type": "string", "enum": ["tls", "scram-sha-512"]},
                "certificateAndKey": {
                    "type": "object",
                    "required": ["secretName", "certificate", "key"],
                    "properties": {"secretName": secret_key, "certificate": secret_key, "key": secret_key},
                },
                "username": secret_key,
                "passwordSecret": {
                    "type": "object",
                    "required": ["secretName", "password"],
                    "properties": {"secretName": secret_key, "password": secret_key},
                },
            },
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'tls' || !has(self.username) && !has(self.passwordSecret)",
                    "message": "authentication type tls takes certificateAndKey, not username/passwordSecret",
                },
                {
                    "rule": "self.type != 'scram-sha-512' || !has(self.certificateAndKey)",
                    "message": "authentication type scram-sha-512 takes username and passwordSecret, "
                    "not certificateAndKey",
                },
            ],
        },
        "users": {
            "type": "object",
            "description": "create: one KafkaUser (kafka.strimzi.io/v1) per service with exactly the ACLs "
            "it needs; exactlyOnce: aufbereitung runs with EXACTLY_ONCE and may use its transactional ids.",
            "properties": {
                "create": {"type": "boolean", "default": False},
                "exactlyOnce": {"type": "boolean", "default": False},
            },
        },
    }


def crd_rules() -> list[dict[str, str]]:
    """The combinations of `spec.kafka` that cannot work, refused at `kubectl apply`."""
    creating = "has(self.users) && has(self.users.create) && self.users.create"
    return [
        {
            "rule": f"!({creating}) || has(self.strimzi)",
            "message": "users.create needs kafka.strimzi.cluster: that cluster's User Operator creates them",
        },
        {
            "rule": f"!({creating}) || has(self.authentication)",
            "message": "users.create needs authentication.type (tls or scram-sha-512) for the users",
        },
        {
            "rule": f"!({creating}) || !has(self.authentication) || "
            "!has(self.authentication.certificateAndKey) && !has(self.authentication.username) "
            "&& !has(self.authentication.passwordSecret)",
            "message": "with users.create the operator makes each service's credentials: "
            "remove authentication.certificateAndKey, username and passwordSecret",
        },
        {
            "rule": f"{creating} || !has(self.authentication) || self.authentication.type != 'tls' "
            "|| has(self.authentication.certificateAndKey)",
            "message": "authentication type tls needs certificateAndKey (or users.create)",
        },
        {
            "rule": f"{creating} || !has(self.authentication) || self.authentication.type != 'scram-sha-512' "
            "|| has(self.authentication.username) && has(self.authentication.passwordSecret)",
            "message": "authentication type scram-sha-512 needs username and passwordSecret "
            "(or users.create)",
        },
        {
            "rule": "!has(self.authentication) || self.authentication.type != 'tls' || has(self.tls)",
            "message": "authentication type tls is mutual TLS: it needs tls.trustedCertificates",
        },
    ]
