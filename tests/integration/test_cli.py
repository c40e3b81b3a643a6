"""The `franz` command as people and scripts use it: foreground infrastructure, ticket, tail, up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from franz.devstack.process import free_port
from tests.helpers import FRANZ, Foreground


def test_franz_kafka_prints_bootstrap_and_stops_cleanly_on_sigterm(foreground: list[Foreground]) -> None:
    port = free_port()
    command = Foreground("kafka", "--port", str(port))
    foreground.append(command)
    assert command.line_starting("bootstrap=") == f"bootstrap=127.0.0.1:{port}"
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
    assert admin.describe_cluster()["brokers"]
    admin.close()
    assert command.stop(signal.SIGTERM) == 0


def test_franz_cluster_prints_a_working_kubeconfig(foreground: list[Foreground], kubectl: Path) -> None:
    command = Foreground("cluster")
    foreground.append(command)
    kubeconfig = Path(command.line_starting("kubeconfig=").removeprefix("kubeconfig="))
    namespaces = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), "get", "namespace", "default", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert namespaces.stdout.strip() == "namespace/default"
    assert command.stop(signal.SIGINT) == 0


def test_franz_ticket_publishes_what_franz_tail_prints(bootstrap: str, new_topic: object) -> None:
    topic = new_topic("intake")  # type: ignore[operator]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    tail = subprocess.Popen(
        [*FRANZ, "tail", topic, "--from-beginning", "--max", "1"], stdout=subprocess.PIPE, text=True, env=env
    )
    published = subprocess.run(
        [
            *FRANZ,
            "ticket",
            "The printer is on fire",
            "--user",
            "alice",
            "--priority",
            "high",
            "--topic",
            topic,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    receipt = json.loads(published.stdout)
    assert receipt["ticket_id"].startswith("T-")
    assert receipt["topic"] == topic
    out, _ = tail.communicate(timeout=60)
    record = json.loads(out.splitlines()[0])
    assert record["offset"] == receipt["offset"]
    assert record["key"].startswith("cli:")
    assert record["value"]["username"] == "alice"
    assert record["value"]["message"] == "The printer is on fire"
    assert record["value"]["priority"] == "high"
    assert record["value"]["source_id"] == record["key"]


def test_franz_ticket_refuses_an_empty_message_naming_the_field(bootstrap: str) -> None:
    result = subprocess.run(
        [*FRANZ, "ticket", "   ", "--user", "alice", "--bootstrap", bootstrap],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "'message' is empty" in result.stderr


def test_an_unreachable_broker_is_one_clear_line_naming_the_variable() -> None:
    result = subprocess.run(
        [*FRANZ, "ticket", "hello", "--user", "alice", "--bootstrap", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "no Kafka broker answered" in line
    assert "KAFKA_BOOTSTRAP_SERVERS" in line


@pytest.mark.parametrize(
    "command",
    [
        "ticket help --user alice --topic TOPIC",
        "tail TOPIC --max 1",
        "history T-AAAAA-BBBBB --from-log --topic TOPIC",
        "tickets --from-log --topic TOPIC",
        "dlq list TOPIC",
        "dlq replay TOPIC",
    ],
)
def test_a_missing_topic_is_said_at_once_with_how_to_create_it(bootstrap: str, command: str) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    argv = command.replace("TOPIC", missing).split()
    # Sends to a missing topic used to wait a minute for metadata; the bound proves an answer in seconds.
    result = subprocess.run(
        [*FRANZ, *argv, "--bootstrap", bootstrap], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2, result.stderr
    assert f"topic {missing!r} does not exist on {bootstrap}; create it" in result.stderr
    assert "Traceback" not in result.stderr


def test_franz_ticket_publishes_to_kafka_topic_unless_topic_is_given(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    from_env, from_flag = new_topic("intake"), new_topic("intake")
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC": from_env}

    def ticket(*extra: str) -> str:
        published = subprocess.run(
            [*FRANZ, "ticket", "help", "--user", "alice", *extra],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        topic: str = json.loads(published.stdout)["topic"]
        return topic

    assert ticket() == from_env
    assert ticket("--topic", from_flag) == from_flag
