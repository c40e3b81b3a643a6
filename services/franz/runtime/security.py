"""How a Kafka client proves who it is and whom it trusts: TLS, SASL, mutual TLS, as Strimzi hands them out.

One frozen `KafkaSecurity` is read from the environment at start (`Environment.kafka_security`), turned
into kafka-python's settings by `client_config`, and checked against the brokers by `probe` before a
service builds its clients, so a wrong password, an untrusted certificate or a refused client certificate
is one line naming the variable that fixes it, not a client that retries silently for minutes.
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kafka.errors import (
    AuthorizationError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)

from franz.runtime.secrets import Secret

Protocol = Literal["PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"]
PROTOCOLS: tuple[Protocol, ...] = ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")

# How long one probe step may take: a broker that answers at all answers a handshake in milliseconds.
PROBE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """The security half of a Kafka connection; the default is PLAINTEXT with nothing else set.

    The password is either held (`password`) or read from `password_file` each time a client is built,
    so a password rotated in a mounted Secret is used by the next connection without a restart.
    """

    protocol: Protocol = "PLAINTEXT"
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    sasl_mechanism: str | None = None
    username: str | None = None
    password: Secret | None = None
    password_file: Path | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_SSL", "SASL_PLAINTEXT")

    def current_password(self) -> Secret | None:
        if self.password_file is not None:
            return Secret(self.password_file.read_text().strip())
        return self.password


PLAINTEXT = KafkaSecurity()


def client_config(security: KafkaSecurity) -> dict[str, Any]:
    """kafka-python's keyword arguments for `security` (the same for producers, consumers and admins)."""
    config: dict[str, Any] = {"security_protocol": security.protocol}
    if security.uses_tls:
        config["ssl_cafile"] = str(security.ca_file) if security.ca_file else None
        config["ssl_certfile"] = str(security.cert_file) if security.cert_file else None
        config["ssl_keyfile"] = str(security.key_file) if security.key_file else None
    if security.uses_sasl:
        password = security.current_password()
        config["sasl_mechanism"] = security.sasl_mechanism
        config["sasl_plain_username"] = security.username
        config["sasl_plain_password"] = password.reveal() if password else None
    return config


def probe(bootstrap: str, security: KafkaSecurity) -> str | None:
    """None when every bootstrap server accepts a TLS handshake and a request as `security` makes them,
    else one line saying what failed and which variable fixes it.

    SASL credentials are checked by building a client afterwards (`sasl_refused` words that failure);
    this step covers what comes before them: the address, the broker's certificate and ours.
    """
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        problem = _probe_server(host, int(port), security)
        if problem is not None:
            return problem
    return None


def _probe_server(host: str, port: int, security: KafkaSecurity) -> str | None:
    address = f"{host}:{port}"
    try:
        raw = socket.create_connection((host, port), timeout=PROBE_SECONDS)
    except OSError as error:
        return (
            f"no Kafka broker answered at {address} ({error.strerror or error}); "
            "check KAFKA_BOOTSTRAP_SERVERS and that the brokers are up"
        )
    with raw:
        if not security.uses_tls:
            return None
        try:
            context = _tls_context(security)
        except (OSError, ssl.SSLError) as error:
            return (
                f"cannot load the TLS files ({error}); check KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE "
                "and KAFKA_SSL_KEY_FILE"
            )
        try:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                # TLS 1.3 reports a refused client certificate only after the handshake: one request
                # (ApiVersions, answered before any SASL login) makes the broker say it.
                tls.sendall(_API_VERSIONS_REQUEST)
                if not tls.recv(4):
                    return _refused_certificate(address, security, "the connection was closed")
        except ssl.SSLCertVerificationError as error:
            return (
                f"the broker at {address} presented a certificate that is not trusted "
                f"({error.verify_message}); set KAFKA_SSL_CA_FILE to the cluster CA "
                "(Strimzi: Secret <cluster>-cluster-ca-cert, key ca.crt)"
            )
        except (ssl.SSLError, ConnectionError) as error:
            return _refused_certificate(address, security, str(error))
        except TimeoutError:
            return f"the broker at {address} did not answer a TLS request within {PROBE_SECONDS:g} s"
    return None


def _tls_context(security: KafkaSecurity) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if security.ca_file is not None:
        context.load_verify_locations(str(security.ca_file))
    else:
        context.load_default_certs()
    if security.cert_file is not None and security.key_file is not None:
        context.load_cert_chain(str(security.cert_file), str(security.key_file))
    return context


def _refused_certificate(address: str, security: KafkaSecurity, detail: str) -> str:
    if security.cert_file is None:
        return (
            f"the broker at {address} requires a client certificate ({detail}); set KAFKA_SSL_CERT_FILE "
            "and KAFKA_SSL_KEY_FILE (Strimzi: the KafkaUser Secret's user.crt and user.key)"
        )
    return (
        f"the broker at {address} refused the client certificate in KAFKA_SSL_CERT_FILE ({detail}); "
        "use the user.crt/user.key of a KafkaUser of this cluster"
    )


# ApiVersions v0 from client "franz-probe": the one request every broker answers on every listener.
_CLIENT_ID = b"franz-probe"
_API_VERSIONS_BODY = struct.pack(">hhih", 18, 0, 1, len(_CLIENT_ID)) + _CLIENT_ID
_API_VERSIONS_REQUEST = struct.pack(">i", len(_API_VERSIONS_BODY)) + _API_VERSIONS_BODY


def sasl_refused(bootstrap: str, security: KafkaSecurity) -> str:
    """The line for a SASL login the brokers did not accept (they were reachable and TLS was fine)."""
    source = "KAFKA_SASL_PASSWORD_FILE" if security.password_file else "KAFKA_SASL_PASSWORD"
    return (
        f"the brokers at {bootstrap} refused the {security.sasl_mechanism} login of user "
        f"{security.username!r}; check KAFKA_SASL_USERNAME and {source} "
        "(Strimzi: the KafkaUser's Secret, key password) and KAFKA_SASL_MECHANISM"
    )


def describe_failure(error: BaseException) -> str:
    """A client error as one line; for a missing ACL, the ACL that fixes it."""
    if isinstance(error, TopicAuthorizationFailedError):
        # kafka-python names the topics as one argument each, or as one set of them.
        named = [
            arg for args in error.args for arg in (args if isinstance(args, set | frozenset) else [args])
        ]
        topics = ", ".join(sorted(str(topic) for topic in named)) or "a topic"
        return (
            f"TopicAuthorizationFailed on {topics}: the Kafka user lacks an ACL on topic {topics} "
            "(Read to consume, Write to produce, Describe for both; see the README's ACL table)"
        )
    if isinstance(error, GroupAuthorizationFailedError):
        return f"GroupAuthorizationFailed ({error}): the Kafka user lacks the Read ACL on its consumer group"
    if isinstance(error, TransactionalIdAuthorizationFailedError):
        return (
            f"TransactionalIdAuthorizationFailed ({error}): the Kafka user lacks the Write and Describe "
            "ACLs on its transactional id (TRANSACTIONAL_ID)"
        )
    if isinstance(error, ClusterAuthorizationFailedError):
        return f"ClusterAuthorizationFailed ({error}): the Kafka user lacks an ACL on the cluster"
    if isinstance(error, AuthorizationError):
        return f"{type(error).__name__} ({error}): the Kafka user lacks an ACL for this request"
    return repr(error)
