"""The dev stack's real Prometheus: it scrapes a real service and loads the chart's alerts, scaled down."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from franz.devstack.exceptions import StartError
from franz.devstack.kafka import LocalKafka, ensure_topics
from franz.devstack.prometheus import RULES_FILE, LocalPrometheus, duration_seconds
from tests.conftest import TEST_FOR_DIVISOR
from tests.helpers import ServiceProcess, wait_until


def test_prometheus_scrapes_a_running_service(
    kafka: LocalKafka, prometheus: LocalPrometheus, tmp_path: Path
) -> None:
    source, target = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("in", "out"))
    ensure_topics(kafka.bootstrap, [source, target, f"{target}-dlq"])
    service = ServiceProcess(
        "aufbereitung",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "SOURCE_TOPIC": source,
            "TARGET_TOPIC": target,
            "DLQ_TOPIC": f"{target}-dlq",
            "GROUP_ID": f"g-{uuid.uuid4().hex[:8]}",
        },
        log_dir=tmp_path,
    )
    service.start()
    name = f"aufbereitung-{uuid.uuid4().hex[:8]}"
    try:
        service.wait_until_ready()
        prometheus.scrape(name, [f"127.0.0.1:{service.metrics_port}"])

        def scraped() -> bool:
            # Before any traffic: the dead-letter series exists at 0 (initialised at start).
            instance = f'instance="127.0.0.1:{service.metrics_port}"'
            return bool(prometheus.query(f'up{{service="{name}", {instance}}} == 1')) and bool(
                prometheus.query(
                    f'franz_records_total{{service="aufbereitung", namespace="local", {instance},'
                    f' topic="{target}-dlq", outcome="dlq_json_decode_error"}} == 0'
                )
            )

        wait_until(scraped, timeout=60)
    finally:
        prometheus.scrape(name, [])
        service.stop()


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
