"""The umbrella chart's Grafana dashboards, evaluated as Grafana evaluates them, without Grafana.

Pure: a dashboard's panels with Grafana's variables substituted (`$__rate_interval` computed as Grafana
computes it), and a range query's answer turned into the named series a panel draws. The queries go
through `PrometheusApi`; the pictures are `dashboard_png`'s.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from franz.devstack.images import REPOSITORY_ROOT

DASHBOARDS_DIR = REPOSITORY_ROOT / "charts" / "franz" / "dashboards"
# Grafana asks for about one point per pixel of a panel's width; a few hundred is what a laptop shows.
POINTS = 200
# `$name` or `${name}`, as Grafana writes variables into queries.
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")

Json = dict[str, Any]
RangeQuery = Callable[[str], list[Json]]


@dataclass(frozen=True, slots=True)
class Window:
    """The time range a dashboard shows and the step between its points (Grafana's `$__interval`)."""

    start: float
    end: float
    step: float

    @classmethod
    def last(cls, seconds: float, *, end: float, points: int = POINTS) -> Window:
        return cls(start=end - seconds, end=end, step=max(1.0, math.ceil(seconds / points)))


@dataclass(frozen=True, slots=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    kind: str  # "stat": one number; "timeseries": lines
    unit: str
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    times: tuple[float, ...]
    values: tuple[float, ...]

    def finite(self) -> bool:
        """Whether the line has a point to draw (NaN is a gap: a quantile over no observations)."""
        return any(math.isfinite(value) for value in self.values)

    def last(self) -> float:
        """What a stat panel shows: the last value that is a number (Grafana's `lastNotNull`)."""
        return next((value for value in reversed(self.values) if math.isfinite(value)), math.nan)


@dataclass(frozen=True, slots=True)
class PanelData:
    panel: Panel
    results: tuple[tuple[Target, tuple[Series, ...]], ...]  # each target with the series it returned

    def series(self) -> list[Series]:
        return [line for _, lines in self.results for line in lines]

    def shown(self) -> list[Series]:
        """The lines with something to draw; none: the panel says "no data"."""
        return [line for line in self.series() if line.finite()]


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> dict[str, Json]:
    """The shipped dashboards by uid."""
    dashboards = (json.loads(path.read_text()) for path in sorted(directory.glob("*.json")))
    return {dashboard["uid"]: dashboard for dashboard in dashboards}


def grafana_variables(
    window: Window, *, scrape_interval: float, namespace: str = ".*", service: str = ".*"
) -> dict[str, str]:
    """The variables Franz's dashboards use, with the values Grafana would give them. `$__rate_interval`
    is Grafana's: max($__interval + scrape interval, 4 x scrape interval), so a rate always spans at least
    four scrapes. `namespace` and `service` are regular expressions (`.*` is the dashboards' All)."""
    rate_interval = max(window.step + scrape_interval, 4 * scrape_interval)
    return {
        "__interval": _seconds(window.step),
        "__rate_interval": _seconds(rate_interval),
        "__range": _seconds(window.end - window.start),
        "namespace": namespace,
        "service": service,
    }


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """`text` with every `$name` / `${name}` replaced; a variable without a value is an error, because
    Grafana would send the query with the `$` in it and Prometheus would refuse it."""

    def value(found: re.Match[str]) -> str:
        name = found[1] or found[2]
        if name not in variables:
            raise ValueError(f"no value for the dashboard variable ${name} in {text!r}")
        return variables[name]

    return _VARIABLE.sub(value, text)


def panels(dashboard: Json, variables: Mapping[str, str]) -> list[Panel]:
    """Every panel that queries (rows aside), in the dashboard's order, with its queries substituted."""
    return [
        Panel(
            title=panel["title"],
            kind=panel["type"],
            unit=panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
            targets=tuple(
                Target(substitute(target["expr"], variables), target.get("legendFormat", ""))
                for target in panel["targets"]
            ),
        )
        for panel in dashboard["panels"]
        if panel.get("targets")
    ]


def series(result: Sequence[Json], legend: str) -> tuple[Series, ...]:
    """A range query's matrix as named lines: the legend format's `{{label}}` filled from each series'
    labels (its whole label set when the panel names none)."""
    lines = []
    for found in result:
        if not found["values"]:
            continue
        times, values = zip(*((float(t), float(v)) for t, v in found["values"]), strict=True)
        lines.append(Series(name=legend_name(legend, found["metric"]), times=times, values=values))
    return tuple(lines)


def legend_name(legend: str, labels: Mapping[str, str]) -> str:
    if not legend:
        return "{" + ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"
    return _LEGEND_LABEL.sub(lambda label: labels.get(label[1], ""), legend)


def evaluate(dashboard: Json, variables: Mapping[str, str], query_range: RangeQuery) -> list[PanelData]:
    """Every panel of `dashboard` with what each of its queries returns over the window `query_range`
    asks for."""
    return [
        PanelData(
            panel=panel,
            results=tuple(
                (target, series(query_range(target.expr), target.legend)) for target in panel.targets
            ),
        )
        for panel in panels(dashboard, variables)
    ]


def _seconds(seconds: float) -> str:
    return f"{math.ceil(seconds)}s"
