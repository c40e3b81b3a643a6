"""sachbearbeiter's ticket analytics. Labels are bounded: status, priority, category (unknown ones are
"other"), command and outcome; never ticket ids or text.

Counters and histograms move when a batch commits, so a batch that is retried is not counted twice.
`franz_tickets` is computed at scrape time from the ledgers this instance owns: with several instances,
`sum by (status) (franz_tickets)` is the whole picture, and a moved partition moves its tickets with it.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.runtime import metrics as loop_metrics
from franz.sachbearbeiter.core import (
    REJECTION_CODES,
    Change,
    GaugeKey,
    category_label,
    is_first_response,
    seconds_between,
)

# From minutes to weeks: support tickets wait on people, not machines.
_DURATION_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400)

CREATED = Counter("franz_tickets_created_total", "Tickets created.", ["priority", "category"])
CLOSED = Counter("franz_tickets_closed_total", "Tickets closed.", ["priority", "category"])
REOPENED = Counter("franz_tickets_reopened_total", "Tickets reopened.", ["priority", "category"])
COMMANDS = Counter(
    "franz_ticket_commands_total",
    "Lifecycle commands by outcome: applied, duplicate, or rejected_<code>.",
    ["command", "outcome"],
)
TIME_TO_ASSIGN = Histogram(
    "franz_ticket_time_to_assign_seconds",
    "From a ticket's creation to its first assignment.",
    ["priority"],
    buckets=_DURATION_BUCKETS,
)
TIME_TO_CLOSE = Histogram(
    "franz_ticket_time_to_close_seconds",
    "From a ticket's creation to its close (again after each reopen).",
    ["priority"],
    buckets=_DURATION_BUCKETS,
)
TIME_TO_FIRST_RESPONSE = Histogram(
    "franz_ticket_time_to_first_response_seconds",
    "From a ticket's creation to the first public answer by someone other than its submitter.",
    ["priority"],
    buckets=_DURATION_BUCKETS,
)
RESTORE_SECONDS = Histogram(
    "franz_ticket_restore_seconds",
    "Seconds to restore one assigned partition: from the store (its tail only), or without it from the "
    "state topic and the event tail.",
    ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
RESTORE_SOURCES = ("store", "state_topic", "event_log")
SKIPPED = Counter(
    "franz_ticket_records_skipped_total",
    "Lifecycle records a reader could not decode and skipped (each logged with topic, partition, offset).",
    ["reader", "topic"],
)


def initialise(service: str, topics: LifecycleTopics) -> None:
    """Every priority, category, command and outcome at 0 before any traffic, so the tickets dashboard's
    rates and quantiles have a series to start from (one created with its first increase is never seen
    to increase)."""
    loop_metrics.initialise(
        service,
        outputs={topics.events: ["ok"], topics.state: ["ok"], topics.dlq: loop_metrics.DLQ_OUTCOMES},
    )
    for source in RESTORE_SOURCES:
        RESTORE_SECONDS.labels(source)
    for reader in ("restore", "fold"):
        for topic in (topics.events, topics.state):
            SKIPPED.labels(reader, topic)
    for priority in contracts.PRIORITIES:
        TIME_TO_ASSIGN.labels(priority)
        TIME_TO_CLOSE.labels(priority)
        TIME_TO_FIRST_RESPONSE.labels(priority)
        for category in (*contracts.CATEGORIES, "other"):
            for counter in (CREATED, CLOSED, REOPENED):
                counter.labels(priority, category)
    outcomes = ("applied", "duplicate", *(f"rejected_{code}" for code in REJECTION_CODES))
    for command in contracts.COMMAND_TYPES:
        for outcome in outcomes:
            COMMANDS.labels(command, outcome)


def record_change(change: Change) -> None:
    event, after = change.event, change.after
    labels = (after["priority"], category_label(after["category"]))
    kind = event["type"]
    if kind == "TicketCreated":
        CREATED.labels(*labels).inc()
    elif kind == "TicketClosed":
        CLOSED.labels(*labels).inc()
        TIME_TO_CLOSE.labels(after["priority"]).observe(seconds_between(after["created_at"], event["time"]))
    elif kind == "TicketReopened":
        REOPENED.labels(*labels).inc()
    elif kind == "TicketAssigned" and change.before is not None and change.before["assigned_at"] is None:
        TIME_TO_ASSIGN.labels(after["priority"]).observe(seconds_between(after["created_at"], event["time"]))
    elif kind == "CommentAdded" and change.before is not None and is_first_response(change.before, event):
        waited = seconds_between(after["created_at"], event["time"])
        TIME_TO_FIRST_RESPONSE.labels(after["priority"]).observe(waited)


class TicketGauge(Collector):
    """`franz_tickets{status,priority,category}`: the tickets this instance holds, counted at scrape."""

    def __init__(self, counts: Callable[[], Tally[GaugeKey]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "franz_tickets",
            "Current tickets by status, priority and category (in the partitions this instance owns).",
            labels=["status", "priority", "category"],
        )
        for (status, priority, category), count in sorted(self._counts().items()):
            if count:
                family.add_metric([status, priority, category], count)
        yield family
