"""Child processes with a log file, a readiness wait that fails with the log tail, and a clean stop; and
temporary directories that do not outlive their owner.

Nothing the dev stack starts survives the process that started it, however that process ends: every child
gets SIGKILL from the kernel when its parent dies (`die_with_parent`), and every temporary directory has a
detached janitor that removes it once its owner is gone (`OwnedDirectory`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from franz.devstack.exceptions import StartError

LOG_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child between fork and exec: the kernel sends it SIGKILL when its parent dies, however the
    parent dies, so nothing started for a test or by `franz up` outlives a SIGKILLed parent.

    The kernel watches the thread that forked, not the process: start children from a thread that lives
    as long as they should (the main thread, in the dev stack)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, for error messages that explain a failure without opening the file."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


class OwnedDirectory:
    """A temporary directory that `remove()` deletes, or, when its owner dies first (even by SIGKILL), a
    detached janitor does (`franz.devstack.janitor`), so killed runs leave no directories piling up."""

    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._janitor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "franz.devstack.janitor",
                f"--parent={os.getpid()}",
                f"--remove={self.path}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a signal to our process group must not end the cleanup
        )

    def remove(self) -> None:
        """Delete it now; the janitor, asked to finish, exits. Safe to call twice."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._janitor.poll() is None:
            self._janitor.terminate()
            self._janitor.wait(30)


def data_directory(given: Path | None, *, prefix: str) -> tuple[Path, OwnedDirectory | None]:
    """The directory a component keeps its data in: `given`, or an owned temporary one to remove."""
    if given is not None:
        return given, None
    owned = OwnedDirectory(prefix)
    return owned.path, owned


class StartedInWith:
    """`with Component() as component:` starts it, and closes it on the way out (also when the start
    itself fails halfway, so a half-started component leaves nothing running)."""

    def start(self) -> object:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ManagedProcess:
    """One child process whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # A new session keeps Ctrl-C in the terminal from reaching the child before we stop it in order.
            self._popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int:
        return self._require().pid

    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def wait_ready(self, probe: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> float:
        """Poll `probe` until it answers True; fail with the log tail if the process dies or time runs out.

        Returns the seconds it took, which the tests and the closing notes report.
        """
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if not self.running():
                raise StartError(
                    f"{self.name} exited with code {self.returncode()} before it was ready; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                if probe():
                    return time.monotonic() - started
            except Exception:  # noqa: S110 - a probe that raises means "not ready yet"
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise StartError(
                    f"{self.name} was not ready within {timeout:.0f}s; log {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(interval)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait, then SIGKILL; returns the exit code. Safe to call twice."""
        if self._popen is None:
            return None
        if self._popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._popen.wait()
        return self._popen.returncode

    def send_signal(self, signum: int) -> None:
        self._signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit code, waiting up to `timeout` seconds for it."""
        return self._require().wait(timeout)

    def kill(self) -> None:
        """SIGKILL without warning, as a crash would: for fault tests."""
        if self._popen is not None and self._popen.poll() is None:
            self._signal(signal.SIGKILL)
            self._popen.wait()

    def _signal(self, signum: int) -> None:
        # The whole process group: launchers such as `java` wrappers must not leave orphans behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._require().pid, signum)

    def _require(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen
