"""The Discord webhook edge: one POST at a time, within the rate limit Discord announces.

Before a request it honours the bucket the last response announced (`X-RateLimit-Remaining` 0 →
wait `X-RateLimit-Reset-After`); on 429 it waits the body's `retry_after`; on 5xx, timeouts and refused
connections it backs off exponentially within a retry budget. 401/403/404 mean the webhook is gone:
posting stops (no request is sent again, so no invalid-request ban builds up) until the process restarts
with a fixed URL. The URL's token never leaves this module: errors and logs name the webhook id only.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import requests

from franz.absturz import metrics
from franz.absturz.exceptions import Stopping, WebhookGone, WebhookRejected, WebhookUnavailable
from franz.runtime.errors import ErrorReporter
from franz.runtime.secrets import Secret
from franz.runtime.wait import Backoff

log = logging.getLogger(__name__)

_WEBHOOK_ID = re.compile(r"/webhooks/(\d+)/")


class DiscordWebhook:
    def __init__(
        self,
        url: Secret,
        *,
        stop: threading.Event,
        timeout: float = 10.0,
        retry_budget: float = 60.0,
        max_backoff: float = 30.0,
        session: requests.Session | None = None,
        reporter: ErrorReporter | None = None,
    ) -> None:
        self._url = url
        self._reporter = reporter
        self._stop = stop
        self.timeout = timeout
        self.retry_budget = retry_budget
        self.max_backoff = max_backoff
        self._session = session or requests.Session()
        self._bucket_empty_until = 0.0
        self.disabled_reason: str | None = None
        match = _WEBHOOK_ID.search(url.reveal())
        self.webhook_id = match.group(1) if match else "unknown"

    @property
    def disabled(self) -> bool:
        return self.disabled_reason is not None

    def post(self, payload: dict[str, Any]) -> None:
        """Deliver one message or raise; returns only once Discord accepted it."""
        if self.disabled_reason is not None:
            raise WebhookGone(self.disabled_reason)
        deadline = time.monotonic() + self.retry_budget
        backoff = Backoff(1.0, self.max_backoff)
        while True:
            self._wait(self._bucket_empty_until - time.monotonic(), reason="bucket")
            try:
                response = self._session.post(self._url.reveal(), json=payload, timeout=self.timeout)
            except requests.RequestException as error:
                # requests puts the URL's path (with the token) into its messages: keep only the class.
                status = "timeout" if isinstance(error, requests.Timeout) else "connection_error"
                metrics.WEBHOOK_REQUESTS.labels(status).inc()
                self._back_off(backoff, deadline, f"{status} ({type(error).__name__})")
                continue
            metrics.WEBHOOK_REQUESTS.labels(str(response.status_code)).inc()
            self._remember_bucket(response.headers)
            if response.ok:
                return
            if response.status_code == 429:
                self._wait(_retry_after(response), reason="429")
                continue
            if response.status_code in (401, 403, 404):
                self._disable(response.status_code)
            if response.status_code == 400:
                raise WebhookRejected(f"Discord refused the message (400): {_discord_message(response)}")
            self._back_off(backoff, deadline, f"HTTP {response.status_code}")

    def _remember_bucket(self, headers: Any) -> None:
        remaining, reset_after = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset-After")
        if remaining is not None and reset_after is not None and int(remaining) == 0:
            self._bucket_empty_until = time.monotonic() + float(reset_after)

    def _disable(self, status: int) -> None:
        self.disabled_reason = (
            f"Discord answered {status} for webhook {self.webhook_id}: it was deleted or its token is wrong. "
            "Posting has stopped and no offsets are committed; fix DISCORD_WEBHOOK_URL and restart absturz."
        )
        metrics.WEBHOOK_DISABLED.set(1)
        log.error("webhook disabled", extra={"webhook_id": self.webhook_id, "status": status})
        if self._reporter is not None:
            # Discord cannot carry this one; the errors topic keeps it for `franz tail` and other absturz.
            self._reporter.report(
                "webhook_disabled",
                self.disabled_reason,
                incident=self.webhook_id,
                severity="critical",
                context={"webhook_id": self.webhook_id, "status": status},
            )
        raise WebhookGone(self.disabled_reason)

    def _back_off(self, backoff: Backoff, deadline: float, what: str) -> None:
        delay = backoff.next_delay()
        if time.monotonic() + delay > deadline:
            raise WebhookUnavailable(
                f"webhook {self.webhook_id} kept failing for {self.retry_budget:.0f}s (last: {what})"
            )
        log.warning(
            "webhook request failed; retrying",
            extra={"webhook_id": self.webhook_id, "failure": what, "retry_in_seconds": delay},
        )
        self._wait(delay, reason=None)

    def _wait(self, seconds: float, *, reason: str | None) -> None:
        if seconds <= 0:
            return
        if reason is not None:
            metrics.RATE_LIMIT_WAITS.labels(reason).inc()
            metrics.RATE_LIMIT_WAIT_SECONDS.inc(seconds)
        if self._stop.wait(seconds):
            raise Stopping("stopping while waiting for Discord")


def _retry_after(response: requests.Response) -> float:
    try:
        return float(response.json()["retry_after"])
    except (ValueError, KeyError, TypeError):
        return float(response.headers.get("Retry-After") or 1.0)


def _discord_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return f"{body.get('message')} {body.get('errors', '')}"[:500]
