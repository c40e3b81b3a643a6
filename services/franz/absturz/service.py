"""`franz absturz`: wiring of settings, the shared loop, the alert stage and the webhook."""

from __future__ import annotations

import argparse
import logging
import threading

from franz.absturz import metrics
from franz.absturz.settings import Settings
from franz.absturz.stage import AlertStage
from franz.absturz.webhook import DiscordWebhook
from franz.runtime.errors import error_reporter
from franz.runtime.logs import configure_logging
from franz.runtime.loop import KafkaLoop, LoopConfig
from franz.runtime.service import run_loop, wait_for_kafka
from franz.runtime.wait import stop_event

log = logging.getLogger(__name__)

SERVICE = "absturz"


def main(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    metrics.initialise(SERVICE, settings.topics)
    if wait_for_kafka(
        settings.bootstrap, settings.security, metrics_port=settings.metrics_port, stop=stop_event()
    ):
        return 0
    stopping = threading.Event()
    reporter = error_reporter(SERVICE, bootstrap=settings.bootstrap, topic=settings.errors_topic)
    webhook = DiscordWebhook(
        settings.webhook_url, stop=stopping, timeout=settings.request_timeout_seconds, reporter=reporter
    )
    loop = KafkaLoop(
        LoopConfig(
            service=SERVICE,
            bootstrap=settings.bootstrap,
            group_id=settings.group_id,
            topics=settings.topics,
            max_batch=1000,
            linger_seconds=settings.batch_window_seconds,
            security=settings.security,
        ),
        AlertStage(webhook),
        reporter=reporter,
    )
    log.info(
        "absturz starting",
        extra={
            "topics": list(settings.topics),
            "webhook_id": webhook.webhook_id,
            "metrics_port": settings.metrics_port,
        },
    )
    return run_loop(loop, metrics_port=settings.metrics_port, on_stop=stopping.set)
