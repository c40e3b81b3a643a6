"""aufbereitung throughput and latency against baselines, measured side by side on one local broker.

    .venv/bin/python benchmarks/aufbereitung.py [--records 30000] [--rounds 3]

Prints records/s of: the service's loop (at-least-once and exactly-once), a bare kafka-python
consume→produce loop without validation (this client's ceiling), and a per-record loop that commits
synchronously after each record (the upstream's pattern); then end-to-end latency at a fixed offered rate.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from multiprocessing.queues import Queue as QueueType
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from threading import Event

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata

from franz import contracts
from franz.aufbereitung.core import normalise
from franz.devstack.kafka import LocalKafka, ensure_topics
from franz.devstack.process import ManagedProcess, free_port
from franz.runtime.clients import new_consumer, new_producer
from franz.runtime.loop import KafkaLoop, LoopConfig
from franz.runtime.produce import ProduceStage, TransactionalProduceStage

PARTITIONS = 3
Polled = dict[TopicPartition, list[ConsumerRecord]]
BatchHandler = Callable[[KafkaConsumer, KafkaProducer, str, Polled, Event], None]
Sample = tuple[float, float]  # (end-to-end seconds, seconds until the service's output was stamped)


def fresh_topics(bootstrap: str, label: str) -> tuple[str, str, str]:
    names = tuple(f"bench-{label}-{role}-{uuid.uuid4().hex[:6]}" for role in ("in", "out", "dlq"))
    ensure_topics(bootstrap, names, partitions=PARTITIONS)
    return names  # type: ignore[return-value]


def preload(bootstrap: str, topic: str, count: int) -> None:
    producer = new_producer(bootstrap, client_id="bench-preload")
    for i in range(count):
        value = contracts.encode(
            {
                "username": f"user{i % 97}",
                "message": f"ticket number {i} " + "x" * 120,
                "timestamp": contracts.utc_now_iso(),
                "source_id": f"bench:{i}",
            }
        )
        producer.send(topic, key=f"bench:{i}".encode(), value=value)
    producer.flush()
    producer.close()


def committed_total(consumer: KafkaConsumer, topic: str) -> int:
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    return sum(consumer.committed(tp) or 0 for tp in partitions)


def run_service(bootstrap: str, count: int, *, exactly_once: bool) -> float:
    source, target, dlq = fresh_topics(bootstrap, "eos" if exactly_once else "alo")
    preload(bootstrap, source, count)
    transform = functools.partial(normalise, target_topic=target, dlq_topic=dlq)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    if exactly_once:
        stage: ProduceStage = TransactionalProduceStage(
            service="bench",
            transform=transform,
            producer_factory=lambda: new_producer(
                bootstrap, client_id="bench", transactional_id=f"tx-{group}"
            ),
        )
    else:
        stage = ProduceStage(
            service="bench",
            transform=transform,
            producer_factory=lambda: new_producer(bootstrap, client_id="bench"),
        )
    loop = KafkaLoop(
        LoopConfig(service="bench", bootstrap=bootstrap, group_id=group, topics=(source,)), stage
    )
    return timed_until_committed(bootstrap, group, source, count, loop.run, loop.stop)


def timed_until_committed(
    bootstrap: str, group: str, source: str, count: int, run: Callable[[], None], stop: Callable[[], None]
) -> float:
    watcher = new_consumer(bootstrap, client_id="bench-watch", group_id=group)
    thread = threading.Thread(target=run, daemon=True)
    started = time.perf_counter()
    thread.start()
    while committed_total(watcher, source) < count:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop()
    thread.join(60)
    watcher.close()
    return count / elapsed


def run_client_loop(bootstrap: str, count: int, label: str, handle: BatchHandler) -> float:
    """A hand-written loop on this client, without Franz's runtime: the baselines."""
    source, target, _ = fresh_topics(bootstrap, label)
    preload(bootstrap, source, count)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    stopped = threading.Event()

    def loop() -> None:
        consumer = new_consumer(bootstrap, client_id=label, group_id=group, max_poll_records=500)
        producer = new_producer(bootstrap, client_id=label)
        consumer.subscribe([source])
        while not stopped.is_set():
            handle(consumer, producer, target, consumer.poll(timeout_ms=200), stopped)
        consumer.close()
        producer.close()

    return timed_until_committed(bootstrap, group, source, count, loop, stopped.set)


def bare_batch(
    consumer: KafkaConsumer, producer: KafkaProducer, target: str, polled: Polled, _: Event
) -> None:
    """No validation, no DLQ: send every value of the batch, flush, commit. This client's ceiling."""
    for records in polled.values():
        for record in records:
            producer.send(target, key=record.key, value=record.value)
    producer.flush()
    consumer.commit()


def per_record(
    consumer: KafkaConsumer, producer: KafkaProducer, target: str, polled: Polled, stopped: Event
) -> None:
    """The upstream's pattern: for each record, map the fields, produce, and commit synchronously."""
    for tp, records in polled.items():
        for record in records:
            if stopped.is_set():
                return
            intake = json.loads(record.value)
            producer.send(
                target, value=json.dumps({"contact": intake["username"], "body": intake["message"]}).encode()
            )
            consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})


def offer(bootstrap: str, topic: str, rate: int, total: int) -> None:
    """Sender process: `total` intake records at `rate` per second, each stamped with its send time."""
    producer = new_producer(bootstrap, client_id="bench-offer", linger_ms=0)
    started = time.perf_counter()
    for i in range(total):
        pause = started + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
        producer.send(
            topic,
            value=contracts.encode(
                {"username": "u", "message": f"m{i}", "timestamp": sent, "source_id": f"lat:{i}"}
            ),
        )
    producer.flush()
    producer.close()


def read_latencies(
    bootstrap: str, topic: str, total: int, positioned: EventType, results: QueueType[list[Sample]]
) -> None:
    """Reader process: for each formatted record, (seconds since the sender stamped it, seconds the
    service took until its producer stamped the output)."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    reader.assign(partitions)
    reader.seek_to_end(*partitions)
    for tp in partitions:
        reader.position(tp)
    positioned.set()
    samples: list[Sample] = []
    while len(samples) < total:
        for records in reader.poll(timeout_ms=100).values():
            now = time.time()
            for record in records:
                sent = datetime.datetime.fromisoformat(json.loads(record.value)["date"]).timestamp()
                samples.append((now - sent, record.timestamp / 1000 - sent))
    reader.close()
    results.put(samples)


def run_latency(bootstrap: str, *, rate: int, seconds: int, warmup_seconds: int) -> dict[str, float]:
    """Offer `rate` records/s to `franz aufbereitung` running as its own process, as in production, with
    the sender and the reader in processes of their own, so the three never share an interpreter lock.
    End-to-end latency = formatted record seen by the reader - intake timestamp set by the sender. The
    first `warmup_seconds` of records are offered but not measured: a broker that has not yet served this
    traffic (JIT, page cache) adds tens of milliseconds that say nothing about the steady state."""
    source, target, dlq = fresh_topics(bootstrap, "lat")
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SOURCE_TOPIC": source,
        "TARGET_TOPIC": target,
        "DLQ_TOPIC": dlq,
        "GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}",
        "METRICS_PORT": str(port),
    }
    log_dir = Path(tempfile.mkdtemp(prefix="franz-bench-"))
    service = ManagedProcess(
        "aufbereitung",
        [sys.executable, "-m", "franz", "aufbereitung"],
        log_path=log_dir / "service.log",
        env=env,
    )
    service.start()
    try:
        service.wait_ready(lambda: _ready(port), timeout=60)
        warmup, total = rate * warmup_seconds, rate * (warmup_seconds + seconds)
        spawn = multiprocessing.get_context("spawn")
        positioned, results = spawn.Event(), spawn.Queue()
        # Daemons: a run that fails (say, the service died) must not leave the benchmark waiting on them.
        reader = spawn.Process(
            target=read_latencies, args=(bootstrap, target, total, positioned, results), daemon=True
        )
        reader.start()
        if not positioned.wait(60):
            raise RuntimeError("the latency reader did not reach the end of the output topic within 60 s")
        sender = spawn.Process(target=offer, args=(bootstrap, source, rate, total), daemon=True)
        sender.start()
        samples = results.get(timeout=warmup_seconds + seconds + 120)[warmup:]
        sender.join(60)
        reader.join(60)
    finally:
        service.stop()
    end_to_end = sorted(sample[0] for sample in samples)
    in_service = sorted(sample[1] for sample in samples)
    return {
        "p50": statistics.median(end_to_end),
        "p99": percentile(end_to_end, 0.99),
        "service_p50": statistics.median(in_service),
        "service_p99": percentile(in_service, 0.99),
    }


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(int(len(ordered) * fraction) - 1, 0)]


def _ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
        return bool(response.status == 200)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-record-records", type=int, default=3_000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--warmup-seconds", type=int, default=10, help="offered before measuring latency")
    args = parser.parse_args()
    bare, service, eos = [], [], []
    with LocalKafka(heap="1g") as kafka:
        bootstrap = kafka.bootstrap
        # Alternate the contenders round by round, so the broker's warm-up and GC hit them alike.
        for _ in range(args.rounds):
            bare.append(run_client_loop(bootstrap, args.records, "bare", bare_batch))
            service.append(run_service(bootstrap, args.records, exactly_once=False))
            eos.append(run_service(bootstrap, args.records, exactly_once=True))
        per_record_rate = run_client_loop(bootstrap, args.per_record_records, "perrec", per_record)
        latencies = [
            run_latency(bootstrap, rate=args.rate, seconds=args.seconds, warmup_seconds=args.warmup_seconds)
            for _ in range(args.latency_rounds)
        ]
    bare_rate, service_rate, eos_rate = (statistics.median(rates) for rates in (bare, service, eos))
    print(
        f"records per run              {args.records}, median of {args.rounds} rounds "
        f"(per-record loop: {args.per_record_records})"
    )
    print(f"bare consume->produce loop   {bare_rate:10.0f} records/s   rounds {[round(r) for r in bare]}")
    print(
        f"aufbereitung at-least-once   {service_rate:10.0f} records/s   "
        f"{service_rate / bare_rate:.2f}x bare  "
        f"{service_rate / per_record_rate:.1f}x per-record   rounds {[round(r) for r in service]}"
    )
    print(
        f"aufbereitung exactly-once    {eos_rate:10.0f} records/s   {eos_rate / bare_rate:.2f}x bare  "
        f"rounds {[round(r) for r in eos]}"
    )
    print(f"per-record sync commit loop  {per_record_rate:10.0f} records/s")
    for number, latency in enumerate(latencies, 1):
        print(
            f"latency at {args.rate} rec/s, run {number}   end to end p50 {latency['p50'] * 1000:.1f} ms  "
            f"p99 {latency['p99'] * 1000:.1f} ms   (sender -> service's output p50 "
            f"{latency['service_p50'] * 1000:.1f} ms  p99 {latency['service_p99'] * 1000:.1f} ms)"
        )
    p99s = [latency["p99"] * 1000 for latency in latencies]
    print(
        f"latency p99, median of {len(latencies)} runs   {statistics.median(p99s):.1f} ms   "
        f"({args.seconds} s measured after {args.warmup_seconds} s of warm-up at the same rate)"
    )


if __name__ == "__main__":
    main()
