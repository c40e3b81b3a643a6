"""The dev stack's real Prometheus: it scrapes real services and loads the chart's alerts, scaled down;
each of the ten alerts fires, as Prometheus reports it, in its own real fault, and none is ever pending
or firing in a healthy run. Each test's services are scraped in a namespace of its own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from franz import contracts
from franz.devstack.discord_api import DiscordApiThread, LocalDiscordApi
from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.exceptions import StartError
from franz.devstack.kafka import LocalKafka, ensure_topics
from franz.devstack.kube import LocalControlPlane
from franz.devstack.prometheus import RULES_FILE, LocalPrometheus, duration_seconds
from franz.runtime.clients import new_producer
from franz_operator.constants import PLURAL
from franz_operator.kube import Kube
from franz_operator.rbac import CLUSTER_RULES
from tests.conftest import TEST_FOR_DIVISOR
from tests.helpers import (
    NAMESPACE,
    ServiceProcess,
    exhaust_bucket,
    pipeline_env,
    service_account_kubeconfig,
    start_scraped,
    wait_until,
)
from tests.integration.test_kummerkasten import GUILD_ID, interaction, slash
from tests.integration.test_operator import admin_spec, create_pipeline, secret, wait_condition

BOT_TOKEN = "prometheus-test-token"  # the Discord emulator's bot token
# Prometheus's answer takes a few scrape and evaluation rounds (1 s each) plus the scaled `for:`.
ALERT_DEADLINE = 120.0
VALID = json.dumps({"username": "alice", "message": "help", "timestamp": "2026-11-21T10:00:00.000Z"}).encode()


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

    def wait_firing(self, alert: str, **labels: str) -> None:
        """Until Prometheus reports `alert` firing for this test's namespace (and `labels`)."""
        wait_until(lambda: self.firing(alert, **labels), timeout=ALERT_DEADLINE, interval=0.5)


def _scraped_by(prometheus: LocalPrometheus, log_dir: Path) -> Iterator[Scraped]:
    services = Scraped(prometheus, log_dir)
    yield services
    for name, process in services.started:
        prometheus.scrape(name, [])
        process.kill()


@pytest.fixture
def scraped(prometheus: LocalPrometheus, tmp_path: Path) -> Iterator[Scraped]:
    yield from _scraped_by(prometheus, tmp_path)


@pytest.fixture(scope="module")
def scaled_prometheus() -> Iterator[LocalPrometheus]:
    """A Prometheus whose alerts' windows are scaled down like their waits: FranzConsumerStalled's
    10 minutes without a commit become 10 s. The session's keeps the windows as shipped, which the
    failure alerts need: a service retrying with backoff fails less often than every few seconds."""
    with LocalPrometheus(for_divisor=TEST_FOR_DIVISOR, window_divisor=TEST_FOR_DIVISOR) as server:
        yield server


@pytest.fixture
def scaled(scaled_prometheus: LocalPrometheus, tmp_path: Path) -> Iterator[Scraped]:
    yield from _scraped_by(scaled_prometheus, tmp_path)


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
    scraped.wait_firing("FranzDeadLettersGrowing", topic=normaliser.dlq, outcome="dlq_json_decode_error")


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
        scraped.wait_firing(alert)


def test_batches_failing_fires_while_the_output_topic_is_missing(
    kafka: LocalKafka, prometheus: LocalPrometheus, scraped: Scraped
) -> None:
    normaliser = _aufbereitung(kafka, scraped, target_exists=False)
    _produce(kafka.bootstrap, normaliser.source, [VALID])
    scraped.wait_firing("FranzBatchesFailing", service="aufbereitung", error="KafkaTimeoutError")


def test_consumer_stalled_fires_while_records_wait_and_nothing_is_committed(
    kafka: LocalKafka, scaled: Scraped
) -> None:
    # More than a batch (500) waits, so the position stays behind the end even right after a poll; the
    # missing output topic fails every batch, so the service commits nothing from its start on.
    normaliser = _aufbereitung(kafka, scaled, target_exists=False)
    _produce(kafka.bootstrap, normaliser.source, [VALID] * 800)
    scaled.wait_firing("FranzConsumerStalled", service="aufbereitung")


def test_consumer_lag_high_fires_while_records_pile_up_behind_a_consumer(
    kafka: LocalKafka, scraped: Scraped
) -> None:
    normaliser = _aufbereitung(kafka, scraped, target_exists=False)
    _produce(kafka.bootstrap, normaliser.source, [VALID] * 2000)
    scraped.wait_firing("FranzConsumerLagHigh", service="aufbereitung", topic=normaliser.source)


def test_alerts_piling_fires_while_discords_rate_limit_holds_them_back(
    kafka: LocalKafka, scraped: Scraped
) -> None:
    # The webhook's bucket is spent by another poster for five minutes: absturz gets 429s and waits.
    with LocalDiscordWebhook(rate_limit=1, per_seconds=300) as webhook:
        exhaust_bucket(webhook)
        _alerting(kafka, scraped, webhook)
        scraped.wait_firing("FranzAlertsPiling")
        assert 429 in webhook.statuses()
        assert not scraped.firing("FranzWebhookFailing"), "429s are waits, not failures"


def test_tickets_failing_fires_while_the_bot_cannot_publish(scraped: Scraped, tmp_path: Path) -> None:
    topics = {name: f"{name}-{uuid.uuid4().hex[:8]}" for name in ("intake", "commands", "events", "state")}
    with (
        LocalKafka(data_dir=tmp_path / "kafka") as broker,
        DiscordApiThread(LocalDiscordApi(token=BOT_TOKEN, guild_ids=[GUILD_ID])) as emulator,
    ):
        ensure_topics(broker.bootstrap, topics.values())
        bot = scraped(
            "kummerkasten",
            KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
            DISCORD_TOKEN=BOT_TOKEN,
            DISCORD_API_BASE=emulator.base,
            DISCORD_GUILD_ID=str(GUILD_ID),
            KAFKA_TOPIC=topics["intake"],
            COMMANDS_TOPIC=topics["commands"],
            EVENTS_TOPIC=topics["events"],
            STATE_TOPIC=topics["state"],
            KUMMERKASTEN_GROUP_ID=f"bot-{uuid.uuid4().hex[:8]}",
        )
        emulator.wait_until_connected(timeout=120)
        broker.stop()  # the broker goes away; the next ticket is not acknowledged
        application_id = emulator.read(lambda api: api.application_id)
        emulator.dispatch_interaction(interaction(slash("Printer on fire"), application_id=application_id))
        scraped.wait_firing("FranzTicketsFailing")
        bot.kill()  # before the emulator stops: it waits for the bot's gateway connection to close


def _operator(scraped: Scraped, kube: Kube, kubeconfig: Path) -> str:
    """The operator for the Kubernetes namespace named as the test's Prometheus namespace; returns it."""
    kube.create(
        NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scraped.namespace}}
    )
    scraped(
        "operator",
        KUBECONFIG=str(kubeconfig),
        OPERATOR_NAMESPACES=scraped.namespace,
        OPERATOR_RESYNC_SECONDS="2",
    )
    return scraped.namespace


def test_operator_reconcile_errors_fire_while_it_may_not_write_pipeline_status(
    kafka: LocalKafka,
    kube: Kube,
    control_plane: LocalControlPlane,
    kubectl: Path,
    scraped: Scraped,
    tmp_path: Path,
) -> None:
    # An operator whose ClusterRole lacks `franzpipelines/status` (a chart older than the operator):
    # every reconciliation does its work, then fails to write the pipeline's status.
    rules = [rule for rule in CLUSTER_RULES if rule["resources"] != [f"{PLURAL}/status"]]
    kubeconfig = service_account_kubeconfig(kube, control_plane, kubectl, tmp_path, rules=rules)
    namespace = _operator(scraped, kube, kubeconfig)
    create_pipeline(kube, namespace, admin_spec(kafka.bootstrap, f"op-{uuid.uuid4().hex[:8]}"))
    scraped.wait_firing("FranzOperatorReconcileErrors")


def test_pipeline_not_ready_fires_while_its_secret_is_missing(
    kafka: LocalKafka, kube: Kube, control_plane: LocalControlPlane, scraped: Scraped
) -> None:
    namespace = _operator(scraped, kube, control_plane.kubeconfig)
    missing = {"discordWebhook": {"name": "never-created", "key": "url"}}
    create_pipeline(
        kube, namespace, admin_spec(kafka.bootstrap, f"op-{uuid.uuid4().hex[:8]}", secrets=missing)
    )
    scraped.wait_firing("FranzPipelineNotReady")


def test_no_alert_is_ever_pending_or_firing_in_a_healthy_run(
    kafka: LocalKafka, kube: Kube, control_plane: LocalControlPlane, scaled: Scraped
) -> None:
    """The whole pipeline, healthy, under the scaled windows (so FranzConsumerStalled's 10 s without a
    commit pass too): tickets flow, one broken record is reported to Discord; no alert ever activates."""
    prometheus = scaled.prometheus
    started = time.time()
    namespace = _operator(scaled, kube, control_plane.kubeconfig)
    with LocalDiscordWebhook() as webhook:
        secret(kube, namespace, "discord-webhook", {"url": webhook.url})
        prefix = f"ok-{uuid.uuid4().hex[:8]}"
        spec = admin_spec(
            kafka.bootstrap, prefix, secrets={"discordWebhook": {"name": "discord-webhook", "key": "url"}}
        )
        create_pipeline(kube, namespace, spec, name=prefix)
        wait_condition(kube, namespace, prefix, "Ready", "True", timeout=90)
        topics = {role: topic["name"] for role, topic in spec["topics"].items()}
        env = pipeline_env(kafka.bootstrap, topics, group_prefix=prefix)
        for service in ("aufbereitung", "sachbearbeiter"):
            scaled(service, **env[service])
        scaled("absturz", **env["absturz"], DISCORD_WEBHOOK_URL=webhook.url)
        _produce(kafka.bootstrap, topics["intake"], [VALID] * 50 + [b"{this is not json"])
        created = f'sum(franz_tickets_created_total{{namespace="{namespace}"}}) >= 50'
        wait_until(lambda: prometheus.query(created), timeout=90)
        wait_until(lambda: webhook.embeds(), timeout=60)
        # Quiet for longer than the longest scaled window (15 s), as Prometheus has seen it.
        done = time.time()
        wait_until(
            lambda: prometheus.query(f'min(timestamp(up{{namespace="{namespace}"}})) > {done + 16}'),
            timeout=60,
        )
    active = prometheus.query_range(
        f'ALERTS{{namespace="{namespace}"}}', start=started, end=time.time(), step=1
    )
    assert [series["metric"] for series in active] == []
