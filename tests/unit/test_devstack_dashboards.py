"""The dashboards as Grafana evaluates them: variables, panels, series; no Prometheus needed."""

from __future__ import annotations

import math

import pytest

from franz.devstack.dashboards import (
    PanelData,
    Series,
    Target,
    Window,
    evaluate,
    grafana_variables,
    load_dashboards,
    panels,
    series,
    substitute,
)


def test_the_rate_interval_is_grafanas_four_scrapes_at_least() -> None:
    fine = grafana_variables(Window(0, 600, 3), scrape_interval=1)
    assert fine["__rate_interval"] == "4s"
    coarse = grafana_variables(Window(0, 86400, 432), scrape_interval=15)
    assert (coarse["__rate_interval"], coarse["__interval"], coarse["__range"]) == ("447s", "432s", "86400s")
    assert Window.last(3600, end=10_000) == Window(6400, 10_000, 18)


def test_variables_are_substituted_in_both_spellings_and_a_missing_one_is_refused() -> None:
    assert substitute(
        'rate(a{ns=~"$namespace"}[${__rate_interval}])', {"namespace": "x", "__rate_interval": "4s"}
    ) == ('rate(a{ns=~"x"}[4s])')
    with pytest.raises(ValueError, match=r"\$service"):
        substitute('a{service=~"$service"}', {})


def test_every_shipped_panel_gets_a_value_for_each_variable_it_uses() -> None:
    variables = grafana_variables(Window(0, 600, 3), scrape_interval=1, namespace="n1")
    dashboards = load_dashboards()
    assert set(dashboards) == {"franz-overview", "franz-services", "franz-tickets"}
    for dashboard in dashboards.values():
        found = panels(dashboard, variables)
        assert found, dashboard["uid"]
        for panel in found:
            assert panel.targets, panel.title
            for target in panel.targets:
                assert "$" not in target.expr
                assert 'namespace=~"$namespace"' not in target.expr


def test_a_range_answer_becomes_named_lines_with_gaps_kept() -> None:
    answer = [
        {"metric": {"service": "absturz", "topic": "errors"}, "values": [[10, "1"], [12, "NaN"]]},
        {"metric": {"service": "aufbereitung", "topic": "x"}, "values": [[10, "NaN"]]},
    ]
    first, second = series(answer, "{{service}} ← {{ topic }}")
    assert (first.name, first.times, first.values[0]) == ("absturz ← errors", (10.0, 12.0), 1.0)
    assert math.isnan(first.values[1])
    assert first.finite()
    assert first.last() == 1.0
    assert not second.finite()
    [unnamed] = series(answer[:1], "")
    assert unnamed.name == '{service="absturz", topic="errors"}'


def test_evaluate_asks_for_each_target_and_keeps_what_it_returned() -> None:
    dashboard = {
        "panels": [
            {"type": "row", "title": "r"},
            {
                "type": "stat",
                "title": "Open",
                "fieldConfig": {"defaults": {"unit": "short"}},
                "targets": [{"expr": "sum(a[$__rate_interval])", "legendFormat": "open"}],
            },
        ]
    }
    asked: list[str] = []

    def query_range(expression: str) -> list[dict[str, object]]:
        asked.append(expression)
        return [{"metric": {}, "values": [[1, "5"]]}]

    [data] = evaluate(dashboard, {"__rate_interval": "4s"}, query_range)
    assert asked == ["sum(a[4s])"]
    assert isinstance(data, PanelData)
    assert data.panel.targets == (Target("sum(a[4s])", "open"),)
    assert data.shown() == [Series("open", (1.0,), (5.0,))]
