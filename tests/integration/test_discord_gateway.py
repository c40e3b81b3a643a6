"""The emulator's gateway spoken to over a real websocket, opcode by opcode, as Discord documents it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from discord.utils import _ZlibDecompressionContext

from franz.devstack import discord_gateway as gw
from franz.devstack.discord_api import LocalDiscordApi

GUILD = 700_000_000_000_000_001
Receive = Callable[[], Awaitable[dict[str, Any]]]


@asynccontextmanager
async def gateway(api: LocalDiscordApi, *, url: str | None = None) -> AsyncIterator[tuple[Any, Receive]]:
    """A websocket to the emulator with zlib-stream, and a reader that decodes as discord.py does."""
    decoder = _ZlibDecompressionContext()
    async with aiohttp.ClientSession() as http:
        if url is None:
            async with http.get(f"{api.base}/gateway/bot") as answer:
                url = (await answer.json())["url"]
        async with http.ws_connect(f"{url}?v=10&encoding=json&compress=zlib-stream") as ws:

            async def receive() -> dict[str, Any]:
                while True:
                    message = await asyncio.wait_for(ws.receive(), 10)
                    if message.type == aiohttp.WSMsgType.CLOSE:
                        return {"close": message.data}
                    assert message.type == aiohttp.WSMsgType.BINARY, "zlib-stream comes in binary frames"
                    text = decoder.decompress(message.data)
                    if text is not None:
                        return dict(json.loads(text))

            yield ws, receive


def identify(token: str = "test-token", intents: int = 1) -> dict[str, Any]:
    properties = {"os": "linux", "browser": "test", "device": "test"}
    return {"op": gw.IDENTIFY, "d": {"token": token, "intents": intents, "properties": properties}}


def run(scenario: Callable[[LocalDiscordApi], Awaitable[None]]) -> None:
    async def main() -> None:
        api = await LocalDiscordApi(guild_ids=[GUILD], heartbeat_interval_ms=1000).start()
        try:
            await scenario(api)
        finally:
            await api.stop()

    asyncio.run(main())


def test_hello_heartbeat_identify_ready_guild_create_and_dispatches_in_sequence() -> None:
    async def scenario(api: LocalDiscordApi) -> None:
        async with gateway(api) as (ws, receive):
            assert await receive() == {"op": gw.HELLO, "d": {"heartbeat_interval": 1000}}
            await ws.send_json({"op": gw.HEARTBEAT, "d": None})
            assert await receive() == {"op": gw.HEARTBEAT_ACK}
            await ws.send_json(identify())
            ready = await receive()
            assert (ready["t"], ready["s"]) == ("READY", 1)
            assert ready["d"]["guilds"] == [{"id": str(GUILD), "unavailable": True}]
            assert ready["d"]["resume_gateway_url"] == f"ws://127.0.0.1:{api.port}/gateway"
            assert ready["d"]["user"]["id"] == str(api.application_id)
            guild = await receive()
            assert (guild["t"], guild["s"], guild["d"]["id"]) == ("GUILD_CREATE", 2, str(GUILD))
            await api.dispatch_interaction({"id": "11", "token": "t11", "type": 2})
            created = await receive()
            assert (created["t"], created["s"], created["d"]["id"]) == ("INTERACTION_CREATE", 3, "11")
            assert "11" in api.interactions, "the interaction's 3-second clock runs"

    run(scenario)


def test_resume_replays_what_was_missed_then_resumed_and_an_unknown_session_is_invalid() -> None:
    async def scenario(api: LocalDiscordApi) -> None:
        async with gateway(api) as (ws, receive):
            await receive()
            await ws.send_json(identify())
            ready = (await receive())["d"]
            await receive()  # GUILD_CREATE, s=2
            await ws.close(code=4000)  # not 1000/1001: the session stays resumable
        await api.dispatch_interaction({"id": "21", "token": "t21", "type": 2})  # missed: s=3
        async with gateway(api, url=ready["resume_gateway_url"]) as (ws, receive):
            await receive()
            resume = {"token": "test-token", "session_id": ready["session_id"], "seq": 2}
            await ws.send_json({"op": gw.RESUME, "d": resume})
            replayed, resumed = await receive(), await receive()
            assert (replayed["t"], replayed["s"], replayed["d"]["id"]) == ("INTERACTION_CREATE", 3, "21")
            assert (resumed["t"], resumed["s"]) == ("RESUMED", 4)
            await ws.close(code=1000)  # a deliberate close ends the session
        async with gateway(api) as (ws, receive):
            await receive()
            await ws.send_json({"op": gw.RESUME, "d": resume})
            assert await receive() == {"op": gw.INVALID_SESSION, "d": False}

    run(scenario)


def test_refusals_close_with_discords_codes() -> None:
    async def refused(api: LocalDiscordApi, *payloads: dict[str, Any]) -> int:
        async with gateway(api) as (ws, receive):
            await receive()
            for payload in payloads:
                await ws.send_json(payload)
            while "close" not in (answer := await receive()):
                pass
            return int(answer["close"])

    async def scenario(api: LocalDiscordApi) -> None:
        assert await refused(api, identify(token="wrong")) == gw.AUTHENTICATION_FAILED
        assert await refused(api, {"op": gw.PRESENCE_UPDATE, "d": {}}) == gw.NOT_AUTHENTICATED
        assert await refused(api, identify(intents=1 << 15)) == gw.DISALLOWED_INTENTS  # MESSAGE_CONTENT
        assert await refused(api, identify(), identify()) == gw.ALREADY_AUTHENTICATED
        assert await refused(api, identify(), {"op": 99, "d": None}) == gw.UNKNOWN_OPCODE
        assert await refused(api, {"op": gw.HEARTBEAT, "d": "x" * 5000}) == gw.DECODE_ERROR
        assert api.gateway.close_codes == [4004, 4003, 4014, 4005, 4001, 4002]

    run(scenario)
