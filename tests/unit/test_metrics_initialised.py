"""Every service creates its known label sets at 0 at start, before any traffic.

A labelled series is otherwise born with its first observation, so `rate()` never sees that first increase
and a panel or alert over it stays empty after every start, restart or rebalance.
"""

from __future__ import annotations

import time
import uuid

from prometheus_client import REGISTRY

from franz import contracts
from franz.absturz import metrics as absturz_metrics
from franz.contracts import LifecycleTopics
from franz.kummerkasten import metrics as kummerkasten_metrics
from franz.runtime import metrics as loop_metrics
from franz.sachbearbeiter import metrics as sachbearbeiter_metrics
from franz.sachbearbeiter.core import REJECTION_CODES


def _value(name: str, **labels: str) -> float | None:
    """The sample's value; None when the series does not exist. Series without a per-test label may have
    moved in other unit tests of this process, so for those the tests ask only that they exist."""
    return REGISTRY.get_sample_value(name, labels)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_aufbereitung_counts_every_outcome_from_zero() -> None:
    service, target, dlq = _unique("aufbereitung"), _unique("formatted"), _unique("dlq")
    loop_metrics.initialise(service, outputs={target: ["ok"], dlq: loop_metrics.DLQ_OUTCOMES})
    assert _value("franz_records_total", service=service, topic=target, outcome="ok") == 0
    for error_type in (
        "json_decode_error",
        "validation_error",
        "encoding_error",
        "too_large",
        "unexpected_error",
    ):
        assert _value("franz_records_total", service=service, topic=dlq, outcome=f"dlq_{error_type}") == 0
    for error in loop_metrics.BATCH_ERRORS:
        assert _value("franz_batch_failures_total", service=service, error=error) == 0
    assert _value("franz_batch_processing_seconds_count", service=service) == 0
    assert _value("franz_batch_size_records_count", service=service) == 0


def test_the_last_commit_starts_at_the_start() -> None:
    """So that a service which never commits while records wait is seen as stalled (FranzConsumerStalled
    compares the newest commit with its value 10 minutes before)."""
    service = _unique("aufbereitung")
    before = time.time()
    loop_metrics.initialise(service, outputs={})
    assert before <= (_value("franz_last_success_timestamp_seconds", service=service) or 0) <= time.time()


def test_sachbearbeiter_counts_every_priority_category_and_command_from_zero() -> None:
    service = _unique("sachbearbeiter")
    topics = LifecycleTopics(*(_unique(role) for role in ("formatted", "commands", "events", "state", "dlq")))
    sachbearbeiter_metrics.initialise(service, topics)
    for topic in (topics.events, topics.state):
        assert _value("franz_records_total", service=service, topic=topic, outcome="ok") == 0
    assert (
        _value("franz_records_total", service=service, topic=topics.dlq, outcome="dlq_validation_error") == 0
    )
    for priority in contracts.PRIORITIES:
        assert _value("franz_ticket_time_to_assign_seconds_count", priority=priority) is not None
        assert _value("franz_ticket_time_to_close_seconds_count", priority=priority) is not None
        for category in (*contracts.CATEGORIES, "other"):
            for name in ("created", "closed", "reopened"):
                assert _value(f"franz_tickets_{name}_total", priority=priority, category=category) is not None
    for command in contracts.COMMAND_TYPES:
        for outcome in ("applied", "duplicate", *(f"rejected_{code}" for code in REJECTION_CODES)):
            assert _value("franz_ticket_commands_total", command=command, outcome=outcome) is not None


def test_absturz_counts_every_topic_status_and_reason_from_zero() -> None:
    service, topics = _unique("absturz"), [_unique("errors"), _unique("dlq")]
    absturz_metrics.initialise(service, topics)
    for topic in topics:
        for name in ("received", "delivered", "collapsed"):
            assert _value(f"franz_alerts_{name}_total", topic=topic) == 0
    for status in ("204", "404", "429", "500", "timeout"):
        assert _value("franz_webhook_requests_total", status=status) is not None
    for reason in ("bucket", "429"):
        assert _value("franz_webhook_rate_limit_waits_total", reason=reason) is not None
    assert _value("franz_batch_failures_total", service=service, error="WebhookUnavailable") == 0


def test_kummerkasten_counts_every_reason_command_and_notice_from_zero() -> None:
    kummerkasten_metrics.initialise()
    for reason in ("invalid", "kafka"):
        assert _value("franz_tickets_failed_total", reason=reason) is not None
    for command in ("status", "assign", "close", "comment"):
        for outcome in ("applied", "rejected", "unconfirmed", "forbidden", "failed"):
            assert _value("franz_bot_ticket_commands_total", command=command, outcome=outcome) is not None
    for outcome in ("sent", "dms_closed", "no_submitter", "failed"):
        assert _value("franz_ticket_close_notices_total", outcome=outcome) is not None
