"""Alerts and dashboards, checked with the real promtool against the metrics Franz really exports.

A dashboard whose query names a metric nobody exports shows an empty panel forever, and an alert whose
expression never matches never fires: both fail silently in production, so they fail here instead.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

import franz
import franz_operator
from franz.sachbearbeiter.metrics import TicketGauge

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "franz" / "files" / "prometheus-rules.yaml"
ALERT_TESTS = Path(__file__).resolve().parent / "promtool" / "franz-alerts.test.yaml"
DASHBOARDS = sorted((ROOT / "charts" / "franz" / "dashboards").glob("*.json"))
DASHBOARD_UIDS = ["franz-overview", "franz-services", "franz-tickets"]
# Grafana's variables, replaced by values of their kind so promtool can parse the expressions.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "franz", "$service": "aufbereitung"}
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}
# Labels Prometheus adds to every series from the scrape target (prometheus-operator's ServiceMonitor).
TARGET_LABELS = {"namespace", "pod", "service", "job", "instance", "container", "endpoint"}


def start_time_collectors() -> list[Collector]:
    """Collectors a service registers only when it starts, because their values come from its state:
    sachbearbeiter's ticket gauge counts the tickets of the partitions it owns at scrape time."""
    return [TicketGauge(lambda: Counter({("open", "normal", "bug"): 1}))]


def _import_everything() -> None:
    for package in (franz, franz_operator):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)


def exported_metric_names() -> set[str]:
    """Every sample name Franz's code registers: import every module, then read the default registry,
    and add the collectors registered at start."""
    _import_everything()
    families = [*prometheus_client.REGISTRY.collect()]
    for collector in start_time_collectors():
        families.extend(collector.collect())
    names: set[str] = set()
    for family in families:
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)))
    return {name for name in names if name.startswith("franz_")}


def exported_labels() -> dict[str, set[str]]:
    """The label names of every sample name Franz's code defines (`le` for histogram buckets)."""
    _import_everything()
    labels: dict[str, set[str]] = {}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith(("franz.", "franz_operator.")):
            continue
        for metric in vars(module).values():
            if isinstance(metric, MetricWrapperBase):
                for family in metric.describe():
                    for suffix in SAMPLE_SUFFIXES[family.type]:
                        extra = {"le"} if suffix == "_bucket" else set()
                        labels[family.name + suffix] = set(metric._labelnames) | extra
    for collector in start_time_collectors():
        for family in collector.collect():
            labels[family.name] = {name for sample in family.samples for name in sample.labels}
    return labels


def dashboard_expressions(*, legends: bool = False) -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every query target and query variable; with `legends`,
    the target's legend (or the variable's label) is appended to the PromQL after a newline."""
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                legend = f"\n{target['legendFormat']}" if legends else ""
                yield dashboard["uid"], panel["title"], target["expr"] + legend
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                query = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
                assert query, variable
                legend = f"\n{{{{{query.group(2)}}}}}" if legends else ""
                yield dashboard["uid"], f"variable {variable['name']}", query.group(1) + legend


def rule_expressions() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule["alert"], rule["expr"]


def metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\bfranz_\w+", expr))


def unknown_labels(expr: str, legend: str, labels: dict[str, set[str]]) -> set[str]:
    """Label names an expression (or its legend) uses that none of its metrics carries: a typo there
    matches nothing, or groups everything into one series, without any error."""
    used = metrics_in(expr)
    known = set().union(*(labels.get(name, set()) for name in used)) | TARGET_LABELS
    named = set()
    for metric, matchers in re.findall(r"\b(franz_\w+)\{([^}]*)\}", expr):
        # A selector's labels must be the selected metric's own.
        named |= (
            set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers)) - labels.get(metric, set()) - TARGET_LABELS
        )
    for grouping in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", expr):
        named |= {label.strip() for label in grouping.split(",") if label.strip()} - known
    named |= set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend)) - known
    return named


def promtool_run(promtool: Path, *args: str) -> str:
    result = subprocess.run([str(promtool), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# --- alerts ---------------------------------------------------------------------------------------------


def test_alert_rules_are_valid(promtool: Path) -> None:
    assert "SUCCESS: 10 rules found" in promtool_run(promtool, "check", "rules", str(RULES))


def test_every_alert_passes_its_promtool_unit_tests(promtool: Path) -> None:
    assert "SUCCESS" in promtool_run(promtool, "test", "rules", str(ALERT_TESTS))


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    cases: dict[str, list[list[Any]]] = {}
    for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for case in test["alert_rule_test"]:
            cases.setdefault(case["alertname"], []).append(case["exp_alerts"])
    alerts = {name for name, _ in rule_expressions()}
    assert set(cases) == alerts
    for name, expectations in cases.items():
        assert [] in expectations, f"{name}: no case where it stays quiet"
        assert any(expectations), f"{name}: no case where it fires"


def test_alerts_use_only_labels_their_metrics_carry() -> None:
    labels = exported_labels()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            annotations = " ".join(rule["annotations"].values())
            # `$labels.x` in annotations must survive the expression's aggregation too.
            legend = " ".join(f"{{{{{name}}}}}" for name in re.findall(r"\$labels\.(\w+)", annotations))
            assert unknown_labels(rule["expr"], legend, labels) == set(), rule["alert"]


def test_every_alert_has_a_severity_summary_and_description() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            assert rule["annotations"]["description"], rule["alert"]


def test_alerts_use_only_metrics_franz_exports() -> None:
    known = exported_metric_names()
    for alert, expr in rule_expressions():
        used = metrics_in(expr)
        assert used, alert
        assert used <= known, f"{alert}: {sorted(used - known)}"


# --- dashboards --------------------------------------------------------------------------------------------


def test_exported_metrics_are_found() -> None:
    """The registry walk finds the services' metrics, so the checks below compare against something."""
    assert {
        "franz_records_total",
        "franz_webhook_disabled",
        "franz_ticket_publish_seconds_bucket",
        "franz_operator_pipelines",
        "franz_tickets",  # registered when sachbearbeiter starts
        "franz_ticket_time_to_close_seconds_bucket",
        "franz_ticket_close_notices_total",
    } <= exported_metric_names()
    labels = exported_labels()
    assert labels["franz_tickets"] == {"status", "priority", "category"}
    assert labels["franz_ticket_commands_total"] == {"command", "outcome"}
    assert labels["franz_ticket_time_to_assign_seconds_bucket"] == {"priority", "le"}
    assert labels["franz_consumer_lag_records"] == {"service", "topic", "partition"}


def test_the_label_check_catches_what_it_is_for() -> None:
    labels = exported_labels()
    assert unknown_labels('sum by (status) (franz_tickets{status!="closed"})', "{{status}}", labels) == set()
    # The bot's command counter has no `code`, sachbearbeiter's tickets no `reason`; legends are checked.
    assert unknown_labels('sum(franz_bot_ticket_commands_total{code="closed"})', "", labels) == {"code"}
    assert unknown_labels("sum by (reason) (franz_tickets)", "", labels) == {"reason"}
    assert unknown_labels("sum by (status) (franz_tickets)", "{{state}}", labels) == {"state"}


def test_dashboards_have_fixed_unique_uids_and_a_datasource_variable() -> None:
    uids = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        uids.append(dashboard["uid"])
        assert dashboard["uid"] == path.stem
        [datasource] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
        assert (datasource["name"], datasource["query"]) == ("datasource", "prometheus")
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"], panel["title"]
    assert sorted(uids) == DASHBOARD_UIDS


def test_dashboard_panels_do_not_overlap() -> None:
    for path in DASHBOARDS:
        taken: set[tuple[int, int]] = set()
        for panel in json.loads(path.read_text())["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            cells = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & taken, f"{path.name}: {panel['title']} overlaps"
            taken |= cells


def test_overview_shows_the_pipeline_end_to_end() -> None:
    overview = json.loads((ROOT / "charts" / "franz" / "dashboards" / "franz-overview.json").read_text())
    used = set().union(*(metrics_in(t["expr"]) for p in overview["panels"] for t in p.get("targets", [])))
    assert {
        "franz_tickets_submitted_total",  # intake
        "franz_records_total",  # formatted and dead-lettered
        "franz_consumer_lag_records",
        "franz_alerts_delivered_total",  # alert delivery
        "franz_operator_pipelines",  # operator health
    } <= used


def test_every_dashboard_expression_parses(promtool: Path, tmp_path: Path) -> None:
    """promtool parses each query as a recording rule: the same PromQL parser Prometheus runs."""
    rules = []
    for index, (_, _, expr) in enumerate(dashboard_expressions()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"franz:dashboard_check:{index}", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in promtool_run(promtool, "check", "rules", str(path))


@pytest.mark.parametrize("uid", DASHBOARD_UIDS)
def test_dashboards_use_only_metrics_franz_exports(uid: str) -> None:
    known = exported_metric_names()
    for dashboard, title, expr in dashboard_expressions():
        if dashboard != uid:
            continue
        used = metrics_in(expr)
        assert used, f"{title}: {expr}"
        assert used <= known, f"{title}: {sorted(used - known)}"


@pytest.mark.parametrize("uid", DASHBOARD_UIDS)
def test_dashboards_use_only_labels_their_metrics_carry(uid: str) -> None:
    labels = exported_labels()
    for dashboard, title, query in dashboard_expressions(legends=True):
        if dashboard == uid:
            expr, _, legend = query.partition("\n")
            assert unknown_labels(expr, legend, labels) == set(), f"{title}: {expr}"


def test_tickets_dashboard_shows_the_ticket_analytics() -> None:
    """What issue #8 asks the dashboard for: open tickets by status, priority and category, created and
    closed rates, response times, refusals; and what operators need beside: reopens, close notices,
    restores and sachbearbeiter's lag."""
    tickets = json.loads((ROOT / "charts" / "franz" / "dashboards" / "franz-tickets.json").read_text())
    exprs = {p["title"]: [t["expr"] for t in p["targets"]] for p in tickets["panels"] if p["type"] != "row"}
    for label in ("status", "priority", "category"):
        assert exprs[f"Open tickets by {label}"] == [
            f'sum by ({label}) (franz_tickets{{namespace=~"$namespace", status!="closed"}})'
        ]
    assert exprs["Created and closed per hour"] == [
        'sum(rate(franz_tickets_created_total{namespace=~"$namespace"}[1h])) * 3600',
        'sum(rate(franz_tickets_closed_total{namespace=~"$namespace"}[1h])) * 3600',
    ]
    for title, histogram in (
        ("Time to assign", "franz_ticket_time_to_assign_seconds"),
        ("Time to close", "franz_ticket_time_to_close_seconds"),
    ):
        assert exprs[title] == [
            f'histogram_quantile({q}, sum by (le) (rate({histogram}_bucket{{namespace=~"$namespace"}}[1d])))'
            for q in (0.5, 0.9)
        ]
    used = set().union(*(metrics_in(expr) for targets in exprs.values() for expr in targets))
    assert {
        "franz_ticket_commands_total",
        "franz_tickets_reopened_total",
        "franz_ticket_close_notices_total",
        "franz_ticket_restore_seconds_bucket",
        "franz_consumer_lag_records",
    } <= used
