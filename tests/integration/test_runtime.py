"""The shared loop on the real broker, where the Kafka client itself is part of what is tested."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence

from kafka import KafkaAdminClient
from kafka.admin import NewPartitions
from kafka.consumer.fetcher import ConsumerRecord

from franz.runtime.clients import new_producer
from franz.runtime.loop import KafkaLoop, LoopConfig
from franz.runtime.produce import Output, ProduceStage
from tests.helpers import read_topic, wait_until


def test_the_loop_takes_up_partitions_added_while_it_runs(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    """The operator grows a pipeline's partitions under running services. With kafka-python 3.0 as
    published, a consumer whose poll times out during the rebalance that follows never finishes it
    (franz.runtime.clients explains); a 1 ms poll makes that race certain instead of one in four."""
    source, target = new_topic("grow-in"), new_topic("grow-out")

    def copy(record: ConsumerRecord) -> Sequence[Output]:
        return [Output(target, record.key, record.value, "ok")]

    stage = ProduceStage(
        service="test", transform=copy, producer_factory=lambda: new_producer(bootstrap, client_id="grow")
    )
    config = LoopConfig(
        service="test",
        bootstrap=bootstrap,
        group_id=f"grow-{uuid.uuid4().hex[:8]}",
        topics=(source,),
        poll_timeout_ms=1,
    )
    loop = KafkaLoop(config, stage, metadata_max_age_ms=300)  # notice new partitions at once
    running = threading.Thread(target=loop.run, daemon=True)
    running.start()
    producer = new_producer(bootstrap, client_id="grow-test", metadata_max_age_ms=300)
    try:
        producer.send(source, value=b"before", partition=0).get(timeout=30)
        read_topic(bootstrap, target, expected=1, timeout=60)

        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.create_partitions({source: NewPartitions(total_count=3)})
        finally:
            admin.close()
        wait_until(lambda: len(producer.partitions_for(source)) == 3, timeout=30)
        for partition in (1, 2):
            producer.send(source, value=f"new partition {partition}".encode(), partition=partition).get(30)

        copied = read_topic(bootstrap, target, expected=3, timeout=60)
        values = sorted(record.value for record in copied)
        assert values == [b"before", b"new partition 1", b"new partition 2"]
        assert {tp.partition for tp in loop.consumer.assignment()} == {0, 1, 2}
    finally:
        producer.close()
        loop.stop()
        running.join(60)
    assert not running.is_alive(), "the loop stopped"
