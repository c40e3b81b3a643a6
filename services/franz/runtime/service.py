"""Start-up and shutdown shared by the services: logging, the health server, signals, the loop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from franz.runtime.clients import check_access
from franz.runtime.health import Api, HealthServer
from franz.runtime.loop import KafkaLoop
from franz.runtime.security import KafkaSecurity
from franz.runtime.wait import Backoff

log = logging.getLogger(__name__)

# Refused credentials are retried from 1 s up to a minute apart: a rotated Secret is picked up soon, and a
# wrong one costs the brokers a login a minute (Kafka delays every failed login).
ACCESS_RETRY_SECONDS = (1.0, 60.0)


def wait_for_kafka(
    bootstrap: str, security: KafkaSecurity, *, metrics_port: int, stop: threading.Event
) -> bool:
    """Block until the brokers accept this service's address, certificates and credentials; True when
    `stop` was set first.

    Meanwhile the service answers `/healthz` and reports not ready, and says what is wrong in one line
    per attempt: credentials that are refused now may be rotated into place under a running pod.
    """
    problem = check_access(bootstrap, security)
    if problem is None:
        return False
    health = HealthServer(port=metrics_port, ready=lambda: False).start()
    backoff = Backoff(*ACCESS_RETRY_SECONDS)
    try:
        while problem is not None:
            log.error("cannot use Kafka: %s; retrying", problem)
            if backoff.wait(stop):
                return True
            problem = check_access(bootstrap, security)
    finally:
        health.stop()
    log.info("Kafka accepts this service's connection")
    return False


def run_loop(
    loop: KafkaLoop,
    *,
    metrics_port: int,
    on_stop: Callable[[], None] | None = None,
    api: Api | None = None,
) -> int:
    """Serve health and metrics (and the service's `api` beside them), run the loop until SIGTERM/SIGINT,
    then stop in order; returns 0.

    `on_stop` lets a stage that waits on something slow (Discord's rate limit) give up the wait at once.
    """
    health = HealthServer(port=metrics_port, ready=loop.is_ready, api=api).start()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping: finishing the batch in hand", extra={"signal": signal.Signals(signum).name})
        loop.stop()
        if on_stop is not None:
            on_stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        loop.run()
    finally:
        health.stop()
    return 0
