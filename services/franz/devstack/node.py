"""A real single-node Kubernetes: the control plane plus kubelet, containerd, kube-proxy, the controller
manager, the scheduler and CoreDNS, all inside network, mount and PID namespaces of their own.

The node's network namespace has no route out: its address lives on its own loopback, pods hang off a
bridge, and the host reaches the API server and Kafka only through loopback ports forwarded over unix
sockets (socat). Its mount namespace hides what kubelet writes (the global sysctls it insists on are
plain files bind-mounted over /proc/sys; /var/lib, /var/log and /run are directories of the node's
own), so the host's sysctls and directories stay as they were. Everything runs in one PID namespace
whose init dies with the process that started the node, so a SIGKILLed parent leaves no process,
mount or namespace behind; a detached janitor then removes the node's cgroups and state directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from franz.devstack.cache import cache_dir, progress
from franz.devstack.debian import require_node_packages
from franz.devstack.exceptions import StartError
from franz.devstack.images import ImageArchive, import_image, pause_image
from franz.devstack.kafka import LocalKafka
from franz.devstack.kube import (
    NODE_NAME,
    SERVICE_CLUSTER_IP_RANGE,
    LocalControlPlane,
    coredns_binary,
    node_binaries,
)
from franz.devstack.process import ManagedProcess, StartedInWith, die_with_parent, log_tail

NODE_IP = "10.200.0.1"  # on the node namespace's own loopback; no host or network outside sees it
POD_SUBNET = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
BRIDGE = "franz0"
POD_KAFKA_PORT = 9092
CNI_PLUGINS = Path("/usr/lib/cni")
# The global (not per-namespace) sysctls kubelet reads and, if they differ from what it wants, writes.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)

# PID 1 of the node's PID namespace: it reaps orphans (containerd's shims are reparented to it) and
# ignores signals from inside. When it dies, the kernel kills every process in the namespace.
_INIT = """
import os, signal
signal.signal(signal.SIGCHLD, lambda *_: None)
while True:
    try:
        os.wait()
    except ChildProcessError:
        signal.pause()
"""


class NodeNamespaces:
    """The node's network, mount and PID namespaces, held by a reaping init, and port forwards."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.node_ip = NODE_IP
        self.cgroup_name = f"franz-node-{uuid.uuid4().hex[:8]}"
        self._holder: subprocess.Popen[bytes] | None = None
        self._janitor: subprocess.Popen[bytes] | None = None
        self.init_pid = 0
        self._forwards: list[ManagedProcess] = []

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # --kill-child: when unshare dies (it dies with us), the init gets SIGKILL, and with it the node.
        self._holder = subprocess.Popen(
            [
                "unshare",
                "--pid",
                "--mount-proc",
                "--net",
                "--propagation=private",
                "--kill-child=SIGKILL",
                sys.executable,
                "-c",
                _INIT,
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.init_pid = _wait_for_child(self._holder.pid)
        janitor_log = cache_dir() / "logs" / "node-janitor.log"
        janitor_log.parent.mkdir(parents=True, exist_ok=True)
        with janitor_log.open("ab") as log:
            self._janitor = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "franz.devstack.janitor",
                    f"--parent={os.getpid()}",
                    f"--holder={self._holder.pid}",
                    f"--cgroup={self.cgroup_name}",
                    f"--remove={self.state_dir}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # a signal to our process group must not end the cleanup
            )
        self._mount_private_directories()
        self._network()
        self._cgroups()

    def argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the node's namespaces (nsenter forks into the PID namespace)."""
        return ["nsenter", f"--target={self.init_pid}", "--pid", "--mount", "--net", "--", *argv]

    def run(self, argv: Sequence[str], *, what: str) -> None:
        result = subprocess.run(self.argv(argv), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StartError(f"{what} failed inside the node: {' '.join(argv)}\n{result.stderr.strip()}")

    def _mount_private_directories(self) -> None:
        sysctls = self.state_dir / "sysctl"
        private = self.state_dir / "private"
        lines = ["set -e"]
        for name in KUBELET_SYSCTLS:
            copy = sysctls / name.replace("/", ".")
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(Path("/proc/sys", name).read_text())
            lines.append(f"mount --bind {copy} /proc/sys/{name}")
        for directory in ("/var/lib", "/var/log", "/run"):
            own = private / directory.strip("/").replace("/", "-")
            own.mkdir(parents=True, exist_ok=True)
            lines.append(f"mount --bind {own} {directory}")
        self.run(["sh", "-c", "\n".join(lines)], what="mounting the node's private directories")

    def _network(self) -> None:
        gateway_prefix = POD_SUBNET.split("/")[1]
        script = f"""set -e
ip link set lo up
ip addr add {NODE_IP}/32 dev lo
ip link add {BRIDGE} type bridge
ip addr add {POD_GATEWAY}/{gateway_prefix} dev {BRIDGE}
ip link set {BRIDGE} up
# Without any route, a pod's packet to a Service address fails (ENETUNREACH) before kube-proxy's DNAT.
ip route add {SERVICE_CLUSTER_IP_RANGE} dev {BRIDGE}
echo 1 > /proc/sys/net/ipv4/ip_forward
"""
        self.run(["sh", "-c", script], what="setting up the node's network")

    def cgroup_directories(self) -> list[Path]:
        """The node's cgroup in every hierarchy; kubelet puts its pods below these."""
        return [root / self.cgroup_name for root in Path("/sys/fs/cgroup").iterdir() if root.is_dir()]

    def _cgroups(self) -> None:
        # kubelet refuses a cgroupRoot that does not exist; a v1 cpuset starts empty and must be filled.
        for directory in self.cgroup_directories():
            directory.mkdir(exist_ok=True)
            if directory.parent.name == "cpuset":
                for name in ("cpuset.cpus", "cpuset.mems"):
                    (directory / name).write_text((directory.parent / name).read_text())

    def forward_to_host(self, port: int) -> None:
        """The node's 127.0.0.1:`port` on the host's 127.0.0.1:`port`."""
        socket_path = self.state_dir / "forward" / f"to-host-{port}.sock"
        self._relay(
            inside=f"UNIX-LISTEN:{socket_path},fork,unlink-early",
            inside_target=f"TCP:127.0.0.1:{port}",
            outside=f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
            socket_path=socket_path,
            name=f"forward-{port}",
        )

    def expose_host_port(self, port: int) -> str:
        """The host's 127.0.0.1:`port` for pods, at the node's address; returns `HOST:PORT` for pods."""
        socket_path = self.state_dir / "forward" / f"from-host-{port}.sock"
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        outside = ManagedProcess(
            f"expose-{port}",
            ["socat", f"UNIX-LISTEN:{socket_path},fork,unlink-early", f"TCP:127.0.0.1:{port}"],
            log_path=self.state_dir / "logs" / f"expose-{port}.log",
        )
        outside.start()
        self._forwards.append(outside)
        _wait_for_path(socket_path, outside)
        inside = ManagedProcess(
            f"expose-{port}-inside",
            self.argv(
                ["socat", f"TCP-LISTEN:{port},bind={NODE_IP},reuseaddr,fork", f"UNIX-CONNECT:{socket_path}"]
            ),
            log_path=self.state_dir / "logs" / f"expose-{port}-inside.log",
        )
        inside.start()
        self._forwards.append(inside)
        return f"{NODE_IP}:{port}"

    def _relay(self, *, inside: str, inside_target: str, outside: str, socket_path: Path, name: str) -> None:
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        listener = ManagedProcess(
            f"{name}-inside",
            self.argv(["socat", inside, inside_target]),
            log_path=self.state_dir / "logs" / f"{name}-inside.log",
        )
        listener.start()
        self._forwards.append(listener)
        _wait_for_path(socket_path, listener)
        host_side = ManagedProcess(
            name,
            ["socat", outside, f"UNIX-CONNECT:{socket_path}"],
            log_path=self.state_dir / "logs" / f"{name}.log",
        )
        host_side.start()
        self._forwards.append(host_side)

    def stop(self) -> None:
        """Kill the namespaces' init (the kernel ends every process in them), then let the janitor
        remove the cgroups and the state directory, and wait for it."""
        for forward in self._forwards:
            forward.stop(timeout=2)
        if self._janitor is not None and self._janitor.poll() is None:
            self._janitor.send_signal(signal.SIGTERM)
            try:
                self._janitor.wait(60)
            except subprocess.TimeoutExpired:
                progress("the node's janitor did not finish within 60 s; see its log in the cache's logs/")
        if self._holder is not None:
            self._holder.wait(10)


def _wait_for_child(pid: int, *, timeout: float = 10.0) -> int:
    """The PID (in our namespace) of the child `unshare --fork` started: the node's init."""
    deadline = time.monotonic() + timeout
    children = Path(f"/proc/{pid}/task/{pid}/children")
    while time.monotonic() < deadline:
        try:
            listed = children.read_text().split()
        except FileNotFoundError:
            raise StartError("unshare exited before it created the node's namespaces") from None
        if listed:
            return int(listed[0])
        time.sleep(0.01)
    raise StartError("unshare did not start the node's init within 10 s")


def _wait_for_path(path: Path, process: ManagedProcess, *, timeout: float = 10.0) -> None:
    process.wait_ready(path.exists, timeout=timeout, interval=0.02)


def _yaml(document: Mapping[str, object]) -> str:
    """Kubernetes reads JSON wherever it reads YAML."""
    return json.dumps(document, indent=2)


class LocalCluster(StartedInWith):
    """A control plane and one real node that runs pods, with a Kafka broker that pods and the host
    both reach: `bootstrap` for the host, `pod_bootstrap` for pods.

    `with LocalCluster() as cluster:` returns once the node is Ready and the `default` ServiceAccount
    exists (pods cannot be created before), with `cluster.kubeconfig` for kubectl and helm.
    """

    def __init__(self) -> None:
        self.state_dir = Path(tempfile.mkdtemp(prefix="franz-node-"))
        self.namespaces = NodeNamespaces(self.state_dir)
        self.control_plane = LocalControlPlane(
            data_dir=self.state_dir / "control-plane", launcher=self.namespaces
        )
        self.pod_bootstrap = f"{NODE_IP}:{POD_KAFKA_PORT}"  # Kafka as pods reach it: the node's address
        self.kafka = LocalKafka(
            data_dir=self.state_dir / "kafka", launcher=self.namespaces, pod_listener=self.pod_bootstrap
        )
        self.bootstrap = self.kafka.bootstrap  # Kafka as the host reaches it: a forwarded loopback port
        self.kubeconfig = self.control_plane.kubeconfig
        self.containerd_socket = self.namespaces.state_dir / "containerd" / "containerd.sock"
        self._processes: list[ManagedProcess] = []
        self.start_seconds: float | None = None

    def start(self, *, timeout: float = 120.0) -> float:
        require_node_packages()
        binaries = node_binaries()
        coredns = coredns_binary()
        pause = pause_image()
        started = time.monotonic()
        self.namespaces.start()
        self.control_plane.start(timeout=timeout)
        self._containerd()
        import_image(self.containerd_socket, pause)
        admin = self.control_plane.kubeconfig
        self._run(
            "kube-controller-manager",
            [
                str(binaries / "kube-controller-manager"),
                f"--kubeconfig={admin}",
                f"--service-account-private-key-file={self.control_plane.service_account_key}",
                f"--root-ca-file={self.control_plane.ca_path}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service,-route",
            ],
        )
        self._run(
            "kube-scheduler",
            [str(binaries / "kube-scheduler"), f"--kubeconfig={admin}", "--leader-elect=false"],
        )
        self._cni()
        self._kubelet(binaries / "kubelet")
        self._kube_proxy(binaries / "kube-proxy")
        self._coredns(coredns)
        self.kafka.start(timeout=timeout)
        self._wait_until_schedulable(deadline=started + timeout)
        self.start_seconds = time.monotonic() - started
        return self.start_seconds

    def _run(self, name: str, argv: list[str]) -> ManagedProcess:
        process = ManagedProcess(name, self.namespaces.argv(argv), log_path=self.state_dir / f"{name}.log")
        process.start()
        self._processes.append(process)
        return process

    def _containerd(self) -> None:
        root = self.namespaces.state_dir / "containerd"
        config = {
            "version": 2,
            "root": str(root / "root"),
            "state": str(root / "state"),
            "grpc": {"address": str(self.containerd_socket)},
            "disabled_plugins": [
                "io.containerd.snapshotter.v1.aufs",
                "io.containerd.snapshotter.v1.btrfs",
                "io.containerd.snapshotter.v1.devmapper",
                "io.containerd.snapshotter.v1.zfs",
                "io.containerd.tracing.processor.v1.otlp",
            ],
            "plugins": {
                "io.containerd.grpc.v1.cri": {
                    "sandbox_image": pause_image().reference,
                    # The host withholds CAP_SYS_RESOURCE: never lower an OOM score below our own.
                    "restrict_oom_score_adj": True,
                    "disable_apparmor": True,
                    # Pod network namespaces stay in the state directory, not the host's /run/netns.
                    "netns_mounts_under_state_dir": True,
                    "containerd": {
                        "snapshotter": "overlayfs",
                        "default_runtime_name": "runc",
                        "runtimes": {
                            "runc": {
                                "runtime_type": "io.containerd.runc.v2",
                                "options": {"SystemdCgroup": False},
                            }
                        },
                    },
                    "cni": {"bin_dir": str(CNI_PLUGINS), "conf_dir": str(root / "cni")},
                }
            },
        }
        root.mkdir(parents=True, exist_ok=True)
        path = root / "config.toml"
        path.write_text(_toml(config))
        process = self._run("containerd", ["containerd", f"--config={path}"])
        process.wait_ready(self.containerd_socket.exists, timeout=30, interval=0.05)

    def _cni(self) -> None:
        directory = self.namespaces.state_dir / "containerd" / "cni"
        directory.mkdir(parents=True, exist_ok=True)
        network = {
            "cniVersion": "1.0.0",
            "name": "franz",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.namespaces.state_dir / "cni-ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (directory / "10-franz.conflist").write_text(json.dumps(network, indent=2))

    def _node_kubeconfig(self) -> Path:
        return self.control_plane.write_kubeconfig(
            self.state_dir / "kubelet.kubeconfig", token=self.control_plane.node_token
        )

    def _kubelet(self, kubelet: Path) -> None:
        resolv = self.state_dir / "resolv.conf"
        resolv.write_text(f"nameserver {NODE_IP}\n")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.namespaces.cgroup_name}",
            "failSwapOn": False,
            # Imported images cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "2%",
                "imagefs.available": "2%",
            },
            "clusterDNS": [NODE_IP],
            "clusterDomain": "cluster.local",
            "resolvConf": str(resolv),
            "address": NODE_IP,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.control_plane.ca_path)},
            },
            "authorization": {"mode": "Webhook"},
            "serializeImagePulls": False,
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "nodeStatusUpdateFrequency": "4s",
        }
        path = self.state_dir / "kubelet.json"
        path.write_text(_yaml(config))
        self._run(
            "kubelet",
            [
                str(kubelet),
                f"--config={path}",
                f"--kubeconfig={self._node_kubeconfig()}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )

    def _kube_proxy(self, kube_proxy: Path) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(self.control_plane.kubeconfig)},
            "hostnameOverride": NODE_NAME,
            "bindAddress": NODE_IP,
            "clusterCIDR": POD_SUBNET,
            "metricsBindAddress": "127.0.0.1:10249",
            "healthzBindAddress": "127.0.0.1:10256",
            # Global conntrack tables are the host's: leave them alone.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            # Pods on one bridge reach each other through Services without br_netfilter this way.
            "iptables": {"masqueradeAll": True},
        }
        path = self.state_dir / "kube-proxy.json"
        path.write_text(_yaml(config))
        self._run("kube-proxy", [str(kube_proxy), f"--config={path}"])

    def _coredns(self, coredns: Path) -> None:
        corefile = self.state_dir / "Corefile"
        corefile.write_text(
            f""".:53 {{
    bind {NODE_IP}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {self.control_plane.kubeconfig} franz-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""
        )
        self._run("coredns", [str(coredns), f"-conf={corefile}"])

    def _wait_until_schedulable(self, *, deadline: float) -> None:
        """The node Ready and the `default` ServiceAccount created: only then are pods accepted."""
        from kubernetes import client, config

        api = client.CoreV1Api(
            config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]
        )
        while True:
            for process in self._processes:
                if not process.running():
                    raise StartError(
                        f"{process.name} exited with code {process.returncode()} while the node started:"
                        f"\n{log_tail(process.log_path)}"
                    )
            try:
                node = api.read_node(NODE_NAME)
                conditions = node.status.conditions if node.status is not None else None
                ready = any(c.type == "Ready" and c.status == "True" for c in conditions or [])
                if ready and api.list_namespaced_service_account("default").items:
                    return
            except client.ApiException as error:
                if error.status != 404:
                    raise
            if time.monotonic() > deadline:
                kubelet = self.state_dir / "kubelet.log"
                raise StartError(f"the node was not Ready in time; kubelet's log:\n{log_tail(kubelet)}")
            time.sleep(0.2)

    def import_image(self, image: ImageArchive) -> None:
        """Load an image into the node's containerd, where pods find it without pulling."""
        import_image(self.containerd_socket, image)

    def stop(self) -> None:
        """kubelet first, so it does not restart what goes away; then the whole namespace at once."""
        for process in self._processes:
            if process.name == "kubelet":
                process.stop(timeout=10)
        self.namespaces.stop()
        for process in self._processes:
            process.stop(timeout=1)

    def close(self) -> None:
        """Stop; the janitor has removed the state directory with the node's logs by then."""
        self.stop()


def _toml(document: dict[str, object], prefix: str = "") -> str:
    """The small TOML subset containerd's config needs: tables, strings, booleans, integers, lists."""

    def value(item: object) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int):
            return str(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(element) for element in item) + "]"
        return json.dumps(str(item))

    scalars = [f"{key} = {value(item)}" for key, item in document.items() if not isinstance(item, dict)]
    tables = [
        f"\n[{prefix}{_toml_key(key)}]\n" + _toml(item, f"{prefix}{_toml_key(key)}.")
        for key, item in document.items()
        if isinstance(item, dict)
    ]
    return "\n".join(scalars) + "\n" + "".join(tables)


def _toml_key(key: str) -> str:
    return json.dumps(key) if "." in key else key
