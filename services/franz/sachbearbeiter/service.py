"""`franz sachbearbeiter`: wiring of settings, the store, the shared loop, the lifecycle stage and the read
API; and the one-shot `--rebuild-state` that republishes every ticket's state from the event log alone."""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time

from prometheus_client import REGISTRY

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.exceptions import ConfigError
from franz.runtime.clients import new_producer, new_reader
from franz.runtime.errors import error_reporter, refusal_reported
from franz.runtime.logs import configure_logging
from franz.runtime.loop import KafkaLoop, LoopConfig, require_acknowledged
from franz.runtime.security import PLAINTEXT, KafkaSecurity
from franz.runtime.service import run_loop, wait_for_kafka
from franz.runtime.wait import stop_event, wait_for_topics
from franz.sachbearbeiter import eventlog, metrics
from franz.sachbearbeiter.api import EventReader, TicketsApi
from franz.sachbearbeiter.metrics import TicketGauge
from franz.sachbearbeiter.restore import Restorer, committed_checkpoints, state_header
from franz.sachbearbeiter.settings import Settings
from franz.sachbearbeiter.stage import SERVICE, LifecycleStage
from franz.sachbearbeiter.store import PartitionsChanged, TicketStore, partition_growth_message

log = logging.getLogger(__name__)


def co_partitioned(
    bootstrap: str, topics: LifecycleTopics, *, security: KafkaSecurity, stop: threading.Event
) -> int | None:
    """The partition count shared by the keyed lifecycle topics, waiting until they exist; None when
    `stop` is set first.

    Each instance owns whole tickets only if a ticket's records land in the same partition number of
    every topic, which Kafka's partitioner guarantees only for equal partition counts.
    """
    names = (topics.formatted, topics.commands, topics.events, topics.state)
    consumer = new_reader(bootstrap, client_id=f"franz-{SERVICE}-metadata", security=security)
    try:
        counts = wait_for_topics(consumer, names, stop=stop)
    finally:
        consumer.close()
    if not all(counts.values()):
        return None
    if len(set(counts.values())) != 1:
        listed = ", ".join(f"{name} has {count}" for name, count in counts.items())
        raise ConfigError(
            f"FORMATTED_TOPIC, COMMANDS_TOPIC, EVENTS_TOPIC and STATE_TOPIC need the same number of "
            f"partitions (they are co-partitioned by ticket id): {listed}"
        )
    return next(iter(counts.values()))


def main(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    metrics.initialise(SERVICE, settings.topics)
    # The service: SIGTERM while the topics are awaited ends the wait, and run_loop takes the signals over
    # after it. The one-shot rebuild keeps the default handlers, so Ctrl-C interrupts it wherever it is.
    stop = threading.Event() if args.rebuild_state else stop_event()
    if wait_for_kafka(settings.bootstrap, settings.security, metrics_port=settings.metrics_port, stop=stop):
        return 0
    reporter = error_reporter(
        SERVICE, bootstrap=settings.bootstrap, topic=settings.errors_topic, security=settings.security
    )
    eventlog.reporter = reporter  # every reader reports the records it cannot decode there
    with refusal_reported(reporter):
        partitions = co_partitioned(
            settings.bootstrap, settings.topics, security=settings.security, stop=stop
        )
        if partitions is not None and args.rebuild_state:
            return rebuild_state(settings.bootstrap, settings.topics, partitions, security=settings.security)
    if partitions is None:
        return 0
    refuse_grown_partitions(settings, partitions)
    store = TicketStore(settings.store_dir, events_topic=settings.topics.events, partitions=partitions)
    stage = LifecycleStage(
        topics=settings.topics,
        partitions=partitions,
        producer_factory=lambda: new_producer(
            settings.bootstrap, client_id=f"franz-{SERVICE}", security=settings.security
        ),
        restorer=Restorer(
            bootstrap=settings.bootstrap,
            topics=settings.topics,
            group_id=settings.group_id,
            store=store,
            security=settings.security,
        ),
    )
    reader = EventReader(settings.bootstrap, settings.topics.events, security=settings.security)
    api = TicketsApi(store=store, served=stage.served, owned=stage.owned, reader=reader)
    REGISTRY.register(TicketGauge(stage.counts))
    loop = KafkaLoop(
        LoopConfig(
            service=SERVICE,
            bootstrap=settings.bootstrap,
            group_id=settings.group_id,
            topics=(settings.topics.formatted, settings.topics.commands),
            security=settings.security,
        ),
        stage,
        reporter=reporter,
    )
    log.info(
        "sachbearbeiter starting",
        extra={
            "formatted": settings.topics.formatted,
            "commands": settings.topics.commands,
            "events": settings.topics.events,
            "state": settings.topics.state,
            "partitions": partitions,
            "metrics_port": settings.metrics_port,
            "store": str(settings.store_dir),
        },
    )
    try:
        return run_loop(loop, metrics_port=settings.metrics_port, api=api)
    finally:
        reader.close()
        store.close()


def refuse_grown_partitions(settings: Settings, partitions: int) -> None:
    """Stop at start when the group's last commits placed the tickets by another partition count: the
    lifecycle topics grew, and a ticket's records would be looked for in the wrong partition."""
    for _, placed_by in committed_checkpoints(
        settings.bootstrap, settings.group_id, settings.topics, partition=0, security=settings.security
    ):
        if placed_by != partitions:
            raise PartitionsChanged(
                partition_growth_message(settings.topics.events, was=placed_by, now=partitions)
            )


def rebuild_state(
    bootstrap: str, topics: LifecycleTopics, partitions: int, *, security: KafkaSecurity = PLAINTEXT
) -> int:
    """Fold every partition's events and write each ticket's state; the last write per key wins."""
    producer = new_producer(bootstrap, client_id=f"franz-{SERVICE}-rebuild", security=security)
    started, tickets, events = time.perf_counter(), 0, 0
    try:
        for partition in range(partitions):
            ledger, read = eventlog.restore(bootstrap, topics.events, partition, security=security)
            events += read
            futures = [
                producer.send(
                    topics.state,
                    key=ticket_id.encode(),
                    value=contracts.encode(ticket.state),
                    headers=state_header(ticket),
                )
                for ticket_id, ticket in ledger.tickets.items()
            ]
            producer.flush(timeout=60)
            require_acknowledged(futures, timeout=60)
            tickets += len(futures)
    finally:
        producer.close(timeout=10)
    summary = {"events": events, "tickets": tickets, "seconds": round(time.perf_counter() - started, 3)}
    log.info("state rebuilt from the event log", extra=summary)
    print(json.dumps(summary))
    return 0
