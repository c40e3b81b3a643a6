"""`franz up`'s process supervisor: runs each service as `python -m franz <service>`, restarts crashes.

A service that exits is reported with its log tail and restarted after a backoff that doubles up to a
minute, and resets once the service has stayed up for a while, so a crash loop never spins the CPU.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from franz.devstack.cache import progress
from franz.devstack.process import ManagedProcess, log_tail
from franz.runtime.wait import Backoff

INITIAL_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
HEALTHY_AFTER_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    metrics_port: int | None = None


@dataclass(slots=True)
class _Supervised:
    spec: ServiceSpec
    process: ManagedProcess
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(INITIAL_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS))
    restarts: int = 0


class Supervisor:
    """Starts services, restarts the ones that die, and stops them all (SIGTERM first) on request."""

    def __init__(self, *, log_dir: Path, base_env: Mapping[str, str]) -> None:
        self.log_dir = log_dir
        self.base_env = dict(base_env)
        self._services: list[_Supervised] = []

    def add(self, spec: ServiceSpec) -> Path:
        log_path = self.log_dir / f"{spec.name}.log"
        env = {**self.base_env, **spec.env}
        argv = [sys.executable, "-m", "franz", spec.name, *spec.args]
        self._services.append(_Supervised(spec, ManagedProcess(spec.name, argv, log_path=log_path, env=env)))
        return log_path

    def start_all(self) -> None:
        for service in self._services:
            self._start(service)

    def _start(self, service: _Supervised) -> None:
        service.process.start()
        service.started_at = time.monotonic()
        service.restart_at = None

    def check(self) -> None:
        """One supervision pass: notice exits, schedule and perform restarts."""
        now = time.monotonic()
        for service in self._services:
            if service.restart_at is not None:
                if now >= service.restart_at:
                    service.restarts += 1
                    progress(f"restarting {service.spec.name} (restart #{service.restarts})")
                    self._start(service)
                continue
            if service.process.running():
                if now - service.started_at > HEALTHY_AFTER_SECONDS:
                    service.backoff.reset()
                continue
            code = service.process.returncode()
            delay = service.backoff.next_delay()
            progress(
                f"{service.spec.name} exited with code {code}; restarting in {delay:.0f}s. "
                f"Last lines of {service.process.log_path}:\n{log_tail(service.process.log_path, 15)}"
            )
            service.restart_at = now + delay

    def stop_all(self, timeout: float = 30.0) -> None:
        for service in reversed(self._services):
            code = service.process.stop(timeout=timeout)
            if code not in (None, 0):
                progress(f"{service.spec.name} stopped with exit code {code}")

    @property
    def specs(self) -> list[ServiceSpec]:
        return [service.spec for service in self._services]
