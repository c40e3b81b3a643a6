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
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kubernetes import config
from kubernetes.client import ApiClient

from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.kube import LocalControlPlane
from franz.devstack.process import ManagedProcess, die_with_parent, free_port
from franz.devstack.prometheus import LocalPrometheus
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


def start_scraped(
    prometheus: LocalPrometheus, service: str, *, env: dict[str, str], log_dir: Path, namespace: str
) -> tuple[str, ServiceProcess]:
    """Start a service as a process, ready, that `prometheus` scrapes in `namespace`; returns the scrape
    target's name (unique) and the process. Scraped once before it returns, so a workload started after
    it shows as an increase from the series' zeros."""
    process = ServiceProcess(service, env=env, log_dir=log_dir)
    process.start()
    process.wait_until_ready()
    name = f"{service}-{process.metrics_port}"
    prometheus.scrape(name, [f"127.0.0.1:{process.metrics_port}"], namespace=namespace)
    wait_until(lambda: prometheus.query(f'up{{service="{name}"}} == 1'), timeout=60)
    return name, process


def pipeline_env(
    bootstrap: str, topics: Mapping[str, str], *, group_prefix: str
) -> dict[str, dict[str, str]]:
    """Each service's environment for a pipeline's topics by role (a FranzPipeline's `spec.topics` names,
    dead-letter queues `<topic>-dlq`), in consumer groups of its own: what the chart sets from the
    operator's ConfigMap. absturz still needs DISCORD_WEBHOOK_URL, kummerkasten its Discord settings."""
    formatted_dlq, commands_dlq = f"{topics['formatted']}-dlq", f"{topics['commands']}-dlq"
    lifecycle = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FORMATTED_TOPIC": topics["formatted"],
        "COMMANDS_TOPIC": topics["commands"],
        "EVENTS_TOPIC": topics["events"],
        "STATE_TOPIC": topics["state"],
    }
    return {
        "aufbereitung": {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SOURCE_TOPIC": topics["intake"],
            "TARGET_TOPIC": topics["formatted"],
            "DLQ_TOPIC": formatted_dlq,
            "GROUP_ID": f"{group_prefix}-aufbereitung",
        },
        "sachbearbeiter": {
            **lifecycle,
            "COMMANDS_DLQ_TOPIC": commands_dlq,
            "SACHBEARBEITER_GROUP_ID": f"{group_prefix}-sachbearbeiter",
        },
        "absturz": {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPICS": ",".join([topics["errors"], formatted_dlq, commands_dlq]),
            "CONSUMER_GROUP": f"{group_prefix}-absturz",
            "ALERT_BATCH_WINDOW_SECONDS": "0.5",
        },
        "kummerkasten": {
            **lifecycle,
            "KAFKA_TOPIC": topics["intake"],
            "KUMMERKASTEN_GROUP_ID": f"{group_prefix}-kummerkasten",
        },
    }


def exhaust_bucket(webhook: LocalDiscordWebhook) -> None:
    """Another poster on the same webhook takes the whole bucket, as on Discord, where the bucket is the
    webhook's: absturz's next request inside the window is answered 429."""
    for _ in range(webhook.rate_limit):
        request = urllib.request.Request(
            webhook.url, data=b'{"content": "deploy finished"}', headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).close()


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


NAMESPACE = Kind("", "v1", "namespaces")
SERVICE_ACCOUNT = Kind("", "v1", "serviceaccounts")
CLUSTER_ROLE = Kind("rbac.authorization.k8s.io", "v1", "clusterroles")
CLUSTER_ROLE_BINDING = Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings")


def service_account_kubeconfig(
    kube: Kube,
    control_plane: LocalControlPlane,
    kubectl: Path,
    directory: Path,
    *,
    rules: list[dict[str, Any]],
) -> Path:
    """A kubeconfig in `directory` for a fresh ServiceAccount (in a namespace of its own) bound cluster-wide
    to exactly `rules`: the operator as the chart deploys it, or with a right taken away."""
    name = f"franz-operator-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    kube.create(
        SERVICE_ACCOUNT,
        name,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": name}},
    )
    rbac_api = "rbac.authorization.k8s.io/v1"
    kube.create(
        CLUSTER_ROLE,
        "",
        {"apiVersion": rbac_api, "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules},
    )
    kube.create(
        CLUSTER_ROLE_BINDING,
        "",
        {
            "apiVersion": rbac_api,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": name}],
        },
    )
    token = subprocess.run(
        # Outlives any run of the suite.
        [
            kubectl,
            "--kubeconfig",
            control_plane.kubeconfig,
            "create",
            "token",
            name,
            "-n",
            name,
            "--duration",
            "3h",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return control_plane.write_kubeconfig(directory / "kubeconfig", token=token)
