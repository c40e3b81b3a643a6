"""The cache outside the repository, and long build steps that report progress and fail with their log."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from franz.devstack.exceptions import BuildError
from franz.devstack.process import die_with_parent, log_tail

PROGRESS_EVERY_SECONDS = 30.0


def cache_dir() -> Path:
    """`FRANZ_CACHE_DIR`, else `$XDG_CACHE_HOME/franz`, else `~/.cache/franz`: shared by runs and clones."""
    configured = os.environ.get("FRANZ_CACHE_DIR")
    if configured:
        root = Path(configured)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "franz"
    root.mkdir(parents=True, exist_ok=True)
    return root


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout stays machine-readable (`bootstrap=…`, `kubeconfig=…`)."""
    print(f"[franz] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """A lock file in the cache, so two runs never build or download the same thing at once."""
    lock_path = cache_dir() / "locks" / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another run that is preparing {name}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_step(
    description: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run one download or build command, printing a heartbeat while it works; fail with its log tail."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    progress(f"{description} (log: {log_path})")
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=None if env is None else dict(env),
            preexec_fn=die_with_parent,  # a killed `franz prepare` leaves no build running
        )
        while True:
            try:
                returncode = child.wait(timeout=PROGRESS_EVERY_SECONDS)
                break
            except subprocess.TimeoutExpired:
                progress(f"  … {time.monotonic() - started:.0f}s so far: {description}")
    elapsed = time.monotonic() - started
    if returncode != 0:
        raise BuildError(
            f"{description} failed (exit {returncode}) after {elapsed:.0f}s; log {log_path}:\n"
            f"{log_tail(log_path)}"
        )
    progress(f"  done in {elapsed:.0f}s")
