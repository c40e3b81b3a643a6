"""Start-up and shutdown shared by the services: logging, the health server, signals, the loop."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

from franz.runtime.health import Api, HealthServer
from franz.runtime.loop import KafkaLoop

log = logging.getLogger(__name__)


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
