"""absturz's metrics. Labels are bounded: topic, status code, reason."""

from prometheus_client import Counter, Gauge, Histogram

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
