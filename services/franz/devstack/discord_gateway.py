"""A local stand-in for Discord's Gateway (v10, JSON encoding), as Discord documents it.

A connection gets HELLO (op 10) with the heartbeat interval; every HEARTBEAT (op 1) is answered with
HEARTBEAT_ACK (op 11). IDENTIFY (op 2) with the emulator's token starts a session: READY (guilds
unavailable, a `resume_gateway_url`), then GUILD_CREATE for each configured guild. A wrong token closes
with 4004 Authentication failed, a privileged intent that was not granted with 4014. RESUME (op 6) of a
known session replays the dispatches the client missed and ends with RESUMED; an unknown session gets
INVALID_SESSION (op 9, not resumable). Closing with 1000 or 1001 ends the session, any other close keeps
it resumable. A connection silent for one and a half heartbeat intervals (at least 5 s) is closed with
4009 Session timed out, which ends its session. Dispatches go to the sessions whose intents ask for
them; a guild message reaches a session without the Message Content intent with its content removed.
`compress=zlib-stream` is served for real: one zlib context per connection, each payload a binary frame
ending in the Z_SYNC_FLUSH suffix. Anything else (no compression, or `zstd-stream`, for which the
standard library has no compressor before Python 3.14) is answered in text frames, which clients never
decompress.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

# Opcodes (Discord's "Gateway Opcodes" table).
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11
# Close codes (Discord's "Gateway Close Event Codes" table).
UNKNOWN_OPCODE, DECODE_ERROR, NOT_AUTHENTICATED, AUTHENTICATION_FAILED = 4001, 4002, 4003, 4004
ALREADY_AUTHENTICATED, INVALID_SEQ, INVALID_SHARD, INVALID_API_VERSION = 4005, 4007, 4010, 4012
SESSION_TIMED_OUT, INVALID_INTENTS, DISALLOWED_INTENTS = 4009, 4013, 4014

API_VERSION = "10"
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT
GUILDS_INTENT = 1 << 0
GUILD_MESSAGES_INTENT = 1 << 9
DIRECT_MESSAGES_INTENT = 1 << 12
MESSAGE_CONTENT_INTENT = 1 << 15
HEARTBEAT_GRACE = 1.5  # intervals without any frame before the connection counts as dead
# Tests beat every half second; a busy CI machine may stall a bot that long, which is not a dead connection.
HEARTBEAT_TIMEOUT_FLOOR_MS = 5_000
MAX_CLIENT_PAYLOAD_BYTES = 4096  # larger payloads from a client are closed with 4002
ZLIB_SUFFIX = b"\x00\x00\xff\xff"
SESSION_START_TOTAL = 1000  # IDENTIFY calls per 24 hours
DAY_MS = 86_400_000
IGNORED_OPS = (PRESENCE_UPDATE, VOICE_STATE_UPDATE, REQUEST_GUILD_MEMBERS)  # accepted, no effect here


class Transport:
    """Frames for one connection: JSON text, or one shared zlib context flushed after every payload."""

    def __init__(self, compress: str | None) -> None:
        self.zlib = zlib.compressobj() if compress == "zlib-stream" else None

    def frame(self, payload: dict[str, Any]) -> str | bytes:
        text = json.dumps(payload, separators=(",", ":"))
        if self.zlib is None:
            return text
        return self.zlib.compress(text.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH)


@dataclass
class Session:
    """One gateway session: its dispatches (for replay on RESUME) and the connection it is attached to."""

    session_id: str
    intents: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    connection: Connection | None = None

    @property
    def seq(self) -> int:
        return len(self.sent)

    def next_dispatch(self, event: str, data: Any) -> dict[str, Any]:
        payload = {"op": DISPATCH, "t": event, "s": self.seq + 1, "d": data}
        self.sent.append(payload)
        return payload


@dataclass
class Connection:
    ws: web.WebSocketResponse
    transport: Transport
    resume_url: str
    session: Session | None = None
    # zlib-stream frames must leave in the order they were compressed, whichever task sends them.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            frame = self.transport.frame(payload)
            if isinstance(frame, bytes):
                await self.ws.send_bytes(frame)
            else:
                await self.ws.send_str(frame)


class LocalGateway:
    """The websocket side of the emulator; `LocalDiscordApi` routes `/gateway` here."""

    def __init__(
        self,
        *,
        token: str,
        user: dict[str, Any],
        application_id: int,
        guilds: Callable[[], Iterable[dict[str, Any]]] = list,
        heartbeat_interval_ms: int = 41_250,
        heartbeat_timeout_ms: int | None = None,
        granted_intents: int = 0,
    ) -> None:
        self.token = token
        self.user = user
        self.application_id = application_id
        self.guilds = guilds  # each guild as GUILD_CREATE carries it, read at every IDENTIFY
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.heartbeat_timeout_ms = heartbeat_timeout_ms or max(
            int(heartbeat_interval_ms * HEARTBEAT_GRACE), HEARTBEAT_TIMEOUT_FLOOR_MS
        )
        self.granted_intents = granted_intents  # privileged intents enabled "in the Developer Portal"
        self.sessions: dict[str, Session] = {}
        self.identifies: list[float] = []  # monotonic times of accepted IDENTIFYs (session start limit)
        self.resumes = 0
        self.heartbeat_acks = 0
        self.close_codes: list[int] = []  # what the emulator closed connections with, in order
        self.queries: list[dict[str, str]] = []  # each connection's query (v, encoding, compress)

    def connected(self) -> int:
        """How many sessions have a live connection (READY or RESUMED sent)."""
        return sum(1 for s in self.sessions.values() if s.connection is not None)

    def gateway_url(self, request: web.Request) -> str:
        """The websocket URL at the address the client used, so a forwarded address stays reachable."""
        return f"ws://{request.host}/gateway"

    def session_start_limit(self) -> dict[str, int]:
        day_ago = time.monotonic() - DAY_MS / 1000
        recent = [at for at in self.identifies if at > day_ago]
        first = recent[0] if recent else time.monotonic()
        return {
            "total": SESSION_START_TOTAL,
            "remaining": max(SESSION_START_TOTAL - len(recent), 0),
            "reset_after": max(int(DAY_MS - (time.monotonic() - first) * 1000), 0),
            "max_concurrency": 1,
        }

    async def dispatch(self, event: str, data: Any) -> None:
        """Send a dispatch to every session; a session between connections gets it on RESUME."""
        if not self.sessions:
            raise RuntimeError(f"no session on the gateway to dispatch {event} to; wait until connected")
        await self.dispatch_to_intents(event, data, intent=0)

    async def dispatch_to_intents(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int,
        without_content: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """Send a dispatch to the sessions that asked for `intent` (0: all), as a session without the
        Message Content intent receives it when `without_content` says how."""
        for session in list(self.sessions.values()):
            if intent and not session.intents & intent:
                continue
            seen = data
            if without_content is not None and not session.intents & MESSAGE_CONTENT_INTENT:
                seen = without_content(data)
            payload = session.next_dispatch(event, seen)
            if session.connection is not None:
                await session.connection.send(payload)

    async def request_reconnect(self) -> None:
        """RECONNECT (op 7) to every live connection: the client should reconnect and resume."""
        for session in list(self.sessions.values()):
            if session.connection is not None:
                await session.connection.send({"op": RECONNECT, "d": None})

    async def invalidate_sessions(self) -> None:
        """End every session with INVALID_SESSION (op 9, not resumable): the client must IDENTIFY again,
        and a RESUME of any of them is answered the same way."""
        sessions = list(self.sessions.values())
        self.sessions.clear()
        for session in sessions:
            if session.connection is not None:
                await session.connection.send({"op": INVALID_SESSION, "d": False})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("encoding", "json") != "json":
            raise web.HTTPBadRequest(text="this emulator speaks the JSON encoding only")
        self.queries.append(dict(request.query))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if request.query.get("v", API_VERSION) != API_VERSION:
            await self._close(ws, INVALID_API_VERSION, "Invalid API version.")
            return ws
        connection = Connection(ws, Transport(request.query.get("compress")), self.gateway_url(request))
        await connection.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        client_close: int | None = None  # None: the TCP connection just ended, or we closed it
        timed_out = False
        try:
            while True:
                try:
                    message = await ws.receive(timeout=self.heartbeat_timeout_ms / 1000)
                except TimeoutError:  # a client that stopped heartbeating is a dead connection
                    timed_out = True
                    await self._close(ws, SESSION_TIMED_OUT, "Session timed out.")
                    break
                if message.type == WSMsgType.CLOSE:
                    client_close = message.data
                    break
                if message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                if not await self._receive(connection, message):
                    break
        finally:
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
                if client_close in (1000, 1001) or timed_out:  # a deliberate close or 4009 ends it
                    self.sessions.pop(session.session_id, None)
        return ws

    async def _receive(self, connection: Connection, message: Any) -> bool:
        """Handle one client frame; False once the connection was closed."""
        ws = connection.ws
        if message.type != WSMsgType.TEXT or len(message.data.encode()) > MAX_CLIENT_PAYLOAD_BYTES:
            return await self._close(ws, DECODE_ERROR, "Error while decoding payload.")
        try:
            payload = json.loads(message.data)
            op, data = payload["op"], payload.get("d")
        except (ValueError, KeyError, TypeError):
            return await self._close(ws, DECODE_ERROR, "Error while decoding payload.")
        if op == HEARTBEAT:
            self.heartbeat_acks += 1
            await connection.send({"op": HEARTBEAT_ACK})
            return True
        if op == IDENTIFY:
            return await self._identify(connection, data)
        if op == RESUME:
            return await self._resume(connection, data)
        if connection.session is None:
            return await self._close(ws, NOT_AUTHENTICATED, "Not authenticated.")
        if op in IGNORED_OPS:
            return True
        return await self._close(ws, UNKNOWN_OPCODE, "Unknown opcode.")

    def _refusal(self, connection: Connection, data: Any) -> tuple[int, str] | None:
        """Why an IDENTIFY or RESUME is refused: a second handshake, or a token that is not the bot's."""
        if connection.session is not None:
            return ALREADY_AUTHENTICATED, "Already authenticated."
        if not isinstance(data, dict) or data.get("token") != self.token:
            return AUTHENTICATION_FAILED, "Authentication failed."
        return None

    async def _identify(self, connection: Connection, data: Any) -> bool:
        ws = connection.ws
        if (refusal := self._refusal(connection, data)) is not None:
            return await self._close(ws, *refusal)
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            return await self._close(ws, INVALID_INTENTS, "Invalid intent(s).")
        if intents & PRIVILEGED_INTENTS & ~self.granted_intents:
            return await self._close(ws, DISALLOWED_INTENTS, "Disallowed intent(s).")
        shard = data.get("shard")
        valid_shard = isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]
        if shard is not None and not valid_shard:
            return await self._close(ws, INVALID_SHARD, "Invalid shard.")
        session = Session(session_id=secrets.token_hex(16), intents=intents)
        guilds = list(self.guilds())
        self.sessions[session.session_id] = session
        self.identifies.append(time.monotonic())
        connection.session, session.connection = session, connection
        ready: dict[str, Any] = {
            "v": int(API_VERSION),
            "user": self.user,
            "guilds": [{"id": guild["id"], "unavailable": True} for guild in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": connection.resume_url,
            "application": {"id": str(self.application_id), "flags": 0},
        }
        if shard is not None:
            ready["shard"] = shard
        await connection.send(session.next_dispatch("READY", ready))
        if intents & GUILDS_INTENT:
            for guild in guilds:
                await connection.send(session.next_dispatch("GUILD_CREATE", guild))
        return True

    async def _resume(self, connection: Connection, data: Any) -> bool:
        ws = connection.ws
        if (refusal := self._refusal(connection, data)) is not None:
            return await self._close(ws, *refusal)
        session = self.sessions.get(str(data.get("session_id")))
        if session is None:
            await connection.send({"op": INVALID_SESSION, "d": False})
            return True
        seq = data.get("seq")
        if not isinstance(seq, int) or not 0 <= seq <= session.seq:
            return await self._close(ws, INVALID_SEQ, "Invalid seq.")
        if session.connection is not None:  # the old connection is a zombie: the new one takes over
            await session.connection.ws.close(code=4000)
        connection.session, session.connection = session, connection
        self.resumes += 1
        for missed in session.sent[seq:]:
            await connection.send(missed)
        # Discord documents no fields for RESUMED but sends an object; discord.py writes into it.
        await connection.send(session.next_dispatch("RESUMED", {}))
        return True

    async def _close(self, ws: web.WebSocketResponse, code: int, reason: str) -> bool:
        self.close_codes.append(code)
        await ws.close(code=code, message=reason.encode())
        return False
