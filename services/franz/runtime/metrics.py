"""Metrics of the shared loop. Labels are bounded: service, topic, partition, outcome, error class."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
    "franz_last_success_timestamp_seconds", "Unix time of the last batch committed.", ["service"]
)
