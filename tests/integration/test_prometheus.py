"""The dev stack's real Prometheus: it scrapes real services and loads the chart's alerts, scaled down;
each alert tested here fires, as Prometheus reports it, in its own real fault."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from franz import contracts
from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.exceptions import StartError
from franz.devstack.kafka import LocalKafka, ensure_topics
from franz.devstack.prometheus import RULES_FILE, LocalPrometheus, duration_seconds
from franz.runtime.clients import new_producer
from tests.conftest import TEST_FOR_DIVISOR
from tests.helpers import ServiceProcess, start_scraped, wait_until

# Prometheus's answer takes a few scrape and evaluation rounds (1 s each) plus the scaled `for:`.
ALERT_DEADLINE = 120.0


@dataclass
class Scraped:
    """Starts services that Prometheus scrapes in a namespace of this test's own, so no other test's
    services share its alerts' label sets; stopped and forgotten at the test's end."""

    prometheus: LocalPrometheus
    log_dir: Path
    namespace: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:8]}")
    started: list[tuple[str, ServiceProcess]] = field(default_factory=list)

    def __call__(self, service: str, **env: str) -> ServiceProcess:
        name, process = start_scraped(
            self.prometheus, service, env=env, log_dir=self.log_dir, namespace=self.namespace
        )
        self.started.append((name, process))
        return process

    def firing(self, alert: str, **labels: str) -> bool:
        return self.prometheus.firing(alert, namespace=self.namespace, **labels)


@pytest.fixture
def scraped(prometheus: LocalPrometheus, tmp_path: Path) -> Iterator[Scraped]:
    services = Scraped(prometheus, tmp_path)
    yield services
    for name, process in services.started:
        prometheus.scrape(name, [])
        process.kill()


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = new_producer(bootstrap, client_id="test-prometheus")
    for value in values:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()


def _letter(index: int) -> bytes:
    return contracts.encode(
        contracts.dead_letter(
            error=contracts.ContractError("validation_error", f"problem {index}"),
            value=b'{"username": "x"}',
            service="aufbereitung",
            source={"topic": "discordMSG", "partition": 0, "offset": index, "key": None, "timestamp": 1},
        )
    )


@dataclass(frozen=True)
class Normaliser:
    source: str
    target: str
    dlq: str
    process: ServiceProcess


def _aufbereitung(kafka: LocalKafka, scraped: Scraped, *, target_exists: bool = True) -> Normaliser:
    """aufbereitung between fresh topics, scraped; without `target_exists` its output topic is missing."""
    source, target = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("in", "out"))
    dlq = f"{target}-dlq"
    ensure_topics(kafka.bootstrap, [source, dlq, *([target] if target_exists else [])])
    process = scraped(
        "aufbereitung",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        SOURCE_TOPIC=source,
        TARGET_TOPIC=target,
        DLQ_TOPIC=dlq,
        GROUP_ID=f"g-{uuid.uuid4().hex[:8]}",
    )
    return Normaliser(source, target, dlq, process)


def test_prometheus_scrapes_a_running_service(
    kafka: LocalKafka, prometheus: LocalPrometheus, scraped: Scraped
) -> None:
    normaliser = _aufbereitung(kafka, scraped)
    # Before any traffic, the service's own labels (honoured) and the series at 0 (initialised at start).
    instance = f"127.0.0.1:{normaliser.process.metrics_port}"
    zero = prometheus.query(
        f'franz_records_total{{service="aufbereitung", namespace="{scraped.namespace}",'
        f' instance="{instance}", topic="{normaliser.dlq}", outcome="dlq_json_decode_error"}} == 0'
    )
    assert len(zero) == 1


def test_the_charts_alerts_are_loaded_with_scaled_waits(prometheus: LocalPrometheus) -> None:
    shipped = {
        rule["alert"]: rule.get("for")
        for group in yaml.safe_load(RULES_FILE.read_text())["groups"]
        for rule in group["rules"]
    }
    assert set(prometheus.alert_states()) == set(shipped)
    loaded = {
        rule["name"]: rule["duration"]
        for group in prometheus.api("rules", type="alert")["groups"]
        for rule in group["rules"]
    }
    for alert, wait in shipped.items():
        expected = 0 if wait is None else max(1, round(duration_seconds(wait) / TEST_FOR_DIVISOR))
        assert loaded[alert] == expected, alert


def test_a_prometheus_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the TSDB's directory belongs")
    server = LocalPrometheus(data_dir=tmp_path)
    with pytest.raises(StartError, match=r"exited with code \d+ before it was ready(.|\n)*data"):
        server.start()


def test_dead_letters_growing_fires_when_invalid_records_pour_in(
    kafka: LocalKafka, prometheus: LocalPrometheus, scraped: Scraped
) -> None:
    normaliser = _aufbereitung(kafka, scraped)
    _produce(kafka.bootstrap, normaliser.source, [b"{this is not json"] * 30)
    wait_until(
        lambda: scraped.firing(
            "FranzDeadLettersGrowing", topic=normaliser.dlq, outcome="dlq_json_decode_error"
        ),
        timeout=ALERT_DEADLINE,
        interval=0.5,
    )


def _alerting(kafka: LocalKafka, scraped: Scraped, webhook: LocalDiscordWebhook) -> str:
    """absturz posting to `webhook`, with one dead letter waiting; returns the topic it reads."""
    dlq = f"dlq-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, [dlq])
    scraped(
        "absturz",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPICS=dlq,
        CONSUMER_GROUP=f"absturz-{uuid.uuid4().hex[:8]}",
        DISCORD_WEBHOOK_URL=webhook.url,
        ALERT_BATCH_WINDOW_SECONDS="0.5",
    )
    _produce(kafka.bootstrap, dlq, [_letter(0)])
    return dlq


@pytest.mark.parametrize(
    ("fault", "alert"),
    [("deleted", "FranzWebhookDisabled"), ("outage", "FranzWebhookFailing")],
    ids=["404-disables-the-webhook", "503s-fail-it"],
)
def test_a_webhook_alert_fires_while_discord_answers_with_its_fault(
    kafka: LocalKafka, prometheus: LocalPrometheus, scraped: Scraped, fault: str, alert: str
) -> None:
    with LocalDiscordWebhook() as webhook:
        setattr(webhook, fault, True)
        _alerting(kafka, scraped, webhook)
        wait_until(lambda: scraped.firing(alert), timeout=ALERT_DEADLINE, interval=0.5)


def test_batches_failing_fires_while_the_output_topic_is_missing(
    kafka: LocalKafka, prometheus: LocalPrometheus, scraped: Scraped
) -> None:
    normaliser = _aufbereitung(kafka, scraped, target_exists=False)
    valid = {"username": "alice", "message": "help", "timestamp": "2026-11-21T10:00:00.000Z"}
    _produce(kafka.bootstrap, normaliser.source, [json.dumps(valid).encode()])
    wait_until(
        lambda: scraped.firing("FranzBatchesFailing", service="aufbereitung", error="KafkaTimeoutError"),
        timeout=ALERT_DEADLINE,
        interval=0.5,
    )
