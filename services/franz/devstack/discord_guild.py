"""The guilds, channels, threads and messages the local Discord API holds, shaped as Discord sends them.

Plain state and Discord's rules about it, with no HTTP: who may do what in a channel (the bot's role
permissions and a channel's overwrites, as discord.py computes them from GUILD_CREATE), which mentions
a message really pings under its `allowed_mentions`, what a bot without the Message Content intent sees
of a message, and the thread rules (private threads, members, archive and lock).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

# Permission bits (Discord's "Permissions" table) the ticket desk depends on.
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
BOT_DEFAULT = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MANAGE_THREADS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)

# Channel types.
GUILD_TEXT, DM, PUBLIC_THREAD, PRIVATE_THREAD = 0, 1, 11, 12
THREAD_TYPES = (PUBLIC_THREAD, PRIVATE_THREAD)
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)  # minutes Discord accepts for auto_archive_duration

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class DiscordError(Exception):
    """An answer Discord gives instead of doing it: HTTP status, JSON error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code}


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def archived_thread() -> DiscordError:
    return DiscordError(400, 50083, "Thread is archived")


@dataclass
class Channel:
    id: str
    type: int
    name: str = ""
    guild_id: str | None = None
    parent_id: str | None = None
    owner_id: str | None = None
    recipient: dict[str, Any] | None = None  # a DM's other user
    bot_denied: int = 0  # the permission overwrite that denies the bot's role these bits here
    invitable: bool = True
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 4320
    archive_timestamp: str = field(default_factory=now_iso)
    members: set[str] = field(default_factory=set)  # a thread's members
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → message, in send order
    files: dict[str, bytes] = field(default_factory=dict)  # attachment id → content
    deleted: bool = False

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    def as_json(self, bot_role_id: str | None = None) -> dict[str, Any]:
        channel: dict[str, Any] = {"id": self.id, "type": self.type, "last_message_id": self.last_message_id}
        if self.type == DM:
            return {**channel, "recipients": [self.recipient] if self.recipient else []}
        channel |= {"guild_id": self.guild_id, "name": self.name, "nsfw": False, "rate_limit_per_user": 0}
        if self.is_thread:
            return channel | {
                "parent_id": self.parent_id,
                "owner_id": self.owner_id,
                "message_count": len(self.messages),
                "member_count": min(len(self.members), 50),
                "total_message_sent": len(self.messages),
                "flags": 0,
                "thread_metadata": {
                    "archived": self.archived,
                    "auto_archive_duration": self.auto_archive_duration,
                    "archive_timestamp": self.archive_timestamp,
                    "locked": self.locked,
                    "invitable": self.invitable,
                    "create_timestamp": self.archive_timestamp,
                },
            }
        overwrites = []
        if self.bot_denied and bot_role_id is not None:
            overwrites.append({"id": bot_role_id, "type": 0, "allow": "0", "deny": str(self.bot_denied)})
        return channel | {"position": 0, "parent_id": self.parent_id, "permission_overwrites": overwrites}

    @property
    def last_message_id(self) -> str | None:
        return next(reversed(self.messages), None)


@dataclass
class Guild:
    id: str
    bot_user: dict[str, Any]
    bot_permissions: int = BOT_DEFAULT
    roles: dict[str, str] = field(default_factory=dict)  # extra role id → name (e.g. a team's staff role)
    channels: dict[str, Channel] = field(default_factory=dict)

    @property
    def bot_role_id(self) -> str:
        return str(int(self.id) + 1)

    def permissions_in(self, channel: Channel) -> int:
        """The bot's permissions in `channel`: its role's, less the channel's overwrite; a thread's
        are its parent channel's."""
        if self.bot_permissions & ADMINISTRATOR:
            return ~0
        if channel.is_thread and channel.parent_id in self.channels:
            channel = self.channels[channel.parent_id]
        return self.bot_permissions & ~channel.bot_denied

    def require(self, channel: Channel, *bits: int) -> None:
        allowed = self.permissions_in(channel)
        if not allowed & VIEW_CHANNEL or any(not allowed & bit for bit in bits):
            raise missing_permissions()

    def as_gateway(self) -> dict[str, Any]:
        """GUILD_CREATE's data: roles (the bot's own), the bot as a member, channels with their
        overwrites and the active threads, so discord.py computes `permissions_for(guild.me)`."""
        role = {"position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": True}
        roles = [{**role, "id": self.id, "name": "@everyone", "permissions": "0", "mentionable": False}]
        roles.append(
            {**role, "id": self.bot_role_id, "name": "Franz", "permissions": str(self.bot_permissions)}
        )
        roles += [{**role, "id": rid, "name": name, "permissions": "0"} for rid, name in self.roles.items()]
        member = {
            "user": self.bot_user,
            "roles": [self.bot_role_id],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
        }
        live = [c for c in self.channels.values() if not c.deleted]
        return {
            "id": self.id,
            "name": f"Guild {self.id}",
            "icon": None,
            "owner_id": self.id,
            "roles": roles,
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": [c.as_json(self.bot_role_id) for c in live if not c.is_thread],
            "threads": [c.as_json() for c in live if c.is_thread and not c.archived],
            "members": [member | {"mute": False, "flags": 0}],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "member_count": 1,
            "large": False,
            "unavailable": False,
            "joined_at": "2026-01-01T00:00:00+00:00",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
        }


def pinged(content: str, allowed_mentions: dict[str, Any] | None) -> tuple[list[str], list[str], bool]:
    """The users, roles and @everyone that `content` really pings under `allowed_mentions` (Discord's
    rules: no `allowed_mentions` parses everything; `parse` lists the kinds parsed; `users`/`roles`
    list the ids that may ping, and may not be combined with the same kind in `parse`)."""
    users, roles = USER_MENTION.findall(content), ROLE_MENTION.findall(content)
    everyone = "@everyone" in content or "@here" in content
    if allowed_mentions is None:
        return users, roles, everyone
    parse = allowed_mentions.get("parse") or []
    allowed_users = {str(u) for u in allowed_mentions.get("users") or []}
    allowed_roles = {str(r) for r in allowed_mentions.get("roles") or []}
    return (
        [u for u in users if "users" in parse or u in allowed_users],
        [r for r in roles if "roles" in parse or r in allowed_roles],
        everyone and "everyone" in parse,
    )


def mention_conflict(allowed_mentions: dict[str, Any] | None) -> str | None:
    """Discord's 400 for `parse: ["users"]` together with `users: [...]` (the same for roles)."""
    if not allowed_mentions:
        return None
    parse = allowed_mentions.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and allowed_mentions.get(kind):
            return f'allowed_mentions: parse:["{kind}"] and {kind}: [ids] are mutually exclusive'
    return None


def component_problems(components: list[dict[str, Any]]) -> list[str]:
    """What Discord refuses in a message's components: more than 5 action rows, more than 5 buttons a
    row, a button without a custom_id (or a link button without a url), a custom_id over 100 characters
    or used twice."""
    problems: list[str] = []
    seen: set[str] = set()
    if len(components) > 5:
        problems.append("components: must be 5 or fewer in length")
    for row in components:
        buttons = row.get("components") or []
        if row.get("type") != 1 or not 1 <= len(buttons) <= 5:
            problems.append("components: each action row holds 1 to 5 components")
        for button in buttons:
            custom_id = button.get("custom_id")
            if button.get("style") == 5:
                if not button.get("url"):
                    problems.append("components: a link button needs a url")
                continue
            if not custom_id or len(custom_id) > 100:
                problems.append("components: custom_id must be 1 to 100 characters")
            elif custom_id in seen:
                problems.append(f"components: custom_id {custom_id!r} is used twice")
            seen.add(str(custom_id))
    return problems


def as_seen_without_content(message: dict[str, Any], bot_user_id: str) -> dict[str, Any]:
    """A guild message as a bot without the Message Content intent receives it: no content, embeds,
    attachments or components, unless the message mentions the bot (DMs keep everything)."""
    if message.get("guild_id") is None or any(m["id"] == bot_user_id for m in message.get("mentions", [])):
        return message
    return message | {"content": "", "embeds": [], "attachments": [], "components": []}
