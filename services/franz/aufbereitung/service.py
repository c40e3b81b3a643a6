"""`franz aufbereitung`: wiring of settings, the shared loop and the pure normaliser."""

from __future__ import annotations

import argparse
import functools
import logging

from franz.aufbereitung.core import SERVICE, normalise
from franz.aufbereitung.settings import Settings
from franz.runtime import metrics
from franz.runtime.clients import new_producer
from franz.runtime.errors import error_reporter
from franz.runtime.logs import configure_logging
from franz.runtime.loop import KafkaLoop, LoopConfig
from franz.runtime.produce import ProduceStage, TransactionalProduceStage
from franz.runtime.service import run_loop, wait_for_kafka
from franz.runtime.wait import stop_event

log = logging.getLogger(__name__)

# How long a send may wait for the output topic's metadata (kafka-python's default is 60 s). A topic that
# does not exist otherwise holds every batch a minute before the failure is counted and reported; a known
# topic's metadata arrives in milliseconds, so 5 s only cuts that wait short.
METADATA_WAIT_MS = 5000


def main(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    metrics.initialise(
        SERVICE, outputs={settings.target_topic: ["ok"], settings.dlq_topic: metrics.DLQ_OUTCOMES}
    )
    if wait_for_kafka(
        settings.bootstrap, settings.security, metrics_port=settings.metrics_port, stop=stop_event()
    ):
        return 0
    transform = functools.partial(
        normalise,
        target_topic=settings.target_topic,
        dlq_topic=settings.dlq_topic,
        message_max_chars=settings.message_max_chars,
    )
    if settings.exactly_once:
        stage: ProduceStage = TransactionalProduceStage(
            service=SERVICE,
            producer_factory=lambda: new_producer(
                settings.bootstrap,
                client_id=f"franz-{SERVICE}",
                security=settings.security,
                transactional_id=settings.transactional_id,
                max_block_ms=METADATA_WAIT_MS,
            ),
            transform=transform,
        )
    else:
        stage = ProduceStage(
            service=SERVICE,
            producer_factory=lambda: new_producer(
                settings.bootstrap,
                client_id=f"franz-{SERVICE}",
                security=settings.security,
                max_block_ms=METADATA_WAIT_MS,
            ),
            transform=transform,
        )
    loop = KafkaLoop(
        LoopConfig(
            service=SERVICE,
            bootstrap=settings.bootstrap,
            group_id=settings.group_id,
            topics=(settings.source_topic,),
            security=settings.security,
        ),
        stage,
        reporter=error_reporter(SERVICE, bootstrap=settings.bootstrap, topic=settings.errors_topic),
    )
    log.info(
        "aufbereitung starting",
        extra={
            "source": settings.source_topic,
            "target": settings.target_topic,
            "dlq": settings.dlq_topic,
            "exactly_once": settings.exactly_once,
            "metrics_port": settings.metrics_port,
        },
    )
    return run_loop(loop, metrics_port=settings.metrics_port)
