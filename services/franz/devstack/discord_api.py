"""A local stand-in for the parts of Discord's HTTP API a bot uses, answering as Discord documents.

discord.py talks to it unchanged once `discord.http.Route.BASE` points here: login (`/users/@me`,
`/oauth2/applications/@me`), application commands (list and bulk overwrite, global or per guild),
interaction callbacks (`?with_response=1`), follow-ups and edits of the original response, and direct
messages (open a DM channel, post to it; 403 code 50007 for users who do not accept DMs). It enforces the
3-second deadline for the first response to an interaction (later answers get 404 Unknown interaction,
code 10062) and records everything, so tests can read what a submitter saw.

It also serves the Gateway (`franz.devstack.discord_gateway`): `GET /gateway` and `/gateway/bot` answer
with a websocket URL at the address the client used, and `dispatch_interaction` delivers an interaction
to the connected bot as INTERACTION_CREATE, so a bot can run as its own process against the emulator.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from franz.devstack.discord_gateway import LocalGateway
from franz.devstack.process import StartedInWith

INTERACTION_DEADLINE_SECONDS = 3.0
EPHEMERAL = 1 << 6
TOKEN = "test-token"  # noqa: S105 - the bot token the emulator accepts unless told another
T = TypeVar("T")


@dataclass
class InteractionRecord:
    """What the bot answered to one interaction, in order: callbacks, then follow-ups and edits."""

    created_at: float
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message the submitter saw: callback messages (type 4) and follow-ups."""
        shown = [c["data"] for c in self.callbacks if c.get("type") == 4]
        return shown + self.followups


class LocalDiscordApi:
    def __init__(
        self,
        *,
        application_id: int = 900_000_000_000_000_001,
        token: str = TOKEN,
        guild_ids: Iterable[int] = (),
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self.application_id = application_id
        self.bot_user = {
            "id": str(application_id),
            "username": "franz",
            "discriminator": "0",
            "global_name": "Franz",
            "avatar": None,
            "bot": True,
        }
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope ("global" or guild id) → commands
        self.command_writes: list[str] = []  # scopes that were overwritten, in order
        self.interactions: dict[str, InteractionRecord] = {}
        self._tokens: dict[str, str] = {}  # interaction token → interaction id
        self.direct_messages: list[tuple[str, dict[str, Any]]] = []  # (user id, message body) accepted
        self.dms_closed: set[str] = set()  # users whose privacy settings refuse DMs from the bot
        self._dm_channels: dict[str, str] = {}  # DM channel id → user id
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self.gateway = LocalGateway(
            token=token,
            user=self.bot_user,
            application_id=application_id,
            guild_ids=guild_ids,
            heartbeat_interval_ms=heartbeat_interval_ms,
        )
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def base(self) -> str:
        """The value for `discord.http.Route.BASE` (or `DISCORD_API_BASE`) on this machine."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/api/v10"

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> LocalDiscordApi:
        """Serve on `host` (0.0.0.0 for a bot in a pod or another network namespace) and `port` (0: any)."""
        app = web.Application()
        api = "/api/v10"
        app.router.add_get(f"{api}/gateway", self._gateway)
        app.router.add_get(f"{api}/gateway/bot", self._gateway_bot)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_get(f"{api}/applications/{{app}}/commands", self._list_commands)
        app.router.add_put(f"{api}/applications/{{app}}/commands", self._overwrite_commands)
        app.router.add_get(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._list_commands)
        app.router.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._overwrite_commands)
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback)
        app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_patch(f"{api}/webhooks/{{app}}/{{token}}/messages/@original", self._edit_original)
        app.router.add_post(f"{api}/users/@me/channels", self._open_dm)
        app.router.add_post(f"{api}/channels/{{channel}}/messages", self._channel_message)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def new_interaction(self, *, interaction_id: str, token: str) -> None:
        """Register an interaction the test is about to deliver, starting its 3-second clock."""
        self._tokens[token] = interaction_id
        self.interactions[interaction_id] = InteractionRecord(created_at=time.monotonic())

    async def dispatch_interaction(self, payload: dict[str, Any]) -> None:
        """Deliver an interaction through the gateway as Discord does, starting its 3-second clock."""
        self.new_interaction(interaction_id=str(payload["id"]), token=str(payload["token"]))
        await self.gateway.dispatch("INTERACTION_CREATE", payload)

    async def wait_until_connected(self, *, sessions: int = 1, timeout: float = 60.0) -> None:
        """Until `sessions` bots hold a live gateway session (READY or RESUMED sent)."""
        deadline = time.monotonic() + timeout
        while self.gateway.connected() < sessions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no bot connected to the gateway within {timeout}s")
            await asyncio.sleep(0.02)

    async def _gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway.gateway_url(request)})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway.gateway_url(request),
                "shards": 1,
                "session_start_limit": self.gateway.session_start_limit(),
            }
        )

    async def _me(self, request: web.Request) -> web.Response:
        return _json(self.bot_user)

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": "Franz",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.bot_user,
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
                "summary": "",
            }
        )

    async def _list_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands.get(request.match_info.get("guild", "global"), []))

    async def _overwrite_commands(self, request: web.Request) -> web.Response:
        scope = request.match_info.get("guild", "global")
        stored = [
            {
                **command,
                "id": str(next(self._ids)),
                "application_id": str(self.application_id),
                "version": "1",
            }
            for command in await request.json()
        ]
        self.commands[scope] = stored
        self.command_writes.append(scope)
        return _json(stored)

    async def _callback(self, request: web.Request) -> web.Response:
        record = self.interactions.get(request.match_info["id"])
        if record is None or record.callbacks:
            return _unknown_interaction()
        if time.monotonic() - record.created_at > INTERACTION_DEADLINE_SECONDS:
            return _unknown_interaction()
        body = await request.json()
        record.callbacks.append(body)
        flags = (body.get("data") or {}).get("flags", 0)
        return _json(
            {
                "interaction": {
                    "id": request.match_info["id"],
                    "type": 2,
                    "response_message_loading": body.get("type") == 5,
                    "response_message_ephemeral": bool(flags & EPHEMERAL),
                },
                "resource": {"type": body.get("type")},
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        record = self._record_for(request.match_info["token"])
        if record is None or not record.callbacks:
            return _unknown_interaction()  # follow-ups need an initial response first
        body = await request.json()
        record.followups.append(body)
        return _json(self._message(body))

    async def _edit_original(self, request: web.Request) -> web.Response:
        record = self._record_for(request.match_info["token"])
        if record is None or not record.callbacks:
            return _unknown_interaction()
        body = await request.json()
        record.followups.append(body)
        return _json(self._message(body))

    async def _open_dm(self, request: web.Request) -> web.Response:
        user_id = str((await request.json())["recipient_id"])
        channel_id = str(next(self._ids))
        self._dm_channels[channel_id] = user_id
        recipient = {"id": user_id, "username": f"user{user_id}", "discriminator": "0", "avatar": None}
        return _json({"id": channel_id, "type": 1, "last_message_id": None, "recipients": [recipient]})

    async def _channel_message(self, request: web.Request) -> web.Response:
        user_id = self._dm_channels.get(request.match_info["channel"])
        if user_id is None:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        if user_id in self.dms_closed:
            return _json({"message": "Cannot send messages to this user", "code": 50007}, status=403)
        body = await request.json()
        self.direct_messages.append((user_id, body))
        return _json({**self._message(body), "channel_id": request.match_info["channel"]})

    def _record_for(self, token: str) -> InteractionRecord | None:
        interaction_id = self._tokens.get(token)
        return None if interaction_id is None else self.interactions.get(interaction_id)

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "channel_id": "1",
            "type": 0,
            "content": body.get("content", ""),
            "flags": body.get("flags", 0),
            "author": self.bot_user,
            "embeds": body.get("embeds", []),
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
            "edited_timestamp": None,
            "components": [],
        }


class DiscordApiThread(StartedInWith):
    """The emulator on a loop of its own in a background thread, for a bot that runs as its own process
    (or pod) while the test blocks. The emulator's state belongs to that loop; every accessor runs there
    and returns a copy, so a test thread never reads a record while the loop is changing it."""

    def __init__(self, api: LocalDiscordApi | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api or LocalDiscordApi()
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="discord-api", daemon=True)

    def start(self) -> DiscordApiThread:
        self._thread.start()
        self._run(self.api.start(host=self._host, port=self._port))
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._run(self.api.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def close(self) -> None:
        self.stop()

    @property
    def base(self) -> str:
        """`DISCORD_API_BASE` for a bot on this machine; a bot elsewhere uses its own route to `port`."""
        return self.api.base

    @property
    def port(self) -> int:
        return self.api.port

    def wait_until_connected(self, *, sessions: int = 1, timeout: float = 60.0) -> None:
        self._run(self.api.wait_until_connected(sessions=sessions, timeout=timeout), timeout=timeout + 5)

    def dispatch_interaction(self, payload: dict[str, Any]) -> None:
        self._run(self.api.dispatch_interaction(copy.deepcopy(payload)))

    def request_reconnect(self) -> None:
        self._run(self.api.gateway.request_reconnect())

    def invalidate_sessions(self) -> None:
        self._run(self.api.gateway.invalidate_sessions())

    def interaction(self, interaction_id: str) -> InteractionRecord:
        return self.read(lambda api: api.interactions[interaction_id])

    def direct_messages(self) -> list[tuple[str, dict[str, Any]]]:
        return self.read(lambda api: api.direct_messages)

    def commands(self) -> dict[str, list[dict[str, Any]]]:
        return self.read(lambda api: api.commands)

    def read(self, what: Callable[[LocalDiscordApi], T]) -> T:
        """A copy of anything the emulator holds, taken on its loop: `read(lambda a: a.gateway.resumes)`."""

        async def on_loop() -> T:
            return copy.deepcopy(what(self.api))

        return self._run(on_loop())

    def _run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)


def _unknown_interaction() -> web.Response:
    return _json({"message": "Unknown interaction", "code": 10062}, status=404)


def _json(data: object, *, status: int = 200) -> web.Response:
    """`application/json` and no charset: discord.py parses only that content type, as Discord sends it."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )
