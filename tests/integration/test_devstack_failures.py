"""A component that cannot start fails loudly with the tail of its log, never silently."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from franz.devstack.exceptions import StartError
from franz.devstack.kafka import LocalKafka
from franz.devstack.process import ManagedProcess


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
