"""What staff and submitters see in Discord's channels, as plain data: the desk post of a ticket with its
buttons, the opening message of its private thread, and the transcript written when it closes.

The Discord edge turns a `Post` into discord.py's embed and view; nothing here talks to Discord. User
text never pings anyone: the only mention a post allows is its team's role.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from franz.contracts import ContractError, TicketEvent, TicketState, parse_ticket_id
from franz.runtime.text import summary

CUSTOM_ID_PREFIX = "franz"
Action = Literal["claim", "unclaim", "close", "reopen"]
ACTIONS: tuple[Action, ...] = ("claim", "unclaim", "close", "reopen")
PRIORITY_COLOURS = {"low": 0x95A5A6, "normal": 0x3498DB, "high": 0xE67E22, "urgent": 0xE74C3C}
CLOSED_COLOUR = 0x2ECC71
SUMMARY_CHARS = 300
INTERNAL = "internal"  # a CommentAdded that only staff see: a note under the desk post


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    custom_id: str
    style: Literal["primary", "secondary", "success", "danger"]


@dataclass(frozen=True, slots=True)
class Post:
    content: str
    embed: dict[str, object]
    buttons: tuple[Button, ...]
    ping_role_id: int | None  # the one mention this post may make


def page_id(view: str, page: int) -> str:
    """The custom id of a queue's Next button."""
    return f"{CUSTOM_ID_PREFIX}:page:{view}:{page}"


def parse_page_id(value: str) -> tuple[str, int] | None:
    parts = value.split(":")
    if len(parts) != 4 or parts[:2] != [CUSTOM_ID_PREFIX, "page"] or not parts[3].isdigit():
        return None
    return parts[2], int(parts[3])


def ticket_in_name(name: str) -> str | None:
    """The ticket a thread is named after (its name starts with the ticket id)."""
    first = name.split(" ", 1)[0]
    try:
        return parse_ticket_id(first)
    except ContractError:
        return None


def ticket_in_title(title: str) -> str | None:
    """The ticket of a desk post, from its embed's title."""
    prefix = desk_post_title("")
    return ticket_in_name(title[len(prefix) :]) if title.startswith(prefix) else None


def custom_id(action: Action, ticket_id: str) -> str:
    return f"{CUSTOM_ID_PREFIX}:{action}:{ticket_id}"


def parse_custom_id(value: str) -> tuple[Action, str] | None:
    """The action and ticket of one of our buttons; None for anything else (another bot's, a forgery)."""
    prefix, _, rest = value.partition(":")
    action, _, ticket_id = rest.partition(":")
    if prefix != CUSTOM_ID_PREFIX or action not in ACTIONS or not ticket_id:
        return None
    return action, ticket_id


def desk_post(state: TicketState, *, staff_role_id: int | None) -> Post:
    """The desk post: who, what, how urgent, where it stands, and the buttons that fit its status."""
    closed = state["status"] == "closed"
    assignee = state["assignee"]
    fields = [
        {"name": "Status", "value": state["status"], "inline": True},
        {"name": "Priority", "value": state["priority"], "inline": True},
        {"name": "Category", "value": state["category"], "inline": True},
        {"name": "Submitter", "value": _person(state), "inline": True},
        {"name": "Assignee", "value": assignee["name"] if assignee else "nobody yet", "inline": True},
    ]
    embed: dict[str, object] = {
        "title": desk_post_title(state["ticket_id"]),
        "description": summary(state["body"], SUMMARY_CHARS),
        "color": CLOSED_COLOUR
        if closed
        else PRIORITY_COLOURS.get(state["priority"], PRIORITY_COLOURS["normal"]),
        "fields": fields,
        "timestamp": state["created_at"],
        "footer": {"text": f"opened {state['created_at']} · last change {state['updated_at']}"},
    }
    ticket_id = state["ticket_id"]
    if closed:
        buttons: tuple[Button, ...] = (Button("Reopen", custom_id("reopen", ticket_id), "secondary"),)
    else:
        claim = (
            Button("Unclaim", custom_id("unclaim", ticket_id), "secondary")
            if assignee
            else Button("Claim", custom_id("claim", ticket_id), "primary")
        )
        buttons = (claim, Button("Close", custom_id("close", ticket_id), "danger"))
    ping = f"<@&{staff_role_id}> " if staff_role_id is not None else ""  # edits never ping again
    return Post(
        content=f"{ping}New {state['priority']} ticket {ticket_id} ({state['category']})",
        embed=embed,
        buttons=buttons,
        ping_role_id=staff_role_id,
    )


def desk_post_title(ticket_id: str) -> str:
    """The desk post's title, by which the bot finds a post it made before a crash."""
    return f"🎫 {ticket_id}"


def thread_name(state: TicketState) -> str:
    """A thread's name (Discord allows 1 to 100 characters)."""
    return summary(f"{state['ticket_id']} {state['body']}", 100)


def thread_opening(state: TicketState) -> str:
    """The first message of the ticket's private thread, to the submitter (mentioned, so they are added
    and notified)."""
    mention = f"<@{state['submitter_id']}>" if state["submitter_id"] else state["contact"]
    return (
        f"{mention}, this is your private thread for ticket **{state['ticket_id']}**. Support staff will "
        "answer here; everything written here is kept with the ticket.\n"
        f"> {summary(state['body'], 1500)}"
    )


def closed_line(event: TicketEvent) -> str:
    reason = event["payload"].get("reason")
    return f"🔒 Closed by {event['actor']['name']}" + (f": {reason}" if reason else ".")


def reopened_line(event: TicketEvent) -> str:
    return f"🔓 Reopened by {event['actor']['name']}."


def closed_notice(event: TicketEvent, *, reopen_days: int = 0) -> str:
    """The submitter's direct message on close; its transcript goes with it as a file."""
    reason = event["payload"].get("reason")
    notice = f"✅ Your ticket **{event['ticket_id']}** was closed." + (f"\n> {reason}" if reason else "")
    if reopen_days > 0:
        notice += f"\nNot solved? Press Reopen within {reopen_days} days."
    return notice


def transcript_caption(state: TicketState) -> str:
    what = f"{state['ticket_id']} ({state['category']}, {state['priority']})"
    return f"📄 Transcript of {what}, closed {state['closed_at']}"


def thread_replaced(state: TicketState) -> str:
    """The first message of a thread that replaces one a moderator deleted."""
    return (
        thread_opening(state)
        + "\n⚠️ The previous thread of this ticket was deleted; the conversation goes on here, and what was "
        "written there is still kept with the ticket."
    )


def transcript(events: Iterable[TicketEvent], *, for_staff: bool) -> str:
    """A ticket's story from its events, oldest first: the conversation, every change, and (for staff
    only) the internal notes."""
    lines: list[str] = []
    for event in events:
        line = _transcript_line(event, for_staff=for_staff)
        if line is not None:
            lines.append(f"[{event['time']}] {line}")
    return "\n".join(lines) + "\n"


def _transcript_line(event: TicketEvent, *, for_staff: bool) -> str | None:
    actor, payload, kind = event["actor"]["name"], event["payload"], event["type"]
    if kind == "TicketCreated":
        opened = f"{actor} opened {event['ticket_id']} ({payload['category']}, {payload['priority']})"
        return f"{opened}:\n{payload['body']}"
    if kind == "CommentAdded":
        if payload.get("visibility") == INTERNAL:
            return f"{actor} (internal note): {payload['text']}" if for_staff else None
        attachments = "".join(
            f"\n  attachment: {a['name']} {a['url']}" for a in payload.get("attachments", [])
        )
        return f"{actor}: {payload['text']}{attachments}"
    if kind == "TicketAssigned":
        return f"{actor} assigned it to {payload['assignee']['name']}"
    if kind == "TicketUpdated":
        changes = ", ".join(f"{name} {c['from']} → {c['to']}" for name, c in payload["changes"].items())
        return f"{actor} changed {changes}"
    if kind in ("TicketClosed", "TicketReopened"):
        verb = "closed" if kind == "TicketClosed" else "reopened"
        reason = payload.get("reason")
        return f"{actor} {verb} it" + (f": {reason}" if reason else "")
    return None  # refusals and Discord bookkeeping are not part of the story


def _person(state: TicketState) -> str:
    return f"<@{state['submitter_id']}> ({state['contact']})" if state["submitter_id"] else state["contact"]
