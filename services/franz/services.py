"""The table of Franz's long-running services: one row each, read by the CLI and by `franz up`."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


@dataclass(frozen=True, slots=True)
class Flag:
    """A service's own command-line switch (`--name`, stored as `args.name` with dashes as underscores)."""

    name: str
    help: str


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    summary: str
    entry: str  # "module:function"; imported only when the service runs, so every `franz` command stays fast
    local_metrics_port: int  # the port `franz up` gives it on this machine
    flags: tuple[Flag, ...] = ()  # declared here, not in the service's module, for the same reason
    needs: str | None = None  # an environment variable without which `franz up` does not start it


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
    Service(
        "kummerkasten",
        "the Discord bot: /ticket and /ticket-form publish raw intake to discordMSG",
        "franz.kummerkasten.service:main",
        local_metrics_port=9103,
        flags=(
            Flag(
                "dump-commands",
                "print the command payloads that would be registered, as JSON, without connecting to Discord",
            ),
            Flag("sync", "register the commands even if they look unchanged"),
        ),
        needs="DISCORD_TOKEN",
    ),
    Service(
        "sachbearbeiter",
        "the ticket lifecycle: formatted tickets and commands become events (the audit trail) and state",
        "franz.sachbearbeiter.service:main",
        local_metrics_port=9104,
        flags=(
            Flag(
                "rebuild-state",
                "fold the event log and republish every ticket's state to the state topic, then exit "
                "(after the state topic was lost; stop the service first)",
            ),
        ),
    ),
)


def _load(entry: str) -> Callable[..., Any]:
    module_name, _, function_name = entry.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), function_name)
    return function


def _runner(service: Service) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        code: int = _load(service.entry)(args)
        return code

    return run


def register_service_commands(add: AddCommand) -> None:
    for service in SERVICES:
        parser = add(service.name, _runner(service), service.summary)
        for flag in service.flags:
            parser.add_argument(f"--{flag.name}", action="store_true", help=flag.help)
