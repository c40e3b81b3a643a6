"""The values.yaml comment format (charts/values.py): what a comment makes of a value's schema and docs."""

from __future__ import annotations

import pytest
from charts import values

TEXT = """# The chart.
# @schema {required: [image]}

# -- Replicas. Example: 3
# @schema {minimum: 0}
replicaCount: 1

# -- The image.
image:
  # The tag. Example: "1.0"
  tag: ""
  # CPU. Example: 250m
  # @schema quantity
  cpu: 100m

# -- Pod labels. Example: {team: support}
# @schema labels
podLabels: {}

# -- Passed through. Example: {runAsNonRoot: true}
# @schema kubernetes
securityContext:
  runAsNonRoot: true

# -- Tolerations. Example: [{key: dedicated}]
# @schema kubernetes
tolerations: []

# -- Seconds. Example: 0.5
# @schema {type: number}
delaySeconds: 2
"""


@pytest.fixture(scope="module")
def parsed() -> values.Values:
    return values.parse(TEXT, where="values.yaml")


def test_the_default_gives_the_type_and_keywords_are_added(parsed: values.Values) -> None:
    properties = parsed.schema["properties"]
    assert properties["replicaCount"] == {
        "description": "Replicas. Example: 3",
        "type": "integer",
        "minimum": 0,
    }
    assert properties["delaySeconds"]["type"] == "number"
    assert parsed.schema["required"] == ["image"]
    assert parsed.description == "The chart."


def test_a_mapping_is_closed_so_a_typo_is_refused(parsed: values.Values) -> None:
    image = parsed.schema["properties"]["image"]
    assert image["additionalProperties"] is False
    assert set(image["properties"]) == {"tag", "cpu"}
    assert parsed.schema["additionalProperties"] is False


def test_a_type_names_a_shape_and_opens_a_mapping(parsed: values.Values) -> None:
    properties = parsed.schema["properties"]
    assert properties["image"]["properties"]["cpu"]["type"] == ["string", "number"]
    assert properties["podLabels"]["additionalProperties"] == {"type": "string"}
    # The default of an open value is only an example: no properties of its own.
    assert properties["securityContext"] == {
        "description": "Passed through. Example: {runAsNonRoot: true}",
        "type": "object",
    }
    assert properties["tolerations"]["items"] == {"type": "object"}


def test_every_value_in_file_order_with_its_type_for_the_readme(parsed: values.Values) -> None:
    assert [(value.path, value.type, value.container) for value in parsed.values] == [
        ("replicaCount", "integer", False),
        ("image", "object", True),
        ("image.tag", "string", False),
        ("image.cpu", "quantity", False),
        ("podLabels", "labels", False),
        ("securityContext", "kubernetes", False),
        ("tolerations", "kubernetes", False),
        ("delaySeconds", "number", False),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("replicas: 1\n", "replicas: no comment above it"),
        # A blank line parts a comment from the key below it.
        ("# -- Replicas. Example: 3\n\nreplicas: 1\n", "replicas: no comment above it"),
        ("# -- Replicas.\nreplicas: 1\n", "replicas: no `Example:` in its comment"),
        ("# -- Example: 3\nreplicas: 1\n", "replicas: no prose in its comment"),
        ("# -- The image.\nimage:\n  tag: x\n", "image.tag: no comment above it"),
        ("# -- Labels. Example: {a: b}\nlabels: {}\n", "labels: an empty mapping needs a TYPE"),
        ("# -- Port. Example: 80\n# @schema port\nport: 1\n", "port: unknown type 'port'"),
        (
            "# -- Port. Example: 80\n# @schema {minimum: 1}\n# @schema {maximum: 9}\nport: 1\n",
            "port: one `@schema",
        ),
    ],
)
def test_an_undocumented_or_unknown_value_is_refused_with_its_path(text: str, problem: str) -> None:
    with pytest.raises(values.UndocumentedValues, match=r"values\.yaml:") as refused:
        values.parse(text, where="values.yaml")
    assert problem in str(refused.value)
