"""A local stand-in for the parts of Discord's HTTP API a bot uses, answering as Discord documents.

discord.py talks to it unchanged once `discord.http.Route.BASE` points here: login (`/users/@me`,
`/oauth2/applications/@me`), application commands (list and bulk overwrite, global or per guild),
interaction callbacks (`?with_response=1`), follow-ups and edits of the original response, and direct
messages (open a DM channel, post to it; 403 code 50007 for users who do not accept DMs), and the guild
channels, threads and messages of `franz.devstack.discord_channels`. It enforces the 3-second deadline for
the first response to an interaction (later answers get 404 Unknown interaction, code 10062), answers a
component's UPDATE_MESSAGE by editing its message, and records everything, so tests can read what a
submitter and staff saw. Every route but the interaction endpoints is rate limited as Discord documents
(`franz.devstack.discord_ratelimit`): headers on every answer, 429s past a bucket or the global limit,
and a count of invalid requests.

It also serves the Gateway (`franz.devstack.discord_gateway`): `GET /gateway` and `/gateway/bot` answer
with a websocket URL at the address the client used, and `dispatch_interaction` delivers an interaction
to the connected bot as INTERACTION_CREATE, so a bot can run as its own process against the emulator.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from franz.devstack.discord_channels import Channels, json_response
from franz.devstack.discord_gateway import LocalGateway
from franz.devstack.discord_ratelimit import RateLimits
from franz.devstack.process import StartedInWith

INTERACTION_DEADLINE_SECONDS = 3.0
EPHEMERAL = 1 << 6
CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE, MODAL = 4, 6, 7, 9  # interaction callback types
# Per-route buckets (limit, seconds). Clients must follow the headers, never these numbers; they are set
# like Discord's well-known message bucket of 5 per 5 s per channel.
ROUTE_LIMITS = {
    "POST /channels/{channel}/messages": (5, 5.0),
    "PATCH /channels/{channel}/messages/{message}": (5, 5.0),
    "POST /channels/{channel}/threads": (10, 10.0),
    "PATCH /channels/{channel}": (10, 10.0),
    "PUT /channels/{channel}/thread-members/{user}": (10, 10.0),
}
UNLIMITED_PREFIXES = ("/api/v10/interactions/", "/api/v10/webhooks/", "/gateway")  # outside the global limit
TOKEN = "test-token"  # noqa: S105 - the bot token the emulator accepts unless told another
T = TypeVar("T")


@dataclass
class InteractionRecord:
    """What the bot answered to one interaction, in order: callbacks, then follow-ups and edits."""

    created_at: float
    message_id: str | None = None  # the message whose component was used, for UPDATE_MESSAGE
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message the submitter saw: callback messages (type 4) and follow-ups."""
        shown = [c["data"] for c in self.callbacks if c.get("type") == CHANNEL_MESSAGE]
        return shown + self.followups

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened in answer, if it did."""
        return next((c["data"] for c in self.callbacks if c.get("type") == MODAL), None)


class LocalDiscordApi:
    def __init__(
        self,
        *,
        application_id: int = 900_000_000_000_000_001,
        token: str = TOKEN,
        guild_ids: Iterable[int] = (),
        heartbeat_interval_ms: int = 41_250,
        heartbeat_timeout_ms: int | None = None,
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
        self.dms_closed: set[str] = set()  # users whose privacy settings refuse DMs from the bot
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self.gateway = LocalGateway(
            token=token,
            user=self.bot_user,
            application_id=application_id,
            guilds=lambda: [guild.as_gateway() for guild in self.channels.guilds.values()],
            heartbeat_interval_ms=heartbeat_interval_ms,
            heartbeat_timeout_ms=heartbeat_timeout_ms,
        )
        self.channels = Channels(
            bot_user=self.bot_user, gateway=self.gateway, ids=self._ids, dms_closed=self.dms_closed
        )
        for guild_id in guild_ids:
            self.channels.add_guild(guild_id)
        self.limits = RateLimits(routes=dict(ROUTE_LIMITS))
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
        app = web.Application(middlewares=[self._rate_limited])
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
        self.channels.add_routes(app, api)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.channels.base_url = self.base
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def direct_messages(self) -> list[tuple[str, dict[str, Any]]]:
        """Every DM the bot sent, as (user id, request body), in order."""
        channels = self.channels.channels
        return [
            (str(recipient["id"]), body)
            for channel_id, body in self.channels.sent
            if (recipient := channels[channel_id].recipient) is not None
        ]

    def new_interaction(self, *, interaction_id: str, token: str, message_id: str | None = None) -> None:
        """Register an interaction the test is about to deliver, starting its 3-second clock."""
        self._tokens[token] = interaction_id
        self.interactions[interaction_id] = InteractionRecord(
            created_at=time.monotonic(), message_id=message_id
        )

    async def dispatch_interaction(self, payload: dict[str, Any]) -> None:
        """Deliver an interaction through the gateway as Discord does, starting its 3-second clock."""
        message_id = (payload.get("message") or {}).get("id")
        self.new_interaction(
            interaction_id=str(payload["id"]), token=str(payload["token"]), message_id=message_id
        )
        await self.gateway.dispatch("INTERACTION_CREATE", payload)

    @web.middleware
    async def _rate_limited(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Discord's rate limits around every route: the bucket is the method and route, per
        top-level resource (channel, guild, webhook); interaction endpoints are outside the global one."""
        if request.path.startswith(UNLIMITED_PREFIXES):
            response: web.StreamResponse = await handler(request)
            return response
        resource = request.match_info.route.resource
        template = resource.canonical.removeprefix("/api/v10") if resource is not None else request.path
        major = request.match_info.get("channel") or request.match_info.get("guild") or ""
        answer = self.limits.check(f"{request.method} {template}", major)
        if answer.status is not None:
            body = answer.body
            if isinstance(body, str):  # banned: Cloudflare's plain text, no Discord headers
                response = web.Response(text=body, status=answer.status)
            else:
                response = json_response(body, status=answer.status)
                response.headers.update(answer.headers)
        else:
            response = await handler(request)
            response.headers.update(answer.headers)
        self.limits.record_status(response.status, dict(response.headers))
        return response

    async def wait_until_connected(self, *, sessions: int = 1, timeout: float = 60.0) -> None:
        """Until `sessions` bots hold a live gateway session (READY or RESUMED sent)."""
        deadline = time.monotonic() + timeout
        while self.gateway.connected() < sessions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no bot connected to the gateway within {timeout}s")
            await asyncio.sleep(0.02)

    async def _gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway.gateway_url(request)})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway.gateway_url(request),
                "shards": 1,
                "session_start_limit": self.gateway.session_start_limit(),
            }
        )

    async def _me(self, request: web.Request) -> web.Response:
        return json_response(self.bot_user)

    async def _application(self, request: web.Request) -> web.Response:
        return json_response(
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
        return json_response(self.commands.get(request.match_info.get("guild", "global"), []))

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
        return json_response(stored)

    async def _callback(self, request: web.Request) -> web.Response:
        record = self.interactions.get(request.match_info["id"])
        if record is None or record.callbacks:
            return _unknown_interaction()
        if time.monotonic() - record.created_at > INTERACTION_DEADLINE_SECONDS:
            return _unknown_interaction()
        body = await request.json()
        kind = body.get("type")
        if kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE) and record.message_id is None:
            return json_response(
                {"message": "Interaction has no message to update", "code": 50035}, status=400
            )
        record.callbacks.append(body)
        resource: dict[str, Any] = {"type": kind}
        if kind == UPDATE_MESSAGE and record.message_id is not None:
            resource["message"] = self._update_component_message(record.message_id, body.get("data") or {})
        flags = (body.get("data") or {}).get("flags", 0)
        return json_response(
            {
                "interaction": {
                    "id": request.match_info["id"],
                    "type": 2,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(flags & EPHEMERAL),
                },
                "resource": resource,
            }
        )

    def _update_component_message(self, message_id: str, data: dict[str, Any]) -> dict[str, Any]:
        channel, message = self.channels.find_message(message_id)
        return self.channels.apply_edit(channel, message, data)

    async def _followup(self, request: web.Request) -> web.Response:
        record = self._record_for(request.match_info["token"])
        if record is None or not record.callbacks:
            return _unknown_interaction()  # follow-ups need an initial response first
        body = await request.json()
        record.followups.append(body)
        return json_response(self._message(body))

    async def _edit_original(self, request: web.Request) -> web.Response:
        record = self._record_for(request.match_info["token"])
        if record is None or not record.callbacks:
            return _unknown_interaction()
        body = await request.json()
        record.followups.append(body)
        if record.message_id is not None and record.callbacks[0].get("type") in (
            DEFERRED_UPDATE_MESSAGE,
            UPDATE_MESSAGE,
        ):
            return json_response(self._update_component_message(record.message_id, body))
        return json_response(self._message(body))

    async def _open_dm(self, request: web.Request) -> web.Response:
        user_id = str((await request.json())["recipient_id"])
        return json_response(self.channels.dm_channel(user_id).as_json())

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
    return json_response({"message": "Unknown interaction", "code": 10062}, status=404)
