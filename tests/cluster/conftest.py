"""The platform as pods: one real node per session, the image built from the Dockerfile, the umbrella chart.

The node (kubelet, containerd, kube-proxy, CoreDNS, controllers; `franz.devstack.node`) and the image
(buildah on a local Debian base; `franz.devstack.images`) are session fixtures; `platform` installs the
umbrella chart into a namespace that enforces Pod Security "restricted", with the operator reconciling an
admin-backend FranzPipeline against the node's Kafka and absturz posting to the local Discord webhook.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes import client

from franz import contracts
from franz.devstack.discord_api import DiscordApiThread, LocalDiscordApi
from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.images import ImageArchive, franz_image
from franz.devstack.node import LocalCluster
from franz.devstack.platform import store_volume, umbrella_values
from franz.runtime.clients import new_producer
from tests.helpers import api_client, read_topic, wait_until
from tests.integration.test_kummerkasten import GUILD_ID

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "franz"
PIPELINE = "support"
SERVICES = ("aufbereitung", "absturz", "sachbearbeiter")
ROLLOUT_SECONDS = 180.0
BOT_TOKEN = "cluster-bot-token"
HASH_ANNOTATION = "franz.dev/config-hash"


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster() as node:
        yield node


@pytest.fixture(scope="session")
def image(cluster: LocalCluster) -> ImageArchive:
    built = franz_image()
    cluster.import_image(built)
    return built


@pytest.fixture(scope="session")
def webhook(cluster: LocalCluster) -> Iterator[tuple[LocalDiscordWebhook, str]]:
    """The local Discord webhook, and its URL as pods reach it (through the node's address)."""
    with LocalDiscordWebhook(rate_limit=50, per_seconds=1.0) as hook:
        port = int(hook.url.split("/")[2].rsplit(":", 1)[1])
        address = cluster.namespaces.expose_host_port(port)
        yield hook, hook.url.replace(f"127.0.0.1:{port}", address)


@pytest.fixture(scope="session")
def discord(cluster: LocalCluster) -> Iterator[tuple[DiscordApiThread, str]]:
    """The local Discord API and gateway, and `DISCORD_API_BASE` as pods reach it."""
    api = LocalDiscordApi(token=BOT_TOKEN, guild_ids=[GUILD_ID])
    with DiscordApiThread(api) as emulator:
        address = cluster.namespaces.expose_host_port(emulator.port)
        yield emulator, f"http://{address}/api/v10"


@dataclass
class Platform:
    """The installed release: how to reach it, and the calls the scenarios share."""

    cluster: LocalCluster
    image: ImageArchive
    namespace: str
    helm: Path
    kubectl: Path
    values: Path
    webhook: LocalDiscordWebhook
    discord: DiscordApiThread
    topics: dict[str, str] = field(default_factory=dict)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def api(self) -> client.ApiClient:
        return api_client(self.cluster.kubeconfig)

    def run(self, tool: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(tool), f"--kubeconfig={self.cluster.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"{tool.name} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def helm_install(self, *args: str, command: str = "install") -> None:
        self.run(
            self.helm,
            command,
            RELEASE,
            str(ROOT / "charts" / "franz"),
            f"--namespace={self.namespace}",
            f"--values={self.values}",
            *args,
        )

    def deployment(self, service: str) -> str:
        return f"{RELEASE}-{service}"

    @staticmethod
    def kind(service: str) -> str:
        """sachbearbeiter is a StatefulSet (its store's volume per replica); the others Deployments."""
        return "statefulset" if service == "sachbearbeiter" else "deployment"

    def wait_rolled_out(self, service: str, *, timeout: float = ROLLOUT_SECONDS) -> None:
        """Every replica of the newest revision Ready and no old pod left (`kubectl rollout status`)."""
        self.run(
            self.kubectl,
            "rollout",
            "status",
            f"{self.kind(service)}/{self.deployment(service)}",
            f"--namespace={self.namespace}",
            f"--timeout={timeout:.0f}s",
        )

    def config_hashes(self) -> dict[str, str]:
        """Each service Deployment's `franz.dev/config-hash`, by which the operator rolls it."""
        hashes = {}
        for service in SERVICES:
            read = (
                self.apps.read_namespaced_stateful_set
                if self.kind(service) == "statefulset"
                else self.apps.read_namespaced_deployment
            )
            deployment: Any = read(self.deployment(service), self.namespace)
            hashes[service] = (deployment.spec.template.metadata.annotations or {}).get(HASH_ANNOTATION, "")
        return hashes

    def pods(self, service: str) -> list[Any]:
        """The service's pods as the API server filled them in (the client's models mark every field
        optional, so typed access would check for None where a running pod never has one)."""
        selector = f"app.kubernetes.io/name={service},app.kubernetes.io/instance={RELEASE}"
        listed: list[Any] = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        return [pod for pod in listed if pod.metadata.deletion_timestamp is None]  # none on its way out

    def settled(self) -> bool:
        """Exactly one pod per process, Running and Ready, none on its way out."""
        for service in (*SERVICES, "kummerkasten", "operator"):
            pods = self.pods(service)
            if len(pods) != 1 or not all(s.ready for s in pods[0].status.container_statuses or []):
                return False
        return True

    def pipeline_ready(self) -> bool:
        body = cast(
            "dict[str, Any]",
            self.custom.get_namespaced_custom_object(
                "franz.dev", "v1alpha1", self.namespace, "franzpipelines", PIPELINE
            ),
        )
        conditions = body.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def produce_tickets(self, count: int, *, tag: str, pause_every: int = 0, pause: float = 0.0) -> list[str]:
        """`count` valid raw intake records with unique source ids; returns their ticket ids."""
        producer = new_producer(self.cluster.bootstrap, client_id=f"cluster-test-{tag}")
        ticket_ids = []
        try:
            for i in range(count):
                source_id = f"cluster:{tag}:{i}"
                intake = contracts.new_raw_intake(
                    username="alice", message=f"{tag} ticket {i}", source_id=source_id
                )
                producer.send(self.topics["intake"], key=source_id.encode(), value=contracts.encode(intake))
                ticket_ids.append(contracts.ticket_id_for(source_id))
                if pause_every and i % pause_every == pause_every - 1:
                    producer.flush()
                    time.sleep(pause)
            producer.flush(timeout=60)
        finally:
            producer.close(timeout=10)
        return ticket_ids

    def stream_tickets(
        self, count: int, *, tag: str, pause_every: int, pause: float
    ) -> tuple[threading.Thread, list[str]]:
        """`produce_tickets` in a thread, for faults injected mid-stream; the list fills when it ends."""
        tickets: list[str] = []
        thread = threading.Thread(
            target=lambda: tickets.extend(
                self.produce_tickets(count, tag=tag, pause_every=pause_every, pause=pause)
            ),
            name=f"stream-{tag}",
        )
        thread.start()
        return thread, tickets

    def created_counts(self, ticket_ids: list[str], *, timeout: float = 180.0) -> tuple[int, int, int]:
        """(lost, duplicates in tickets-formatted, duplicate TicketCreated events) for these tickets."""
        wanted = set(ticket_ids)
        deadline = time.monotonic() + timeout
        while True:
            formatted = _ticket_ids(read_topic(self.cluster.bootstrap, self.topics["formatted"], expected=0))
            events = [
                event["ticket_id"]
                for event in _values(read_topic(self.cluster.bootstrap, self.topics["events"], expected=0))
                if event.get("type") == "TicketCreated"
            ]
            seen_formatted = [t for t in formatted if t in wanted]
            seen_events = [t for t in events if t in wanted]
            lost = len(wanted - set(seen_events))
            if lost == 0 or time.monotonic() > deadline:
                return (
                    lost,
                    len(seen_formatted) - len(set(seen_formatted)),
                    len(seen_events) - len(set(seen_events)),
                )
            time.sleep(2)


def _values(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in records if record.value is not None]


def _ticket_ids(records: list[Any]) -> list[str]:
    return [value["ticket_id"] for value in _values(records)]


@pytest.fixture(scope="module")
def platform(
    cluster: LocalCluster,
    image: ImageArchive,
    webhook: tuple[LocalDiscordWebhook, str],
    discord: tuple[DiscordApiThread, str],
    helm: Path,
    kubectl: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    hook, pod_webhook_url = webhook
    emulator, pod_api_base = discord
    namespace = f"franz-{uuid.uuid4().hex[:6]}"
    values = tmp_path_factory.mktemp("values") / "values.yaml"
    node_values = umbrella_values(pipeline=PIPELINE, image=image, pod_bootstrap=cluster.pod_bootstrap)
    values.write_text(
        yaml.safe_dump(
            {
                **node_values,
                # Short enough for a test, long enough for a batch to finish and commit.
                **{
                    service: {**node_values.get(service, {}), "terminationGracePeriodSeconds": 30}
                    for service in SERVICES
                },
                "kummerkasten": {
                    "discordGuildId": str(GUILD_ID),
                    "terminationGracePeriodSeconds": 30,
                    "extraEnv": [{"name": "DISCORD_API_BASE", "value": pod_api_base}],
                },
            }
        )
    )
    platform = Platform(
        cluster=cluster,
        image=image,
        namespace=namespace,
        helm=helm,
        kubectl=kubectl,
        values=values,
        webhook=hook,
        discord=emulator,
    )
    platform.core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=namespace,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            )
        )
    )
    for name, key, value in (
        ("discord-webhook", "url", pod_webhook_url),
        ("discord-bot", "token", BOT_TOKEN),
    ):
        platform.core.create_namespaced_secret(
            namespace,
            client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data={key: value}),
        )
    # The node has no provisioner: sachbearbeiter's claim is bound to a directory of the node's.
    volume = values.with_name("store-volume.yaml")
    volume.write_text(
        yaml.safe_dump(
            store_volume(
                namespace=namespace,
                release=RELEASE,
                replica=0,
                directory=cluster.state_dir / "volumes" / namespace,
            )
        )
    )
    platform.run(kubectl, "create", f"--filename={volume}")
    platform.helm_install("--wait", "--timeout=5m")
    wait_until(platform.pipeline_ready, timeout=ROLLOUT_SECONDS, interval=1)
    config_map = platform.core.read_namespaced_config_map(f"franz-{PIPELINE}-config", namespace).data or {}
    platform.topics = {
        "intake": config_map["SOURCE_TOPIC"],
        "formatted": config_map["TARGET_TOPIC"],
        "dlq": config_map["DLQ_TOPIC"],
        "events": config_map["EVENTS_TOPIC"],
        "state": config_map["STATE_TOPIC"],
    }
    # The operator stamps the config hash on the Deployments once it wrote their ConfigMap and Secret,
    # which rolls them once more: the platform is settled when that roll is done.
    wait_until(lambda: all(platform.config_hashes().values()), timeout=ROLLOUT_SECONDS, interval=1)
    for service in (*SERVICES, "kummerkasten"):
        platform.wait_rolled_out(service)
    emulator.wait_until_connected(timeout=ROLLOUT_SECONDS)
    wait_until(platform.settled, timeout=ROLLOUT_SECONDS, interval=1)
    yield platform
    platform.run(helm, "uninstall", RELEASE, f"--namespace={namespace}", "--wait", check=False)


Scenario = Callable[[], None]
