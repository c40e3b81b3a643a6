"""The pure core of the bot: cooldowns, what the submitter reads, and command-definition comparison."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from franz.contracts import RawIntake

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
    message = " ".join(intake["message"].split())
    summary = message if len(message) <= SUMMARY_CHARS else message[: SUMMARY_CHARS - 1] + "…"
    chosen = (("category", intake.get("category")), ("priority", intake.get("priority")))
    details = ", ".join(f"{label}: {value}" for label, value in chosen if value)
    return f"✅ Ticket **{ticket_id}** received. We will get back to you.\n> {summary}" + (
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
