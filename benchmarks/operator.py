"""The operator: `kubectl apply` → Ready for one pipeline and for 100 at once, and the operator's memory.

    .venv/bin/python benchmarks/operator.py [--single 7] [--many 100]

One run on one local broker and one local kube-apiserver, admin backend (the operator creates the topics
itself, so Ready means they exist in Kafka). Each pipeline has every default topic: intake, formatted,
errors, the lifecycle's commands, events and state, and two dead-letter topics (8).
Targets: p50 ≤ 3 s for one, ≤ 60 s for 100, RSS ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import config

from franz.devstack.kafka import LocalKafka
from franz.devstack.kube import LocalControlPlane
from franz.devstack.process import ManagedProcess, free_port, log_tail
from franz_operator.constants import CRD_NAME, GROUP, KIND, TOPIC_ROLES, VERSION
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


def condition_true(found: dict[str, Any] | None, kind: str) -> bool:
    """Whether an object's status has condition `kind` True (pipelines: Ready; CRDs: Established)."""
    conditions = ((found or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)


def pipeline_ready(kube: Kube, namespace: str, name: str) -> bool:
    return condition_true(kube.get(PIPELINE, namespace, name), "Ready")


def poll(predicate: Callable[[], bool], *, what: str, timeout: float = 300, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"{what}: not within {timeout} s")
        time.sleep(interval)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_all_ready(kube: Kube, namespace: str, names: list[str], timeout: float = 300) -> None:
    waiting = set(names)

    def all_ready() -> bool:
        ready = {
            i["metadata"]["name"]
            for i in kube.list_objects(PIPELINE, namespace)
            if condition_true(i, "Ready")
        }
        waiting.difference_update(ready)
        return not waiting

    poll(all_ready, what=f"{len(names)} pipelines Ready", timeout=timeout, interval=0.05)


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
        client = config.new_client_from_config(config_file=str(plane.kubeconfig))  # type: ignore[no-untyped-call]
        kube = Kube(client)
        kube.create(CRD, "", custom_resource_definition())
        poll(lambda: condition_true(kube.get(CRD, "", CRD_NAME), "Established"), what="the CRD established")
        metrics_port = free_port()
        operator = ManagedProcess(
            "operator",
            [sys.executable, "-m", "franz", "operator"],
            log_path=Path(work) / "operator.log",
            env={
                **os.environ,
                "KUBECONFIG": str(plane.kubeconfig),
                "METRICS_PORT": str(metrics_port),
                "LOG_LEVEL": "WARNING",
            },
        )
        operator.start()
        # Ready once kopf's watches are up: a pipeline applied earlier would be timed from the wrong moment.
        operator.wait_ready(lambda: answers(f"http://127.0.0.1:{metrics_port}/readyz"), timeout=60)
        try:
            run(kube, kafka.bootstrap, operator.pid, args.single, args.many)
        finally:
            if not operator.running():
                print(f"the operator exited early:\n{log_tail(operator.log_path)}", file=sys.stderr)
            operator.stop()


def run(kube: Kube, bootstrap: str, pid: int, single: int, many: int) -> None:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kube.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    print(f"operator RSS at idle: {rss_mb(pid, 'VmRSS'):.1f} MB")

    durations = []
    for n in range(single):
        name = f"one-{n}"
        started = time.perf_counter()
        kube.create(PIPELINE, namespace, pipeline(name, bootstrap))
        poll(functools.partial(pipeline_ready, kube, namespace, name), what=f"{name} Ready")
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
