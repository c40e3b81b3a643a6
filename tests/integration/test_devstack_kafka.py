"""The local broker is a real Kafka: groups, transactions and the settings the devstack promises."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType

from franz.devstack.kafka import LocalKafka
from franz.runtime.clients import new_consumer, new_producer
from tests.helpers import wait_until


def test_broker_is_kafka_4_1_in_kraft_mode(kafka: LocalKafka) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        cluster = admin.describe_cluster()
        wanted = {"group.initial.rebalance.delay.ms": None, "process.roles": None}
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1", configs=wanted)], config_filter="all"
        )
        versions = admin.api_versions()
    finally:
        admin.close()
    assert [broker["host"] for broker in cluster["brokers"]] == ["127.0.0.1"]
    broker_config = configs["broker"]["1"]
    # The group forms at once instead of after the default 3 s rebalance delay.
    assert broker_config["group.initial.rebalance.delay.ms"]["value"] == "0"
    assert broker_config["process.roles"]["value"] == "broker,controller"
    print(f"broker ready in {kafka.start_seconds:.1f}s; api versions: {len(versions)} apis")


def test_consumer_group_receives_what_a_producer_sent(bootstrap: str, new_topic: Callable[..., str]) -> None:
    topic = new_topic("smoke", partitions=3)
    producer = new_producer(bootstrap, client_id="smoke-producer")
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(30)}
    for key, value in sent.items():
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    consumer = new_consumer(bootstrap, client_id="smoke-consumer", group_id=f"g-{uuid.uuid4().hex}")
    consumer.subscribe([topic])
    received: dict[bytes, bytes] = {}
    subscribed = time.monotonic()
    joined_after: float | None = None

    def everything_received() -> bool:
        nonlocal joined_after
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                received[record.key] = record.value
        if joined_after is None and consumer.assignment():
            joined_after = time.monotonic() - subscribed
        return received == sent

    try:
        wait_until(everything_received, timeout=30)
        consumer.commit()
        committed = {tp.partition: consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        consumer.close()
    assert len(committed) == 3
    assert sum(offset or 0 for offset in committed.values()) == 30
    # group.initial.rebalance.delay.ms=0: the group forms at once instead of after the default 3 s.
    assert joined_after is not None
    print(f"consumer group joined after {joined_after:.2f}s")


def test_transactions_commit_and_abort_as_read_committed_sees_them(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("txn")
    producer = new_producer(bootstrap, client_id="smoke-txn", transactional_id=f"smoke-{uuid.uuid4().hex}")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, value=b"aborted")
    producer.flush()
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send(topic, value=b"committed")
    producer.commit_transaction()
    producer.close()

    def read(isolation: str) -> list[bytes]:
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            isolation_level=isolation,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=3000,
        )
        try:
            return [record.value for record in consumer]
        finally:
            consumer.close()

    assert read("read_committed") == [b"committed"]
    assert read("read_uncommitted") == [b"aborted", b"committed"]
