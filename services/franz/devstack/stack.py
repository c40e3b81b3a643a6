"""What `franz up` runs on top of the local broker: every service of the table, on its local port."""

from __future__ import annotations

from franz.devstack.supervisor import ServiceSpec
from franz.services import SERVICES


def default_services() -> list[ServiceSpec]:
    return [
        ServiceSpec(
            name=service.name,
            env={"METRICS_PORT": str(service.local_metrics_port), "LOG_FORMAT": "text"},
            metrics_port=service.local_metrics_port,
        )
        for service in SERVICES
    ]
