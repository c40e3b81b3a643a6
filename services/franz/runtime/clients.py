"""The one place Kafka clients are configured, so every service gets the same delivery guarantees."""

from __future__ import annotations

from typing import Any

import kafka
from kafka import KafkaConsumer, KafkaProducer
from kafka.coordinator.consumer import ConsumerCoordinator
from kafka.errors import KafkaError

from franz.runtime.exceptions import BrokerUnreachable, KafkaClientIncompatible, TopicMissing
from franz.runtime.security import PLAINTEXT, PROBE_SECONDS, KafkaSecurity, client_config, probe, sasl_refused


def _finish_pending_joins(coordinator: type[ConsumerCoordinator] = ConsumerCoordinator) -> None:
    """Make a consumer whose poll timed out in the middle of a rebalance finish that rebalance.

    kafka-python 3.0 leaves a join in flight when `poll`'s timeout expires and awaits it again only while
    `need_rejoin()` is true. When the group leader rejoins because a subscribed topic grew partitions, the
    join itself records the new metadata, `need_rejoin()` turns false, and the join is never completed:
    the member keeps its old (or no) assignment and stops heartbeating, forever. That is how the operator
    grows partitions, and a 200 ms poll loses this race about once in four. The Java client counts a join
    in flight as a rejoin still needed (`rejoinNeededOrPending`, see KAFKA-9815, apache/kafka#8420), and
    so did kafka-python 2 (dpkp/kafka-python#1695: "check that join_future is not pending"); the 3.0
    rewrite of the coordinator lost that check, and no upstream issue tracks it yet. This puts it back.
    Regression test: tests/integration/test_runtime.py.

    It reads the coordinator's private `_join_task`, proven on the version pinned in pyproject.toml: when
    that attribute is gone, every consumer would silently lose the fix, so the import fails instead.
    """
    if not _constructor_sets(coordinator, "_join_task") or not hasattr(coordinator, "need_rejoin"):
        raise KafkaClientIncompatible(
            f"kafka-python {kafka.__version__} has no ConsumerCoordinator._join_task, which Franz's rejoin "
            "fix (franz.runtime.clients) relies on: install the version pyproject.toml pins"
        )
    needs_rejoin = coordinator.need_rejoin

    def need_rejoin_or_pending(self: ConsumerCoordinator) -> bool:
        return bool(needs_rejoin(self)) or self._join_task is not None

    coordinator.need_rejoin = need_rejoin_or_pending


def _constructor_sets(cls: type, attribute: str) -> bool:
    """Whether a constructor of `cls` or of a base assigns `attribute` (its name is in the code)."""
    codes = (getattr(vars(klass).get("__init__"), "__code__", None) for klass in cls.__mro__)
    return any(attribute in code.co_names for code in codes if code is not None)


_finish_pending_joins()


def new_producer(
    bootstrap: str, *, client_id: str, security: KafkaSecurity = PLAINTEXT, **overrides: Any
) -> KafkaProducer:
    """Idempotent, acks=all: a retried send never duplicates or reorders within a partition."""
    config: dict[str, Any] = {
        **client_config(security),
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
        raise BrokerUnreachable(_unreachable(bootstrap, security, error)) from error


def new_consumer(
    bootstrap: str, *, client_id: str, security: KafkaSecurity = PLAINTEXT, **overrides: Any
) -> KafkaConsumer:
    """Manual commits only: the caller commits after every record derived from an offset is acknowledged."""
    config: dict[str, Any] = {
        **client_config(security),
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
        raise BrokerUnreachable(_unreachable(bootstrap, security, error)) from error


def new_reader(bootstrap: str, *, client_id: str, security: KafkaSecurity = PLAINTEXT) -> KafkaConsumer:
    """A consumer outside any group that sees only committed records: for reading topics, not sharing them."""
    return new_consumer(
        bootstrap,
        client_id=client_id,
        security=security,
        isolation_level="read_committed",
        max_poll_records=5000,
    )


def partitions_of(consumer: KafkaConsumer, topic: str, *, bootstrap: str) -> list[int]:
    """The topic's partitions, asked once of the broker: a missing topic is a clear error at once, where
    sending to it would wait a minute for metadata that never comes (the brokers create no topics)."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise TopicMissing(
            f"topic {topic!r} does not exist on {bootstrap}; create it: `franz up` creates the default "
            "topics locally, a FranzPipeline declares a pipeline's topics, or kafka-topics.sh "
            f"--bootstrap-server {bootstrap} --create --topic {topic}"
        )
    return sorted(partitions)


def check_access(bootstrap: str, security: KafkaSecurity) -> str | None:
    """None when the brokers accept a connection made as `security`, else one line saying what to fix.

    kafka-python retries a refused login or an untrusted certificate until its bootstrap timeout and then
    reports only that it could not bootstrap; this asks the question in a few seconds and names the cause.
    """
    problem = probe(bootstrap, security)
    if problem is not None or not security.uses_sasl:
        return problem
    try:
        client = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            client_id="franz-access-check",
            bootstrap_timeout_ms=int(PROBE_SECONDS * 1000),
            **client_config(security),
        )
    except KafkaError:
        return sasl_refused(bootstrap, security)
    client.close()
    return None


def _unreachable(bootstrap: str, security: KafkaSecurity, error: KafkaError) -> str:
    return check_access(bootstrap, security) or (
        f"no Kafka broker answered at {bootstrap} ({type(error).__name__}); "
        "check KAFKA_BOOTSTRAP_SERVERS and that the brokers are up"
    )
