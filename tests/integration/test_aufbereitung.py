"""aufbereitung against the real broker: contracts, the DLQ, and nothing lost under kills and SIGTERM."""

from __future__ import annotations

import base64
import json
import signal
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from franz import contracts
from franz.devstack.kafka import LocalKafka, committed_total, ensure_topics
from franz.runtime.clients import new_producer
from tests.helpers import ServiceProcess, read_topic, wait_until

VALID = {"username": "alice", "message": "help", "timestamp": "2026-11-21T10:00:00.000Z"}


@dataclass
class Pipeline:
    bootstrap: str
    source: str
    target: str
    dlq: str
    group: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    started: list[ServiceProcess] = field(default_factory=list)

    def start(self, **env: str) -> ServiceProcess:
        service = ServiceProcess(
            "aufbereitung",
            env={
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "SOURCE_TOPIC": self.source,
                "TARGET_TOPIC": self.target,
                "DLQ_TOPIC": self.dlq,
                "GROUP_ID": self.group,
                **self.extra_env,
                **env,
            },
            log_dir=self.log_dir,
        )
        service.start()
        self.started.append(service)
        return service

    def produce(self, values: list[bytes], *, keys: list[bytes | None] | None = None) -> None:
        producer = new_producer(self.bootstrap, client_id="test-intake")
        for index, value in enumerate(values):
            producer.send(self.source, key=keys[index] if keys else None, value=value)
        producer.flush()
        producer.close()

    def committed(self) -> int:
        return committed_total(self.bootstrap, self.group)


@pytest.fixture
def pipeline(bootstrap: str, new_topic: Callable[..., str], tmp_path: Path) -> Iterator[Pipeline]:
    line = Pipeline(
        bootstrap=bootstrap,
        source=new_topic("intake", partitions=3),
        target=new_topic("formatted", partitions=3),
        dlq=new_topic("dlq"),
        group=f"aufbereitung-{uuid.uuid4().hex[:8]}",
        log_dir=tmp_path,
    )
    yield line
    for service in line.started:
        service.kill()


def intake(i: int) -> bytes:
    return contracts.encode({**VALID, "message": f"ticket {i}", "source_id": f"test:{i}"})


def test_formatted_ticket_round_trip(pipeline: Pipeline) -> None:
    record = {
        **VALID,
        "username": "  Zoë\u0007 ",
        "message": "Cafe\u0301 is closed\n\tagain",
        "source_id": "discord:42",
        "user_id": "1001",
        "guild_id": "2002",
        "channel_id": "3003",
        "category": "Bug",
        "priority": "HIGH",
    }
    pipeline.start()
    pipeline.produce([json.dumps(record).encode()], keys=[b"discord:42"])
    [out] = read_topic(pipeline.bootstrap, pipeline.target, expected=1)
    ticket = json.loads(out.value)
    assert out.key == contracts.ticket_id_for("discord:42").encode()
    assert ticket == {
        "ticket_id": contracts.ticket_id_for("discord:42"),
        "schema": 1,
        "contact": "Zoë",
        "origin": "Discord",
        "body": "Café is closed\n\tagain",
        "date": VALID["timestamp"],
        "source": {"id": "discord:42", "user_id": "1001", "guild_id": "2002", "channel_id": "3003"},
        "category": "bug",
        "priority": "high",
    }


INVALID = [
    (b"\xc3\x28 not utf-8", "encoding_error"),
    (b"{'single': 'quotes'}", "json_decode_error"),
    (b'"just a string"', "validation_error"),
    (json.dumps({"message": "x", "timestamp": VALID["timestamp"]}).encode(), "validation_error"),
    (json.dumps({**VALID, "username": ["alice"]}).encode(), "validation_error"),
    (json.dumps({**VALID, "message": "x" * 4001}).encode(), "validation_error"),
    (json.dumps({**VALID, "username": "u" * 101}).encode(), "validation_error"),
    (json.dumps({**VALID, "timestamp": "21/11/2026"}).encode(), "validation_error"),
    (json.dumps({**VALID, "message": "nul\u0000inside"}).encode(), "validation_error"),
    (b"x" * (contracts.RAW_MAX_BYTES + 10), "too_large"),
]


def test_each_invalid_kind_lands_in_the_dlq_with_its_source_coordinates(pipeline: Pipeline) -> None:
    service = pipeline.start()
    values = [value for value, _ in INVALID]
    pipeline.produce(values, keys=[f"k{i}".encode() for i in range(len(values))])
    letters = read_topic(pipeline.bootstrap, pipeline.dlq, expected=len(values))
    assert read_topic(pipeline.bootstrap, pipeline.target, expected=0, timeout=0) == []
    by_key = {json.loads(record.value)["source"]["key"]: json.loads(record.value) for record in letters}
    assert len(by_key) == len(values)
    for index, (value, error_type) in enumerate(INVALID):
        letter = by_key[f"k{index}"]
        assert letter["error_type"] == error_type, letter["error"]
        assert letter["service"] == "aufbereitung"
        assert letter["source"]["topic"] == pipeline.source
        assert letter["source"]["offset"] >= 0
        assert isinstance(letter["source"]["timestamp"], int)
        raw = (
            base64.b64decode(letter["raw_value"])
            if letter["raw_encoding"] == "base64"
            else letter["raw_value"].encode()
        )
        assert raw == value
        assert letter["time"].endswith("Z")
    wait_until(lambda: service.metric("franz_records_total", outcome="dlq_validation_error") == 7, timeout=10)
    assert service.metric("franz_records_total", outcome="dlq_too_large") == 1


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(st.binary(max_size=300), st.builds(lambda t: t.encode(), st.text(max_size=200))),
        min_size=1,
        max_size=60,
    )
)
def test_arbitrary_bytes_never_crash_it_and_every_offset_is_accounted_for(
    pipeline: Pipeline, values: list[bytes]
) -> None:
    if not pipeline.started:
        pipeline.start()
    before_target = len(read_topic(pipeline.bootstrap, pipeline.target, expected=0, timeout=0))
    before_dlq = len(read_topic(pipeline.bootstrap, pipeline.dlq, expected=0, timeout=0))
    pipeline.produce(values)

    def accounted() -> bool:
        target = len(read_topic(pipeline.bootstrap, pipeline.target, expected=0, timeout=0)) - before_target
        dlq = len(read_topic(pipeline.bootstrap, pipeline.dlq, expected=0, timeout=0)) - before_dlq
        return target + dlq == len(values)

    wait_until(accounted, timeout=60)
    assert pipeline.started[0].running()


def test_kill_9_mid_stream_loses_nothing_and_duplicates_only_unconfirmed_batches(
    pipeline: Pipeline,
) -> None:
    total = 20_000
    pipeline.produce([intake(i) for i in range(total)])
    first = pipeline.start()
    wait_until(lambda: pipeline.committed() > 2_000, timeout=120)
    first.kill()
    second = pipeline.start()
    records = read_topic(pipeline.bootstrap, pipeline.target, expected=total, timeout=180)
    second.stop()
    ids = Counter(json.loads(record.value)["ticket_id"] for record in records)
    assert len(ids) == total, "every input produced its ticket"
    duplicates = sum(count - 1 for count in ids.values())
    # At-least-once: only the batch in hand at the kill and those whose asynchronous commit had not yet
    # reached the broker (one, rarely two; each poll hands out at most 500 records) come again.
    assert duplicates <= 3 * 500
    print(f"kill -9 at ~{pipeline.committed()} committed: {duplicates} duplicates of {total}")


def test_exactly_once_mode_has_no_duplicates_after_kill_9(pipeline: Pipeline) -> None:
    total = 5_000
    pipeline.extra_env = {"EXACTLY_ONCE": "true", "TRANSACTIONAL_ID": f"eos-{uuid.uuid4().hex[:8]}"}
    pipeline.produce([intake(i) for i in range(total)])
    first = pipeline.start()
    wait_until(lambda: pipeline.committed() > 500, timeout=120)
    first.kill()
    pipeline.start()
    records = read_topic(pipeline.bootstrap, pipeline.target, expected=total, timeout=180)
    ids = Counter(json.loads(record.value)["ticket_id"] for record in records)
    assert len(ids) == total
    assert max(ids.values()) == 1, "read_committed sees each input exactly once"


def test_sigterm_finishes_commits_and_exits_zero(pipeline: Pipeline) -> None:
    total = 3_000
    service = pipeline.start()
    service.wait_until_ready()
    pipeline.produce([intake(i) for i in range(total)])
    read_topic(pipeline.bootstrap, pipeline.target, expected=total, timeout=120)
    wait_until(lambda: pipeline.committed() == total, timeout=30)
    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0
    assert pipeline.committed() == total


def test_health_and_readiness(pipeline: Pipeline) -> None:
    service = pipeline.start()
    service.wait_until_ready()
    assert service.get("/healthz") == (200, "ok\n")
    started = service.metric("franz_last_success_timestamp_seconds")  # the start, before any commit
    assert started > 0
    pipeline.produce([intake(1)])
    read_topic(pipeline.bootstrap, pipeline.target, expected=1)
    wait_until(lambda: service.metric("franz_last_success_timestamp_seconds") > started, timeout=10)
    body = service.get("/metrics")[1]
    for name in (
        "franz_records_total",
        "franz_batch_size_records",
        "franz_batch_processing_seconds",
        "franz_consumer_lag_records",
    ):
        assert name in body


def test_a_bad_setting_stops_it_at_start_naming_the_variable(pipeline: Pipeline) -> None:
    service = pipeline.start(SOURCE_TOPIC="not a topic!")
    assert service.wait(timeout=30) == 2
    assert "SOURCE_TOPIC" in service.log_path.read_text().strip().splitlines()[-1]


def test_a_missing_output_topic_fails_each_batch_after_a_bounded_wait_and_loses_nothing(
    pipeline: Pipeline,
) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    service = pipeline.start(TARGET_TOPIC=missing)
    service.wait_until_ready()
    pipeline.produce([json.dumps(VALID).encode()])
    # Counted and retried: the metadata wait is cut at aufbereitung's bound, not kafka-python's minute.
    wait_until(
        lambda: service.metric("franz_batch_failures_total", error="KafkaTimeoutError") >= 2, timeout=120
    )
    failures = [
        json.loads(line) for line in service.log_path.read_text().splitlines() if "batch failed" in line
    ]
    assert failures
    assert all("Failed to update metadata after 5.0 secs" in failure["error"] for failure in failures)
    assert pipeline.committed() == 0
    ensure_topics(pipeline.bootstrap, [missing])
    [formatted] = read_topic(pipeline.bootstrap, missing, expected=1, timeout=120)
    assert json.loads(formatted.value)["body"] == "help"


def test_logs_are_json_lines_without_ticket_bodies(pipeline: Pipeline) -> None:
    service = pipeline.start(LOG_LEVEL="DEBUG")
    secret_body = f"my password is {uuid.uuid4().hex}"
    pipeline.produce(
        [contracts.encode({**VALID, "message": secret_body}), b"{broken " + secret_body.encode()]
    )
    read_topic(pipeline.bootstrap, pipeline.dlq, expected=1)
    read_topic(pipeline.bootstrap, pipeline.target, expected=1)
    service.stop()
    lines = [line for line in service.log_path.read_text().splitlines() if line.strip()]
    assert lines
    for line in lines:
        json.loads(line)
    assert secret_body not in service.log_path.read_text()


@pytest.mark.slow
def test_broker_restart_mid_stream_loses_nothing(tmp_path: Path) -> None:
    with LocalKafka(data_dir=tmp_path / "broker") as broker:
        names = [f"{role}-{uuid.uuid4().hex[:8]}" for role in ("intake", "formatted", "dlq")]
        ensure_topics(broker.bootstrap, names, partitions=3)
        line = Pipeline(
            bootstrap=broker.bootstrap,
            source=names[0],
            target=names[1],
            dlq=names[2],
            group=f"aufbereitung-{uuid.uuid4().hex[:8]}",
            log_dir=tmp_path,
        )
        total = 10_000
        line.produce([intake(i) for i in range(total)])
        service = line.start()
        try:
            wait_until(lambda: line.committed() > 1_000, timeout=120)
            broker.restart()
            records = read_topic(broker.bootstrap, line.target, expected=total, timeout=180)
            assert service.running(), "the service rode out the restart instead of crashing"
        finally:
            service.kill()
        ids = {json.loads(record.value)["ticket_id"] for record in records}
        assert len(ids) == total


def test_rebalances_mid_stream_lose_nothing(pipeline: Pipeline) -> None:
    total = 15_000
    pipeline.produce([intake(i) for i in range(total)])
    first = pipeline.start()
    wait_until(lambda: pipeline.committed() > 1_000, timeout=120)
    second = pipeline.start()  # joins: the partitions are shared out again
    wait_until(lambda: pipeline.committed() > 5_000, timeout=120)
    first.send_signal(signal.SIGTERM)  # leaves: its partitions move to the second
    assert first.wait(timeout=60) == 0
    records = read_topic(pipeline.bootstrap, pipeline.target, expected=total, timeout=180)
    wait_until(lambda: pipeline.committed() == total, timeout=60)
    second.stop()
    assert {json.loads(record.value)["ticket_id"] for record in records} == {
        contracts.ticket_id_for(f"test:{i}") for i in range(total)
    }
