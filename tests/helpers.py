"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kubernetes import config
from kubernetes.client import ApiClient

from franz.devstack.process import ManagedProcess, die_with_parent, free_port
from franz_operator.exceptions import KubeError
from franz_operator.kube import Kind, Kube

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | Literal[False] | None], *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Poll with a deadline instead of sleeping; returns the first truthy answer or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


def read_topic(
    bootstrap: str, topic: str, *, expected: int, timeout: float = 60.0, isolation: str = "read_committed"
) -> list[ConsumerRecord]:
    """Every record of a topic from the beginning, waiting until at least `expected` have arrived."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level=isolation,
        auto_offset_reset="earliest",
        max_poll_records=5000,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        # A short extra read shows records beyond the expected count (duplicates) too.
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            for batch in consumer.poll(timeout_ms=100).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


class ServiceProcess(ManagedProcess):
    """A Franz service as a real child process (`python -m franz <service>`), for kill and restart tests."""

    def __init__(self, service: str, *, env: dict[str, str], log_dir: Path, metrics_port: int | None = None):
        self.metrics_port = metrics_port or free_port()
        full_env = {**os.environ, "LOG_FORMAT": "json", **env, "METRICS_PORT": str(self.metrics_port)}
        super().__init__(
            service,
            [sys.executable, "-m", "franz", service],
            log_path=log_dir / f"{service}.log",
            env=full_env,
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except urllib.error.URLError:
            return 0, ""  # not listening yet

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        self.wait_ready(lambda: self.get("/readyz")[0] == 200, timeout=timeout, interval=0.2)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples whose labels include `labels` (0 when none)."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.get("/metrics")[1]):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


FRANZ = [sys.executable, "-m", "franz"]


class Foreground:
    """A `franz` command running in the foreground, whose stdout lines we can wait for."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [*FRANZ, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=env,
            preexec_fn=die_with_parent,  # a killed test run leaves no `franz` command behind
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


CUSTOM_RESOURCE_DEFINITION = Kind("apiextensions.k8s.io", "v1", "customresourcedefinitions")


def api_client(kubeconfig: Path) -> ApiClient:
    """A client of the API server the kubeconfig names (the library's loader has no type hints)."""
    api: ApiClient = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return api


def install_crd(api: ApiClient, definition: dict[str, Any]) -> None:
    """Create a CRD (or keep the one this session already made) and wait until it is served."""
    kube = Kube(api)
    try:
        kube.create(CUSTOM_RESOURCE_DEFINITION, "", definition)
    except KubeError as error:
        if error.status != 409:
            raise

    def established() -> bool:
        current = kube.get(CUSTOM_RESOURCE_DEFINITION, "", definition["metadata"]["name"]) or {}
        conditions = (current.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_until(established, timeout=30)
