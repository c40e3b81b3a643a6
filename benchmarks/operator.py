"""The operator: `kubectl apply` → Ready for one pipeline and for 100 at once, and the operator's memory.

    .venv/bin/python benchmarks/operator.py [--single 7] [--many 100]

One run on one local broker and one local kube-apiserver, admin backend (the operator creates the topics
itself, so Ready means they exist in Kafka). Each pipeline has every default topic: intake, formatted,
errors, the lifecycle's commands, events and state, and two dead-letter topics (8).
Targets: p50 ≤ 3 s for one, ≤ 60 s for 100, RSS ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import config

from franz.devstack.kafka import LocalKafka
from franz.devstack.kube import LocalControlPlane
from franz.devstack.process import ManagedProcess, free_port, log_tail
from franz_operator.constants import GROUP, KIND, TOPIC_ROLES, VERSION
from franz_operator.crd import custom_resource_definition
from franz_operator.kube import PIPELINE, Kind, Kube
from franz_operator.pipeline import from_body

NAMESPACE = Kind("", "v1", "namespaces")
CRD = Kind("apiextensions.k8s.io", "v1", "customresourcedefinitions")


def pipeline(name: str, bootstrap: str) -> dict[str, Any]:
    prefix = f"{name}-{uuid.uuid4().hex[:6]}"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name},
        "spec": {
            "kafka": {"bootstrapServers": bootstrap, "topicBackend": "admin"},
            "topicDefaults": {"partitions": 3, "replicas": 1},
            "topics": {role: {"name": f"{prefix}-{role}"} for role in TOPIC_ROLES},
        },
    }


def ready(kube: Kube, namespace: str, name: str) -> bool:
    found = kube.get(PIPELINE, namespace, name) or {}
    conditions = (found.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def wait_all_ready(kube: Kube, namespace: str, names: list[str], timeout: float = 300) -> None:
    waiting = set(names)
    deadline = time.monotonic() + timeout
    while waiting:
        if time.monotonic() > deadline:
            sys.exit(f"not Ready after {timeout} s: {sorted(waiting)[:5]}")
        items = kube.list_objects(PIPELINE, namespace)
        for item in items:
            conditions = (item.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                waiting.discard(item["metadata"]["name"])
        time.sleep(0.05)


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--single", type=int, default=7, help="pipelines applied one at a time")
    parser.add_argument("--many", type=int, default=100, help="pipelines applied at once")
    args = parser.parse_args()

    with LocalKafka() as kafka, LocalControlPlane() as plane, tempfile.TemporaryDirectory() as work:
        client = config.new_client_from_config(config_file=str(plane.kubeconfig))
        kube = Kube(client)
        kube.create(CRD, "", custom_resource_definition())
        time.sleep(2)  # the CRD becomes established
        operator = ManagedProcess(
            "operator",
            [sys.executable, "-m", "franz", "operator"],
            log_path=Path(work) / "operator.log",
            env={
                **os.environ,
                "KUBECONFIG": str(plane.kubeconfig),
                "METRICS_PORT": str(free_port()),
                "LOG_LEVEL": "WARNING",
            },
        )
        operator.start()
        try:
            run(kube, kafka.bootstrap, operator.pid, args.single, args.many)
        finally:
            if not operator.running():
                print(f"the operator exited early:\n{log_tail(operator.log_path)}", file=sys.stderr)
            operator.stop()


def run(kube: Kube, bootstrap: str, pid: int, single: int, many: int) -> None:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kube.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    time.sleep(3)  # the operator's watches are up
    print(f"operator RSS at idle: {rss_mb(pid, 'VmRSS'):.1f} MB")

    durations = []
    for n in range(single):
        name = f"one-{n}"
        started = time.perf_counter()
        kube.create(PIPELINE, namespace, pipeline(name, bootstrap))
        while not ready(kube, namespace, name):
            time.sleep(0.02)
        durations.append(time.perf_counter() - started)
    print(
        f"one pipeline, apply → Ready ({single} runs): p50 {statistics.median(durations):.2f} s, "
        f"min {min(durations):.2f} s, max {max(durations):.2f} s  (target p50 ≤ 3 s)"
    )

    topics = len(from_body({**pipeline("x", bootstrap), "metadata": {"name": "x", "namespace": "x"}}).topics)
    names = [f"many-{n}" for n in range(many)]
    started = time.perf_counter()
    for name in names:
        kube.create(PIPELINE, namespace, pipeline(name, bootstrap))
    applied = time.perf_counter() - started
    wait_all_ready(kube, namespace, names)
    elapsed = time.perf_counter() - started
    print(
        f"{many} pipelines at once ({many * topics} topics): all Ready {elapsed:.1f} s after the first apply "
        f"(applying took {applied:.1f} s)  (target ≤ 60 s)"
    )
    print(
        f"operator RSS with {many + single} pipelines: {rss_mb(pid, 'VmRSS'):.1f} MB, "
        f"peak {rss_mb(pid, 'VmHWM'):.1f} MB  (target ≤ 150 MB)"
    )


if __name__ == "__main__":
    main()
