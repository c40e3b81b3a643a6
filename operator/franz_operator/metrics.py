"""The operator's metrics (DESIGN.md §6 naming); labels are bounded: results and readiness, never names."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

RECONCILIATIONS = Counter(
    "franz_operator_reconciliations_total",
    "Pipeline reconciliations by result: ready, not_ready (written to status, retried), error (unexpected).",
    ["result"],
)
RECONCILE_SECONDS = Histogram(
    "franz_operator_reconcile_seconds",
    "Time to reconcile one pipeline, including its Kafka and API calls.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TOPICS_RECREATED = Counter(
    "franz_operator_topics_recreated_total",
    "Topics found with a new topic id (deleted and created again in Kafka: their records are gone).",
    ["backend"],
)
for _backend in ("strimzi", "admin"):  # from 0, so the first recreation is an increase rate() sees
    TOPICS_RECREATED.labels(backend=_backend)
PIPELINES = Gauge("franz_operator_pipelines", "Pipelines known to the operator, by readiness.", ["ready"])

_readiness: dict[str, bool] = {}
_lock = threading.Lock()


def set_pipeline_ready(uid: str, ready: bool) -> None:
    with _lock:
        _readiness[uid] = ready
        _publish()


def forget_pipeline(uid: str) -> None:
    with _lock:
        _readiness.pop(uid, None)
        _publish()


def _publish() -> None:
    ready = sum(_readiness.values())
    PIPELINES.labels(ready="true").set(ready)
    PIPELINES.labels(ready="false").set(len(_readiness) - ready)
