"""The pure core of the bot: cooldowns, what the submitter reads, and command-definition comparison."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from franz.contracts import RawIntake, TicketEvent, TicketState
from franz.runtime.text import summary

SUMMARY_CHARS = 120
# Bounded memory: users past their cooldown are forgotten, and at most this many are remembered at once.
COOLDOWN_MEMORY = 100_000


class Cooldown:
    """Per-user spacing between tickets, so one user cannot flood the queue."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: OrderedDict[int, float] = OrderedDict()

    def remaining(self, user_id: int, now: float) -> float:
        last = self._last.get(user_id)
        return 0.0 if last is None else max(self.seconds - (now - last), 0.0)

    def start(self, user_id: int, now: float) -> None:
        self._last[user_id] = now
        self._last.move_to_end(user_id)
        while self._last and (
            len(self._last) > COOLDOWN_MEMORY or now - next(iter(self._last.values())) > self.seconds
        ):
            self._last.popitem(last=False)


def confirmation(ticket_id: str, intake: RawIntake) -> str:
    shown = summary(intake["message"], SUMMARY_CHARS)
    chosen = (("category", intake.get("category")), ("priority", intake.get("priority")))
    details = ", ".join(f"{label}: {value}" for label, value in chosen if value)
    return f"✅ Ticket **{ticket_id}** received. We will get back to you.\n> {shown}" + (
        f"\n{details}" if details else ""
    )


def failure() -> str:
    return (
        "⚠️ Your ticket did not go through: our queue is not reachable right now. "
        "Please try again in a minute."
    )


def invalid(reason: str) -> str:
    return f"⚠️ Your ticket could not be accepted: {reason}."


def cooling_down(seconds: float) -> str:
    return (
        f"⏳ You just submitted a ticket. Please wait {max(int(seconds + 0.999), 1)} s before the next one."
    )


def _normalised_option(option: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "name", "description", "min_length", "max_length", "min_value", "max_value")
    normal = {key: option[key] for key in keys if option.get(key) is not None}
    normal["required"] = bool(option.get("required", False))
    normal["choices"] = [(c["name"], c["value"]) for c in option.get("choices") or []]
    normal["options"] = [_normalised_option(o) for o in option.get("options") or []]
    return normal


def normalised_commands(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parts of command definitions that the bot defines, so local and registered ones compare equal
    when nothing changed (Discord adds ids, versions and defaults of its own)."""
    normal = [
        {
            "name": command["name"],
            "type": command.get("type", 1),
            "description": command.get("description", ""),
            "options": [_normalised_option(o) for o in command.get("options") or []],
        }
        for command in commands
    ]
    return sorted(normal, key=lambda command: (command["type"], command["name"]))


def ticket_status(state: TicketState) -> str:
    assignee = state["assignee"]["name"] if state["assignee"] else "nobody yet"
    return (
        f"🎫 **{state['ticket_id']}** is **{state['status']}**\n"
        f"priority {state['priority']}, category {state['category']}, assigned to {assignee}, "
        f"{state['comments']} comment(s)\nopened {state['created_at']}, last change {state['updated_at']}\n"
        f"> {state['body']}"
    )


def ticket_not_visible(ticket_id: str) -> str:
    return f"🔍 There is no ticket {ticket_id} that you can see. Ticket ids look like T-ABCDE-12345."


def status_unavailable() -> str:
    return "⏳ The ticket service cannot be reached right now; try /ticket-status again in a minute."


def staff_only(command: str) -> str:
    return f"🔒 /{command} is for support staff only."


def command_outcome(event: TicketEvent) -> str:
    if event["type"] == "CommandRejected":
        return f"⚠️ Not done: {event['payload']['reason']}."
    done = {
        "TicketAssigned": f"assigned to {event['payload'].get('assignee', {}).get('name')}",
        "TicketUpdated": "updated",
        "CommentAdded": "commented",
        "TicketClosed": "closed; the submitter is told where Discord allows it",
        "TicketReopened": "reopened",
    }
    return f"✅ {event['ticket_id']} {done.get(event['type'], event['type'])}."


def command_unconfirmed(ticket_id: str) -> str:
    return (
        f"📨 Sent to {ticket_id}, but its outcome has not arrived yet; "
        "check /ticket-status in a moment before trying again."
    )


def closed_notice(event: TicketEvent) -> str:
    reason = event["payload"].get("reason")
    return f"✅ Your ticket **{event['ticket_id']}** was closed." + (f"\n> {reason}" if reason else "")
