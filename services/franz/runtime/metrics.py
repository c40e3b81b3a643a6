"""Metrics of the shared loop. Labels are bounded: service, topic, partition, outcome, error class."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import get_args

from prometheus_client import Counter, Gauge, Histogram

from franz.contracts import ErrorType

RECORDS = Counter(
    "franz_records_total",
    "Records handled, by the topic they went to and outcome.",
    ["service", "topic", "outcome"],
)
BATCH_SIZE = Histogram(
    "franz_batch_size_records",
    "Records per polled batch.",
    ["service"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)
BATCH_SECONDS = Histogram(
    "franz_batch_processing_seconds",
    "Seconds to process, deliver and commit one batch.",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_FAILURES = Counter(
    "franz_batch_failures_total",
    "Batches that failed and were retried without committing.",
    ["service", "error"],
)
CONSUMER_LAG = Gauge(
    "franz_consumer_lag_records",
    "Records between the consumer's position and the partition's end.",
    ["service", "topic", "partition"],
)
LAST_SUCCESS = Gauge(
    "franz_last_success_timestamp_seconds",
    "Unix time of the last batch committed (of the start, before the first).",
    ["service"],
)
ERROR_OCCURRENCES = Counter(
    "franz_error_occurrences_total",
    "Operational errors this service reported, before repeats were collapsed.",
    ["service", "error_type"],
)
ERROR_EVENTS = Counter(
    "franz_error_events_total",
    "Events sent to the errors topic (sent: the broker took it; failed: it was lost, and only logged).",
    ["service", "error_type", "outcome"],
)
RECORDS_SKIPPED = Counter(
    "franz_records_skipped_total",
    "Records a reader passed over: undecodable (reported to errors) or unknown_event (from a newer version).",
    ["service", "topic", "reason"],
)
SKIP_REASONS = ("undecodable", "unknown_event")

# How dead_letter labels its outputs: one outcome per DLQ error type.
DLQ_OUTCOMES = tuple(f"dlq_{error_type}" for error_type in get_args(ErrorType))
# The failures the loop names when a batch is retried: the broker did not acknowledge, or is out of reach.
BATCH_ERRORS = ("DeliveryError", "BrokerUnreachable", "KafkaTimeoutError")


def initialise(
    service: str, *, outputs: Mapping[str, Iterable[str]], batch_errors: Iterable[str] = BATCH_ERRORS
) -> None:
    """Create the loop's known series at 0 before any traffic: a labelled series otherwise appears with its
    first observation, so `rate()` never sees that first increase and panels stay empty after a start.
    `outputs` maps each topic the service writes to the outcomes it counts there. The last commit starts
    at the start, so a service that never commits while records wait is seen as stalled too."""
    LAST_SUCCESS.labels(service).set_to_current_time()
    BATCH_SIZE.labels(service)
    BATCH_SECONDS.labels(service)
    for topic, outcomes in outputs.items():
        for outcome in outcomes:
            RECORDS.labels(service, topic, outcome)
    for error in batch_errors:
        BATCH_FAILURES.labels(service, error)
