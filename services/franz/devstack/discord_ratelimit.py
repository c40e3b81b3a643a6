"""Discord's rate limits as its documentation describes them, for the local emulators.

Every answer carries the bucket's `X-RateLimit-*` headers, so a client that reads them (discord.py does)
never needs a 429. A request past its route's bucket, or past the global limit of requests per second
per bot, is answered 429 with `retry_after` (seconds, rounded up to the millisecond, so obeying it is
never early), `global`, `X-RateLimit-Scope` (`user`, `global` or `shared`) and `Retry-After`. Invalid
requests (401, 403 and 429, except 429s of scope `shared`) are counted over ten minutes: at Discord's
10,000 the address is banned, which Cloudflare answers with a plain-text 429 and no `Via` header.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

GLOBAL_PER_SECOND = 50
INVALID_REQUEST_BAN = 10_000
INVALID_REQUEST_WINDOW_SECONDS = 600.0
# Discord's API answers through Google's front end; discord.py takes a 429 without `Via` for a ban.
VIA = "1.1 google"


@dataclass
class Window:
    """A fixed window of `limit` requests per `per_seconds`, as Discord's headers describe a bucket."""

    limit: int
    per_seconds: float
    start: float = -math.inf
    used: int = 0

    def reset_after(self, now: float) -> float:
        return math.ceil(max(self.start + self.per_seconds - now, 0.0) * 1000) / 1000

    def take(self, now: float) -> bool:
        """Count one request if the window has room; False (and nothing counted) when it is full."""
        if now - self.start >= self.per_seconds:
            self.start, self.used = now, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def headers(self, bucket: str, now: float) -> dict[str, str]:
        reset_after = self.reset_after(now)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - self.used, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """What the limits decided: `status` 429 (with `body`) or None to go on; headers either way."""

    headers: dict[str, str]
    status: int | None = None
    body: dict[str, object] | str | None = None


def limited(window: Window, bucket: str, now: float, *, scope: str) -> Answer:
    """The 429 for a full `window`, with the headers and body Discord documents."""
    reset_after = window.reset_after(now)
    headers = {
        **window.headers(bucket, now),
        "X-RateLimit-Scope": scope,
        "Retry-After": str(math.ceil(reset_after)),
        "Via": VIA,
    }
    if scope == "global":
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": reset_after, "global": scope == "global"}
    return Answer(headers=headers, status=429, body=body)


@dataclass
class RateLimits:
    """Per-route buckets (route and top-level resource) under one global limit, and the invalid-request
    count that gets an address banned."""

    routes: dict[str, tuple[int, float]]  # bucket name → (limit, per seconds)
    default: tuple[int, float] = (50, 1.0)
    global_per_second: int = GLOBAL_PER_SECOND
    clock: Callable[[], float] = time.monotonic
    windows: dict[tuple[str, str], Window] = field(default_factory=dict)
    global_window: Window = field(init=False)
    invalid: deque[float] = field(default_factory=deque)
    limited_count: int = 0  # 429s answered, of any scope
    requests: int = 0  # every request checked

    def __post_init__(self) -> None:
        self.global_window = Window(self.global_per_second, 1.0)

    def check(self, bucket: str, major: str, *, counts_globally: bool = True) -> Answer:
        """Admit one request to `bucket` for the top-level resource `major`, or answer its 429."""
        now = self.clock()
        self.requests += 1
        if self.banned(now):
            return Answer(headers={}, status=429, body="error code: 1015")
        limit, per_seconds = self.routes.get(bucket, self.default)
        window = self.windows.setdefault((bucket, major), Window(limit, per_seconds))
        name = f"{bucket}:{major}"
        if counts_globally and not self.global_window.take(now):
            return self._limited(self.global_window, "global", now, scope="global")
        if not window.take(now):
            return self._limited(window, name, now, scope="user")
        return Answer(headers={**window.headers(name, now), "Via": VIA})

    def record_status(self, status: int, headers: dict[str, str]) -> None:
        """Count an answer toward the ban if Discord would: 401, 403 and 429 except scope `shared`."""
        if status in (401, 403) or (status == 429 and headers.get("X-RateLimit-Scope") != "shared"):
            self.invalid.append(self.clock())

    def invalid_requests(self) -> int:
        """Invalid requests in the last ten minutes."""
        self._forget_old(self.clock())
        return len(self.invalid)

    def banned(self, now: float) -> bool:
        self._forget_old(now)
        return len(self.invalid) >= INVALID_REQUEST_BAN

    def _limited(self, window: Window, bucket: str, now: float, *, scope: str) -> Answer:
        self.limited_count += 1
        return limited(window, bucket, now, scope=scope)

    def _forget_old(self, now: float) -> None:
        while self.invalid and now - self.invalid[0] > INVALID_REQUEST_WINDOW_SECONDS:
            self.invalid.popleft()
