"""A real Kubernetes control plane (etcd + kube-apiserver) on loopback, run the way envtest runs it.

Both binaries are built from the Go module proxy into the cache. kube-apiserver cannot be `go install`ed
(k8s.io/kubernetes points its staging modules at `./staging` with replace directives), so we build it
from a generated wrapper module that replaces every staging module with its published v0.x release.
No controllers run: there are no pods, no garbage collection, and namespaces never finish deleting.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from franz.devstack.cache import cache_dir, exclusive, progress, run_step
from franz.devstack.exceptions import BuildError
from franz.devstack.pki import CertificateAuthority, service_account_key, write_secret_file
from franz.devstack.process import ManagedProcess, StartedInWith, data_directory, free_port

KUBERNETES_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"
COREDNS_VERSION = "v1.15.0"
NODE_COMMANDS = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy")
# On the control plane alone, Service addresses exist on paper only; on a node, kube-proxy serves them.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"  # the `kubernetes` Service, which pods reach the API through
KUBERNETES_SERVICE_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
NODE_NAME = "franz-node"


def _go_env() -> dict[str, str]:
    """Go's module and build caches live in our cache too, so a clean clone reuses every earlier build."""
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(cache_dir() / "go" / "mod"),
        GOCACHE=str(cache_dir() / "go" / "build"),
        GOFLAGS="-mod=mod -buildvcs=false",
    )
    return env


def _binary_path(name: str, version: str, stamp: str) -> Path:
    """Where a build lands in the cache; other link flags (`stamp`) make another binary, not a stale one."""
    suffix = f"-{hashlib.sha256(stamp.encode()).hexdigest()[:8]}" if stamp else ""
    return cache_dir() / "bin" / f"{name}-{version}{suffix}"


def _go_build(*, target: Path, workdir: Path, go_mod: str, packages: list[str], stamp: str) -> Path:
    """`go build` of `packages` into `target` (a file for one package, a directory for several), once."""
    if target.exists():
        return target
    with exclusive(target.name):
        if target.exists():
            return target
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "go.mod").write_text(go_mod)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        output = f"{partial}/" if len(packages) > 1 else str(partial)
        run_step(
            f"Building {', '.join(p.rsplit('/', 1)[-1] for p in packages)} from the Go module proxy "
            "(cold: several minutes)",
            ["go", "build", f"-ldflags=-s -w {stamp}".strip(), "-o", output, *packages],
            cwd=workdir,
            env=_go_env(),
            log_path=workdir / f"build-{target.name}.log",
        )
        partial.rename(target)
    return target


def etcd_binary() -> Path:
    go_mod = f"module franz.local/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 {ETCD_VERSION}\n"
    return _go_build(
        target=_binary_path("etcd", ETCD_VERSION, ""),
        workdir=cache_dir() / "build" / f"etcd-{ETCD_VERSION}",
        go_mod=go_mod,
        packages=["go.etcd.io/etcd/server/v3"],
        stamp="",
    )


def coredns_binary() -> Path:
    """CoreDNS, the node's cluster DNS, from the Go module proxy (`go install`: it needs no wrapper)."""
    target = _binary_path("coredns", COREDNS_VERSION, "")
    if target.exists():
        return target
    with exclusive(target.name):
        if not target.exists():
            workdir = cache_dir() / "build" / f"coredns-{COREDNS_VERSION}"
            workdir.mkdir(parents=True, exist_ok=True)
            run_step(
                f"Building CoreDNS {COREDNS_VERSION} from the Go module proxy (cold: a few minutes)",
                ["go", "install", "-ldflags=-s -w", f"github.com/coredns/coredns@{COREDNS_VERSION}"],
                cwd=workdir,
                env={**_go_env(), "GOFLAGS": "-buildvcs=false", "GOBIN": str(workdir / "bin")},
                log_path=workdir / "build.log",
            )
            (workdir / "bin" / "coredns").rename(target)
    return target


def _kubernetes_staging_modules() -> list[str]:
    """The staging modules that k8s.io/kubernetes's own go.mod replaces with local directories."""
    listing = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
        cwd=cache_dir(),
    )
    match = re.search(r'"GoMod":\s*"([^"]+)"', listing.stdout)
    if listing.returncode != 0 or match is None:
        raise BuildError(
            f"could not download k8s.io/kubernetes {KUBERNETES_VERSION}'s go.mod:\n{listing.stderr}"
        )
    go_mod = Path(match.group(1)).read_text()
    return re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", go_mod, flags=re.MULTILINE)


def _kubernetes_version_stamp() -> str:
    # Without these, /version says v0.0.0-master and helm refuses charts that pin kubeVersion.
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    return " ".join(
        f"-X k8s.io/component-base/version.{variable}={value}"
        for variable, value in (("gitVersion", KUBERNETES_VERSION), ("gitMajor", major), ("gitMinor", minor))
    )


def _build_kubernetes(name: str, commands: list[str]) -> Path:
    """Kubernetes commands built from one wrapper module in one work directory, so every build after
    the first reuses the Go build cache (the paths in its keys must stay the same)."""
    stamp = _kubernetes_version_stamp()
    target = _binary_path(name, KUBERNETES_VERSION, stamp)
    if target.exists():
        return target
    staging_version = "v0." + KUBERNETES_VERSION.removeprefix("v1.")
    replaces = "".join(
        f"\t{module} => {module} {staging_version}\n" for module in _kubernetes_staging_modules()
    )
    go_mod = (
        "module franz.local/kube-apiserver\n\ngo 1.24.0\n\n"
        f"require k8s.io/kubernetes {KUBERNETES_VERSION}\n\nreplace (\n{replaces})\n"
    )
    return _go_build(
        target=target,
        workdir=cache_dir() / "build" / f"kube-apiserver-{KUBERNETES_VERSION}",
        go_mod=go_mod,
        packages=[f"k8s.io/kubernetes/cmd/{command}" for command in commands],
        stamp=stamp,
    )


def kube_apiserver_binary() -> Path:
    return _build_kubernetes("kube-apiserver", ["kube-apiserver"])


def node_binaries() -> Path:
    """The directory holding kubelet, kube-controller-manager, kube-scheduler and kube-proxy."""
    return _build_kubernetes("kubernetes-node", list(NODE_COMMANDS))


def _kubeconfig(*, server: str, ca_path: Path, token: str) -> str:
    ca_data = base64.b64encode(ca_path.read_bytes()).decode()
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: franz-local\n  cluster:\n    server: {server}\n"
        f"    certificate-authority-data: {ca_data}\n"
        f"users:\n- name: franz-admin\n  user:\n    token: {token}\n"
        "contexts:\n- name: franz-local\n  context:\n    cluster: franz-local\n    user: franz-admin\n"
        "current-context: franz-local\n"
    )


class Launcher(Protocol):
    """Where a component runs: the host's namespaces (None) or a node's, which also forwards ports."""

    node_ip: str

    def argv(self, argv: Sequence[str]) -> list[str]: ...

    def forward_to_host(self, port: int) -> None: ...


class LocalControlPlane(StartedInWith):
    """etcd + kube-apiserver on free loopback ports, with a kubeconfig for an admin in system:masters.

    Alone it runs as envtest does (no controllers, so no pods). Given a node's `launcher`, both run in
    the node's namespaces with what a kubelet needs: the Node authorizer and NodeRestriction, the
    ServiceAccount admission, a client certificate to reach kubelets, and the `kubernetes` Service's
    endpoint on the node's address; the host reaches the API through a forwarded loopback port.
    """

    def __init__(self, *, data_dir: Path | None = None, launcher: Launcher | None = None) -> None:
        self.data_dir, self._owned_dir = data_directory(data_dir, prefix="franz-cluster-")
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.pki = self.data_dir / "pki"
        self.ca_path = self.pki / "ca.crt"
        self.service_account_key = self.pki / "service-account.key"
        self.launcher = launcher
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.port = free_port()
        self.token = secrets.token_urlsafe(32)
        self.node_token = secrets.token_urlsafe(32)
        self._etcd: ManagedProcess | None = None
        self._apiserver: ManagedProcess | None = None
        self.start_seconds: float | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _argv(self, argv: list[str]) -> list[str]:
        return argv if self.launcher is None else self.launcher.argv(argv)

    def start(self, *, timeout: float = 90.0) -> float:
        """Build (first time only), start both processes, write the kubeconfig; returns seconds to ready."""
        etcd = etcd_binary()
        apiserver = kube_apiserver_binary()
        started = time.monotonic()
        authority = CertificateAuthority(self.pki)
        node_addresses = () if self.launcher is None else (self.launcher.node_ip, KUBERNETES_SERVICE_IP)
        cert_path, key_path = authority.issue(
            "serving",
            common_name="kube-apiserver",
            dns_names=("localhost", *KUBERNETES_SERVICE_NAMES),
            ip_addresses=("127.0.0.1", *node_addresses),
        )
        sa_key = service_account_key(self.pki)
        tokens = self.pki / "tokens.csv"
        write_secret_file(
            tokens,
            (
                f'{self.token},franz-admin,franz-admin,"system:masters"\n'
                f'{self.node_token},system:node:{NODE_NAME},{NODE_NAME},"system:nodes"\n'
            ).encode(),
        )

        etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._etcd = ManagedProcess(
            "etcd",
            self._argv(
                [
                    str(etcd),
                    "--name=franz",
                    f"--data-dir={self.data_dir / 'etcd'}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls={peer_url}",
                    f"--initial-advertise-peer-urls={peer_url}",
                    f"--initial-cluster=franz={peer_url}",
                    "--unsafe-no-fsync",  # test data: surviving power loss buys nothing, fsync costs seconds
                    "--log-level=warn",
                ]
            ),
            log_path=self.data_dir / "etcd.log",
        )
        self._etcd.start()
        if self.launcher is not None:
            self.launcher.forward_to_host(self.etcd_port)
        self._etcd.wait_ready(lambda: _http_ok(f"{etcd_url}/health"), timeout=timeout)

        self._apiserver = ManagedProcess(
            "kube-apiserver",
            self._argv(
                [
                    str(apiserver),
                    f"--etcd-servers={etcd_url}",
                    f"--secure-port={self.port}",
                    f"--cert-dir={self.pki}",
                    f"--tls-cert-file={cert_path}",
                    f"--tls-private-key-file={key_path}",
                    f"--token-auth-file={tokens}",
                    f"--service-account-issuer={self.server}",
                    f"--service-account-key-file={sa_key}",
                    f"--service-account-signing-key-file={sa_key}",
                    f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                    "--allow-privileged=true",
                    *(self._envtest_flags() if self.launcher is None else self._node_flags(authority)),
                ]
            ),
            log_path=self.data_dir / "kube-apiserver.log",
        )
        self._apiserver.start()
        if self.launcher is not None:
            self.launcher.forward_to_host(self.port)
        self._apiserver.wait_ready(self._ready, timeout=timeout, interval=0.2)
        self.write_kubeconfig(self.kubeconfig, token=self.token)
        self.start_seconds = time.monotonic() - started
        return self.start_seconds

    @staticmethod
    def _envtest_flags() -> list[str]:
        return [
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--authorization-mode=RBAC",
            # No controller manager runs, so nothing would create the tokens this plugin insists on.
            "--disable-admission-plugins=ServiceAccount",
            # No real endpoints exist for the kubernetes Service to point at.
            "--endpoint-reconciler-type=none",
        ]

    def _node_flags(self, authority: CertificateAuthority) -> list[str]:
        assert self.launcher is not None
        kubelet_cert, kubelet_key = authority.issue(
            "apiserver-kubelet-client", common_name="kube-apiserver", organizations=("system:masters",)
        )
        return [
            # Inside the node's network namespace: its loopback (forwarded to the host's) and its address.
            "--bind-address=0.0.0.0",
            f"--advertise-address={self.launcher.node_ip}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--client-ca-file={authority.path}",
            f"--kubelet-client-certificate={kubelet_cert}",
            f"--kubelet-client-key={kubelet_key}",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def write_kubeconfig(self, path: Path, *, token: str) -> Path:
        """A kubeconfig for this API server that authenticates with `token` (the admin's, or a
        ServiceAccount's from the TokenRequest API, to act with exactly that account's rights).

        The same file serves the host and the node's own components: both reach the API on loopback."""
        path.write_text(_kubeconfig(server=self.server, ca_path=self.ca_path, token=token))
        path.chmod(0o600)
        return path

    def _ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        request = urllib.request.Request(  # noqa: S310 - an https URL we built
            f"{self.server}/readyz",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=2, context=context) as response:  # noqa: S310
            return bool(response.status == 200)

    def stop(self) -> None:
        for process in (self._apiserver, self._etcd):
            if process is not None:
                process.stop(timeout=20)

    def close(self) -> None:
        self.stop()
        if self._owned_dir is not None:
            self._owned_dir.remove()


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL we built
        return bool(response.status == 200)


def prepare_control_plane() -> None:
    """Obtain every Kubernetes binary without starting anything (what `franz prepare` does)."""
    progress(f"etcd {ETCD_VERSION}: {etcd_binary()}")
    progress(f"kube-apiserver {KUBERNETES_VERSION}: {kube_apiserver_binary()}")
    progress(f"kubelet, kube-proxy, kube-controller-manager, kube-scheduler: {node_binaries()}")
    progress(f"CoreDNS {COREDNS_VERSION}: {coredns_binary()}")
