"""`franz cluster --node` as a person runs it: it says where it is, and leaves nothing behind when it stops,
whether by Ctrl-C/SIGTERM or by a SIGKILL that gives it no chance to clean up."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from franz.devstack.node import KUBELET_SYSCTLS
from tests.helpers import Foreground, wait_until

CGROUPS = Path("/sys/fs/cgroup")


def processes_mentioning(text: str) -> dict[int, str]:
    """pid → network namespace of every process whose command line names `text`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found[int(entry.name)] = os.readlink(entry / "ns" / "net")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def in_namespace(namespace: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "net") == namespace:
                pids.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return pids


def host_rules() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout


def sysctls() -> dict[str, str]:
    return {name: Path("/proc/sys", name).read_text() for name in KUBELET_SYSCTLS}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_node_stops_without_a_trace(
    signum: signal.Signals, foreground: list[Foreground], kubectl: Path
) -> None:
    cgroups_before = set(CGROUPS.glob("*/franz-node-*"))
    rules_before, sysctls_before = host_rules(), sysctls()
    host_namespace = os.readlink("/proc/self/ns/net")
    command = Foreground("cluster", "--node")
    foreground.append(command)
    kubeconfig = command.line_starting("kubeconfig=", timeout=180).removeprefix("kubeconfig=")
    assert command.line_starting("bootstrap=127.0.0.1:")
    state = Path(command.line_starting("containerd=").removeprefix("containerd=")).parents[1]
    nodes = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert nodes.stdout.strip() == "node/franz-node"

    own_cgroups = set(CGROUPS.glob("*/franz-node-*")) - cgroups_before
    namespaces = set(processes_mentioning(str(state)).values()) - {host_namespace}
    assert own_cgroups
    [node_namespace] = namespaces
    [inside, *_] = in_namespace(node_namespace)
    routes = subprocess.run(
        ["nsenter", f"--target={inside}", "--net", "ip", "route"], capture_output=True, text=True, check=True
    ).stdout
    assert "10.244.0.0/24" in routes
    assert "default" not in routes, "the node has no route out"
    assert host_rules() == rules_before, "the node's iptables rules live in its own namespace"
    assert sysctls() == sysctls_before, "kubelet's sysctls are written to the node's own files"

    command.process.send_signal(signum)
    code = command.process.wait(60)
    if signum == signal.SIGTERM:
        assert code == 0
    wait_until(lambda: not processes_mentioning(str(state)), timeout=60, interval=0.5)
    wait_until(lambda: not in_namespace(node_namespace), timeout=60, interval=0.5)
    wait_until(lambda: not any(path.exists() for path in own_cgroups), timeout=60, interval=0.5)
    wait_until(lambda: not state.exists(), timeout=60, interval=0.5)
    assert str(state) not in Path("/proc/self/mounts").read_text()
    assert host_rules() == rules_before
    assert sysctls() == sysctls_before
