"""Pacing under Discord's global rate limit.

discord.py follows each route's `X-RateLimit-*` headers, so a bucket never answers 429; but it learns of
the global limit (50 requests a second per bot) only from a 429. The desk can make many requests at once
across channels (a post, a thread, its members, its first message), so the bot spaces all its requests
below that limit itself. Interaction answers are not counted by Discord and are never held back: they
have 3 seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord.http import Route

GLOBAL_PER_SECOND = 45  # below Discord's 50, leaving room for retries and other clients of the token
UNPACED = ("/interactions/", "/webhooks/")  # interaction callbacks and follow-ups


class Pacer:
    """Spaces calls evenly at `per_second` at most, in the order they asked."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second
        self.clock = clock
        self._next = 0.0

    def delay(self) -> float:
        """Reserve the next slot and return how long to wait for it."""
        now = self.clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now

    async def wait(self) -> None:
        delay = self.delay()
        if delay > 0:
            await asyncio.sleep(delay)


def pace(client: discord.Client, pacer: Pacer) -> None:
    """Every request of `client` but the interaction answers goes through `pacer` first."""
    request: Callable[..., Awaitable[Any]] = client.http.request

    async def paced(route: Route, **kwargs: Any) -> Any:
        if not route.path.startswith(UNPACED):
            await pacer.wait()
        return await request(route, **kwargs)

    client.http.request = paced  # type: ignore[method-assign]
