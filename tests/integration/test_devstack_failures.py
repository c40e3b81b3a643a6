"""A component that cannot start fails loudly with the tail of its log, never silently; a dev-stack command
killed without warning leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from franz.devstack.exceptions import StartError
from franz.devstack.kafka import LocalKafka
from franz.devstack.process import ManagedProcess, free_port
from tests.helpers import Foreground, wait_until


def test_a_process_that_dies_before_ready_raises_with_its_log_tail(tmp_path: Path) -> None:
    process = ManagedProcess(
        "doomed",
        [sys.executable, "-c", "import sys; print('disk on fire'); sys.exit(3)"],
        log_path=tmp_path / "doomed.log",
    )
    process.start()
    with pytest.raises(StartError) as failure:
        process.wait_ready(lambda: False, timeout=30)
    assert "exited with code 3" in str(failure.value)
    assert "disk on fire" in str(failure.value)


def test_a_process_that_never_gets_ready_is_stopped_and_reported(tmp_path: Path) -> None:
    process = ManagedProcess(
        "sleeper",
        [sys.executable, "-c", "import time; print('still thinking', flush=True); time.sleep(600)"],
        log_path=tmp_path / "sleeper.log",
    )
    process.start()
    with pytest.raises(StartError) as failure:
        process.wait_ready(lambda: False, timeout=1)
    assert "not ready within 1s" in str(failure.value)
    assert "still thinking" in str(failure.value)
    assert not process.running()


def test_kafka_on_a_port_in_use_is_refused_with_what_to_do() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(StartError, match=r"already in use.*--port"):
            LocalKafka(port=busy.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc's parent links."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (a container's init may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("command", "ready"),
    [(("kafka",), "bootstrap="), (("cluster",), "kubeconfig="), (("up",), "Franz is up.")],
    ids=["kafka", "cluster", "up"],
)
def test_a_sigkilled_dev_stack_command_leaves_no_process_and_no_directory(
    command: tuple[str, ...], ready: str, tmp_path: Path, foreground: list[Foreground]
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    arguments = (*command, "--port", str(free_port())) if command[0] in ("kafka", "up") else command
    started = Foreground(*arguments, env={**os.environ, "TMPDIR": str(temp)})
    foreground.append(started)
    started.line_starting(ready, timeout=240)
    children = _descendants(started.process.pid)
    assert children, "the command runs its components as child processes"
    assert any(temp.iterdir()), "the command keeps its data in a temporary directory"
    os.kill(started.process.pid, signal.SIGKILL)
    started.process.wait(10)
    wait_until(lambda: not [pid for pid in children if _alive(pid)], timeout=60)
    wait_until(lambda: not any(temp.iterdir()), timeout=60)
