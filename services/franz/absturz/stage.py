"""absturz's stage of the shared loop: a batch of alert records becomes as few webhook requests as fit.

Offsets are committed only after Discord accepted every message of the batch. When a batch is retried,
records whose message Discord already accepted are skipped, so an outage in the middle of a batch does
not repeat the alerts before it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from kafka.consumer.fetcher import ConsumerRecord

from franz.absturz import metrics
from franz.absturz.core import AlertGroup, Message, collapse, pack, parse_alert, unrenderable
from franz.absturz.exceptions import WebhookGone, WebhookRejected
from franz.absturz.webhook import DiscordWebhook
from franz.runtime.loop import Stage

log = logging.getLogger(__name__)

Coordinates = tuple[str, int, int]


class AlertStage(Stage):
    def __init__(self, webhook: DiscordWebhook) -> None:
        self.webhook = webhook
        # Accepted by Discord while the batch is in hand: a retried batch does not post them again.
        self._delivered: set[Coordinates] = set()
        self._received: set[Coordinates] = set()

    def is_ready(self) -> bool:
        return not self.webhook.disabled

    def reportable(self, error: Exception) -> bool:
        """A disabled webhook reported itself once; every batch failing on it after that is no news."""
        return not isinstance(error, WebhookGone)

    def deliver(self, records: Sequence[ConsumerRecord]) -> None:
        fresh = [r for r in records if (r.topic, r.partition, r.offset) not in self._delivered]
        for record in fresh:
            if (record.topic, record.partition, record.offset) not in self._received:
                self._received.add((record.topic, record.partition, record.offset))
                metrics.ALERTS_RECEIVED.labels(record.topic).inc()
        metrics.ALERTS_PENDING.set(len(fresh))
        groups = collapse(parse_alert(record) for record in fresh)
        for group in groups:
            if group.count > 1:
                metrics.ALERTS_COLLAPSED.labels(group.first.topic).inc(group.count - 1)
        for message in pack(groups):
            self._send(message)

    def _send(self, message: Message) -> None:
        try:
            self.webhook.post(message.payload)
        except WebhookRejected as refusal:
            # Our rendering stays within every documented limit, so this is Discord disagreeing; one embed
            # at a time isolates the culprit, and the culprit is reported by its coordinates instead.
            if len(message.groups) > 1:
                for group in message.groups:
                    self._send(pack([group])[0])
                return
            log.error(
                "Discord refused an alert; sending its coordinates instead", extra={"reason": str(refusal)}
            )
            fallback = unrenderable(message.groups[0], "400 Bad Request")
            self.webhook.post(fallback.payload)
        self._accepted(message.groups)

    def _accepted(self, groups: Sequence[AlertGroup]) -> None:
        now = time.time()
        for group in groups:
            for alert in group.members:
                self._delivered.add((alert.topic, alert.partition, alert.offset))
                metrics.ALERTS_DELIVERED.labels(alert.topic).inc()
                metrics.ALERTS_PENDING.dec()
                if alert.record_timestamp_ms:
                    metrics.DELIVERY_SECONDS.observe(max(now - alert.record_timestamp_ms / 1000, 0.0))

    def completed(self) -> None:
        self._delivered.clear()
        self._received.clear()
