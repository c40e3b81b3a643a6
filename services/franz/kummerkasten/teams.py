"""Support teams and the routing of tickets to them, as the pipeline declares it.

The operator writes the pipeline's `spec.discord.teams` as JSON where the bot reads it (`DISCORD_TEAMS`); a
bot configured only with `STAFF_ROLE_ID` has one default team without a desk. The rules are the CRD's, so
a file that reaches the bot by another way is held to them too: ids are Discord snowflakes, a category
is routed to at most one team, and exactly one team is the default for everything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from franz import contracts
from franz.exceptions import ConfigError

SNOWFLAKE_DIGITS = range(17, 21)


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    staff_role_id: int
    categories: frozenset[str] = frozenset()
    desk_channel_id: int | None = None  # where the team's desk posts go; None: no desk (STAFF_ROLE_ID only)
    thread_channel_id: int | None = None  # where private ticket threads are opened; default: the desk
    transcripts_channel_id: int | None = None
    default: bool = False

    @property
    def threads_in(self) -> int | None:
        return self.thread_channel_id or self.desk_channel_id


@dataclass(frozen=True, slots=True)
class Routing:
    teams: tuple[Team, ...]

    def team_for(self, category: str) -> Team:
        """The team that takes `category`, else the default team."""
        for team in self.teams:
            if category in team.categories:
                return team
        return next(team for team in self.teams if team.default)

    def teams_of(self, role_ids: Iterable[int]) -> list[Team]:
        """The teams whose staff role a member holds."""
        held = set(role_ids)
        return [team for team in self.teams if team.staff_role_id in held]

    def channels(self) -> list[tuple[int, str, str]]:
        """Every channel the bot acts in: its id, what the bot does there (`desk`, `ticket threads`,
        `transcripts`) and whose it is, for the start-up permission check."""
        used: list[tuple[int, str, str]] = []
        for team in self.teams:
            for channel_id, kind in (
                (team.desk_channel_id, "desk"),
                (team.threads_in, "ticket threads"),
                (team.transcripts_channel_id, "transcripts"),
            ):
                if channel_id is not None:
                    used.append((channel_id, kind, f"team {team.name}'s {kind}"))
        return used


def single_team(staff_role_id: int | None) -> Routing | None:
    """`STAFF_ROLE_ID` alone: one default team that works tickets by command, without a desk."""
    if staff_role_id is None:
        return None
    return Routing((Team(name="staff", staff_role_id=staff_role_id, default=True),))


def parse_teams(text: str, *, source: str = "DISCORD_TEAMS") -> Routing:
    """The teams JSON (a list of objects with camelCase keys, as in the FranzPipeline), checked."""
    try:
        given = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source} is not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(given, list) or not given:
        raise ConfigError(f"{source} must be a non-empty JSON list of teams")
    teams = tuple(_team(entry, index, source) for index, entry in enumerate(given))
    problems = routing_problems(teams)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return Routing(teams)


def routing_problems(teams: Iterable[Team]) -> list[str]:
    """What makes a set of teams ambiguous: a category routed twice, no default or several, names reused."""
    problems: list[str] = []
    teams = list(teams)
    owner: dict[str, str] = {}
    for team in teams:
        for category in sorted(team.categories):
            if category in owner:
                problems.append(
                    f"category {category!r} is routed to both {owner[category]!r} and {team.name!r}"
                )
            owner[category] = team.name
    defaults = [team.name for team in teams if team.default]
    if len(defaults) != 1:
        problems.append(
            f"exactly one team must be the default, found {len(defaults)} ({', '.join(defaults)})"
        )
    names = [team.name for team in teams]
    problems += [f"team name {name!r} is used twice" for name in sorted(set(names)) if names.count(name) > 1]
    return problems


def _team(entry: Any, index: int, source: str) -> Team:
    where = f"{source}: team {index}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} needs a name")
    where = f"{source}: team {name!r}"
    categories = entry.get("categories", [])
    if not isinstance(categories, list) or any(c not in contracts.CATEGORIES for c in categories):
        raise ConfigError(f"{where}: categories must be a list of {', '.join(contracts.CATEGORIES)}")
    return Team(
        name=name,
        staff_role_id=_snowflake(entry, "staffRoleId", where, required=True) or 0,
        categories=frozenset(categories),
        desk_channel_id=_snowflake(entry, "deskChannelId", where, required=True),
        thread_channel_id=_snowflake(entry, "threadChannelId", where),
        transcripts_channel_id=_snowflake(entry, "transcriptsChannelId", where),
        default=entry.get("default") is True,
    )


def _snowflake(entry: dict[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not text.isdigit() or len(text) not in SNOWFLAKE_DIGITS:
        raise ConfigError(f"{where}: {key} must be a Discord id (17 to 20 digits), got {value!r}")
    return int(text)
