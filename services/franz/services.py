"""The table of Franz's long-running services: one row each, read by the CLI and by `franz up`."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass

AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    summary: str
    entry: str  # "module:function"; imported only when the service runs, so `franz --help` stays fast
    local_metrics_port: int  # the port `franz up` gives it on this machine


SERVICES: tuple[Service, ...] = (
    Service(
        "aufbereitung",
        "normalise raw intake (discordMSG) into formatted tickets; invalid records go to the DLQ",
        "franz.aufbereitung.service:main",
        local_metrics_port=9101,
    ),
    Service(
        "absturz",
        "report errors and dead letters to a Discord channel through its webhook",
        "franz.absturz.service:main",
        local_metrics_port=9102,
    ),
)


def _runner(service: Service) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        module_name, _, function_name = service.entry.partition(":")
        function: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(module_name), function_name
        )
        return function(args)

    return run


def register_service_commands(add: AddCommand) -> None:
    for service in SERVICES:
        add(service.name, _runner(service), service.summary)
