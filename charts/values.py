"""A chart's values as its values.yaml states them: defaults, and comments that document and constrain them.

values.yaml is the one source of each chart's `values.schema.json` and of its README's values table, as in
cert-manager's chart. The comments follow this format:

    # -- Replicas share the consumer group; more than the intake topic's partitions sit idle. Example: 3
    # @schema {minimum: 0}
    replicaCount: 1

- The comment block right above a key documents it (a top-level key's block opens with `# --`, as
  helm-docs marks it). Its prose ends with an example (`Example: …` or `Example, <when>: …`) unless the
  value is a mapping of documented values. The file's first block, set apart by a blank line, describes
  the chart.
- `# @schema [TYPE] [{KEYWORDS}]` says what helm accepts beyond what the default implies (its JSON type; a
  mapping is a closed object of documented values, so a typo'd key is refused). TYPE is one of `TYPES`;
  KEYWORDS, a YAML flow mapping of JSON Schema (draft 7) keywords, are applied last and win. A mapping
  whose annotation gives a TYPE or a `type` is an open value: its default is only an example. In the
  chart's block, KEYWORDS apply to the whole values object (`required`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHARTS = Path(__file__).resolve().parent
Schema = dict[str, Any]
KUBERNETES = "kubernetes"

# Shapes Kubernetes and prometheus-operator define, each with what a README says of it; what a chart
# accepts of each stays in its values.yaml.
TYPES: dict[str, tuple[str, Schema]] = {
    "quantity": (
        "a Kubernetes quantity: `100m`, `1`, `0.5`, `256Mi`",
        {"type": ["string", "number"], "pattern": r"^[0-9.]+[a-zA-Z]*$"},
    ),
    "duration": (
        "a duration as prometheus-operator takes it: `30s`, `1m30s`",
        {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h))+$"},
    ),
    "labels": (
        "labels or annotations: strings by strings",
        {"type": "object", "additionalProperties": {"type": "string"}},
    ),
    "intOrPercent": (
        'a count or a percentage: `1`, `"50%"`',
        {"type": ["integer", "string"], "pattern": r"^[0-9]+%$", "minimum": 0},
    ),
    "dnsLabel": (
        "a DNS label (lower-case letters, digits and `-`; it names objects and is a label value), or empty",
        {"type": "string", "maxLength": 63, "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"},
    ),
    # The API server validates these; repeating its schema here would only drift from it.
    KUBERNETES: (
        "Kubernetes objects (or a list of them) as the API takes them, passed through unchanged",
        {},
    ),
}
KEY = re.compile(r'^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+|"[^"]+"):(\s|$)')
ANNOTATION = re.compile(r"^@schema(?: +(?P<type>[A-Za-z]+))?(?: +(?P<keywords>\{.*\}))?$")
EXAMPLE = re.compile(r"\bExample\b[^:]*:")


class UndocumentedValues(Exception):
    """values.yaml leaves a value without its comment, its example, or a schema it can be given."""


@dataclass(frozen=True)
class Value:
    """One documented value: `path` from the top (`image.pullPolicy`), its default and comment."""

    path: str
    type: str
    default: Any
    description: str
    # A closed mapping: its own documented values follow it in `Values.values`.
    container: bool


@dataclass(frozen=True)
class Values:
    """What a values.yaml states: the chart's description, the schema of its values, every value in order."""

    description: str
    schema: Schema
    values: tuple[Value, ...]


def read(chart: str) -> Values:
    """The chart's values.yaml; its schema allows what Helm itself adds to the chart's values too."""
    parsed = parse((CHARTS / chart / "values.yaml").read_text(), where=f"charts/{chart}/values.yaml")
    properties = _helm_keys(chart, parsed.schema["properties"]) | parsed.schema["properties"]
    schema = (
        {"$schema": "https://json-schema.org/draft-07/schema#", "title": f"Values of the {chart} chart"}
        | parsed.schema
        | {"properties": properties}
    )
    return Values(parsed.description, schema, parsed.values)


def parse(text: str, *, where: str) -> Values:
    """A values.yaml's text; `where` names it in the error that lists every value it leaves undocumented."""
    header, blocks = _comments(text)
    found: list[Value] = []
    problems: list[str] = []
    properties = {
        key: _schema(key, default, blocks, found, problems) for key, default in yaml.safe_load(text).items()
    }
    _, keywords = _annotation([line for line in header if line.startswith("@schema")], "the chart", problems)
    if problems:
        raise UndocumentedValues(f"{where}:\n  " + "\n  ".join(problems))
    schema: Schema = {
        "description": _prose(header),
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    return Values(_prose(header), schema | keywords, tuple(found))


def _comments(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """The chart's block, and the comment block above each key of a block mapping by its dotted path."""
    header: list[str] = []
    blocks: dict[str, list[str]] = {}
    block: list[str] = []
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped.removeprefix("#").strip())
            continue
        if match := KEY.match(line):
            indent = len(match["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match["key"].strip('"')))
            blocks[".".join(key for _, key in stack)] = block
        elif not stripped and not blocks and not header:
            header = block
        block = []
    return header, blocks


def _prose(block: list[str]) -> str:
    return " ".join(line for line in block if not line.startswith("@schema")).removeprefix("--").strip()


def _annotation(lines: list[str], path: str, problems: list[str]) -> tuple[str, Schema]:
    """The TYPE and KEYWORDS of a block's `@schema` line ("" and {} without one, or a malformed one)."""
    match = ANNOTATION.match(lines[0]) if len(lines) == 1 else None
    if not lines or not match:
        if lines:
            problems.append(f"{path}: one `@schema [TYPE] [{{KEYWORDS}}]` line, not {lines}")
        return "", {}
    name = match["type"] or ""
    if name and name not in TYPES:
        problems.append(f"{path}: unknown type {name!r}")
        return "", {}
    keywords: Schema = yaml.safe_load(match["keywords"]) if match["keywords"] else {}
    return name, keywords


def _json_type(default: Any) -> str:
    # bool before int: True is an int in Python.
    for python, json_type in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(default, python):
            return json_type
    return "array" if isinstance(default, list) else "object"


def _schema(
    path: str, default: Any, blocks: dict[str, list[str]], found: list[Value], problems: list[str]
) -> Schema:
    """The value's schema; appends it, then its own documented values, to `found`."""
    block = blocks.get(path)
    if not block:
        problems.append(f"{path}: no comment above it")
        return {}
    description = _prose(block)
    name, keywords = _annotation([line for line in block if line.startswith("@schema")], path, problems)
    closed = isinstance(default, dict) and not name and "type" not in keywords
    example = EXAMPLE.search(description)
    if not description[: example.start() if example else None].strip():
        problems.append(f"{path}: no prose in its comment")
    if not closed and not example:
        problems.append(f"{path}: no `Example:` in its comment")
    schema: Schema = {"description": description, "type": _json_type(default)}
    if name == KUBERNETES and isinstance(default, list):
        schema["items"] = {"type": "object"}
    elif name:
        schema |= TYPES[name][1]
    json_type: Any = keywords.get("type", schema["type"])
    shown = json_type if isinstance(json_type, str) else " or ".join(json_type)
    found.append(Value(path, name or shown, default, description, closed))
    if closed:
        if not default:
            problems.append(f"{path}: an empty mapping needs a TYPE or a `type` saying what it holds")
        schema["additionalProperties"] = False
        schema["properties"] = {
            key: _schema(f"{path}.{key}", child, blocks, found, problems) for key, child in default.items()
        }
    return schema | keywords


def _helm_keys(chart: str, defaults: dict[str, Any]) -> dict[str, Schema]:
    """What Helm itself adds to the chart's values, so the closed schema must allow it: for a subchart of
    the umbrella its `global` and its condition's key, and a (here empty) object per dependency."""
    keys: dict[str, Schema] = {}
    for parent in sorted(CHARTS.glob("*/Chart.yaml")):
        for dependency in _metadata(parent.parent.name).get("dependencies", []):
            if dependency["repository"] == f"file://../{chart}":
                keys["global"] = {"description": "Set by Helm: the parent's `global`.", "type": "object"}
                if condition := dependency.get("condition"):
                    keys[condition.split(".")[-1]] = {
                        "description": f"Set by Helm: the parent chart's `{condition}`.",
                        "type": "boolean",
                    }
    for dependency in _metadata(chart).get("dependencies", []):
        if (key := dependency.get("alias", dependency["name"])) not in defaults:
            keys[key] = {"description": "Set by Helm: the values of this dependency.", "type": "object"}
    return keys


def _metadata(chart: str) -> dict[str, Any]:
    metadata: dict[str, Any] = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
    return metadata


def readme(chart: str, values: Values) -> str:
    """The chart's README: what it is, the types beside JSON's it uses, and a row for every value."""
    types = sorted({value.type for value in values.values} & set(TYPES))
    legend = (
        ["Types beside JSON's:", "", *(f"- {name}: {TYPES[name][0]}" for name in types), ""] if types else []
    )
    rows = [
        f"| `{value.path}` | {value.type} | {_default(value)} | {_cell(value.description)} |"
        for value in values.values
    ]
    return "\n".join(
        [
            "<!-- Generated by charts/generate.py from values.yaml (`make charts`); do not edit. -->",
            f"# {chart}",
            "",
            _metadata(chart)["description"],
            "",
            values.description,
            "",
            "## Values",
            "",
            *legend,
            "| Key | Type | Default | Description |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )


def _default(value: Value) -> str:
    """A leaf's default as JSON; a mapping of documented values has its own rows instead."""
    return "" if value.container else _cell(f"`{json.dumps(value.default)}`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
