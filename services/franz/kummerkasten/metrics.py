"""kummerkasten's metrics. Labels are bounded: the failure reason."""

from prometheus_client import Counter, Histogram

TICKETS_SUBMITTED = Counter("franz_tickets_submitted_total", "Tickets the broker acknowledged.")
TICKETS_FAILED = Counter("franz_tickets_failed_total", "Tickets not published, by reason.", ["reason"])
PUBLISH_SECONDS = Histogram(
    "franz_ticket_publish_seconds",
    "From publishing a ticket to the broker's acknowledgement.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
COOLDOWN_HITS = Counter(
    "franz_ticket_cooldown_hits_total", "Submissions refused because of the per-user cooldown."
)
STAFF_COMMANDS = Counter(
    "franz_bot_ticket_commands_total",
    "Staff commands in the bot by command and outcome (applied, rejected, unconfirmed, forbidden, failed).",
    ["command", "outcome"],
)
CLOSE_NOTICES = Counter(
    "franz_ticket_close_notices_total",
    "Submitters told about a closed ticket, by outcome (sent, dms_closed, no_submitter, failed).",
    ["outcome"],
)
