"""Operational errors to the `errors` topic, where absturz picks them up and tells Discord.

One `ErrorReporter` per process. A storm is one alert, never a flood and never a loop:
- repeats of one incident (same error type and incident key) within `window_seconds` are not sent, only
  counted; the incident's next event after the window carries that count (`count`), and so does the last
  one at `close()`;
- at most `burst` events leave per window whatever the incidents, the rest is counted the same way;
- a failure to publish is logged and counted, never reported to `errors` itself.

Sending never waits for the broker's acknowledgement, and at most `MAX_BLOCK_MS` for a connection or for
metadata, so a caller in trouble (a failing loop, a bot, a reconcile) is not held up by its own report.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.contracts import ErrorEvent, OperationalErrorType, Severity
from franz.exceptions import FranzError
from franz.runtime import metrics
from franz.runtime.clients import new_producer
from franz.runtime.dlq import coordinates
from franz.runtime.logs import redact
from franz.runtime.security import PLAINTEXT, KafkaSecurity

log = logging.getLogger(__name__)

WINDOW_SECONDS = 300.0
BURST = 20
MAX_BLOCK_MS = 2000


@dataclass(slots=True)
class _Incident:
    last_sent: float
    pending: int = 0  # occurrences since the last event that no event has counted yet
    latest: ErrorEvent | None = None  # the newest of them, sent with their count


class Collapser:
    """The pure part: for each occurrence, whether an event leaves now, and with which count."""

    def __init__(
        self, *, window_seconds: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window_seconds
        self.burst = burst
        self._clock = clock
        self._incidents: dict[tuple[str, str], _Incident] = {}
        self._sent_at: deque[float] = deque()

    def offer(self, key: tuple[str, str], event: ErrorEvent) -> list[ErrorEvent]:
        """The events to send now: this one (with the count of repeats before it), when it is due, and any
        other incident's repeats whose window has passed."""
        now = self._clock()
        incident = self._incidents.get(key)
        if incident is None:
            incident = self._incidents[key] = _Incident(last_sent=now - self.window)
        incident.pending += 1
        incident.latest = event
        return self._due(now)

    def drain(self) -> list[ErrorEvent]:
        """Every repeat not yet counted by an event, on the way out (the burst limit no longer applies)."""
        events = [self._counted(incident) for incident in self._incidents.values() if incident.pending]
        self._incidents.clear()
        return events

    def _due(self, now: float) -> list[ErrorEvent]:
        while self._sent_at and now - self._sent_at[0] >= self.window:
            self._sent_at.popleft()
        due = []
        for key, incident in list(self._incidents.items()):
            if now - incident.last_sent < self.window:
                continue
            if not incident.pending:
                del self._incidents[key]  # quiet for a whole window: the next occurrence is a new incident
                continue
            if len(self._sent_at) >= self.burst:
                break
            incident.last_sent = now
            self._sent_at.append(now)
            due.append(self._counted(incident))
        return due

    @staticmethod
    def _counted(incident: _Incident) -> ErrorEvent:
        assert incident.latest is not None  # pending > 0 means an occurrence was offered
        event: ErrorEvent = {**incident.latest, "count": incident.pending}
        incident.pending, incident.latest = 0, None
        return event


def error_reporter(
    service: str, *, bootstrap: str, topic: str, security: KafkaSecurity = PLAINTEXT
) -> ErrorReporter:
    """The reporter of a service whose `errors` topic is on `bootstrap`; it connects on its first report."""
    return ErrorReporter(
        service=service,
        topic=topic,
        producer_factory=lambda: new_producer(
            bootstrap,
            client_id=f"franz-{service}-errors",
            security=security,
            max_block_ms=MAX_BLOCK_MS,
            bootstrap_timeout_ms=MAX_BLOCK_MS,
        ),
    )


class ErrorReporter:
    """Reports a service's operational failures to `topic`, collapsed and rate-limited (see the module)."""

    def __init__(
        self,
        *,
        service: str,
        topic: str,
        producer_factory: Callable[[], KafkaProducer],
        window_seconds: float = WINDOW_SECONDS,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.topic = topic
        self._factory = producer_factory
        self._producer: KafkaProducer | None = None
        self._collapser = Collapser(window_seconds=window_seconds, burst=burst, clock=clock)
        # The loop, the bot's publisher threads and the desk's readers may report at the same time.
        self._lock = threading.Lock()
        for error_type in contracts.OPERATIONAL_ERROR_TYPES:  # every series at 0 before the first report
            metrics.ERROR_OCCURRENCES.labels(service, error_type)
            for outcome in ("sent", "failed"):
                metrics.ERROR_EVENTS.labels(service, error_type, outcome)

    def report(
        self,
        error_type: OperationalErrorType,
        message: str,
        *,
        incident: str = "",
        severity: Severity = "error",
        context: dict[str, Any] | None = None,
    ) -> None:
        """One occurrence. `incident` tells occurrences of the same error type apart (a partition, a
        pipeline); repeats of one incident collapse into a count. Never raises."""
        event = contracts.error_event(
            service=self.service,
            error_type=error_type,
            message=redact(message),
            severity=severity,
            context=context or {},
        )
        metrics.ERROR_OCCURRENCES.labels(self.service, error_type).inc()
        with self._lock:
            for due in self._collapser.offer((error_type, incident), event):
                self._send(due)

    def report_undecodable(self, record: ConsumerRecord, error: Exception, *, reader: str) -> None:
        """A reader skips `record` and goes on: counted, and reported once with its coordinates (never its
        bytes). Readers call this instead of stalling on the record or failing their batch."""
        metrics.RECORDS_SKIPPED.labels(self.service, record.topic, "undecodable").inc()
        log.warning(
            "skipped a record that cannot be decoded",
            extra={"reader": reader, "source": coordinates(record), "error": str(error)},
        )
        self.report(
            "undecodable_record",
            f"{reader} skipped a record of {record.topic} that it cannot decode: {error}",
            incident=f"{record.topic}/{record.partition}/{record.offset}",
            severity="warning",
            context={"reader": reader, "source": coordinates(record)},
        )

    def close(self, timeout: float = 10.0) -> None:
        """Send what repeats are still uncounted, and wait for the broker to take them."""
        with self._lock:
            for event in self._collapser.drain():
                self._send(event)
            if self._producer is not None:
                self._producer.flush(timeout=timeout)
                self._producer.close(timeout=timeout)
                self._producer = None

    def _send(self, event: ErrorEvent) -> None:
        error_type = event["error_type"]
        try:
            if self._producer is None:
                self._producer = self._factory()
            future = self._producer.send(self.topic, key=self.service.encode(), value=contracts.encode(event))
        except Exception as error:
            self._failed(error_type, error)
            return
        future.add_callback(lambda _: metrics.ERROR_EVENTS.labels(self.service, error_type, "sent").inc())
        future.add_errback(lambda error: self._failed(error_type, error))

    def _failed(self, error_type: str, error: BaseException) -> None:
        """Logged and counted only: reporting this to `errors` would feed the failure back into itself."""
        metrics.ERROR_EVENTS.labels(self.service, error_type, "failed").inc()
        log.warning(
            "error event not published",
            extra={
                "topic": self.topic,
                "error_type": error_type,
                "error": str(error),
                "error_class": type(error).__name__,
            },
        )


@contextlib.contextmanager
def refusal_reported(reporter: ErrorReporter) -> Iterator[None]:
    """Around a service's start-up checks: a FranzError raised inside is the service refusing to start.
    It is reported (and flushed: the process exits next), then raised on to stop the service."""
    try:
        yield
    except FranzError as error:
        reporter.report(
            "startup_refused",
            f"{reporter.service} refused to start: {error}",
            severity="critical",
            context={"error_class": type(error).__name__},
        )
        reporter.close()
        raise
