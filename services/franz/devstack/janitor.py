"""The dev stack's janitor: a detached process that outlives whoever started it, even a SIGKILLed one.

When its parent dies (or tells it to, with SIGTERM) it removes what the parent leaves behind: for a node,
it kills the namespace holder, whose init's death ends every process of the node, and removes the node's
cgroups (the kernel never removes a cgroup directory itself); for everything, the directory `--remove`.
Run as `python -m franz.devstack.janitor --parent PID --remove DIR [--holder PID --cgroup NAME]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

CGROUP_ROOT = Path("/sys/fs/cgroup")
REMOVE_CGROUPS_SECONDS = 30.0
# Children that die with the parent may still be writing into the directory for a moment.
REMOVE_DIRECTORY_SECONDS = 10.0


def _wait_for_exit(pid: int, *, until: float | None) -> bool:
    """Block until `pid` has exited (True) or `until` passed (False)."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        while True:
            timeout = None if until is None else max(0.0, until - time.monotonic())
            readable, _, _ = select.select([descriptor], [], [], timeout)
            if readable:
                return True
            if until is not None and time.monotonic() >= until:
                return False
    finally:
        os.close(descriptor)


def remove_cgroups(name: str, *, deadline: float) -> list[Path]:
    """Remove `name`'s cgroup trees in every hierarchy, deepest first; returns what could not go."""
    left: list[Path] = []
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / name
        if not top.is_dir():
            continue
        directories = sorted((Path(d) for d, _, _ in os.walk(top)), key=lambda p: len(p.parts), reverse=True)
        for directory in directories:
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last tasks are still exiting
                    if time.monotonic() > deadline:
                        left.append(directory)
                        break
                    time.sleep(0.1)
    return left


def remove_directory(path: Path, *, deadline: float) -> None:
    """Remove `path`, again while files still appear in it (a dying child's last writes), until `deadline`."""
    while path.exists() and time.monotonic() < deadline:
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="franz-janitor")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--holder", type=int, default=None)
    parser.add_argument("--cgroup", default=None)
    parser.add_argument("--remove", type=Path, required=True)
    args = parser.parse_args(argv)

    asked = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal asked
        asked = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal is the parent's to handle
    while not asked and not _wait_for_exit(args.parent, until=time.monotonic() + 0.5):
        pass
    if args.holder is not None:
        holder_gone_by = time.monotonic() + 15
        with contextlib.suppress(ProcessLookupError):
            os.kill(args.holder, signal.SIGKILL)  # unshare --kill-child: its init, and so the node, follow
        _wait_for_exit(args.holder, until=holder_gone_by)
    left = (
        []
        if args.cgroup is None
        else remove_cgroups(args.cgroup, deadline=time.monotonic() + REMOVE_CGROUPS_SECONDS)
    )
    remove_directory(args.remove, deadline=time.monotonic() + REMOVE_DIRECTORY_SECONDS)
    if left:
        print(f"cgroups still busy after {REMOVE_CGROUPS_SECONDS:.0f}s: {left}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
