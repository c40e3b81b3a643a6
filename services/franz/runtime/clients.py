"""The one place Kafka clients are configured, so every service gets the same delivery guarantees."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from franz.runtime.exceptions import BrokerUnreachable


def new_producer(bootstrap: str, *, client_id: str, **overrides: Any) -> KafkaProducer:
    """Idempotent, acks=all: a retried send never duplicates or reorders within a partition."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap.split(","),
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_in_flight_requests_per_connection": 5,
        "retries": 2**31 - 1,  # retries are bounded by delivery_timeout_ms, not by count
        "delivery_timeout_ms": 120_000,
        "request_timeout_ms": 30_000,
    }
    config.update(overrides)
    try:
        return KafkaProducer(**config)
    except KafkaError as error:
        raise BrokerUnreachable(_unreachable(bootstrap, error)) from error


def new_consumer(bootstrap: str, *, client_id: str, **overrides: Any) -> KafkaConsumer:
    """Manual commits only: the caller commits after every record derived from an offset is acknowledged."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap.split(","),
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
        "fetch_max_wait_ms": 100,
        # New partitions and topics are noticed within 30 s instead of the default 5 minutes.
        "metadata_max_age_ms": 30_000,
    }
    config.update(overrides)
    try:
        return KafkaConsumer(**config)
    except KafkaError as error:
        raise BrokerUnreachable(_unreachable(bootstrap, error)) from error


def _unreachable(bootstrap: str, error: KafkaError) -> str:
    return (
        f"no Kafka broker answered at {bootstrap} ({type(error).__name__}); "
        "check KAFKA_BOOTSTRAP_SERVERS and that the brokers are up"
    )
