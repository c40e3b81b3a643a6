"""absturz's metrics. Labels are bounded: topic, status code, reason."""

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from franz.absturz.exceptions import WebhookGone, WebhookRejected, WebhookUnavailable
from franz.runtime import metrics as loop_metrics

ALERTS_RECEIVED = Counter("franz_alerts_received_total", "Alert records read.", ["topic"])
ALERTS_DELIVERED = Counter("franz_alerts_delivered_total", "Alert records Discord accepted.", ["topic"])
ALERTS_COLLAPSED = Counter(
    "franz_alerts_collapsed_total", "Alert records folded into an identical alert's embed.", ["topic"]
)
ALERTS_PENDING = Gauge("franz_alerts_pending", "Alert records read but not yet accepted by Discord.")
WEBHOOK_REQUESTS = Counter("franz_webhook_requests_total", "Webhook requests by HTTP status.", ["status"])
RATE_LIMIT_WAITS = Counter(
    "franz_webhook_rate_limit_waits_total",
    "Waits for Discord's rate limit, by what announced it.",
    ["reason"],
)
RATE_LIMIT_WAIT_SECONDS = Counter("franz_webhook_rate_limit_wait_seconds_total", "Seconds spent waiting.")
WEBHOOK_DISABLED = Gauge("franz_webhook_disabled", "1 when Discord answered 401/403/404 and posting stopped.")
DELIVERY_SECONDS = Histogram(
    "franz_alert_delivery_seconds",
    "From the alert record's timestamp to Discord accepting it.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)

# The answers the dashboard and FranzWebhookFailing compare: Discord's documented statuses and ours.
KNOWN_STATUSES = (
    "204",
    "400",
    "401",
    "403",
    "404",
    "429",
    "500",
    "502",
    "503",
    "504",
    "timeout",
    "connection_error",
)
RATE_LIMIT_REASONS = ("bucket", "429")


def initialise(service: str, topics: Iterable[str]) -> None:
    """Every topic, status and reason at 0 before any traffic, so the first alert, the first 429 and the
    first failed batch each show as an increase (a series born with its first observation never does)."""
    loop_metrics.initialise(
        service,
        outputs={},
        batch_errors=[error.__name__ for error in (WebhookGone, WebhookRejected, WebhookUnavailable)],
    )
    for topic in topics:
        for counter in (ALERTS_RECEIVED, ALERTS_DELIVERED, ALERTS_COLLAPSED):
            counter.labels(topic)
    for status in KNOWN_STATUSES:
        WEBHOOK_REQUESTS.labels(status)
    for reason in RATE_LIMIT_REASONS:
        RATE_LIMIT_WAITS.labels(reason)
