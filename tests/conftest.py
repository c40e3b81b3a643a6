"""Fixtures for the real infrastructure: one broker and one control plane per test session.

They start only when a test asks for them, so `make test-unit` never starts a JVM. A component that
cannot start raises with its log tail, which fails the tests that need it; nothing is skipped.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from franz.devstack.kafka import LocalKafka, ensure_topics
from franz.devstack.kube import LocalControlPlane
from franz.devstack.prometheus import LocalPrometheus
from franz.devstack.tools import tool
from franz_operator.crd import custom_resource_definition
from franz_operator.kube import Kube
from tests.helpers import Foreground, api_client, install_crd
from tests.secured import SecuredKafka
from tests.strimzi import kafka_topic_crd


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    broker = LocalKafka()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    """A second broker with SASL_SSL (SCRAM) and mutual-TLS listeners and ACLs enforced; started only by
    the tests that ask for it, so the plain broker and its start-up stay as they are."""
    broker = LocalKafka(secured=True)
    broker.start()
    try:
        yield SecuredKafka(broker, tmp_path_factory.mktemp("kafka-users"))
    finally:
        broker.close()


@pytest.fixture(scope="session")
def bootstrap(kafka: LocalKafka) -> str:
    return kafka.bootstrap


@pytest.fixture
def new_topic(bootstrap: str) -> Callable[..., str]:
    """Create a topic with a unique name, so tests sharing the broker never see each other's records."""

    def create(prefix: str = "t", *, partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        ensure_topics(bootstrap, [name], partitions=partitions)
        return name

    return create


@pytest.fixture(scope="session")
def control_plane() -> Iterator[LocalControlPlane]:
    plane = LocalControlPlane()
    plane.start()
    try:
        yield plane
    finally:
        plane.close()


@pytest.fixture(scope="session")
def kubeconfig(control_plane: LocalControlPlane) -> Path:
    return control_plane.kubeconfig


@pytest.fixture(scope="session")
def kube(kubeconfig: Path) -> Kube:
    """The API server with the FranzPipeline CRD and Strimzi's KafkaTopic CRD installed and established."""
    client = api_client(kubeconfig)
    for definition in (custom_resource_definition(), kafka_topic_crd()):
        install_crd(client, definition)
    return Kube(client)


@pytest.fixture(scope="session")
def helm() -> Path:
    return tool("helm")


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return tool("kubectl")


@pytest.fixture(scope="session")
def promtool() -> Path:
    return tool("promtool")


# Alerts wait a sixtieth of their `for:` in the tests: a rule's minutes become seconds.
TEST_FOR_DIVISOR = 60.0


@pytest.fixture(scope="session")
def prometheus() -> Iterator[LocalPrometheus]:
    """A real Prometheus with the chart's alerts; a test makes it scrape what it starts with `scrape`."""
    with LocalPrometheus(for_divisor=TEST_FOR_DIVISOR) as server:
        yield server


@pytest.fixture
def foreground() -> Iterator[list[Foreground]]:
    """`franz` commands started by a test; stopped at its end if the test did not stop them.

    SIGTERM first, so that a command which started a broker stops it too; SIGKILL only if that hangs.
    """
    started: list[Foreground] = []
    yield started
    for command in started:
        if command.process.poll() is None:
            command.process.terminate()
            try:
                command.process.wait(60)
            except subprocess.TimeoutExpired:
                command.process.kill()
                command.process.wait()
