"""The channel side of the local Discord API: guild channels, threads, DMs and their messages.

Routes as Discord documents them (`/channels/...`, `/guilds/.../channels|roles|members`): messages with
embeds, components, `allowed_mentions` and file attachments (multipart `payload_json` + `files[n]`),
edits of the bot's own messages, private and public threads with members, archive, lock and unarchive,
and the bot's permissions enforced per channel (403, code 50013). Changes reach the bot over the Gateway
(MESSAGE_CREATE/UPDATE, THREAD_CREATE/UPDATE/DELETE, THREAD_MEMBERS_UPDATE) under the intents it asked
for, and messages lose their content for a bot without the Message Content intent, as Discord's do.
Test-side helpers play the people: a user posting, pressing a button, submitting a modal, a moderator
deleting a thread.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from aiohttp import web

from franz.contracts.discord import limit_violations
from franz.devstack import discord_guild as dg
from franz.devstack.discord_gateway import (
    DIRECT_MESSAGES_INTENT,
    GUILD_MESSAGES_INTENT,
    GUILDS_INTENT,
    LocalGateway,
)
from franz.devstack.discord_guild import Channel, DiscordError, Guild

MAX_FILES = 10
MAX_FILE_BYTES = 10 * 1024 * 1024  # Discord's upload limit for a server without boosts
MESSAGE_COMPONENT, MODAL_SUBMIT = 3, 5
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Channels:
    """Guilds, their channels and the DM channels, with the HTTP routes that act on them."""

    def __init__(
        self, *, bot_user: dict[str, Any], gateway: LocalGateway, ids: Iterator[int], dms_closed: set[str]
    ) -> None:
        self.bot_user = bot_user
        self.gateway = gateway
        self.dms_closed = dms_closed  # users whose privacy settings refuse DMs from the bot
        self.base_url = ""  # where attachments are served, set once the API listens
        self.guilds: dict[str, Guild] = {}
        self.channels: dict[str, Channel] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (channel id, request body) the bot sent, in order
        self._ids = ids

    def new_id(self) -> str:
        return str(next(self._ids))

    # -- the world as a test sets it up --------------------------------------------------------------

    def add_guild(self, guild_id: int | str) -> Guild:
        guild = Guild(id=str(guild_id), bot_user=self.bot_user)
        self.guilds[guild.id] = guild
        return guild

    def add_channel(self, guild_id: int | str, name: str, *, bot_denied: int = 0) -> str:
        """A text channel; `bot_denied` are permission bits an overwrite takes from the bot there."""
        guild = self.guilds[str(guild_id)]
        channel = Channel(
            id=self.new_id(), type=dg.GUILD_TEXT, name=name, guild_id=guild.id, bot_denied=bot_denied
        )
        guild.channels[channel.id] = self.channels[channel.id] = channel
        return channel.id

    def add_role(self, guild_id: int | str, name: str) -> str:
        role_id = self.new_id()
        self.guilds[str(guild_id)].roles[role_id] = name
        return role_id

    def dm_channel(self, user_id: str) -> Channel:
        for channel in self.channels.values():
            if channel.type == dg.DM and channel.recipient and channel.recipient["id"] == user_id:
                return channel
        recipient = {"id": user_id, "username": f"user{user_id}", "discriminator": "0", "avatar": None}
        channel = Channel(id=self.new_id(), type=dg.DM, recipient=recipient)
        self.channels[channel.id] = channel
        return channel

    # -- people acting, as the Gateway delivers it -----------------------------------------------------

    async def post_as_user(
        self, channel_id: str, author: dict[str, Any], content: str, *, attachments: Iterable[str] = ()
    ) -> dict[str, Any]:
        """A person's message: stored, a thread it lands in unarchived (unless locked), and MESSAGE_CREATE
        to the bot. `attachments` are file names, served at a local URL."""
        channel = self._live(channel_id)
        if channel.archived and channel.locked:
            raise dg.archived_thread()
        files = [self._attachment(name, b"", channel) for name in attachments]
        message = self._store(channel, {"content": content}, author=author, attachments=files)
        if channel.archived:
            await self._set_archived(channel, False)
        await self._emit_message("MESSAGE_CREATE", channel, message)
        return message

    def component_interaction(self, message_id: str, custom_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """The INTERACTION_CREATE payload of `user` pressing the button `custom_id` on a message."""
        channel, message = self.find_message(message_id)
        return self._interaction(
            MESSAGE_COMPONENT, channel, user, {"custom_id": custom_id, "component_type": 2}
        ) | {"message": message}

    def modal_interaction(
        self, channel_id: str, custom_id: str, user: dict[str, Any], fields: dict[str, str]
    ) -> dict[str, Any]:
        """The INTERACTION_CREATE payload of `user` submitting the modal `custom_id` with text inputs."""
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in fields.items()
        ]
        return self._interaction(
            MODAL_SUBMIT, self._live(channel_id), user, {"custom_id": custom_id, "components": rows}
        )

    async def open_thread_as_user(self, message_id: str, name: str, author: dict[str, Any]) -> str:
        """A person opens a thread on a message (Discord gives it the message's id), as THREAD_CREATE."""
        parent, _ = self.find_message(message_id)
        guild = self.guilds[str(parent.guild_id)]
        thread = self._new_thread(guild, parent, {"name": name}, thread_id=message_id, kind=dg.PUBLIC_THREAD)
        thread.owner_id, thread.members = author["id"], {author["id"]}
        parent.messages[message_id]["thread"] = thread.as_json()
        await self._announce_thread(thread)
        return thread.id

    async def auto_archive(self, thread_id: str) -> None:
        """Discord archives a thread nobody wrote in for its auto_archive_duration."""
        await self._set_archived(self._live(thread_id), True)

    async def delete_channel(self, channel_id: str) -> None:
        """A moderator deletes a channel or thread."""
        channel = self._live(channel_id)
        channel.deleted = True
        if channel.is_thread:
            data = {
                "id": channel.id,
                "guild_id": channel.guild_id,
                "parent_id": channel.parent_id,
                "type": channel.type,
            }
            await self._emit("THREAD_DELETE", data, GUILDS_INTENT)
        else:
            await self._emit("CHANNEL_DELETE", channel.as_json(), GUILDS_INTENT)

    def find_message(self, message_id: str) -> tuple[Channel, dict[str, Any]]:
        for channel in self.channels.values():
            if message_id in channel.messages:
                return channel, channel.messages[message_id]
        raise KeyError(f"no message {message_id}")

    def threads(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.is_thread]

    # -- HTTP --------------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application, api: str) -> None:
        route = f"{api}/channels/{{channel}}"
        app.router.add_get(route, self._handled(self._get_channel))
        app.router.add_patch(route, self._handled(self._edit_channel))
        app.router.add_delete(route, self._handled(self._delete_channel))
        app.router.add_post(f"{route}/messages", self._handled(self._create_message))
        app.router.add_get(f"{route}/messages", self._handled(self._list_messages))
        app.router.add_get(f"{route}/messages/{{message}}", self._handled(self._get_message))
        app.router.add_patch(f"{route}/messages/{{message}}", self._handled(self._edit_message))
        app.router.add_post(f"{route}/threads", self._handled(self._start_thread))
        app.router.add_post(
            f"{route}/messages/{{message}}/threads", self._handled(self._start_thread_on_message)
        )
        app.router.add_put(f"{route}/thread-members/{{user}}", self._handled(self._add_thread_member))
        app.router.add_delete(f"{route}/thread-members/{{user}}", self._handled(self._remove_thread_member))
        app.router.add_get(f"{api}/guilds/{{guild}}/channels", self._handled(self._guild_channels))
        app.router.add_get(f"{api}/guilds/{{guild}}/threads/active", self._handled(self._active_threads))
        app.router.add_get(f"{api}/guilds/{{guild}}/roles", self._handled(self._guild_roles))
        app.router.add_get(f"{api}/guilds/{{guild}}/members/{{user}}", self._handled(self._guild_member))
        app.router.add_get(
            f"{api}/attachments/{{channel}}/{{attachment}}/{{name}}", self._handled(self._file)
        )

    def _handled(self, handler: Handler) -> Handler:
        async def answer(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except DiscordError as error:
                return json_response(error.body(), status=error.status)
            except KeyError:
                return json_response({"message": "Unknown Channel", "code": 10003}, status=404)

        return answer

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._visible(request.match_info["channel"])
        return json_response(self._channel_json(channel))

    async def _edit_channel(self, request: web.Request) -> web.Response:
        channel = self._visible(request.match_info["channel"])
        body = await request.json()
        if not channel.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        guild = self.guilds[str(channel.guild_id)]
        manages = bool(guild.permissions_in(channel) & dg.MANAGE_THREADS)
        if ("locked" in body or "invitable" in body or channel.locked) and not manages:
            raise dg.missing_permissions()
        if channel.archived and body.get("archived", True) and set(body) - {"archived", "locked"}:
            raise dg.archived_thread()
        if "auto_archive_duration" in body and body["auto_archive_duration"] not in dg.ARCHIVE_DURATIONS:
            raise invalid_form("auto_archive_duration", "must be one of 60, 1440, 4320, 10080")
        channel.name = str(body.get("name", channel.name))
        channel.locked = bool(body.get("locked", channel.locked))
        channel.invitable = bool(body.get("invitable", channel.invitable))
        channel.auto_archive_duration = int(body.get("auto_archive_duration", channel.auto_archive_duration))
        if "archived" in body and bool(body["archived"]) != channel.archived:
            channel.archived = bool(body["archived"])
            channel.archive_timestamp = dg.now_iso()
        await self._emit("THREAD_UPDATE", channel.as_json(), GUILDS_INTENT)
        return json_response(channel.as_json())

    async def _delete_channel(self, request: web.Request) -> web.Response:
        channel = self._visible(request.match_info["channel"])
        guild = self.guilds[str(channel.guild_id)]
        if not guild.permissions_in(channel) & dg.MANAGE_THREADS:
            raise dg.missing_permissions()
        await self.delete_channel(channel.id)
        return json_response(channel.as_json())

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._visible(request.match_info["channel"])
        body, files = await self._message_body(request)
        if channel.type == dg.DM:
            recipient = str((channel.recipient or {}).get("id"))
            if recipient in self.dms_closed:
                raise DiscordError(403, 50007, "Cannot send messages to this user")
        else:
            guild = self.guilds[str(channel.guild_id)]
            send = dg.SEND_MESSAGES_IN_THREADS if channel.is_thread else dg.SEND_MESSAGES
            guild.require(channel, send, *([dg.ATTACH_FILES] if files else []))
            if channel.archived and channel.locked and not guild.permissions_in(channel) & dg.MANAGE_THREADS:
                raise dg.archived_thread()
        self._validate(body)
        attachments = [self._attachment(name, content, channel) for name, content in files]
        self.sent.append((channel.id, body))
        message = self._store(channel, body, author=self.bot_user, attachments=attachments)
        if channel.archived:
            await self._set_archived(channel, False)
        await self._emit_message("MESSAGE_CREATE", channel, message)
        return json_response(message)

    async def _list_messages(self, request: web.Request) -> web.Response:
        """Newest first, up to `limit` (1 to 100, default 50), `before` or `after` a message id."""
        channel = self._visible(request.match_info["channel"])
        if channel.guild_id is not None:
            self.guilds[channel.guild_id].require(channel, dg.READ_MESSAGE_HISTORY)
        raw = request.query.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise invalid_form("limit", "int value should be less than or equal to 100.")
        ids = sorted(channel.messages, key=int, reverse=True)
        if "before" in request.query:
            ids = [i for i in ids if int(i) < int(request.query["before"])]
        if "after" in request.query:
            ids = sorted((i for i in ids if int(i) > int(request.query["after"])), key=int)
            ids = list(reversed(ids[: int(raw)]))
        return json_response([channel.messages[i] for i in ids[: int(raw)]])

    async def _active_threads(self, request: web.Request) -> web.Response:
        """The guild's unarchived threads the bot can see, and its own memberships among them."""
        guild = self._guild(request.match_info["guild"])
        bot = self.bot_user["id"]
        visible = []
        for thread in (
            c for c in guild.channels.values() if c.is_thread and not c.archived and not c.deleted
        ):
            private = thread.type == dg.PRIVATE_THREAD
            if not private or bot in thread.members or guild.permissions_in(thread) & dg.MANAGE_THREADS:
                visible.append(thread)
        members = [
            {"id": t.id, "user_id": bot, "join_timestamp": t.archive_timestamp, "flags": 0}
            for t in visible
            if bot in t.members
        ]
        return json_response({"threads": [t.as_json() for t in visible], "members": members})

    def _message_of(self, request: web.Request) -> tuple[Channel, dict[str, Any]]:
        channel = self._visible(request.match_info["channel"])
        message = channel.messages.get(request.match_info["message"])
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return channel, message

    async def _get_message(self, request: web.Request) -> web.Response:
        return json_response(self._message_of(request)[1])

    async def _edit_message(self, request: web.Request) -> web.Response:
        channel, message = self._message_of(request)
        if message["author"]["id"] != self.bot_user["id"]:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        if channel.archived:
            raise dg.archived_thread()
        body, files = await self._message_body(request)
        self._validate(body)
        edited = self.apply_edit(channel, message, body, [self._attachment(n, c, channel) for n, c in files])
        await self._emit_message("MESSAGE_UPDATE", channel, edited)
        return json_response(edited)

    def apply_edit(
        self,
        channel: Channel,
        message: dict[str, Any],
        body: dict[str, Any],
        files: Iterable[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """An edit as Discord applies it: the fields given replace the message's, the rest stay."""
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                message[key] = body[key]
        if "attachments" in body or files:
            kept = {str(a.get("id")) for a in body.get("attachments") or []}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in kept] + list(files)
        if "content" in body:
            self._mentions(message, body.get("allowed_mentions"))
        message["edited_timestamp"] = dg.now_iso()
        channel.messages[message["id"]] = message
        return message

    async def _start_thread(self, request: web.Request) -> web.Response:
        parent = self._visible(request.match_info["channel"])
        body = await request.json()
        kind = int(body.get("type", dg.PRIVATE_THREAD))
        guild = self._thread_parent(
            parent, dg.CREATE_PRIVATE_THREADS if kind == dg.PRIVATE_THREAD else dg.CREATE_PUBLIC_THREADS
        )
        thread = self._new_thread(guild, parent, body, thread_id=self.new_id(), kind=kind)
        return json_response(await self._announce_thread(thread))

    async def _start_thread_on_message(self, request: web.Request) -> web.Response:
        parent = self._visible(request.match_info["channel"])
        message_id = request.match_info["message"]
        if message_id not in parent.messages:
            raise DiscordError(404, 10008, "Unknown Message")
        if message_id in self.channels:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        guild = self._thread_parent(parent, dg.CREATE_PUBLIC_THREADS)
        thread = self._new_thread(
            guild, parent, await request.json(), thread_id=message_id, kind=dg.PUBLIC_THREAD
        )
        parent.messages[message_id]["thread"] = thread.as_json()
        return json_response(await self._announce_thread(thread))

    async def _add_thread_member(self, request: web.Request) -> web.Response:
        thread = self._thread(request.match_info["channel"])
        guild = self.guilds[str(thread.guild_id)]
        guild.require(thread, dg.SEND_MESSAGES_IN_THREADS)
        if thread.archived:
            raise dg.archived_thread()
        user = request.match_info["user"]
        user = self.bot_user["id"] if user == "@me" else user
        if user not in thread.members:
            thread.members.add(user)
            await self._members_update(thread, added=[user])
        return web.Response(status=204)

    async def _remove_thread_member(self, request: web.Request) -> web.Response:
        thread = self._thread(request.match_info["channel"])
        if thread.archived:
            raise dg.archived_thread()
        user = request.match_info["user"]
        user = self.bot_user["id"] if user == "@me" else user
        if (
            user != self.bot_user["id"]
            and not self.guilds[str(thread.guild_id)].permissions_in(thread) & dg.MANAGE_THREADS
        ):
            raise dg.missing_permissions()
        if user in thread.members:
            thread.members.discard(user)
            await self._members_update(thread, removed=[user])
        return web.Response(status=204)

    async def _guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild(request.match_info["guild"])
        live = [c for c in guild.channels.values() if not c.deleted and not c.is_thread]
        return json_response([c.as_json(guild.bot_role_id) for c in live])

    async def _guild_roles(self, request: web.Request) -> web.Response:
        return json_response(self._guild(request.match_info["guild"]).as_gateway()["roles"])

    async def _guild_member(self, request: web.Request) -> web.Response:
        guild = self._guild(request.match_info["guild"])
        if request.match_info["user"] != self.bot_user["id"]:
            raise DiscordError(404, 10007, "Unknown Member")
        return json_response(guild.as_gateway()["members"][0])

    async def _file(self, request: web.Request) -> web.Response:
        channel = self.channels[request.match_info["channel"]]
        content = channel.files.get(request.match_info["attachment"])
        if content is None:
            raise DiscordError(404, 0, "404: Not Found")
        return web.Response(body=content, content_type="application/octet-stream")

    # -- rules -----------------------------------------------------------------------------------------

    def _live(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    def _visible(self, channel_id: str) -> Channel:
        """A channel the bot can see: unknown and deleted channels are 404, a private thread the bot is
        not in (and cannot manage) is 403, a channel its overwrite hides is 403."""
        channel = self._live(channel_id)
        if channel.guild_id is not None:
            guild = self.guilds[channel.guild_id]
            guild.require(channel)
            private = channel.type == dg.PRIVATE_THREAD
            if (
                private
                and self.bot_user["id"] not in channel.members
                and not guild.permissions_in(channel) & dg.MANAGE_THREADS
            ):
                raise dg.missing_permissions()
        return channel

    def _thread(self, channel_id: str) -> Channel:
        channel = self._visible(channel_id)
        if not channel.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        return channel

    def _guild(self, guild_id: str) -> Guild:
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    def _thread_parent(self, parent: Channel, permission: int) -> Guild:
        if parent.type != dg.GUILD_TEXT:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        guild = self.guilds[str(parent.guild_id)]
        guild.require(parent, permission)
        return guild

    def _new_thread(
        self, guild: Guild, parent: Channel, body: dict[str, Any], *, thread_id: str, kind: int
    ) -> Channel:
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise invalid_form("name", "Must be between 1 and 100 in length.")
        duration = int(body.get("auto_archive_duration") or 4320)
        if duration not in dg.ARCHIVE_DURATIONS:
            raise invalid_form("auto_archive_duration", "must be one of 60, 1440, 4320, 10080")
        thread = Channel(
            id=thread_id,
            type=kind,
            name=name,
            guild_id=guild.id,
            parent_id=parent.id,
            owner_id=self.bot_user["id"],
            invitable=bool(body.get("invitable", True)) if kind == dg.PRIVATE_THREAD else True,
            auto_archive_duration=duration,
            members={self.bot_user["id"]},
        )
        guild.channels[thread.id] = self.channels[thread.id] = thread
        return thread

    async def _announce_thread(self, thread: Channel) -> dict[str, Any]:
        data = thread.as_json()
        await self._emit("THREAD_CREATE", data | {"newly_created": True}, GUILDS_INTENT)
        return data

    async def _members_update(
        self, thread: Channel, *, added: Iterable[str] = (), removed: Iterable[str] = ()
    ) -> None:
        data = {
            "id": thread.id,
            "guild_id": thread.guild_id,
            "member_count": min(len(thread.members), 50),
            "added_members": [
                {"id": thread.id, "user_id": u, "join_timestamp": dg.now_iso(), "flags": 0} for u in added
            ],
            "removed_member_ids": list(removed),
        }
        await self._emit("THREAD_MEMBERS_UPDATE", data, GUILDS_INTENT)

    async def _set_archived(self, channel: Channel, archived: bool) -> None:
        channel.archived, channel.archive_timestamp = archived, dg.now_iso()
        await self._emit("THREAD_UPDATE", channel.as_json(), GUILDS_INTENT)

    async def _message_body(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """The JSON body, or a multipart one (`payload_json` and `files[n]`) with its files."""
        if not request.content_type.startswith("multipart/"):
            return dict(await request.json()), []
        form = await request.post()
        body = json.loads(str(form.get("payload_json") or "{}"))
        files: list[tuple[str, bytes]] = []
        for name, value in form.items():
            if name.startswith("files[") and isinstance(value, web.FileField):
                files.append((value.filename, value.file.read()))
        if len(files) > MAX_FILES:
            raise invalid_form("files", f"Must be {MAX_FILES} or fewer in length.")
        if any(len(content) > MAX_FILE_BYTES for _, content in files):
            raise DiscordError(413, 40005, "Request entity too large")
        return dict(body), files

    def _validate(self, body: dict[str, Any]) -> None:
        """Discord's limits on a message: text and embeds, components, mentions; never empty."""
        if not (
            body.get("content") or body.get("embeds") or body.get("components") or body.get("attachments")
        ):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        problems = limit_violations(body) if body.get("content") or body.get("embeds") else []
        problems += dg.component_problems(body.get("components") or [])
        if (conflict := dg.mention_conflict(body.get("allowed_mentions"))) is not None:
            problems.append(conflict)
        if problems:
            raise DiscordError(400, 50035, "Invalid Form Body: " + "; ".join(problems))

    def _attachment(self, name: str, content: bytes, channel: Channel) -> dict[str, Any]:
        attachment_id = self.new_id()
        channel.files[attachment_id] = content
        url = f"{self.base_url}/attachments/{channel.id}/{attachment_id}/{name}"
        return {"id": attachment_id, "filename": name, "size": len(content), "url": url, "proxy_url": url}

    def _store(
        self,
        channel: Channel,
        body: dict[str, Any],
        *,
        author: dict[str, Any],
        attachments: list[dict[str, Any]],
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": self.new_id(),
            "channel_id": channel.id,
            "type": 0,
            "content": body.get("content", ""),
            "flags": body.get("flags", 0),
            "author": author,
            "embeds": body.get("embeds", []),
            "components": body.get("components", []),
            "attachments": attachments,
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": dg.now_iso(),
            "edited_timestamp": None,
        }
        if channel.guild_id is not None:
            message["guild_id"] = channel.guild_id
        self._mentions(message, body.get("allowed_mentions"))
        channel.messages[message["id"]] = message
        return message

    def _mentions(self, message: dict[str, Any], allowed_mentions: dict[str, Any] | None) -> None:
        users, roles, everyone = dg.pinged(message["content"], allowed_mentions)
        message["mentions"] = [
            {"id": u, "username": f"user{u}", "discriminator": "0", "avatar": None} for u in users
        ]
        message["mention_roles"], message["mention_everyone"] = roles, everyone

    def _channel_json(self, channel: Channel) -> dict[str, Any]:
        guild = self.guilds.get(str(channel.guild_id))
        return channel.as_json(guild.bot_role_id if guild else None)

    def _interaction(
        self, kind: int, channel: Channel, user: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        interaction_id = self.new_id()
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": self.bot_user["id"],
            "type": kind,
            "token": f"interaction-token-{interaction_id}",
            "version": 1,
            "channel_id": channel.id,
            "channel": self._channel_json(channel),
            "data": data,
            "locale": "en-US",
            "app_permissions": "0",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 0 if channel.guild_id else 1,
            "attachment_size_limit": MAX_FILE_BYTES,
        }
        if channel.guild_id is None:
            return payload | {"user": user}
        member = {
            "user": user,
            "roles": list(user.get("roles", [])),
            "joined_at": "2026-01-01T00:00:00+00:00",
        }
        return payload | {
            "guild_id": channel.guild_id,
            "member": member | {"deaf": False, "mute": False, "flags": 0, "permissions": "0"},
            "guild_locale": "en-US",
        }

    async def _emit_message(self, event: str, channel: Channel, message: dict[str, Any]) -> None:
        intent = DIRECT_MESSAGES_INTENT if channel.type == dg.DM else GUILD_MESSAGES_INTENT
        bot = self.bot_user["id"]
        await self.gateway.dispatch_to_intents(
            event, message, intent=intent, without_content=lambda m: dg.as_seen_without_content(m, bot)
        )

    async def _emit(self, event: str, data: dict[str, Any], intent: int) -> None:
        await self.gateway.dispatch_to_intents(event, data, intent=intent)


def invalid_form(field_name: str, message: str) -> DiscordError:
    return DiscordError(400, 50035, f"Invalid Form Body: {field_name}: {message}")


def json_response(data: object, *, status: int = 200) -> web.Response:
    """`application/json` and no charset: discord.py parses only that content type, as Discord sends it."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )
