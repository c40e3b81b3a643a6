"""kummerkasten's metrics. Labels are bounded: the failure reason, the command, the desk's side effect."""

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

DESK_POSTS = Counter("franz_desk_posts_total", "Desk posts created for new tickets.")
DESK_THREADS = Counter("franz_desk_threads_total", "Private ticket threads opened.")
DESK_COMMENTS = Counter(
    "franz_desk_comments_total",
    "Messages in ticket threads recorded as comments, by visibility.",
    ["visibility"],
)
DESK_FAILURES = Counter(
    "franz_desk_failures_total", "Desk side effects Discord refused, by what the desk tried.", ["action"]
)
MISSING_PERMISSIONS = Counter(
    "franz_desk_missing_permissions_total", "Permissions the bot lacks in a declared channel, found at start."
)

# The bot's staff commands and what each can end in; the failure reasons and close-notice outcomes.
STAFF_COMMAND_NAMES = ("status", "assign", "unassign", "close", "reopen", "comment")
STAFF_OUTCOMES = ("applied", "rejected", "unconfirmed", "forbidden", "failed")
FAILURE_REASONS = ("invalid", "kafka")
CLOSE_NOTICE_OUTCOMES = ("sent", "dms_closed", "no_submitter", "failed")


def initialise() -> None:
    """Every reason, command and outcome at 0 before any traffic, so the first failure of each shows as an
    increase (a series born with its first observation never does) and FranzTicketsFailing can fire."""
    for reason in FAILURE_REASONS:
        TICKETS_FAILED.labels(reason)
    for command in STAFF_COMMAND_NAMES:
        for outcome in STAFF_OUTCOMES:
            STAFF_COMMANDS.labels(command, outcome)
    for outcome in CLOSE_NOTICE_OUTCOMES:
        CLOSE_NOTICES.labels(outcome)
    for visibility in ("public", "internal"):
        DESK_COMMENTS.labels(visibility)
