"""The local Prometheus's rendering of the chart's alerts: only the waits change, never the expressions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from franz.devstack.prometheus import RULES_FILE, duration_seconds, render_rules


@pytest.mark.parametrize(
    ("duration", "seconds"), [("15m", 900), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800)]
)
def test_durations_are_read_as_prometheus_reads_them(duration: str, seconds: float) -> None:
    assert duration_seconds(duration) == seconds


@pytest.mark.parametrize("duration", ["", "15", "m15", "15m oops"])
def test_what_is_not_a_duration_is_refused(duration: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds(duration)


def test_rendering_divides_every_wait_and_keeps_everything_else() -> None:
    shipped = yaml.safe_load(RULES_FILE.read_text())
    rendered = render_rules(for_divisor=60)
    for group, original in zip(rendered["groups"], shipped["groups"], strict=True):
        for rule, before in zip(group["rules"], original["rules"], strict=True):
            assert {k: v for k, v in rule.items() if k != "for"} == {
                k: v for k, v in before.items() if k != "for"
            }
            if "for" in before:
                assert rule["for"] == f"{max(1, round(duration_seconds(before['for']) / 60))}s"
            else:
                assert "for" not in rule
    assert render_rules() == {
        **shipped,
        "groups": [
            {
                **group,
                "rules": [
                    {**rule, **({"for": f"{duration_seconds(rule['for']):.0f}s"} if "for" in rule else {})}
                    for rule in group["rules"]
                ],
            }
            for group in shipped["groups"]
        ],
    }


def test_rendering_can_divide_the_expressions_windows_too(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    expr = "increase(a_total[15m]) > 10 and b offset 10m < b and rate(c[1h30m]) > 0 and d{window='5m'}"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]}))
    [group] = render_rules(window_divisor=60, rules_file=rules)["groups"]
    assert group["rules"] == [
        {
            "alert": "A",
            "expr": "increase(a_total[15s]) > 10 and b offset 10s < b and rate(c[90s]) > 0"
            " and d{window='5m'}",
        }
    ]
    assert render_rules(rules_file=rules)["groups"][0]["rules"][0]["expr"] == expr
