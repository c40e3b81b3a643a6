"""absturz against the real broker and the local Discord webhook: delivered, within limits, never lost."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from franz import contracts
from franz.contracts.discord import limit_violations
from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.kafka import committed_total
from franz.runtime.clients import new_producer
from tests.helpers import ServiceProcess, wait_until


@dataclass
class Alerting:
    bootstrap: str
    errors: str
    dlq: str
    group: str
    webhook: LocalDiscordWebhook
    log_dir: Path
    started: list[ServiceProcess] = field(default_factory=list)

    def start(self, **env: str) -> ServiceProcess:
        service = ServiceProcess(
            "absturz",
            env={
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "KAFKA_TOPICS": f"{self.errors},{self.dlq}",
                "CONSUMER_GROUP": self.group,
                "DISCORD_WEBHOOK_URL": self.webhook.url,
                "ALERT_BATCH_WINDOW_SECONDS": "0.5",
                **env,
            },
            log_dir=self.log_dir,
        )
        service.start()
        self.started.append(service)
        return service

    def produce(self, topic: str, values: list[bytes]) -> None:
        producer = new_producer(self.bootstrap, client_id="test-alerts")
        for value in values:
            producer.send(topic, value=value)
        producer.flush()
        producer.close()

    def committed(self) -> int:
        return committed_total(self.bootstrap, self.group)

    def delivered_offsets(self) -> list[tuple[str, int]]:
        """(topic, offset) of every alert Discord accepted, one entry per occurrence."""
        found = []
        for embed in self.webhook.embeds():
            fields = {f["name"]: f["value"] for f in embed.get("fields", [])}
            topic, _, offset = fields["Record"].split(" ")[0].replace("\\_", "_").split("/")
            count = int(fields.get("Occurrences", "1 ").split(" ")[0])
            found += [(topic, int(offset))] * count
        return found


def delivered_errors(alerting: Alerting) -> set[str]:
    return {
        next(f["value"] for f in embed["fields"] if f["name"] == "Error")
        for embed in alerting.webhook.embeds()
    }


@pytest.fixture
def alerting(bootstrap: str, new_topic: Callable[..., str], tmp_path: Path) -> Iterator[Alerting]:
    with LocalDiscordWebhook(rate_limit=5, per_seconds=2.0) as webhook:
        line = Alerting(
            bootstrap=bootstrap,
            errors=new_topic("errors"),
            dlq=new_topic("dlq", partitions=2),
            group=f"absturz-{uuid.uuid4().hex[:8]}",
            webhook=webhook,
            log_dir=tmp_path,
        )
        yield line
        for service in line.started:
            service.kill()
        for service in line.started:
            assert webhook.token not in service.log_path.read_text(), "the webhook token leaked into the logs"


def letter(i: int, *, error: str | None = None, raw: bytes = b'{"username": "x"}') -> bytes:
    return contracts.encode(
        contracts.dead_letter(
            error=contracts.ContractError("validation_error", error or f"problem {i}"),
            value=raw,
            service="aufbereitung",
            source={"topic": "discordMSG", "partition": 0, "offset": i, "key": None, "timestamp": 1},
        )
    )


def test_a_thousand_alerts_under_the_rate_limit_all_arrive_without_400s_or_early_requests(
    alerting: Alerting,
) -> None:
    # 200 distinct errors, five occurrences each: collapsing and packing turn 1000 alerts into ~20 requests.
    alerting.produce(alerting.dlq, [letter(i, error=f"problem {i % 200}") for i in range(1000)])
    alerting.start()
    wait_until(lambda: alerting.committed() == 1000, timeout=120)
    delivered = alerting.delivered_offsets()
    assert len(delivered) == 1000
    statuses = alerting.webhook.statuses()
    assert 400 not in statuses
    assert not [request for request in alerting.webhook.requests if request.early]
    assert statuses.count(204) == len(alerting.webhook.messages)
    print(f"1000 alerts in {statuses.count(204)} accepted requests; {statuses.count(429)} answered 429")


def test_hostile_payloads_render_within_discords_limits(alerting: Alerting) -> None:
    hostile = [
        letter(0, raw=("x" * 70_000).encode()),
        letter(1, raw="ünïcödé 😀 ✓ 日本語 \u202e reversed".encode()),
        letter(2, error="@everyone @here <@123456> <@&42>", raw=b"@everyone"),
        letter(3, error="```", raw=b"```\n```js\nboom\n```"),
        letter(4, raw=b"\xff\xfe\x00binary"),
        contracts.encode(
            {
                "service": "s" * 500,
                "severity": "error",
                "error_type": "t" * 500,
                "message": "m" * 5000,
                "time": "not a time",
                "context": {"k" * 300: "v" * 9000},
            }
        ),
    ]
    alerting.produce(alerting.dlq, hostile[:5])
    alerting.produce(alerting.errors, hostile[5:])
    alerting.start()
    wait_until(lambda: alerting.committed() == 6, timeout=60)
    assert 400 not in alerting.webhook.statuses()
    for message in alerting.webhook.messages:
        assert limit_violations(message) == []
        assert message["allowed_mentions"] == {"parse": []}
    descriptions = [embed["description"] for embed in alerting.webhook.embeds()]
    assert len(descriptions) == 6
    for description in descriptions:
        assert description.count("```") == 2


def test_a_deleted_webhook_stops_posting_fails_readiness_and_commits_nothing(alerting: Alerting) -> None:
    alerting.webhook.deleted = True
    service = alerting.start()
    alerting.produce(alerting.dlq, [letter(i) for i in range(10)])
    wait_until(lambda: service.metric("franz_webhook_disabled") == 1, timeout=60)
    time.sleep(3)  # several retry rounds of the loop: none may reach Discord again
    assert alerting.webhook.statuses() == [404]
    assert service.get("/readyz")[0] == 503
    assert alerting.committed() == 0
    log = service.log_path.read_text()
    assert alerting.webhook.webhook_id in log
    assert "webhook disabled" in log


@pytest.mark.slow
def test_thirty_seconds_of_outage_then_everything_arrives(alerting: Alerting) -> None:
    alerting.webhook.outage = True
    service = alerting.start()
    service.wait_until_ready()
    alerting.produce(alerting.dlq, [letter(i) for i in range(40)])
    time.sleep(30)  # the outage itself lasts 30 s: this is the scenario, not a wait for a condition
    assert alerting.committed() == 0, "nothing is committed while Discord is down"
    assert alerting.webhook.embeds() == []
    alerting.webhook.outage = False
    wait_until(lambda: alerting.committed() == 40, timeout=120)
    assert delivered_errors(alerting) == {f"problem {i}" for i in range(40)}
    assert 503 in alerting.webhook.statuses()


@pytest.mark.slow
def test_kill_9_mid_batch_loses_nothing(alerting: Alerting) -> None:
    total = 300
    alerting.produce(alerting.dlq, [letter(i) for i in range(total)])
    first = alerting.start()
    wait_until(lambda: len(alerting.webhook.messages) >= 3, timeout=60)
    first.kill()
    alerting.start()
    wait_until(lambda: alerting.committed() == total, timeout=180)
    assert delivered_errors(alerting) == {f"problem {i}" for i in range(total)}


def test_redaction_of_the_token_in_the_service_log(alerting: Alerting) -> None:
    service = alerting.start(LOG_LEVEL="DEBUG")
    alerting.produce(alerting.errors, [letter(1)])
    wait_until(lambda: alerting.committed() == 1, timeout=60)
    service.stop()
    text = service.log_path.read_text()
    assert alerting.webhook.token not in text
    assert not re.search(r"/webhooks/\d+/(?!\[redacted\])", text)
