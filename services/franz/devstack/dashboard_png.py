"""A dashboard's panels as one PNG, drawn with matplotlib: what Grafana would show, for a developer without
Grafana. Only drawing here; what to draw comes from `dashboards.evaluate`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from franz.devstack.dashboards import PanelData, Window, evaluate, grafana_variables, load_dashboards
from franz.devstack.prometheus import PrometheusApi

COLUMNS = 3
PANEL_INCHES = (6.0, 3.2)
LEGEND_ENTRIES = 10


@dataclass(frozen=True, slots=True)
class Rendered:
    uid: str
    path: Path
    panels: list[PanelData]


def render_dashboards(
    prometheus: PrometheusApi, directory: Path, *, window: Window, namespace: str = ".*", service: str = ".*"
) -> list[Rendered]:
    """Every shipped dashboard evaluated over `window` by `prometheus`, drawn into `directory`/<uid>.png."""
    variables = grafana_variables(
        window, scrape_interval=prometheus.scrape_interval(), namespace=namespace, service=service
    )

    def query_range(expression: str) -> list[dict[str, Any]]:
        return prometheus.query_range(expression, start=window.start, end=window.end, step=window.step)

    rendered = []
    for uid, dashboard in load_dashboards().items():
        data = evaluate(dashboard, variables, query_range)
        rendered.append(Rendered(uid, render(dashboard["title"], data, directory / f"{uid}.png"), data))
    return rendered


def render(title: str, data: list[PanelData], path: Path) -> Path:
    """Draw every panel in a grid, in the dashboard's order: lines for time series, the last value for a
    stat, "no data" in red for a panel whose queries returned nothing to draw."""
    rows = max(1, math.ceil(len(data) / COLUMNS))
    figure = Figure(figsize=(PANEL_INCHES[0] * COLUMNS, PANEL_INCHES[1] * rows), layout="constrained")
    figure.suptitle(title, fontsize=16)
    axes = figure.subplots(rows, COLUMNS, squeeze=False).flatten()
    for panel, ax in zip(data, axes, strict=False):
        _draw(panel, ax)
    for ax in axes[len(data) :]:
        ax.set_axis_off()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=80)
    return path


def _draw(data: PanelData, ax: Axes) -> None:
    ax.set_title(data.panel.title, fontsize=10)
    lines = data.shown()
    if not lines:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no data", ha="center", va="center", color="red", fontsize=14)
        return
    if data.panel.kind == "stat":
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{lines[0].last():.4g}", ha="center", va="center", fontsize=28)
        return
    end = max(line.times[-1] for line in lines)
    named = 0
    for line in lines:
        # Zero lines are drawn but left out of the legend, which would otherwise bury the panel.
        labelled = named < LEGEND_ENTRIES and any(value for value in line.values if math.isfinite(value))
        named += labelled
        label = line.name if labelled else "_nolegend_"
        ax.plot([(t - end) / 60 for t in line.times], line.values, label=label, linewidth=1)
    ax.set_xlabel("minutes before the last point", fontsize=8)
    ax.set_ylabel(data.panel.unit, fontsize=8)
    ax.tick_params(labelsize=7)
    if named:
        ax.legend(fontsize=6, loc="upper left")
