"""The pure core of absturz: records → alerts → collapsed groups → embeds → webhook payloads.

Everything here is a function of its input, so the limits Discord enforces (DESIGN.md §7) are proven by
unit tests: every payload built here is one Discord accepts, whatever the record contained.
"""

from __future__ import annotations

import datetime
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from discord.utils import escape_markdown
from kafka.consumer.fetcher import ConsumerRecord

from franz.contracts.discord import (
    DESCRIPTION_MAX,
    EMBEDS_MAX,
    EMBEDS_TOTAL_MAX,
    FIELD_VALUE_MAX,
    TITLE_MAX,
    embed_characters,
)

TRUNCATED: Final = "… [truncated]"
NO_MENTIONS: Final[dict[str, list[str]]] = {"parse": []}  # user text in an alert can never ping anyone
FOOTER: Final = "franz · absturz"
# Room left for Discord's own counting quirks, so a packed message never lands exactly on the limit.
SAFETY_MARGIN: Final = 50
ZERO_WIDTH_SPACE: Final = "\u200b"

AlertKind = Literal["error", "dead_letter", "raw"]

# What the reader of an alert does about it, by the error type Franz's services report (contracts).
ADVICE: Final[dict[str, str]] = {
    "batch_failing": (
        "The service retries these records with backoff and commits nothing, so nothing is lost. Its log "
        "names the cause (broker away, output topic missing, Discord failing); once that is fixed it "
        "resumes by itself."
    ),
    "webhook_disabled": (
        "Discord no longer accepts this webhook. Create a new one in the channel's settings, put its URL "
        "into the Secret behind DISCORD_WEBHOOK_URL and restart absturz: the held-back alerts follow."
    ),
    "publish_failed": (
        "The bot told each submitter to try again. Check that the brokers are up and that the topic in "
        "the context exists (franz tail TOPIC says so)."
    ),
    "startup_refused": (
        "The service stays down until this is fixed: the message says what. Fix it, then restart the service."
    ),
    "pipeline_not_ready": (
        "kubectl describe franzpipeline NAME -n NAMESPACE shows the condition; its message says what to "
        "change. The operator retries on its own."
    ),
    "undecodable_record": (
        "The reader skipped the record and went on. Look at it at the coordinates in the context "
        "(franz tail TOPIC --from-beginning) to find what wrote it."
    ),
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One record of an alert topic, understood as far as its contract allows."""

    topic: str
    partition: int
    offset: int
    kind: AlertKind
    error_type: str
    error: str
    source: str  # the service that reported it, or the topic the dead-lettered record came from
    origin: str | None  # the dead-lettered record's topic/partition/offset
    time: str | None
    content: str
    content_is_json: bool
    record_timestamp_ms: int | None
    advice: str | None = None
    occurrences: int = 1  # an error event may stand for repeats its reporter collapsed

    @property
    def fingerprint(self) -> tuple[str, str, str, str]:
        """Identical errors: same kind of report, same source, error type and message."""
        return (self.kind, self.source, self.error_type, self.error)


@dataclass(slots=True)
class AlertGroup:
    """Identical alerts of one batch, shown once with a count."""

    first: Alert
    members: list[Alert] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def occurrences(self) -> int:
        return sum(alert.occurrences for alert in self.members)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_alert(record: ConsumerRecord) -> Alert:
    """An error event, a dead letter, or anything else (reported as raw text: nothing is dropped)."""
    raw: bytes = record.value or b""
    common = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "record_timestamp_ms": record.timestamp,
    }
    try:
        decoded: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        decoded = None
    if isinstance(decoded, dict) and {"error_type", "raw_value", "source"} <= decoded.keys():
        source = decoded["source"] if isinstance(decoded["source"], dict) else {}
        origin = f"{source.get('topic')}/{source.get('partition')}/{source.get('offset')}"
        raw_value = _text(decoded.get("raw_value"))
        try:
            shown, is_json = json.dumps(json.loads(raw_value), indent=2, ensure_ascii=False), True
        except (json.JSONDecodeError, RecursionError):
            shown, is_json = raw_value, False
        return Alert(
            kind="dead_letter",
            error_type=_text(decoded["error_type"]),
            error=_text(decoded.get("error", "")),
            source=_text(source.get("topic")),
            origin=origin,
            time=_text(decoded["time"]) if decoded.get("time") else None,
            content=shown,
            content_is_json=is_json,
            advice=(
                f"Read them with franz dlq list {record.topic}; once the cause is fixed, franz dlq replay "
                f"{record.topic} puts them back on their source topic."
            ),
            **common,
        )
    if isinstance(decoded, dict) and {"service", "error_type", "message"} <= decoded.keys():
        context = decoded.get("context") or {}
        count = decoded.get("count")
        return Alert(
            kind="error",
            error_type=_text(decoded["error_type"]),
            error=_text(decoded["message"]),
            source=f"{_text(decoded['service'])} ({_text(decoded.get('severity', 'error'))})",
            origin=None,
            time=_text(decoded["time"]) if decoded.get("time") else None,
            content=json.dumps(context, indent=2, ensure_ascii=False),
            content_is_json=True,
            advice=ADVICE.get(_text(decoded["error_type"])),
            occurrences=count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1,
            **common,
        )
    if decoded is not None:
        shown, is_json = json.dumps(decoded, indent=2, ensure_ascii=False), True
    else:
        shown, is_json = raw.decode("utf-8", "replace"), False
    return Alert(
        kind="raw",
        error_type="unrecognised",
        error="record matches no Franz alert contract",
        source=record.topic,
        origin=None,
        time=None,
        content=shown,
        content_is_json=is_json,
        **common,
    )


def collapse(alerts: Iterable[Alert]) -> list[AlertGroup]:
    """Group identical alerts, keeping the order in which each was first seen."""
    groups: dict[tuple[str, str, str, str], AlertGroup] = {}
    for alert in alerts:
        group = groups.setdefault(alert.fingerprint, AlertGroup(first=alert))
        group.members.append(alert)
    return list(groups.values())


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, with a visible marker when cut. Python strings are code points, so
    a cut never splits a character the way byte slicing of UTF-8 can."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(TRUNCATED), 0)] + TRUNCATED[:limit]


def inline(text: str, limit: int) -> str:
    """User text for titles and fields: markdown escaped so it cannot format, then cut to `limit`."""
    return truncate(escape_markdown(" ".join(text.split())) or "-", limit)


def code_block(text: str, *, language: str, limit: int) -> str:
    """A fenced block that user text cannot close: every backtick is followed by a zero-width space."""
    fence_open, fence_close = f"```{language}\n", "\n```"
    body = text.replace("`", "`" + ZERO_WIDTH_SPACE)
    return fence_open + truncate(body, limit - len(fence_open) - len(fence_close)) + fence_close


def topic_colour(topic: str) -> int:
    """A colour that stays the same for a topic across restarts and replicas (not Python's salted hash)."""
    return zlib.crc32(topic.encode()) & 0xFFFFFF


def _iso_timestamp(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value).isoformat()
    except ValueError:
        return None


def render_embed(group: AlertGroup) -> dict[str, Any]:
    """One embed for a group of identical alerts, within every per-embed limit and the 6000 total."""
    alert = group.first
    last = group.members[-1]
    where = f"{alert.topic}/{alert.partition}/{alert.offset}"
    if group.count > 1:
        where += f" (+{group.count - 1} more, last {last.topic}/{last.partition}/{last.offset})"
    fields = [
        {"name": "Source", "value": inline(alert.origin or alert.source, 200), "inline": True},
        {"name": "Error type", "value": inline(alert.error_type, 200), "inline": True},
        {"name": "Time", "value": inline(alert.time or "-", 100), "inline": True},
        {"name": "Record", "value": inline(where, 300), "inline": False},
        {"name": "Error", "value": inline(alert.error, FIELD_VALUE_MAX), "inline": False},
    ]
    if alert.advice:
        fields.append({"name": "What to do", "value": inline(alert.advice, FIELD_VALUE_MAX), "inline": False})
    if group.occurrences > 1:
        fields.append(
            {"name": "Occurrences", "value": f"{group.occurrences} identical alerts", "inline": True}
        )
    embed: dict[str, Any] = {
        "title": inline(f"{alert.topic} · {alert.error_type}", TITLE_MAX),
        "color": topic_colour(alert.topic),
        "fields": fields,
        "footer": {"text": FOOTER},
    }
    timestamp = _iso_timestamp(alert.time)
    if timestamp:
        embed["timestamp"] = timestamp
    budget = min(DESCRIPTION_MAX, EMBEDS_TOTAL_MAX - SAFETY_MARGIN - embed_characters(embed))
    embed["description"] = code_block(
        alert.content, language="json" if alert.content_is_json else "", limit=budget
    )
    return embed


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook request and the alert groups it carries."""

    payload: dict[str, Any]
    groups: tuple[AlertGroup, ...]


def pack(groups: Sequence[AlertGroup]) -> list[Message]:
    """As few requests as Discord allows: up to 10 embeds each, together within 6000 characters."""
    messages: list[Message] = []
    embeds: list[dict[str, Any]] = []
    members: list[AlertGroup] = []
    used = 0
    for group in groups:
        embed = render_embed(group)
        size = embed_characters(embed)
        if embeds and (len(embeds) == EMBEDS_MAX or used + size > EMBEDS_TOTAL_MAX - SAFETY_MARGIN):
            messages.append(_message(embeds, members))
            embeds, members, used = [], [], 0
        embeds.append(embed)
        members.append(group)
        used += size
    if embeds:
        messages.append(_message(embeds, members))
    return messages


def _message(embeds: list[dict[str, Any]], groups: list[AlertGroup]) -> Message:
    return Message(payload={"embeds": embeds, "allowed_mentions": NO_MENTIONS}, groups=tuple(groups))


def unrenderable(group: AlertGroup, reason: str) -> Message:
    """The last resort when Discord refuses an embed: its coordinates, so the record can be found."""
    alert = group.first
    embed = {
        "title": inline(f"{alert.topic} · alert could not be rendered", TITLE_MAX),
        "description": inline(
            f"{group.count} alert(s) from {alert.topic}/{alert.partition}/{alert.offset} were refused by "
            f"Discord ({reason}). Read them with: franz tail {alert.topic} --from-beginning",
            1000,
        ),
        "color": topic_colour(alert.topic),
        "footer": {"text": FOOTER},
    }
    return Message(payload={"embeds": [embed], "allowed_mentions": NO_MENTIONS}, groups=(group,))
