"""Reading settings from the environment: typed, validated once at start, failing with the variable's name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from franz import contracts
from franz.exceptions import ConfigError
from franz.runtime.secrets import Secret
from franz.runtime.security import PROTOCOLS, SASL_MECHANISMS, KafkaSecurity

BOOTSTRAP_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BROKERS", "KAFKA_BROKER")
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Environment:
    """A view of environment variables whose readers raise ConfigError naming the bad variable."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def text(self, name: str, default: str | None = None) -> str:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise ConfigError(f"{name} is required but not set")
        return default

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self._environ.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
        raw = self._environ.get(name, "").strip()
        value = (raw.upper() if upper else raw.lower()) if raw else default
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    def topics(self, name: str, default: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in self.text(name, default).split(",") if part.strip())
        for topic in names:
            _check_topic_name(name, topic)
        if not names:
            raise ConfigError(f"{name} names no topic")
        return names

    def topic(self, name: str, default: str) -> str:
        topic = self.text(name, default)
        _check_topic_name(name, topic)
        return topic

    def bootstrap(self) -> str:
        """`KAFKA_BOOTSTRAP_SERVERS`, else the seed's `KAFKA_BROKERS`/`KAFKA_BROKER`: host:port[,…]."""
        for name in BOOTSTRAP_VARIABLES:
            value = self.optional(name)
            if value is not None:
                for server in value.split(","):
                    host, _, port = server.strip().rpartition(":")
                    if not host or not port.isdigit():
                        raise ConfigError(f"{name} must be host:port[,host:port…], got {value!r}")
                return value
        return DEFAULT_BOOTSTRAP

    def kafka_security(self) -> KafkaSecurity:
        """`KAFKA_SECURITY_PROTOCOL` and what it needs: the CA, a client certificate, SASL credentials.

        Settings the protocol would ignore are refused, so a half-configured client never connects
        with less security than its operator meant.
        """
        chosen = self.choice("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", PROTOCOLS, upper=True)
        protocol = next(known for known in PROTOCOLS if known == chosen)
        tls = protocol in ("SSL", "SASL_SSL")
        sasl = protocol in ("SASL_SSL", "SASL_PLAINTEXT")
        files = {name: self.readable_file(name) for name in _TLS_FILES}
        sasl_values = {name: self.optional(name) for name in _SASL_VARIABLES}
        for name, value in (*files.items(), *sasl_values.items()):
            if value is not None and not (tls if name in _TLS_FILES else sasl):
                raise ConfigError(f"{name} is set but KAFKA_SECURITY_PROTOCOL={protocol} does not use it")
        cert, key = files["KAFKA_SSL_CERT_FILE"], files["KAFKA_SSL_KEY_FILE"]
        if (cert is None) != (key is None):
            raise ConfigError("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE must be set together (mutual TLS)")
        if not sasl:
            return KafkaSecurity(
                protocol=protocol,
                ca_file=files["KAFKA_SSL_CA_FILE"],
                cert_file=cert,
                key_file=key,
            )
        username = self.text("KAFKA_SASL_USERNAME")
        password = self.optional("KAFKA_SASL_PASSWORD")
        password_file = self.readable_file("KAFKA_SASL_PASSWORD_FILE")
        if (password is None) == (password_file is None):
            raise ConfigError(
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs exactly one of KAFKA_SASL_PASSWORD and "
                "KAFKA_SASL_PASSWORD_FILE"
            )
        return KafkaSecurity(
            protocol=protocol,
            ca_file=files["KAFKA_SSL_CA_FILE"],
            cert_file=cert,
            key_file=key,
            sasl_mechanism=self.choice("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", SASL_MECHANISMS, upper=True),
            username=username,
            password=Secret(password) if password is not None else None,
            password_file=password_file,
        )

    def readable_file(self, name: str) -> Path | None:
        """A path that must name a readable file when set (a mounted Secret's key, a CA)."""
        raw = self.optional(name)
        if raw is None:
            return None
        path = Path(raw)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise ConfigError(f"{name} names {raw}, which is not a readable file")
        return path

    def metrics_port(self) -> int:
        """`METRICS_PORT`: where `/healthz`, `/readyz` and `/metrics` are served (default 8080)."""
        return self.integer("METRICS_PORT", 8080, minimum=1, maximum=65535)

    def errors_topic(self) -> str:
        """`ERRORS_TOPIC`: where every service reports its operational failures (absturz reads it)."""
        return self.topic("ERRORS_TOPIC", contracts.TOPIC_ERRORS)

    def lifecycle_topics(self) -> contracts.LifecycleTopics:
        """The lifecycle topics: sachbearbeiter, the bot and the CLI read the same variables."""
        return contracts.LifecycleTopics(
            formatted=self.topic("FORMATTED_TOPIC", contracts.TOPIC_FORMATTED),
            commands=self.topic("COMMANDS_TOPIC", contracts.TOPIC_COMMANDS),
            events=self.topic("EVENTS_TOPIC", contracts.TOPIC_EVENTS),
            state=self.topic("STATE_TOPIC", contracts.TOPIC_STATE),
            dlq=self.topic("COMMANDS_DLQ_TOPIC", contracts.TOPIC_COMMANDS_DLQ),
        )

    def log_level(self) -> str:
        return self.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True)

    def log_format(self) -> Literal["json", "text"]:
        return "text" if self.choice("LOG_FORMAT", "json", ("json", "text")) == "text" else "json"


_TLS_FILES = ("KAFKA_SSL_CA_FILE", "KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE")
_SASL_VARIABLES = (
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
)


def _check_topic_name(variable: str, topic: str) -> None:
    # Kafka's own rule: 1-249 characters of ASCII letters, digits, '.', '_' and '-'; not '.' or '..'.
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    if not 0 < len(topic) <= 249 or not set(topic) <= allowed or topic in (".", ".."):
        raise ConfigError(f"{variable} holds an invalid Kafka topic name {topic!r}")
