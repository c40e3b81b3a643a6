"""A real Prometheus (Debian's package) on loopback, scraping the local services with the chart's alerts.

It scrapes and evaluates every second, so a test sees a counter move within a few seconds, and loads the
rules the umbrella chart ships, rendered with their `for:` durations divided by `for_divisor` (and, for an
alert whose expression itself spans minutes, its windows by `window_divisor`) so that an alert meant to
wait 10 minutes fires within seconds in a test (the rules file itself stays as shipped).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from franz.devstack.exceptions import InfrastructureError, StartError
from franz.devstack.images import REPOSITORY_ROOT
from franz.devstack.process import ManagedProcess, StartedInWith, data_directory, free_port, port_is_free
from franz.devstack.tools import tool

RULES_FILE = REPOSITORY_ROOT / "charts" / "franz" / "files" / "prometheus-rules.yaml"
INTERVAL = "1s"
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
# A range selector's window or an offset: the time spans of an expression.
_WINDOW = re.compile(r"(?P<before>\[|\boffset )(?P<duration>(\d+(ms|s|m|h|d))+)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(duration: str) -> float:
    """A Prometheus duration such as `1h30m` in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def render_rules(
    *, for_divisor: float = 1.0, window_divisor: float = 1.0, rules_file: Path = RULES_FILE
) -> dict[str, Any]:
    """The chart's rule groups with every `for:` divided by `for_divisor` and every time window of the
    expressions (`[15m]` ranges, `offset 10m`) by `window_divisor`, each at least 1s, so an alert meant to
    wait minutes fires within seconds in a test; everything else is left exactly as shipped."""
    rules: dict[str, Any] = yaml.safe_load(rules_file.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = _divided(rule["for"], for_divisor)
            if window_divisor != 1:
                rule["expr"] = _WINDOW.sub(
                    lambda found: found["before"] + _divided(found["duration"], window_divisor), rule["expr"]
                )
    return rules


def _divided(duration: str, divisor: float) -> str:
    return f"{max(1, round(duration_seconds(duration) / divisor))}s"


def prometheus_config() -> dict[str, Any]:
    """One job whose targets come from `targets/*.json` (file discovery, which Prometheus watches), so a
    session's Prometheus scrapes whatever services a test starts; each file sets `service`, the label the
    dashboards and alerts group by, for the series that do not carry their own, and `namespace` `local`."""
    return {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL, "scrape_timeout": INTERVAL},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [
            {
                "job_name": "franz",
                # As the charts' ServiceMonitors: a metric's own `service` label wins over the target's.
                "honor_labels": True,
                "file_sd_configs": [{"files": ["targets/*.json"], "refresh_interval": INTERVAL}],
            }
        ],
    }


class PrometheusApi:
    """Prometheus's HTTP API at `url` (the local one or any other): queries, rules and alerts."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def api(self, path: str, **params: str) -> Any:
        """The `data` of one HTTP API answer (e.g. `api("query", query="up")`); raises on an error status."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=30) as response:  # noqa: S310
                body = json.load(response)
        except urllib.error.HTTPError as error:  # Prometheus explains a bad query in a JSON body
            try:
                body = json.load(error)
            except ValueError:
                body = {"error": f"HTTP {error.code}"}
        except OSError as error:
            raise InfrastructureError(
                f"cannot reach Prometheus at {self.url} ({error}); is it running? (franz up --prometheus)"
            ) from None
        if body.get("status") != "success":
            raise InfrastructureError(f"Prometheus at {self.url} answered {body} to {path}")
        return body["data"]

    def query(self, expression: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector's samples; a scalar as one sample without labels)."""
        data = self.api("query", query=expression, time=str(time.time()))
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expression: str, *, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query's series, as Grafana asks for a panel: `[{"metric": {...}, "values": [[t, v]]}]`."""
        data = self.api("query_range", query=expression, start=str(start), end=str(end), step=str(step))
        result: list[dict[str, Any]] = data["result"]
        return result

    def scrape_interval(self) -> float:
        """The server's global scrape interval in seconds, from its configuration: Grafana's
        `$__rate_interval` is built on it."""
        config = yaml.safe_load(self.api("status/config")["yaml"])
        return duration_seconds(config["global"].get("scrape_interval", "1m"))

    def alert_states(self) -> dict[str, str]:
        """Each loaded alert's state: `inactive`, `pending` or `firing`."""
        return {
            rule["name"]: rule["state"]
            for group in self.api("rules", type="alert")["groups"]
            for rule in group["rules"]
        }

    def firing(self, alert: str, **labels: str) -> bool:
        """Whether Prometheus reports `alert` firing with (at least) these labels."""
        return any(
            active["labels"].get("alertname") == alert
            and active["state"] == "firing"
            and all(active["labels"].get(key) == value for key, value in labels.items())
            for active in self.api("alerts")["alerts"]
        )


class LocalPrometheus(StartedInWith, PrometheusApi):
    """`with LocalPrometheus({"aufbereitung": ["127.0.0.1:9101"]}) as prometheus: prometheus.query(...)`."""

    def __init__(
        self,
        targets: Mapping[str, Iterable[str]] | None = None,
        *,
        port: int | None = None,
        for_divisor: float = 1.0,
        window_divisor: float = 1.0,
        data_dir: Path | None = None,
    ) -> None:
        if port is not None and not port_is_free(port):
            raise StartError(f"port {port} is already in use; choose another for Prometheus")
        self.port = port or free_port()
        self.targets = dict(targets or {})
        self.for_divisor = for_divisor
        self.window_divisor = window_divisor
        self.data_dir, self._owned_dir = data_directory(data_dir, prefix="franz-prometheus-")
        PrometheusApi.__init__(self, f"http://127.0.0.1:{self.port}")
        self.log_path = self.data_dir / "prometheus.log"
        self._process: ManagedProcess | None = None

    def start(self, *, timeout: float = 60.0) -> float:
        """Write the configuration and rules, start the server; returns the seconds until `/-/ready`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "rules.yaml").write_text(
            yaml.safe_dump(render_rules(for_divisor=self.for_divisor, window_divisor=self.window_divisor))
        )
        config = self.data_dir / "prometheus.yaml"
        config.write_text(yaml.safe_dump(prometheus_config()))
        (self.data_dir / "targets").mkdir(exist_ok=True)  # Prometheus watches it only if it exists at start
        for service, addresses in self.targets.items():
            self.scrape(service, addresses)
        self._process = ManagedProcess(
            "prometheus",
            [
                str(tool("prometheus")),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            log_path=self.log_path,
        )
        self._process.start()
        return self._process.wait_ready(self._ready, timeout=timeout, interval=0.2)

    def scrape(self, service: str, addresses: Iterable[str], *, namespace: str = "local") -> None:
        """Scrape `/metrics` of `addresses` (host:port) as `service` in `namespace` from now on (tests give
        each workload a namespace of its own, as pipelines are apart in a cluster); an empty list stops it.
        Written to a temporary name and renamed, so Prometheus never reads half a file."""
        directory = self.data_dir / "targets"
        directory.mkdir(parents=True, exist_ok=True)
        groups = [{"targets": list(addresses), "labels": {"service": service, "namespace": namespace}}]
        staging = directory / f".{service}.json.partial"
        staging.write_text(json.dumps(groups))
        staging.rename(directory / f"{service}.json")

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)

    def close(self) -> None:
        if self._process is not None:
            self._process.stop()
        if self._owned_dir is not None:
            self._owned_dir.remove()
