"""Topic names: the seed's defaults (the embedded default pipeline) and the lifecycle's set of topics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

TOPIC_INTAKE: Final = "discordMSG"
TOPIC_FORMATTED: Final = "tickets-formatted"
TOPIC_FORMATTED_DLQ: Final = "tickets-formatted-dlq"
TOPIC_ERRORS: Final = "errors"
# The ticket lifecycle (sachbearbeiter); every one keyed by ticket id and partitioned like TOPIC_FORMATTED.
TOPIC_COMMANDS: Final = "ticket-commands"
TOPIC_COMMANDS_DLQ: Final = "ticket-commands-dlq"
TOPIC_EVENTS: Final = "ticket-events"
TOPIC_STATE: Final = "tickets-state"
LIFECYCLE_TOPICS: Final = (TOPIC_COMMANDS, TOPIC_COMMANDS_DLQ, TOPIC_EVENTS, TOPIC_STATE)
DEFAULT_TOPICS: Final = (TOPIC_INTAKE, TOPIC_FORMATTED, TOPIC_FORMATTED_DLQ, TOPIC_ERRORS, *LIFECYCLE_TOPICS)
# Topic settings the lifecycle depends on: the event log is the audit trail (kept forever), and the state
# topic holds one current record per ticket (compacted).
TOPIC_CONFIGS: Final[dict[str, dict[str, str]]] = {
    TOPIC_EVENTS: {"retention.ms": "-1", "cleanup.policy": "delete"},
    TOPIC_STATE: {"cleanup.policy": "compact"},
}


@dataclass(frozen=True, slots=True)
class LifecycleTopics:
    """The topics of one pipeline's lifecycle, as sachbearbeiter writes them and the bot and CLI read them."""

    formatted: str
    commands: str
    events: str
    state: str
    dlq: str
