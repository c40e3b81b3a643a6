"""Franz on the real local node: start times, the image, install → Ready, memory, pod kill → caught up.

    .venv/bin/python benchmarks/node.py

Prints one line per figure. Cold figures (the Go builds, mmdebstrap) are those of `franz prepare` on an
empty cache and are not repeated here; `node start` is a warm start (binaries cached, a new image store,
the pause image imported), as every test session does it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from kafka import KafkaConsumer, TopicPartition

from franz import contracts
from franz.devstack.images import franz_image, image_size
from franz.devstack.kafka import committed_total
from franz.devstack.node import LocalCluster
from franz.devstack.platform import umbrella_values
from franz.devstack.tools import tool
from franz.runtime.clients import new_producer

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "franz"
PIPELINE = "bench"


def run(cluster: LocalCluster, name: str, *args: str) -> str:
    result = subprocess.run(
        [str(tool(name)), f"--kubeconfig={cluster.kubeconfig}", *args], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{name} {' '.join(args)}: {result.stderr}")
    return result.stdout


def node_processes_rss(cluster: LocalCluster) -> tuple[float, float]:
    """MB resident: every process in the node's PID namespace, and those of its pods alone."""
    own = os.readlink(f"/proc/{cluster.namespaces.init_pid}/ns/pid")
    total = pods = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "pid") != own and not _in_pods(entry, cluster):
                continue
            rss = int((entry / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        total += rss
        if _in_pods(entry, cluster):
            pods += rss
    return total / 1e6, pods / 1e6


def _in_pods(process: Path, cluster: LocalCluster) -> bool:
    try:
        return f"/{cluster.namespaces.cgroup_name}/kubepods" in (process / "cgroup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False


def lag(cluster: LocalCluster, topic: str, group: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        end: int = sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()
    return end - committed_total(cluster.bootstrap, group)


def main() -> None:
    started = time.monotonic()
    image = franz_image()
    size = image_size(image) / 1e6
    print(
        f"image: {image.reference}, {size:.0f} MB uncompressed, built in {time.monotonic() - started:.1f} s"
    )
    cluster = LocalCluster()
    cluster.start()
    with tempfile.TemporaryDirectory() as work:
        print(f"node start (warm): Ready with the default ServiceAccount after {cluster.start_seconds:.1f} s")
        imported = time.monotonic()
        cluster.import_image(image)
        print(f"image import into the node: {time.monotonic() - imported:.1f} s")
        values = Path(work) / "values.yaml"
        values.write_text(
            yaml.safe_dump(
                {
                    **umbrella_values(pipeline=PIPELINE, image=image, pod_bootstrap=cluster.pod_bootstrap),
                    "kummerkasten": {"enabled": False},
                }
            )
        )
        run(cluster, "kubectl", "create", "namespace", NAMESPACE)
        for secret, literal in (
            ("discord-webhook", "url=http://127.0.0.1:9/api/webhooks/1/x"),
            ("discord-bot", "token=x"),
        ):
            run(
                cluster,
                "kubectl",
                "create",
                "secret",
                "generic",
                secret,
                f"--namespace={NAMESPACE}",
                f"--from-literal={literal}",
            )
        applied = time.monotonic()
        run(
            cluster,
            "helm",
            "install",
            "franz",
            str(ROOT / "charts" / "franz"),
            f"--namespace={NAMESPACE}",
            f"--values={values}",
        )
        for deployment in ("operator", "aufbereitung", "absturz", "sachbearbeiter"):
            run(
                cluster,
                "kubectl",
                "rollout",
                "status",
                f"deployment/franz-{deployment}",
                f"--namespace={NAMESPACE}",
                "--timeout=300s",
            )
        print(f"helm install → every pod Ready (pipeline reconciled): {time.monotonic() - applied:.1f} s")
        time.sleep(10)  # let start-up settle before reading memory
        total, pods = node_processes_rss(cluster)
        print(f"memory (RSS): whole platform {total:.0f} MB, of which the Franz pods {pods:.0f} MB")

        config = yaml.safe_load(
            run(
                cluster,
                "kubectl",
                "get",
                "configmap",
                f"franz-{PIPELINE}-config",
                f"--namespace={NAMESPACE}",
                "-o",
                "yaml",
            )
        )["data"]
        topic, group = config["SOURCE_TOPIC"], config["GROUP_ID"]
        producer = new_producer(cluster.bootstrap, client_id="bench-node")

        def send(numbers: range) -> None:
            for i in numbers:
                source = f"bench:{i}"
                record = contracts.new_raw_intake(username="bench", message=f"ticket {i}", source_id=source)
                producer.send(topic, key=source.encode(), value=contracts.encode(record))
            producer.flush(timeout=60)

        send(range(2000))
        while lag(cluster, topic, group) > 0:
            time.sleep(0.2)
        pod = run(
            cluster,
            "kubectl",
            "get",
            "pods",
            f"--namespace={NAMESPACE}",
            "-l",
            "app.kubernetes.io/name=aufbereitung",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        )
        killed = time.monotonic()
        run(
            cluster,
            "kubectl",
            "delete",
            "pod",
            pod,
            f"--namespace={NAMESPACE}",
            "--grace-period=0",
            "--force",
            "--wait=false",
        )
        send(range(2000, 3000))
        while lag(cluster, topic, group) > 0:
            time.sleep(0.1)
        caught_up = time.monotonic() - killed
        print(f"aufbereitung pod killed (--force), then 1,000 records: caught up after {caught_up:.1f} s")
        producer.close()
    stopped = time.monotonic()
    cluster.close()
    print(f"node stop (all processes, mounts, cgroups gone): {time.monotonic() - stopped:.1f} s")


if __name__ == "__main__":
    main()
