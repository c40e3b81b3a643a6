"""Operational errors on the real broker: each source reports one event per incident (repeats as a count),
and absturz delivers it to the local Discord webhook with what to do about it."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.kafka import committed_total, ensure_topics
from franz.kummerkasten.publisher import IntakePublisher
from franz.runtime.clients import new_producer
from franz.runtime.errors import error_reporter
from franz.runtime.exceptions import PublishError
from franz.runtime.loop import KafkaLoop, LoopConfig, Stage
from franz_operator.alerts import PipelineAlerts
from franz_operator.builders import Condition
from franz_operator.pipeline import from_body
from tests.helpers import ServiceProcess, read_topic, wait_until

Events = list[dict[str, Any]]


def error_events(bootstrap: str, topic: str, *, expected: int) -> Events:
    return [json.loads(record.value) for record in read_topic(bootstrap, topic, expected=expected)]


@pytest.fixture
def in_discord(bootstrap: str, tmp_path: Path) -> Callable[[str, int], list[dict[str, Any]]]:
    """Runs absturz over an errors topic until it committed `records`; the embeds the webhook received."""

    def deliver(topic: str, records: int) -> list[dict[str, Any]]:
        group = f"absturz-{uuid.uuid4().hex[:8]}"
        with LocalDiscordWebhook() as webhook:
            absturz = ServiceProcess(
                "absturz",
                env={
                    "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                    "KAFKA_TOPICS": topic,
                    "CONSUMER_GROUP": group,
                    "DISCORD_WEBHOOK_URL": webhook.url,
                    "ALERT_BATCH_WINDOW_SECONDS": "0.2",
                },
                log_dir=tmp_path,
            )
            absturz.start()
            try:
                wait_until(lambda: committed_total(bootstrap, group) == records, timeout=90)
            finally:
                absturz.stop()
            for embed in webhook.embeds():  # what the closing note shows: the alert as Discord has it
                print(json.dumps(embed, indent=2, ensure_ascii=False))
            return webhook.embeds()

    return deliver


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"].replace("\\", "") for field in embed["fields"]}


class AlwaysFailing(Stage):
    """A stage whose side effect never succeeds, as when its output topic is gone."""

    def __init__(self) -> None:
        self.attempts = 0

    def deliver(self, records: Sequence[ConsumerRecord]) -> None:
        self.attempts += 1
        raise RuntimeError("the output topic is gone")


def test_a_batch_that_keeps_failing_is_one_event_with_its_coordinates_and_its_repeats_one_count(
    bootstrap: str, new_topic: Callable[..., str], in_discord: Callable[[str, int], list[dict[str, Any]]]
) -> None:
    source, errors = new_topic("stuck"), new_topic("errors")
    new_producer(bootstrap, client_id="test").send(source, value=b"{}").get(30)
    stage = AlwaysFailing()
    config = LoopConfig(
        service="aufbereitung",
        bootstrap=bootstrap,
        group_id=f"stuck-{uuid.uuid4().hex[:8]}",
        topics=(source,),
        retry_initial_seconds=0.05,
        retry_max_seconds=0.05,
    )
    reporter = error_reporter("aufbereitung", bootstrap=bootstrap, topic=errors)
    loop = KafkaLoop(config, stage, reporter=reporter)
    running = threading.Thread(target=loop.run, daemon=True)
    running.start()
    [first] = error_events(bootstrap, errors, expected=1)
    wait_until(lambda: stage.attempts >= 10)
    loop.stop()
    running.join(30)

    events = error_events(bootstrap, errors, expected=2)
    assert len(events) == 2, "the first report at once, every repeat in the one event the stop sends"
    assert first["error_type"] == "batch_failing"
    assert first["count"] == 1
    assert first["context"]["first_offsets"] == {f"{source}/0": 0}
    assert first["context"]["attempts"] == config.report_after_failures
    assert "RuntimeError: the output topic is gone" in first["message"]
    assert events[1]["count"] == stage.attempts - config.report_after_failures

    [embed] = in_discord(errors, 2)
    assert (
        fields(embed)["Occurrences"]
        == f"{stage.attempts - config.report_after_failures + 1} identical alerts"
    )
    assert fields(embed)["What to do"].startswith("The service retries these records")


def test_a_deleted_webhook_is_reported_once_and_the_batches_failing_on_it_are_not(
    bootstrap: str,
    new_topic: Callable[..., str],
    tmp_path: Path,
    in_discord: Callable[[str, int], list[dict[str, Any]]],
) -> None:
    alerts, errors = new_topic("alerts"), new_topic("errors")
    new_producer(bootstrap, client_id="test").send(alerts, value=b"something broke").get(30)
    with LocalDiscordWebhook() as webhook:
        webhook.deleted = True
        absturz = ServiceProcess(
            "absturz",
            env={
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "KAFKA_TOPICS": alerts,
                "ERRORS_TOPIC": errors,
                "CONSUMER_GROUP": f"absturz-{uuid.uuid4().hex[:8]}",
                "DISCORD_WEBHOOK_URL": webhook.url,
                "ALERT_BATCH_WINDOW_SECONDS": "0.2",
            },
            log_dir=tmp_path,
        )
        absturz.start()
        try:
            wait_until(
                lambda: absturz.metric("franz_batch_failures_total", error="WebhookGone") >= 5, timeout=120
            )
            assert absturz.metric("franz_webhook_disabled") == 1
        finally:
            absturz.stop()
        assert webhook.token not in absturz.log_path.read_text()

    [event] = error_events(bootstrap, errors, expected=1)
    assert (event["service"], event["error_type"], event["severity"]) == (
        "absturz",
        "webhook_disabled",
        "critical",
    )
    assert event["count"] == 1
    assert "fix DISCORD_WEBHOOK_URL" in event["message"]
    assert webhook.token not in json.dumps(event)

    [embed] = in_discord(errors, 1)
    assert "Create a new one in the channel's settings" in fields(embed)["What to do"]


def test_tickets_the_bot_cannot_publish_are_one_event_and_a_count(
    bootstrap: str, new_topic: Callable[..., str], in_discord: Callable[[str, int], list[dict[str, Any]]]
) -> None:
    errors, missing = new_topic("errors"), f"intake-{uuid.uuid4().hex[:8]}"  # a topic nobody created
    reporter = error_reporter("kummerkasten", bootstrap=bootstrap, topic=errors)
    publisher = IntakePublisher(bootstrap, missing, ack_timeout=2.0, reporter=reporter)
    intake = contracts.new_raw_intake(username="alice", message="VPN drops", source_id="discord:1")
    try:
        for _ in range(3):
            with pytest.raises(PublishError):
                asyncio.run(publisher.publish(intake))
    finally:
        publisher.close()
        reporter.close()

    events = error_events(bootstrap, errors, expected=2)
    assert [(event["error_type"], event["count"]) for event in events] == [
        ("publish_failed", 1),
        ("publish_failed", 2),
    ]
    assert events[0]["context"]["topic"] == missing
    assert "VPN drops" not in json.dumps(events), "ticket bodies never reach the errors topic"

    [embed] = in_discord(errors, 2)
    assert fields(embed)["Occurrences"] == "3 identical alerts"


def test_sachbearbeiter_refusing_to_start_says_why_on_the_errors_topic(
    bootstrap: str,
    new_topic: Callable[..., str],
    tmp_path: Path,
    in_discord: Callable[[str, int], list[dict[str, Any]]],
) -> None:
    errors = new_topic("errors")
    names = {role: f"{role}-{uuid.uuid4().hex[:8]}" for role in ("formatted", "commands", "events", "state")}
    ensure_topics(bootstrap, [names["formatted"]], partitions=3)
    ensure_topics(bootstrap, [names["commands"], names["events"], names["state"]], partitions=2)
    service = ServiceProcess(
        "sachbearbeiter",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "ERRORS_TOPIC": errors,
            "FORMATTED_TOPIC": names["formatted"],
            "COMMANDS_TOPIC": names["commands"],
            "EVENTS_TOPIC": names["events"],
            "STATE_TOPIC": names["state"],
        },
        log_dir=tmp_path,
    )
    service.start()
    assert service.wait(60) == 2

    [event] = error_events(bootstrap, errors, expected=1)
    assert (event["error_type"], event["severity"], event["count"]) == ("startup_refused", "critical", 1)
    assert "need the same number of partitions" in event["message"]

    [embed] = in_discord(errors, 1)
    assert fields(embed)["What to do"].startswith("The service stays down until this is fixed")


def test_a_pipeline_condition_turning_false_goes_to_that_pipelines_errors_topic_once(
    bootstrap: str, new_topic: Callable[..., str], in_discord: Callable[[str, int], list[dict[str, Any]]]
) -> None:
    errors = new_topic("errors")
    pipeline = from_body(
        {
            "metadata": {"name": "tickets", "namespace": "team", "uid": "u-1", "generation": 3},
            "spec": {
                "kafka": {"bootstrapServers": bootstrap, "topicBackend": "admin"},
                "topics": {"errors": {"name": errors}},
            },
        }
    )
    alerts = PipelineAlerts()
    missing = Condition("SecretsReady", "False", "SecretMissing", "Secret team/hook does not exist")
    try:
        alerts.not_ready(pipeline, missing)
        alerts.not_ready(pipeline, Condition("Ready", "False", "SecretMissing", "SecretsReady: ..."))
        alerts.not_ready(pipeline, Condition("TopicsReady", "False", "KafkaUnreachable", "Kafka at …"))
    finally:
        alerts.close()

    [event] = error_events(bootstrap, errors, expected=1)
    assert (event["service"], event["error_type"]) == ("franz-operator", "pipeline_not_ready")
    assert event["message"] == (
        "FranzPipeline team/tickets: SecretsReady=False (SecretMissing): Secret team/hook does not exist"
    )
    assert event["context"] == {
        "pipeline": "team/tickets",
        "condition": "SecretsReady",
        "reason": "SecretMissing",
        "generation": 3,
    }

    [embed] = in_discord(errors, 1)
    assert "kubectl describe franzpipeline" in fields(embed)["What to do"]
