"""The Grafana dashboards the umbrella chart ships (charts/franz/dashboards/*.json, written by `make charts`).

Panels are built from one helper each, so every panel uses the datasource variable, every dashboard has a
fixed uid (links and provisioning survive re-imports), and grid positions add up.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
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

    def row(self, title: str) -> Json:
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
    ) -> Json:
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

    def stat(self, title: str, description: str, expr: str) -> Json:
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
    ) -> Json:
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


def _lifetime_quantiles(
    histogram: str, selector: str, *, quantiles: tuple[float, ...] = (0.5, 0.95)
) -> list[tuple[str, str]]:
    """Quantiles over every observation since each instance started, for what happens mostly at a start:
    it comes before Prometheus's first scrape of the new instance, so no rate() ever sees it."""
    buckets = f"sum by (le) ({histogram}_bucket{{{selector}}})"
    return [(f"histogram_quantile({q}, {buckets})", f"p{round(q * 100)}") for q in quantiles]


def _variable(name: str, label: str, query: str) -> Json:
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


def _dashboard(uid: str, title: str, description: str, panels: list[Json], variables: list[Json]) -> Json:
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


def _overview() -> Json:
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


def _services() -> Json:
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
            "Folding a partition's ticket-events into memory when it is assigned (start, rebalance), since "
            "each instance started; consumption of that partition waits for it.",
            _lifetime_quantiles("franz_ticket_restore_seconds", NS),
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


def _tickets() -> Json:
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
            "Folding a partition's ticket-events into memory after it is assigned, since each instance "
            "started: how long a start or rebalance holds that partition's tickets back.",
            _lifetime_quantiles("franz_ticket_restore_seconds", NS, quantiles=(0.99,)),
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


def dashboards() -> dict[str, Json]:
    return {"franz-overview": _overview(), "franz-services": _services(), "franz-tickets": _tickets()}
