"""What people read: one line per event for `franz history`, a table by status for `franz tickets`."""

from __future__ import annotations

from collections.abc import Iterable

from franz import contracts
from franz.contracts import TicketEvent, TicketState
from franz.runtime.text import summary


def event_details(event: TicketEvent) -> str:
    payload, kind = event.get("payload") or {}, event["type"]
    if kind not in contracts.EVENT_TYPES:
        return "(an event of a newer version of franz: unknown to this one)"
    if kind == "TicketCreated":
        return f"[{payload['category']}/{payload['priority']}] {summary(payload['body'])}"
    if kind == "TicketAssigned":
        return f"to {payload['assignee']['name']}"
    if kind == "TicketUnassigned":
        return f"from {payload['previous']['name']}"
    if kind == "DiscordLinked":
        return ", ".join(f"{name} {value}" for name, value in payload["discord"].items())
    if kind == "TicketUpdated":
        return ", ".join(f"{name} {c['from']} → {c['to']}" for name, c in payload["changes"].items())
    if kind == "CommentAdded":
        note = "(internal note) " if payload.get("visibility") == "internal" else ""
        files = "".join(f" [{attachment['name']}]" for attachment in payload.get("attachments", []))
        return f"{note}{summary(payload['text'])}{files}".strip()
    if kind == "CommandRejected":
        return f"{payload['command']} refused ({payload['code']}): {payload['reason']}"
    reason = payload.get("reason")
    return summary(reason) if reason else ""


def history_line(event: TicketEvent) -> str:
    return (
        f"{event['time']}  {event['type']:<16} {event['actor']['name']:<20} {event_details(event)}".rstrip()
    )


def tickets_table(states: Iterable[TicketState], *, status: str | None = None) -> str:
    """Grouped by status in lifecycle order, oldest first within a status."""
    chosen = sorted(
        (s for s in states if status is None or s["status"] == status),
        key=lambda s: (contracts.STATUSES.index(s["status"]), s["created_at"]),
    )
    lines: list[str] = []
    for current in contracts.STATUSES:
        group = [s for s in chosen if s["status"] == current]
        if not group:
            continue
        lines.append(f"{current} ({len(group)})")
        for s in group:
            assignee = s["assignee"]["name"] if s["assignee"] else "-"
            lines.append(
                f"  {s['ticket_id']}  {s['priority']:<7} {s['category']:<9} {assignee:<16} "
                f"{s['contact']:<16} {summary(s['body'], 40)}"
            )
    return "\n".join(lines) if lines else "no tickets"
