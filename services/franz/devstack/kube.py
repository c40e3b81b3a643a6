"""A real Kubernetes control plane (etcd + kube-apiserver) on loopback, run the way envtest runs it.

Both binaries are built from the Go module proxy into the cache. kube-apiserver cannot be `go install`ed
(k8s.io/kubernetes points its staging modules at `./staging` with replace directives), so we build it
from a generated wrapper module that replaces every staging module with its published v0.x release.
No controllers run: there are no pods, no garbage collection, and namespaces never finish deleting.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from franz.devstack.cache import cache_dir, exclusive, progress, run_step
from franz.devstack.exceptions import BuildError
from franz.devstack.process import ManagedProcess, free_port

KUBERNETES_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"  # only allocated on paper: no pod or service traffic exists here


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


def _build_go_binary(*, name: str, version: str, go_mod: str, package: str, stamp: str = "") -> Path:
    binary = _binary_path(name, version, stamp)
    if binary.exists():
        return binary
    with exclusive(binary.name):
        if binary.exists():
            return binary
        workdir = cache_dir() / "build" / f"{name}-{version}"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "go.mod").write_text(go_mod)
        partial = binary.with_name(binary.name + ".partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        run_step(
            f"Building {name} {version} from the Go module proxy (cold: several minutes)",
            ["go", "build", f"-ldflags=-s -w {stamp}".strip(), "-o", str(partial), package],
            cwd=workdir,
            env=_go_env(),
            log_path=workdir / "build.log",
        )
        partial.rename(binary)
    return binary


def etcd_binary() -> Path:
    go_mod = f"module franz.local/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 {ETCD_VERSION}\n"
    return _build_go_binary(
        name="etcd", version=ETCD_VERSION, go_mod=go_mod, package="go.etcd.io/etcd/server/v3"
    )


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


def kube_apiserver_binary() -> Path:
    # Without these, /version says v0.0.0-master and helm refuses charts that pin kubeVersion.
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    stamp = " ".join(
        f"-X k8s.io/component-base/version.{variable}={value}"
        for variable, value in (("gitVersion", KUBERNETES_VERSION), ("gitMajor", major), ("gitMinor", minor))
    )
    binary = _binary_path("kube-apiserver", KUBERNETES_VERSION, stamp)
    if binary.exists():
        return binary
    staging_version = "v0." + KUBERNETES_VERSION.removeprefix("v1.")
    replaces = "".join(
        f"\t{module} => {module} {staging_version}\n" for module in _kubernetes_staging_modules()
    )
    go_mod = (
        "module franz.local/kube-apiserver\n\ngo 1.24.0\n\n"
        f"require k8s.io/kubernetes {KUBERNETES_VERSION}\n\nreplace (\n{replaces})\n"
    )
    return _build_go_binary(
        name="kube-apiserver",
        version=KUBERNETES_VERSION,
        go_mod=go_mod,
        package="k8s.io/kubernetes/cmd/kube-apiserver",
        stamp=stamp,
    )


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a serving certificate for 127.0.0.1 and localhost: (CA, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "franz-devstack-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path = _write_pem(directory / "ca.crt", ca_cert.public_bytes(pem))
    cert_path = _write_pem(directory / "serving.crt", cert.public_bytes(pem))
    key_path = _write_pem(
        directory / "serving.key",
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return ca_path, cert_path, key_path


def _service_account_key(directory: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _write_pem(
        directory / "service-account.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )


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


class LocalControlPlane:
    """etcd + kube-apiserver on free loopback ports, with a kubeconfig for an admin in system:masters."""

    def __init__(self, *, data_dir: Path | None = None) -> None:
        self._owns_data_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="franz-cluster-"))
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.port = free_port()
        self.token = secrets.token_urlsafe(32)
        self._etcd: ManagedProcess | None = None
        self._apiserver: ManagedProcess | None = None
        self.start_seconds: float | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def ca_path(self) -> Path:
        return self.data_dir / "pki" / "ca.crt"

    def start(self, *, timeout: float = 90.0) -> float:
        """Build (first time only), start both processes, write the kubeconfig; returns seconds to ready."""
        etcd = etcd_binary()
        apiserver = kube_apiserver_binary()
        started = time.monotonic()
        pki = self.data_dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        _, cert_path, key_path = _certificates(pki)
        sa_key = _service_account_key(pki)
        tokens = pki / "tokens.csv"
        _write_pem(tokens, f'{self.token},franz-admin,franz-admin,"system:masters"\n'.encode())

        etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._etcd = ManagedProcess(
            "etcd",
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
            ],
            log_path=self.data_dir / "etcd.log",
        )
        self._etcd.start()
        self._etcd.wait_ready(lambda: _http_ok(f"{etcd_url}/health"), timeout=timeout)

        self._apiserver = ManagedProcess(
            "kube-apiserver",
            [
                str(apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={cert_path}",
                f"--tls-private-key-file={key_path}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={sa_key}",
                f"--service-account-signing-key-file={sa_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # No controller manager runs, so nothing would create the tokens this plugin insists on.
                "--disable-admission-plugins=ServiceAccount",
                # No real endpoints exist for the kubernetes Service to point at.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
            ],
            log_path=self.data_dir / "kube-apiserver.log",
        )
        self._apiserver.start()
        self._apiserver.wait_ready(self._ready, timeout=timeout, interval=0.2)
        self.write_kubeconfig(self.kubeconfig, token=self.token)
        self.start_seconds = time.monotonic() - started
        return self.start_seconds

    def write_kubeconfig(self, path: Path, *, token: str) -> Path:
        """A kubeconfig for this API server that authenticates with `token` (the admin's, or a
        ServiceAccount's from the TokenRequest API, to act with exactly that account's rights)."""
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
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL we built
        return bool(response.status == 200)


def prepare_control_plane() -> None:
    """Obtain both binaries without starting anything (what `franz prepare` does)."""
    progress(f"etcd {ETCD_VERSION}: {etcd_binary()}")
    progress(f"kube-apiserver {KUBERNETES_VERSION}: {kube_apiserver_binary()}")
