"""What `franz up` runs on top of the local broker: every service of the table, on its local port."""

from __future__ import annotations

from collections.abc import Mapping

from franz.devstack.supervisor import ServiceSpec
from franz.services import SERVICES


def default_services(environ: Mapping[str, str]) -> list[ServiceSpec]:
    """Every service whose prerequisites are met (the bot runs only with a DISCORD_TOKEN)."""
    return [
        ServiceSpec(
            name=service.name,
            env={"METRICS_PORT": str(service.local_metrics_port), "LOG_FORMAT": "text"},
            metrics_port=service.local_metrics_port,
        )
        for service in SERVICES
        if service.needs is None or environ.get(service.needs)
    ]
