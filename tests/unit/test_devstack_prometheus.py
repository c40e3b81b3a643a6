"""The local Prometheus's rendering of the chart's alerts: only the waits change, never the expressions."""

from __future__ import annotations

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
