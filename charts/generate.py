"""The chart files that are generated rather than written: schemas, the CRD, the Grafana dashboards.

`python charts/generate.py` writes them; `--check` only compares and exits 1 naming what is stale (the
tests run it, so a change here without regenerating, or a hand edit of a generated file, fails CI).

- `values.schema.json` of every application chart: helm refuses values that do not fit, so a typo such as
  `replicacount` fails at install instead of being ignored. The properties shared by every Franz process
  are defined once here. The tests check that each schema and its chart's values.yaml name the same keys.
- the operator chart's CRD, from `franz_operator.crd.custom_resource_definition()`: one source of truth.
- the dashboards: panels built from one helper each, so every panel uses the datasource variable, every
  dashboard has a fixed uid (links and provisioning survive re-imports), and grid positions add up.
- a snapshot of the umbrella chart's default render (with prometheus-operator's API), so that a template
  change shows in review as the change of what a cluster receives.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from franz.devstack.tools import tool
from franz_operator import constants, crd

CHARTS = Path(__file__).resolve().parent
Schema = dict[str, Any]

# --- values.schema.json -------------------------------------------------------------------------------


def _object(properties: dict[str, Schema], description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if description:
        schema["description"] = description
    return schema | extra


STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
STRING_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
# Kubernetes objects passed through as they are (affinity, security contexts, peers): the API server
# validates them, and repeating its schema here would only drift from it.
K8S_OBJECT: Schema = {"type": "object"}
K8S_LIST: Schema = {"type": "array", "items": {"type": "object"}}
QUANTITY: Schema = {"type": ["string", "number"], "pattern": r"^[0-9.]+[a-zA-Z]*$"}
INT_OR_PERCENT: Schema = {"type": ["integer", "string"], "pattern": r"^[0-9]+%$", "minimum": 0}
UNSET_INT_OR_PERCENT: Schema = INT_OR_PERCENT | {"pattern": r"^([0-9]+%)?$"}
DURATION: Schema = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h))+$"}
PIPELINE: Schema = {
    "type": "string",
    "maxLength": 50,
    # A DNS label: it names the pipeline's ConfigMap and Secret and is a label value.
    "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
}


def _image(description: str) -> Schema:
    return _object(
        {
            "repository": STRING,
            "tag": STRING,
            "digest": {"type": "string", "pattern": r"^(sha256:[a-f0-9]{64})?$"},
            "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
        },
        description,
    )


def _probe() -> Schema:
    seconds = {"type": "integer", "minimum": 1}
    return _object(
        {
            "periodSeconds": seconds,
            "timeoutSeconds": seconds,
            "failureThreshold": seconds,
        }
    )


def _process(*, readiness: bool) -> dict[str, Schema]:
    """What every Franz process's chart accepts: image, logging, resources, security, monitoring."""
    properties: dict[str, Schema] = {
        # Helm hands every subchart the umbrella's `global`; franz-lib reads pipeline and image from it.
        "global": {"type": "object"},
        # Helm adds a (here empty) values object for each dependency, the library chart included.
        "franz-lib": {"type": "object"},
        # The umbrella chart's condition (`<chart>.enabled`) reaches the subchart's values too.
        "enabled": BOOLEAN,
        "image": _image("The Franz image; empty fields fall back to global.image."),
        "imagePullSecrets": {
            "type": "array",
            "items": _object({"name": STRING}, required=["name"]),
        },
        # Unprivileged ports only: the container runs without capabilities.
        "metricsPort": {"type": "integer", "minimum": 1024, "maximum": 65535},
        "logLevel": {"type": "string", "enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
        "logFormat": {"type": "string", "enum": ["json", "text"]},
        "extraEnv": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "resources": _object(
            {
                "requests": _object({"cpu": QUANTITY, "memory": QUANTITY}),
                # A memory limit is required: a leak must restart the pod, not exhaust its node.
                "limits": _object({"cpu": QUANTITY, "memory": QUANTITY}, required=["memory"]),
            },
            required=["limits"],
        ),
        "podSecurityContext": K8S_OBJECT,
        "securityContext": K8S_OBJECT,
        "livenessProbe": _probe(),
        "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
        "podLabels": STRING_MAP,
        "podAnnotations": STRING_MAP,
        "nodeSelector": STRING_MAP,
        "tolerations": K8S_LIST,
        "affinity": K8S_OBJECT,
        "topologySpreadConstraints": K8S_LIST,
        "serviceMonitor": _object(
            {"enabled": BOOLEAN, "interval": DURATION, "scrapeTimeout": DURATION, "labels": STRING_MAP}
        ),
        "podDisruptionBudget": _object(
            {"enabled": BOOLEAN, "maxUnavailable": INT_OR_PERCENT, "minAvailable": UNSET_INT_OR_PERCENT}
        ),
        "networkPolicy": _object({"enabled": BOOLEAN, "metricsFrom": K8S_LIST, "egress": K8S_LIST}),
    }
    if readiness:
        properties["readinessProbe"] = _probe()
    return properties


def _service(replicas: Schema, **own: Schema) -> Schema:
    """A pipeline service: the process's keys, its pipeline and replicas, and its own settings."""
    return _object(
        _process(readiness=True) | {"pipeline": PIPELINE, "replicaCount": replicas} | own,
        required=["image", "resources", "metricsPort"],
    )


def _umbrella() -> Schema:
    def enabled(name: str) -> Schema:
        # The rest of the object is the subchart's values, which its own schema checks.
        return {
            "type": "object",
            "description": f"The {name} subchart's values; `enabled` installs it.",
            "properties": {"enabled": BOOLEAN},
            "required": ["enabled"],
        }

    return _object(
        {
            "franz-lib": {"type": "object"},
            "global": _object(
                {
                    "pipeline": PIPELINE | {"minLength": 1},
                    "image": _image("The image of every process."),
                    "monitoringLabels": STRING_MAP,
                }
            ),
            "operator": enabled("franz-operator"),
            "aufbereitung": enabled("aufbereitung"),
            "absturz": enabled("absturz"),
            "kummerkasten": enabled("kummerkasten"),
            "sachbearbeiter": enabled("sachbearbeiter"),
            "examplePipeline": _object(
                {"enabled": BOOLEAN, "spec": {"type": "object", "required": ["kafka"]}}
            ),
            "prometheusRule": _object({"enabled": BOOLEAN, "labels": STRING_MAP}),
            "dashboards": _object({"enabled": BOOLEAN, "labels": STRING_MAP, "annotations": STRING_MAP}),
        }
    )


def schemas() -> dict[str, Schema]:
    """Each chart's schema, by chart directory. franz-lib, a library chart, has no values of its own."""
    seconds = {"type": "number", "minimum": 0}
    snowflake = {"type": "string", "pattern": "^[0-9]*$"}  # Discord ids are decimal numbers
    charts = {
        "aufbereitung": _service({"type": "integer", "minimum": 0}, exactlyOnce=BOOLEAN),
        "absturz": _service(
            {"type": "integer", "minimum": 0},
            alertBatchWindowSeconds=seconds,
            requestTimeoutSeconds=seconds | {"exclusiveMinimum": 0},
        ),
        # One gateway connection per bot token: a second replica would answer every interaction twice.
        "kummerkasten": _service(
            {"type": "integer", "minimum": 0, "maximum": 1},
            discordClientId=snowflake,
            discordGuildId=snowflake,
            ticketCooldownSeconds=seconds,
            staffRoleId=snowflake,
        ),
        # Each replica rebuilds the tickets of the partitions it is given from the event log: any count works.
        "sachbearbeiter": _service({"type": "integer", "minimum": 0}),
        "franz-operator": _object(
            _process(readiness=False)
            | {
                "serviceAccount": _object({"create": BOOLEAN, "name": STRING, "annotations": STRING_MAP}),
                "watchNamespaces": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "resyncSeconds": {"type": "number", "minimum": 1},
                "workers": {"type": "integer", "minimum": 1, "maximum": 64},
            },
            required=["image", "resources", "metricsPort"],
        ),
        "franz": _umbrella(),
    }
    return {
        name: {"$schema": "https://json-schema.org/draft-07/schema#", "title": f"Values of the {name} chart"}
        | schema
        for name, schema in charts.items()
    }


# --- Grafana dashboards ----------------------------------------------------------------------------------

DATASOURCE: Schema = {"type": "prometheus", "uid": "${datasource}"}
NS = 'namespace=~"$namespace"'
# aufbereitung labels its dead letters `dlq_<error type>`, sachbearbeiter plain `dlq`: both are dead letters.
DEAD_LETTERED = 'outcome=~"dlq(_.+)?"'
WIDTH = 24


class Layout:
    """Places panels left to right in rows of 24 grid units, so no two panels overlap."""

    def __init__(self, *, graph_width: int) -> None:
        self.graph_width = graph_width
        self.x = 0
        self.y = 0
        self.row_height = 0
        self.next_id = 1

    def place(self, width: int, height: int) -> dict[str, int]:
        if self.x + width > WIDTH:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        position = {"x": self.x, "y": self.y, "w": width, "h": height}
        self.x += width
        self.row_height = max(self.row_height, height)
        return position

    def identifier(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> Schema:
        """A full-width row header; the panels after it start on a fresh line below it."""
        top = self.y + self.row_height if self.x else self.y
        self.x, self.y, self.row_height = 0, top + 1, 0
        position = {"x": 0, "y": top, "w": WIDTH, "h": 1}
        return {
            "type": "row",
            "id": self.identifier(),
            "title": title,
            "collapsed": False,
            "gridPos": position,
        }

    def panel(
        self,
        kind: str,
        title: str,
        description: str,
        targets: list[tuple[str, str]],
        *,
        unit: str,
        width: int,
        height: int,
    ) -> Schema:
        return {
            "type": kind,
            "id": self.identifier(),
            "title": title,
            "description": description,
            "datasource": DATASOURCE,
            "gridPos": self.place(width, height),
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
            "targets": [
                {
                    "datasource": DATASOURCE,
                    "refId": chr(ord("A") + index),
                    "expr": expr,
                    "legendFormat": legend,
                }
                for index, (expr, legend) in enumerate(targets)
            ],
        }

    def stat(self, title: str, description: str, expr: str) -> Schema:
        """A single number, a quarter of the width."""
        return self.panel("stat", title, description, [(expr, title)], unit="short", width=6, height=4)

    def graph(
        self,
        title: str,
        description: str,
        targets: list[tuple[str, str]],
        unit: str = "ops",
        *,
        width: int = 0,
    ) -> Schema:
        """A time series; `width` overrides the layout's graph width for this one."""
        return self.panel(
            "timeseries", title, description, targets, unit=unit, width=width or self.graph_width, height=8
        )


def _rate(metric: str, selector: str, *, by: str = "", window: str = "$__rate_interval") -> str:
    """A counter's per-second rate over `window` (Grafana's rate interval), summed (optionally by labels)."""
    grouping = f" by ({by}) " if by else ""
    series = f"{metric}{{{selector}}}" if selector else metric
    return f"sum{grouping}(rate({series}[{window}]))"


def _per_hour(metric: str, selector: str, *, by: str = "") -> str:
    """Events per hour over the last hour: tickets and commands come a few an hour, not per second."""
    return f"{_rate(metric, selector, by=by, window='1h')} * 3600"


def _since_last_commit(selector: str) -> list[tuple[str, str]]:
    return [
        (f"time() - max by (service) (franz_last_success_timestamp_seconds{{{selector}}})", "{{service}}")
    ]


def _quantiles(
    histogram: str,
    selector: str,
    *,
    quantiles: tuple[float, ...] = (0.5, 0.95),
    window: str = "$__rate_interval",
) -> list[tuple[str, str]]:
    buckets = _rate(f"{histogram}_bucket", selector, by="le", window=window)
    return [(f"histogram_quantile({q}, {buckets})", f"p{round(q * 100)}") for q in quantiles]


def _variable(name: str, label: str, query: str) -> Schema:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {},
        "sort": 1,
    }


def _dashboard(
    uid: str, title: str, description: str, panels: list[Schema], variables: list[Schema]
) -> Schema:
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["franz"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "templating": {"list": [datasource, *variables]},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["franz"],
                "asDropdown": False,
                "title": "Franz",
                "includeVars": True,
            }
        ],
        "panels": panels,
    }


def _overview() -> Schema:
    layout = Layout(graph_width=12)
    stat, graph = layout.stat, layout.graph

    aufbereitung = f'{NS}, service="aufbereitung"'
    panels = [
        layout.row("Tickets through the pipeline"),
        stat(
            "Tickets submitted (1h)",
            "Tickets the bot published and Kafka acknowledged in the last hour.",
            f"sum(increase(franz_tickets_submitted_total{{{NS}}}[1h]))",
        ),
        stat(
            "Tickets formatted (1h)",
            "Records aufbereitung turned into formatted tickets in the last hour.",
            f'sum(increase(franz_records_total{{{aufbereitung}, outcome="ok"}}[1h]))',
        ),
        stat(
            "Dead-lettered (1h)",
            "Records any service sent to a dead-letter queue in the last hour.",
            f"sum(increase(franz_records_total{{{NS}, {DEAD_LETTERED}}}[1h]))",
        ),
        stat(
            "Pipelines not Ready",
            "FranzPipelines the operator reports as not Ready (across the cluster).",
            'sum(franz_operator_pipelines{ready="false"})',
        ),
        graph(
            "Intake and formatted rate",
            "Tickets submitted by the bot, records aufbereitung handled, and those it formatted.",
            [
                (_rate("franz_tickets_submitted_total", NS), "submitted (bot)"),
                (
                    _rate("franz_records_total", aufbereitung),
                    "handled (aufbereitung)",
                ),
                (
                    _rate("franz_records_total", f'{aufbereitung}, outcome="ok"'),
                    "formatted",
                ),
            ],
        ),
        graph(
            "Dead-letter rate by error type",
            "Records sent to dead-letter queues, by why they were refused.",
            [
                (
                    _rate("franz_records_total", f"{NS}, {DEAD_LETTERED}", by="outcome"),
                    "{{outcome}}",
                )
            ],
        ),
        graph(
            "Consumer lag",
            "Records waiting to be read, per service and topic. Growing lag: the consumers fall behind.",
            [
                (
                    f"sum by (service, topic) (franz_consumer_lag_records{{{NS}}})",
                    "{{service}} ← {{topic}}",
                )
            ],
            unit="short",
        ),
        graph(
            "Seconds since the last commit",
            "How long ago each consumer service last committed a batch.",
            _since_last_commit(NS),
            unit="s",
        ),
        layout.row("Alerts to Discord (absturz)"),
        graph(
            "Alerts received, delivered, collapsed",
            "Alert records read, accepted by Discord, and folded into an identical alert's embed.",
            [
                (_rate("franz_alerts_received_total", NS), "received"),
                (_rate("franz_alerts_delivered_total", NS), "delivered"),
                (_rate("franz_alerts_collapsed_total", NS), "collapsed"),
            ],
        ),
        graph(
            "Alerts pending and webhook disabled",
            "Alerts read but not yet accepted by Discord; 1 on 'disabled' means Discord refused the webhook.",
            [
                (f"sum(franz_alerts_pending{{{NS}}})", "pending"),
                (f"max(franz_webhook_disabled{{{NS}}})", "disabled"),
            ],
            unit="short",
        ),
        graph(
            "Webhook responses by status",
            "Requests to Discord by HTTP status (timeout and connection_error when there was none).",
            [
                (
                    _rate("franz_webhook_requests_total", NS, by="status"),
                    "{{status}}",
                )
            ],
            unit="reqps",
        ),
        graph(
            "Alert delivery latency",
            "From the alert record's timestamp to Discord accepting it.",
            _quantiles("franz_alert_delivery_seconds", NS),
            unit="s",
        ),
        layout.row("Operator"),
        graph(
            "Reconciliations by result",
            "Pipeline reconciliations: ready, not_ready (waiting for topics or secrets), error.",
            [
                (
                    _rate("franz_operator_reconciliations_total", "", by="result"),
                    "{{result}}",
                )
            ],
        ),
        graph(
            "Pipelines by readiness",
            "FranzPipelines Ready and not Ready.",
            [("sum by (ready) (franz_operator_pipelines)", "ready={{ready}}")],
            unit="short",
        ),
        graph(
            "Reconcile duration",
            "Time one reconciliation of a pipeline takes.",
            _quantiles("franz_operator_reconcile_seconds", ""),
            unit="s",
        ),
    ]
    return _dashboard(
        "franz-overview",
        "Franz / Pipeline overview",
        "Tickets from Discord through Kafka: intake, formatted and dead-letter rates, consumer lag, "
        "alert delivery to Discord, and the operator's health.",
        panels,
        [_variable("namespace", "Namespace", "label_values(franz_records_total, namespace)")],
    )


def _services() -> Schema:
    layout = Layout(graph_width=8)
    graph = layout.graph

    consumer = f'{NS}, service=~"$service"'
    panels = [
        layout.row("Consumer services: $service"),
        graph(
            "Records by outcome",
            "Records handled, by the topic they went to and outcome (ok, or dlq and dlq_<error type>).",
            [
                (
                    _rate("franz_records_total", consumer, by="service, topic, outcome"),
                    "{{service}} → {{topic}} {{outcome}}",
                )
            ],
        ),
        graph(
            "Batch processing time",
            "Seconds to process, deliver and commit one batch.",
            _quantiles("franz_batch_processing_seconds", consumer),
            unit="s",
        ),
        graph(
            "Batch size",
            "Records per polled batch: larger batches mean the service is catching up.",
            _quantiles("franz_batch_size_records", consumer),
            unit="short",
        ),
        graph(
            "Batch failures by error",
            "Batches that failed and were retried without committing.",
            [
                (
                    _rate("franz_batch_failures_total", consumer, by="service, error"),
                    "{{service}}: {{error}}",
                )
            ],
        ),
        graph(
            "Consumer lag by partition",
            "Records between each partition's end and the consumer's position.",
            [
                (
                    f"sum by (service, topic, partition) (franz_consumer_lag_records{{{consumer}}})",
                    "{{service}} {{topic}}/{{partition}}",
                )
            ],
            unit="short",
        ),
        graph(
            "Seconds since the last commit",
            "Grows while a service is idle or stuck; FranzConsumerStalled fires when records wait too.",
            _since_last_commit(consumer),
            unit="s",
        ),
        layout.row("kummerkasten: the Discord bot"),
        graph(
            "Tickets",
            "Tickets published, refused (by reason: kafka, invalid) and held back by the per-user cooldown.",
            [
                (_rate("franz_tickets_submitted_total", NS), "submitted"),
                (
                    _rate("franz_tickets_failed_total", NS, by="reason"),
                    "failed: {{reason}}",
                ),
                (_rate("franz_ticket_cooldown_hits_total", NS), "cooldown"),
            ],
        ),
        graph(
            "Ticket publish latency",
            "From publishing a ticket to the broker's acknowledgement; the user waits for this.",
            _quantiles("franz_ticket_publish_seconds", NS),
            unit="s",
        ),
        graph(
            "Staff commands by outcome",
            "/ticket-status, -assign, -close, -comment: applied, rejected (sachbearbeiter's verdict), "
            "unconfirmed (no verdict within 8 s), forbidden (not staff), failed (Kafka).",
            [
                (
                    _rate("franz_bot_ticket_commands_total", NS, by="command, outcome"),
                    "{{command}} {{outcome}}",
                )
            ],
        ),
        layout.row("sachbearbeiter: the ticket lifecycle"),
        graph(
            "Lifecycle commands by outcome",
            "Commands applied, skipped as duplicates (a replay or a repeated command id) or refused "
            "(rejected_<code>).",
            [
                (
                    _rate("franz_ticket_commands_total", NS, by="command, outcome"),
                    "{{command}} {{outcome}}",
                )
            ],
        ),
        graph(
            "Partition restore time",
            "Folding a partition's ticket-events into memory when it is assigned (start, rebalance), over "
            "the last hour; consumption of that partition waits for it.",
            _quantiles("franz_ticket_restore_seconds", NS, window="1h"),
            unit="s",
        ),
        layout.row("absturz: the Discord webhook"),
        graph(
            "Rate-limit waits by reason",
            "Waits announced by Discord: an empty bucket (X-RateLimit-Remaining: 0) or a 429.",
            [
                (
                    _rate("franz_webhook_rate_limit_waits_total", NS, by="reason"),
                    "{{reason}}",
                )
            ],
        ),
        graph(
            "Share of time waiting for rate limits",
            "Seconds spent waiting per second: near 100% means Discord's limit sets absturz's pace.",
            [
                (
                    _rate("franz_webhook_rate_limit_wait_seconds_total", NS),
                    "waiting",
                )
            ],
            unit="percentunit",
        ),
        graph(
            "Collapsed alerts by topic",
            "Alert records folded into an identical alert's embed (shown with an Occurrences count).",
            [
                (
                    _rate("franz_alerts_collapsed_total", NS, by="topic"),
                    "{{topic}}",
                )
            ],
        ),
    ]
    return _dashboard(
        "franz-services",
        "Franz / Services",
        "Per-service detail: batches, failures, lag by partition, the bot's tickets and staff commands, "
        "the lifecycle's commands and restores, and the webhook's rate limits.",
        panels,
        [
            _variable("namespace", "Namespace", "label_values(franz_records_total, namespace)"),
            _variable(
                "service",
                "Service",
                'label_values(franz_batch_processing_seconds_count{namespace=~"$namespace"}, service)',
            ),
        ],
    )


def _tickets() -> Schema:
    """Ticket analytics from sachbearbeiter (and the bot's close notices). Tickets arrive a few an hour, so
    rates are per hour over the last hour, and response times are quantiles over the last day."""
    layout = Layout(graph_width=12)
    stat, graph = layout.stat, layout.graph
    # franz_tickets is counted per instance over the partitions it owns: only the sum is the whole picture.
    current = f'{NS}, status!="closed"'
    lifecycle = f'{NS}, service="sachbearbeiter"'

    def open_by(label: str) -> list[tuple[str, str]]:
        return [(f"sum by ({label}) (franz_tickets{{{current}}})", f"{{{{{label}}}}}")]

    def response_time(histogram: str) -> list[tuple[str, str]]:
        return _quantiles(histogram, NS, quantiles=(0.5, 0.9), window="1d")

    panels = [
        layout.row("Tickets now"),
        stat("Open tickets", "Tickets not closed: open and assigned.", f"sum(franz_tickets{{{current}}})"),
        stat(
            "Unassigned",
            "Open tickets nobody is assigned to yet.",
            f'sum(franz_tickets{{{NS}, status="open"}})',
        ),
        stat(
            "Created (24h)",
            "Tickets created in the last 24 hours.",
            f"sum(increase(franz_tickets_created_total{{{NS}}}[24h]))",
        ),
        stat(
            "Closed (24h)",
            "Tickets closed in the last 24 hours.",
            f"sum(increase(franz_tickets_closed_total{{{NS}}}[24h]))",
        ),
        graph(
            "Open tickets by status",
            "Tickets not closed, by status (open: unassigned; assigned).",
            open_by("status"),
            unit="short",
            width=8,
        ),
        graph(
            "Open tickets by priority",
            "Tickets not closed, by their current priority.",
            open_by("priority"),
            unit="short",
            width=8,
        ),
        graph(
            "Open tickets by category",
            "Tickets not closed, by category (categories outside the known five are 'other').",
            open_by("category"),
            unit="short",
            width=8,
        ),
        layout.row("Flow and response times"),
        graph(
            "Created and closed per hour",
            "Tickets created and closed per hour, over the last hour. Closed above created: the backlog "
            "shrinks.",
            [
                (_per_hour("franz_tickets_created_total", NS), "created"),
                (_per_hour("franz_tickets_closed_total", NS), "closed"),
            ],
            unit="short",
        ),
        graph(
            "Reopened per hour",
            "Tickets reopened after a close, per hour over the last hour, by priority.",
            [(_per_hour("franz_tickets_reopened_total", NS, by="priority"), "{{priority}}")],
            unit="short",
        ),
        graph(
            "Time to assign",
            "From a ticket's creation to its first assignment: median and 90th percentile over the last day.",
            response_time("franz_ticket_time_to_assign_seconds"),
            unit="s",
        ),
        graph(
            "Time to close",
            "From a ticket's creation to its close (again after each reopen): median and 90th percentile "
            "over the last day.",
            response_time("franz_ticket_time_to_close_seconds"),
            unit="s",
        ),
        layout.row("Commands, notices and the service"),
        graph(
            "Refused commands per hour by reason",
            "Staff commands sachbearbeiter refused, by code (rejected_closed, rejected_unknown_ticket, ...): "
            "each is a CommandRejected event in the audit trail.",
            [
                (
                    _per_hour("franz_ticket_commands_total", f'{NS}, outcome=~"rejected_.*"', by="outcome"),
                    "{{outcome}}",
                )
            ],
            unit="short",
        ),
        graph(
            "Close notices per hour by outcome",
            "The bot's direct messages to submitters about closed tickets: sent, dms_closed (the member "
            "refuses DMs), no_submitter, failed.",
            [(_per_hour("franz_ticket_close_notices_total", NS, by="outcome"), "{{outcome}}")],
            unit="short",
        ),
        graph(
            "Partition restore time (p99)",
            "Folding a partition's ticket-events into memory after it is assigned, over the last hour: how "
            "long a start or rebalance holds that partition's tickets back.",
            _quantiles("franz_ticket_restore_seconds", NS, quantiles=(0.99,), window="1h"),
            unit="s",
        ),
        graph(
            "sachbearbeiter consumer lag",
            "Formatted tickets and commands waiting to be read, by topic.",
            [(f"sum by (topic) (franz_consumer_lag_records{{{lifecycle}}})", "{{topic}}")],
            unit="short",
        ),
    ]
    return _dashboard(
        "franz-tickets",
        "Franz / Tickets",
        "Ticket analytics from the lifecycle's event stream: open tickets by status, priority and category, "
        "created and closed rates, time to assign and to close, refused commands, close notices.",
        panels,
        [
            _variable(
                "namespace",
                "Namespace",
                'label_values(franz_records_total{service="sachbearbeiter"}, namespace)',
            )
        ],
    )


def dashboards() -> dict[str, Schema]:
    return {"franz-overview": _overview(), "franz-services": _services(), "franz-tickets": _tickets()}


# --- writing and checking ------------------------------------------------------------------------------


def generated() -> Iterator[tuple[Path, str]]:
    """Every generated file and its content."""
    for chart, schema in schemas().items():
        yield CHARTS / chart / "values.schema.json", json.dumps(schema, indent=2) + "\n"
    definition = crd.custom_resource_definition()
    header = "# Generated by charts/generate.py from franz_operator.crd; do not edit.\n"
    yield (
        CHARTS / "franz-operator" / "crds" / f"{constants.CRD_NAME}.yaml",
        header + yaml.safe_dump(definition, sort_keys=False, width=120),
    )
    for name, dashboard in dashboards().items():
        yield CHARTS / "franz" / "dashboards" / f"{name}.json", json.dumps(dashboard, indent=2) + "\n"
    # Last: it renders the files above.
    yield CHARTS.parent / "tests" / "integration" / "snapshots" / "franz-default.yaml", snapshot()


def snapshot() -> str:
    """`helm template` of the umbrella chart with its defaults, on a cluster with prometheus-operator."""
    monitoring = ("--api-versions", "monitoring.coreos.com/v1")
    return subprocess.run(
        [str(tool("helm")), "template", "franz", str(CHARTS / "franz"), "--namespace", "franz", *monitoring],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    stale = []
    # One at a time, in order: the snapshot renders what was written before it.
    for path, content in generated():
        if path.exists() and path.read_text() == content:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(CHARTS.parent)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
