"""The `franz` command as people and scripts use it: foreground infrastructure, ticket, tail, up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from franz.devstack.process import free_port
from tests.helpers import wait_until

FRANZ = [sys.executable, "-m", "franz"]


class Foreground:
    """A `franz` command running in the foreground, whose stdout lines we can wait for."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*FRANZ, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def line_starting(self, prefix: str, timeout: float = 120) -> str:
        def found() -> str | None:
            if self.process.poll() is not None and not any(line.startswith(prefix) for line in self.lines):
                stderr = self.process.stderr.read() if self.process.stderr else ""
                pytest.fail(
                    f"franz exited with {self.process.returncode} before printing {prefix!r}:\n{stderr}"
                )
            return next((line for line in self.lines if line.startswith(prefix)), None)

        return wait_until(found, timeout=timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        os.killpg(self.process.pid, signum) if signum == signal.SIGINT else self.process.send_signal(signum)
        return self.process.wait(timeout)


@pytest.fixture
def foreground() -> Iterator[list[Foreground]]:
    started: list[Foreground] = []
    yield started
    for command in started:
        if command.process.poll() is None:
            command.process.kill()
            command.process.wait()


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


def test_franz_up_creates_the_default_topics_and_stops_on_ctrl_c(foreground: list[Foreground]) -> None:
    port = free_port()
    command = Foreground("up", "--port", str(port))
    foreground.append(command)
    command.line_starting("Franz is up.")
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
    topics = admin.describe_topics(["discordMSG", "tickets-formatted", "tickets-formatted-dlq", "errors"])
    admin.close()
    assert {topic["name"]: len(topic["partitions"]) for topic in topics} == {
        "discordMSG": 3,
        "tickets-formatted": 3,
        "tickets-formatted-dlq": 3,
        "errors": 3,
    }
    assert command.stop(signal.SIGINT) == 0
