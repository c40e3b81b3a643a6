"""Container images for the local node, made without any registry.

- The pause image (every pod's sandbox): a static C program that sleeps until SIGTERM, compiled with the
  machine's gcc and packed as a `docker-archive` tarball by hand.
- A Debian bookworm base (python3 and its venv module) made by mmdebstrap from Debian's packages.
- The Franz image: the repository's own Dockerfile built by buildah on that base, its pip handed the
  machine's CA bundle as a build secret (so it never lands in a layer), saved as a `docker-archive`.

Each lands in the cache under a name derived from its inputs, so an unchanged tree builds nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from franz.devstack.cache import cache_dir, exclusive, progress, run_step
from franz.devstack.exceptions import BuildError, StartError

IMAGE_REPOSITORY = "franz.local/franz"
BASE_REPOSITORY = "franz.local/debian-python"
PAUSE_REFERENCE = "franz.local/pause:1"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
# What the image is built from; the Dockerfile's .dockerignore keeps the dev stack out of it.
IMAGE_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "services", "operator")
EXCLUDED_FROM_IMAGE = ("services/franz/devstack",)

_PAUSE_C = r"""
#include <signal.h>
#include <unistd.h>
static void stop(int signum) { (void)signum; _exit(0); }
int main(void) {
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    for (;;) pause();
}
"""

# mmdebstrap's recipe for the base: python3 with venv and the CA certificates, no documentation,
# manuals or translations, no package lists; merged /usr by symlinks (not the usrmerge package,
# which would pull in Perl).
_BASE_RECIPE = (
    "--variant=minbase",
    "--include=python3,python3-venv,ca-certificates",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
    "bookworm",
)


@dataclass(frozen=True)
class ImageArchive:
    """An image saved as a `docker-archive` tarball, and the reference it carries."""

    reference: str
    path: Path


def images_dir() -> Path:
    directory = cache_dir() / "images"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _docker_archive(
    path: Path, *, reference: str, files: dict[str, tuple[bytes, int]], config: dict[str, object]
) -> None:
    """One layer holding `files` (name → content, mode), written as `docker save` would."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for name, (content, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = mode
            tar.addfile(info, io.BytesIO(content))
    layer_bytes = layer.getvalue()
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_digest(layer_bytes)}"]},
    }
    config_bytes = json.dumps(image_config).encode()
    config_name = f"{_digest(config_bytes)}.json"
    layer_name = f"{_digest(layer_bytes)}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [reference], "Layers": [layer_name]}]
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, mode="w") as archive:
        for name, content in (
            (config_name, config_bytes),
            (layer_name, layer_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    partial.rename(path)


def pause_image() -> ImageArchive:
    """The sandbox image every pod starts with (containerd's `sandbox_image`)."""
    path = images_dir() / f"pause-{_digest(_PAUSE_C.encode())[:12]}.tar"
    if path.exists():
        return ImageArchive(PAUSE_REFERENCE, path)
    with exclusive(path.name), tempfile.TemporaryDirectory(prefix="franz-pause-") as work:
        if not path.exists():
            source = Path(work) / "pause.c"
            source.write_text(_PAUSE_C)
            binary = Path(work) / "pause"
            run_step(
                "Compiling the pause image's static binary",
                ["gcc", "-static", "-Os", "-s", "-o", str(binary), str(source)],
                log_path=images_dir() / "pause-build.log",
            )
            _docker_archive(
                path,
                reference=PAUSE_REFERENCE,
                files={"pause": (binary.read_bytes(), 0o755)},
                config={"Entrypoint": ["/pause"], "User": "65535:65535"},
            )
    return ImageArchive(PAUSE_REFERENCE, path)


def import_image(containerd_socket: Path, image: ImageArchive) -> None:
    """`ctr images import` into the Kubernetes namespace of the node's containerd."""
    if not containerd_socket.exists():  # ctr would block for 10 s on a socket that is not there
        raise StartError(f"containerd is not running: no socket at {containerd_socket}")
    result = subprocess.run(
        [
            "ctr",
            f"--address={containerd_socket}",
            "--namespace=k8s.io",
            "--connect-timeout=5s",
            "images",
            "import",
            str(image.path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StartError(f"importing {image.reference} into the node failed:\n{result.stderr.strip()}")


def base_rootfs() -> Path:
    """The Debian bookworm root file system the local Franz image builds on (a tarball)."""
    path = images_dir() / f"debian-python-{_digest(' '.join(_BASE_RECIPE).encode())[:12]}.tar"
    if path.exists():
        return path
    with exclusive(path.name):
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            run_step(
                "Making a Debian bookworm root file system with python3 (mmdebstrap)",
                ["mmdebstrap", *_BASE_RECIPE, str(partial)],
                log_path=images_dir() / "base-mmdebstrap.log",
            )
            partial.rename(path)
    return path


class Buildah:
    """buildah with its storage in the cache: daemonless, so nothing keeps running after a build."""

    def __init__(self) -> None:
        storage = cache_dir() / "buildah"
        self._global = [
            f"--root={storage / 'root'}",
            f"--runroot={storage / 'run'}",
            "--storage-driver=overlay",
        ]

    def argv(self, *arguments: str) -> list[str]:
        return ["buildah", *self._global, *arguments]

    def has_image(self, reference: str) -> bool:
        result = subprocess.run(
            self.argv("images", "--quiet", reference), capture_output=True, text=True, check=False
        )
        return result.returncode == 0 and bool(result.stdout.strip())

    def output(self, *arguments: str) -> str:
        result = subprocess.run(self.argv(*arguments), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(f"buildah {' '.join(arguments)} failed:\n{result.stderr.strip()}")
        return result.stdout.strip()


def base_image(buildah: Buildah) -> str:
    """The base as a local image in buildah's storage, imported from `base_rootfs()` once."""
    rootfs = base_rootfs()
    reference = f"{BASE_REPOSITORY}:{rootfs.stem.rsplit('-', 1)[-1]}"
    if buildah.has_image(reference):
        return reference
    progress(f"Importing {rootfs.name} into buildah as {reference}")
    container = buildah.output("from", "scratch")
    try:
        buildah.output("add", container, str(rootfs), "/")
        buildah.output("commit", "--quiet", container, reference)
    finally:
        buildah.output("rm", container)
    return reference


def source_digest(root: Path = REPOSITORY_ROOT) -> str:
    """A digest of every file the image is built from (as git lists them), so a tree that did not
    change reuses its image and any change makes a new tag."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *IMAGE_INPUTS],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise BuildError(f"cannot list the image's sources with git in {root}:\n{listed.stderr.strip()}")
    digest = hashlib.sha256()
    for name in sorted(listed.stdout.splitlines()):
        if name.startswith(EXCLUDED_FROM_IMAGE) or not (root / name).is_file():
            continue
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def franz_image(*, root: Path = REPOSITORY_ROOT) -> ImageArchive:
    """The Franz image from the repository's Dockerfile on the local Debian base, as an archive."""
    tag = f"dev-{source_digest(root)}"
    reference = f"{IMAGE_REPOSITORY}:{tag}"
    path = images_dir() / f"franz-{tag}.tar"
    if path.exists():
        return ImageArchive(reference, path)
    with exclusive(path.name):
        if not path.exists():
            buildah = Buildah()
            base = base_image(buildah)
            log = images_dir() / f"franz-{tag}-build.log"
            run_step(
                f"Building {reference} from the Dockerfile with buildah (base {base})",
                buildah.argv(
                    "bud",
                    "--isolation=chroot",
                    "--network=host",
                    "--layers",
                    f"--secret=id=ca-bundle,src={CA_BUNDLE}",
                    f"--build-arg=BASE_IMAGE={base}",
                    f"--tag={reference}",
                    str(root),
                ),
                log_path=log,
            )
            partial = path.with_name(path.name + ".partial")
            partial.unlink(missing_ok=True)
            run_step(
                f"Saving {reference} as an archive",
                buildah.argv("push", "--quiet", reference, f"docker-archive:{partial}:{reference}"),
                log_path=log.with_name(log.stem + "-save.log"),
            )
            partial.rename(path)
    return ImageArchive(reference, path)


def image_size(image: ImageArchive) -> int:
    """Bytes of the image's uncompressed layers, which is what a node stores."""
    with tarfile.open(image.path) as archive:
        [manifest] = json.load(archive.extractfile("manifest.json") or io.BytesIO(b"[]"))
        return sum(archive.getmember(layer).size for layer in manifest["Layers"])
