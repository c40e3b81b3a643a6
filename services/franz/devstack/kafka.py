"""A real Apache Kafka broker (KRaft, single node) on loopback, from Maven Central jars.

The jars are resolved once with Maven into the cache; each broker gets free ports and its own data
directory, is formatted with `StorageTool --standalone`, and counts as ready when the admin client's
describe_cluster answers.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from franz.devstack.cache import cache_dir, exclusive, run_step
from franz.devstack.exceptions import StartError
from franz.devstack.pki import CertificateAuthority, write_secret_file
from franz.devstack.process import ManagedProcess, StartedInWith, data_directory, free_port, port_is_free

if TYPE_CHECKING:
    from franz.devstack.kube import Launcher

KAFKA_VERSION = "4.1.2"
LOG4J_VERSION = "2.25.3"  # the log4j-core version Kafka 4.1.2 itself depends on
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
DEFAULT_HEAP = "512m"


def kafka_libs() -> Path:
    """The broker's runtime jars, downloaded from Maven Central on first use and cached after that."""
    home = cache_dir() / f"kafka-{KAFKA_VERSION}"
    libs = home / "libs"
    complete = home / ".complete"
    if complete.exists():
        return libs
    with exclusive(f"kafka-{KAFKA_VERSION}"):
        if complete.exists():
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        home.mkdir(parents=True, exist_ok=True)
        template = resources.files("franz.devstack").joinpath("kafka-pom.xml").read_text()
        pom = home / "pom.xml"
        pom.write_text(
            template.replace("@KAFKA_VERSION@", KAFKA_VERSION).replace("@LOG4J_VERSION@", LOG4J_VERSION)
        )
        run_step(
            f"Downloading Apache Kafka {KAFKA_VERSION} jars from Maven Central",
            [
                "mvn",
                "-B",
                "-ntp",
                "-f",
                str(pom),
                f"-Dmaven.repo.local={cache_dir() / 'm2'}",
                f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            log_path=home / "download.log",
        )
        complete.touch()
    return libs


def _cluster_id() -> str:
    """Kafka's own id format: 16 random bytes, URL-safe base64 without padding. Like Kafka's
    `Uuid.randomUuid`, never one that starts with "-", which `kafka-storage format --cluster-id` would
    read as an option (one start in 64 failed that way)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _server_properties(
    *,
    port: int,
    controller_port: int,
    data_dir: Path,
    pod_listener: str | None = None,
    secured: SecuredListeners | None = None,
) -> str:
    # On a node, a second listener serves pods at the node's address; each client is told the
    # addresses of the listener it came in on, so the host and pods each get ones they can reach.
    pods = f",PODS://{pod_listener}" if pod_listener else ""
    clients = f"PLAINTEXT://127.0.0.1:{port}{pods}{secured.listeners if secured else ''}"
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"{clients},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": clients,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PODS:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL"
        ),
        "log.dirs": str(data_dir / "log"),
        # One node: every internal topic has one replica, and the few partitions keep start-up quick.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # A consumer group forms at once instead of after the default 3 s rebalance delay.
        "group.initial.rebalance.delay.ms": "0",
        # Topics exist because someone created them (franz up, the operator, a test), never by a typo.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "log.retention.hours": "24",
        **(secured.properties() if secured else {}),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


_SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")


class SecuredListeners:
    """The listeners of a Strimzi cluster that takes security seriously, beside the plain one.

    `SASL_SSL` (SCRAM users) and `SSL` with client certificates required (principal `User:CN=<name>`, as
    Strimzi's `tls` users), both served with a certificate of a generated CA; `StandardAuthorizer` with
    `allow.everyone.if.no.acl.found=false`, so a client may do exactly what its ACLs allow. The PLAINTEXT
    and controller listeners stay for the broker itself and for the tests' administration: their
    principal, `User:ANONYMOUS`, is the one super user (Strimzi's internal replication listener plays
    that part in a real cluster).
    """

    def __init__(self, directory: Path) -> None:
        self.sasl_port = free_port()
        self.tls_port = free_port()
        self.authority = CertificateAuthority(directory)
        cert, key = self.authority.issue("broker", common_name="localhost", ip_addresses=("127.0.0.1",))
        # Kafka's PEM key store is one file: the private key, then the certificate chain.
        self.keystore = write_secret_file(directory / "broker.pem", key.read_bytes() + cert.read_bytes())

    @property
    def listeners(self) -> str:
        return f",SASL_SSL://127.0.0.1:{self.sasl_port},SSL://127.0.0.1:{self.tls_port}"

    def properties(self) -> dict[str, str]:
        jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.authority.path),
            "listener.name.ssl.ssl.client.auth": "required",
            "sasl.enabled.mechanisms": ",".join(_SCRAM_MECHANISMS),
            **{f"listener.name.sasl_ssl.{m.lower()}.sasl.jaas.config": jaas for m in _SCRAM_MECHANISMS},
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": "User:ANONYMOUS",
        }


class LocalKafka(StartedInWith):
    """One KRaft broker on loopback; `with LocalKafka() as kafka: kafka.bootstrap`.

    Given a node's `launcher`, it runs inside the node (its loopback port forwarded to the host's) and
    also listens at `pod_listener` for pods.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        heap: str = DEFAULT_HEAP,
        launcher: Launcher | None = None,
        pod_listener: str | None = None,
        secured: bool = False,
    ):
        """`secured` adds SASL_SSL and mutual-TLS listeners with ACLs enforced (`SecuredListeners`)."""
        if port is not None and not port_is_free(port):
            raise StartError(
                f"port {port} is already in use; stop what listens there or choose another with --port"
            )
        self.port = port or free_port()
        self.controller_port = free_port()
        self.data_dir, self._owned_dir = data_directory(data_dir, prefix="franz-kafka-")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.heap = heap
        self.launcher = launcher
        self.pod_listener = pod_listener
        self.secured = SecuredListeners(self.data_dir / "pki") if secured else None
        self._forwarded = False
        self._process: ManagedProcess | None = None
        self.start_seconds: float | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    def start(self, *, timeout: float = 90.0) -> float:
        """Format (first time only) and start the broker; returns the seconds until it answered."""
        started = time.monotonic()
        libs = kafka_libs()
        config = self.data_dir / "server.properties"
        if not config.exists():
            config.write_text(
                _server_properties(
                    port=self.port,
                    controller_port=self.controller_port,
                    data_dir=self.data_dir,
                    pod_listener=self.pod_listener,
                    secured=self.secured,
                )
            )
            log4j = self.data_dir / "log4j2.properties"
            log4j.write_text(
                resources.files("franz.devstack").joinpath("kafka-log4j2.properties").read_text()
            )
            run_step(
                "Formatting the broker's storage",
                [
                    *self._java(libs),
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(config),
                ],
                log_path=self.data_dir / "format.log",
            )
        argv = [*self._java(libs), "kafka.Kafka", str(config)]
        self._process = ManagedProcess(
            "kafka",
            argv if self.launcher is None else self.launcher.argv(argv),
            log_path=self.log_path,
        )
        self._process.start()
        if self.launcher is not None and not self._forwarded:
            self.launcher.forward_to_host(self.port)
            self._forwarded = True
        self._process.wait_ready(self._answers, timeout=timeout, interval=0.2)
        self.start_seconds = time.monotonic() - started
        return self.start_seconds

    def _java(self, libs: Path) -> list[str]:
        return [
            os.environ.get("JAVA", "java"),
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            # The JVM options of Kafka's own start scripts (kafka-run-class.sh): G1 aiming at 20 ms pauses
            # instead of the JVM's default 200 ms, which otherwise show up in every latency tail.
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:MaxInlineLevel=15",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
        ]

    def _answers(self) -> bool:
        # A plain connect first: the admin client logs every refused connection while the JVM starts.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                return False
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        try:
            admin.describe_cluster()
            return True
        finally:
            admin.close()

    def stop(self) -> None:
        """Stop the broker cleanly; the data directory stays so that `start` resumes it."""
        if self._process is not None:
            self._process.stop(timeout=30)

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would (for fault tests); `start` recovers it."""
        if self._process is not None:
            self._process.kill()

    def restart(self, *, timeout: float = 90.0) -> float:
        self.stop()
        return self.start(timeout=timeout)

    def close(self) -> None:
        self.stop()
        if self._owned_dir is not None:
            self._owned_dir.remove()


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (with `configs[name]` as topic settings); returns them."""
    wanted = list(dict.fromkeys(names))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        existing = set(admin.list_topics())  # one metadata request, not one per wanted topic
        missing = [name for name in wanted if name not in existing]
        if missing:
            # Another process may create one between our list and our create: the outcome is the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=partitions,
                            replication_factor=1,
                            topic_configs=dict((configs or {}).get(name, {})),
                        )
                        for name in missing
                    ]
                )
            admin.wait_for_topics(missing, timeout_ms=15000)
        return missing
    finally:
        admin.close()


def committed_total(bootstrap: str, group: str) -> int:
    """The sum of a consumer group's committed offsets; 0 while the group or its coordinator does not
    exist yet (a fresh broker creates the offsets topic on the first request that needs it)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError:
        return 0
    finally:
        admin.close()
    return sum(meta.offset for meta in offsets.values() if meta.offset > 0)
