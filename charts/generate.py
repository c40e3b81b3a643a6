"""The chart files that are generated rather than written: schemas, the CRD, the Grafana dashboards.

`make charts` (`python -m charts.generate`) writes them; `--check` only compares and exits 1 naming what is
stale (the tests run it, so a change here without regenerating, or a hand edit of a generated file, fails CI).

- `values.schema.json` of every application chart: helm refuses values that do not fit, so a typo such as
  `replicacount` fails at install instead of being ignored. The properties shared by every Franz process
  are defined once here. The tests check that each schema and its chart's values.yaml name the same keys.
- the operator chart's CRD, from `franz_operator.crd.custom_resource_definition()`: one source of truth.
- the umbrella's dashboards, from charts/dashboards.py.
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

from charts import dashboards
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
    for name, dashboard in dashboards.dashboards().items():
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
