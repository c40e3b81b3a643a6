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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml

import franz
import franz_operator

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "franz" / "files" / "prometheus-rules.yaml"
ALERT_TESTS = Path(__file__).resolve().parent / "promtool" / "franz-alerts.test.yaml"
DASHBOARDS = sorted((ROOT / "charts" / "franz" / "dashboards").glob("*.json"))
# Grafana's variables, replaced by values of their kind so promtool can parse the expressions.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "franz", "$service": "aufbereitung"}
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def exported_metric_names() -> set[str]:
    """Every sample name Franz's code registers: import every module, then read the default registry."""
    for package in (franz, franz_operator):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    names = set()
    for family in prometheus_client.REGISTRY.collect():
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)))
    return {name for name in names if name.startswith("franz_")}


def dashboard_expressions() -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every query target and query variable."""
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield dashboard["uid"], panel["title"], target["expr"]
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                query = re.fullmatch(r"label_values\((.+), \w+\)", variable["query"]["query"])
                assert query, variable
                yield dashboard["uid"], f"variable {variable['name']}", query.group(1)


def rule_expressions() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule["alert"], rule["expr"]


def metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\bfranz_\w+", expr))


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
    } <= exported_metric_names()


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
    assert sorted(uids) == ["franz-overview", "franz-services"]


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


@pytest.mark.parametrize("uid", ["franz-overview", "franz-services"])
def test_dashboards_use_only_metrics_franz_exports(uid: str) -> None:
    known = exported_metric_names()
    for dashboard, title, expr in dashboard_expressions():
        if dashboard != uid:
            continue
        used = metrics_in(expr)
        assert used, f"{title}: {expr}"
        assert used <= known, f"{title}: {sorted(used - known)}"
