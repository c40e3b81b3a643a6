"""A local Discord webhook that behaves as Discord documents it: the only test double in Franz.

It answers `POST /api/webhooks/<id>/<token>` with 204 (200 and the message with `?wait=true`), 400 with
Discord's "Invalid Form Body" for any broken limit, 429 with `retry_after` and the `X-RateLimit-*`
headers past its rate, 404 once deleted, and 503 during an outage. It records every request, including
those sent before an announced `retry_after` had elapsed, so tests can prove a client waited.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from franz.contracts.discord import limit_violations
from franz.devstack.discord_ratelimit import Window, limited
from franz.devstack.process import StartedInWith


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    at: float
    status: int
    payload: dict[str, Any] | None
    early: bool  # sent while an announced retry_after had not yet elapsed


class LocalDiscordWebhook(StartedInWith):
    """One webhook on loopback with a per-webhook bucket of `rate_limit` requests per `per_seconds`."""

    def __init__(
        self,
        *,
        rate_limit: int = 5,
        per_seconds: float = 2.0,
        port: int = 0,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.webhook_id = str(secrets.randbelow(10**18) + 10**17)
        self.token = secrets.token_urlsafe(48)
        self.on_message = on_message
        self.outage = False
        self.deleted = False
        self.requests: list[WebhookRequest] = []
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.rate_limit = rate_limit  # requests per window: another poster can take them all
        self._window = Window(rate_limit, per_seconds)
        self._blocked_until = 0.0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="discord-webhook", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/webhooks/{self.webhook_id}/{self.token}"

    def start(self) -> LocalDiscordWebhook:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def close(self) -> None:
        self.stop()

    def statuses(self) -> list[int]:
        with self._lock:
            return [request.status for request in self.requests]

    def embeds(self) -> list[dict[str, Any]]:
        with self._lock:
            return [embed for message in self.messages for embed in message.get("embeds") or []]

    def _answer(self, path: str, query: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        now = time.monotonic()
        with self._lock:
            early = now < self._blocked_until
            status, headers, reply, payload = self._decide(path, query, body, now)
            self.requests.append(WebhookRequest(at=now, status=status, payload=payload, early=early))
        if status in (200, 204) and payload is not None and self.on_message is not None:
            self.on_message(payload)
        return status, headers, reply

    def _decide(
        self, path: str, query: str, body: bytes, now: float
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any] | None]:
        if path != f"/api/webhooks/{self.webhook_id}/{self.token}" or self.deleted:
            return 404, {}, _json({"message": "Unknown Webhook", "code": 10015}), None
        if self.outage:
            return 503, {}, b"upstream connect error", None
        bucket = f"webhook-{self.webhook_id}"
        if not self._window.take(now):
            answer = limited(self._window, bucket, now, scope="shared")
            self._blocked_until = max(self._blocked_until, now + self._window.reset_after(now))
            return 429, answer.headers, _json(answer.body), None
        headers = self._window.headers(bucket, now)
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return (
                400,
                headers,
                _json({"message": "The request body contains invalid JSON.", "code": 50109}),
                None,
            )
        problems = limit_violations(payload)
        if problems:
            return (
                400,
                headers,
                _json({"message": "Invalid Form Body", "code": 50035, "errors": problems}),
                None,
            )
        self.messages.append(payload)
        if "wait=true" in query:
            message = {"id": str(len(self.messages)), "webhook_id": self.webhook_id, **payload}
            return 200, headers, _json(message), payload
        return 204, headers, b"", payload

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, reply = webhook._answer(path, query, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if reply:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the request log would print the token in every path."""

        return Handler


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
