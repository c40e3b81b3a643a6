"""Debian packages the real node and the image build need, installed system-wide with apt-get.

containerd, runc, the CNI plugins, iptables, socat, mmdebstrap and buildah cannot run from a cache
directory (their helpers, plugins and libraries sit at fixed paths), so `franz prepare` installs them
as root the first time, with package lists fetched first on a machine that has none. Nothing is
started or enabled by the packages: the node starts its own containerd with its own configuration.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from franz.devstack.cache import cache_dir, exclusive, progress, run_step
from franz.devstack.exceptions import BuildError

# package → a file it installs, by which we tell whether it is there
NODE_PACKAGES = {
    "containerd": "/usr/bin/containerd",
    "runc": "/usr/sbin/runc",
    "containernetworking-plugins": "/usr/lib/cni/bridge",
    "iptables": "/usr/sbin/iptables",
    "socat": "/usr/bin/socat",
    "mmdebstrap": "/usr/bin/mmdebstrap",
    "buildah": "/usr/bin/buildah",
    "gcc": "/usr/bin/gcc",
    "libc6-dev": "/usr/lib/x86_64-linux-gnu/libc.a",
}


def missing_packages() -> list[str]:
    return [package for package, marker in NODE_PACKAGES.items() if not Path(marker).exists()]


def require_node_packages() -> None:
    """Install what is missing of NODE_PACKAGES, or say exactly what to install when we cannot."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BuildError(
            "the local node needs these Debian packages: "
            f"{' '.join(missing)}; install them as root (apt-get install {' '.join(missing)})"
        )
    with exclusive("debian-packages"):
        missing = missing_packages()
        if not missing:
            return
        logs = cache_dir() / "logs"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run_step(
            "Updating Debian's package lists",
            ["apt-get", "update"],
            log_path=logs / "apt-update.log",
            env=env,
        )
        run_step(
            f"Installing Debian packages for the local node: {' '.join(missing)}",
            ["apt-get", "install", "--yes", "--no-install-recommends", *missing],
            log_path=logs / "apt-install.log",
            env=env,
        )
    progress(f"installed {' '.join(missing)}")
