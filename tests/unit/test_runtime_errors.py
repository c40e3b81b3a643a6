"""The reporter's collapsing: a storm of one incident is one event, then one per window with a count."""

from __future__ import annotations

from franz import contracts
from franz.contracts import ErrorEvent
from franz.runtime.errors import Collapser


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def occurrence(message: str = "batch stuck") -> ErrorEvent:
    return contracts.error_event(service="s", error_type="batch_failing", message=message, context={})


def test_the_first_occurrence_goes_out_at_once_and_repeats_wait_for_the_window_with_their_count() -> None:
    clock = Clock()
    collapser = Collapser(window_seconds=60, burst=10, clock=clock)
    key = ("batch_failing", "t/0")
    [first] = collapser.offer(key, occurrence())
    assert first["count"] == 1
    for _ in range(99):
        clock.now += 0.5
        assert collapser.offer(key, occurrence()) == []
    clock.now = 1000.0 + 60
    [summary] = collapser.offer(key, occurrence("the latest"))
    assert summary["count"] == 100  # the 99 held back and this one
    assert summary["message"] == "the latest"


def test_what_is_still_held_goes_out_on_close_and_a_quiet_incident_starts_afresh() -> None:
    clock = Clock()
    collapser = Collapser(window_seconds=60, burst=10, clock=clock)
    key = ("publish_failed", "ticket:discordMSG")
    collapser.offer(key, occurrence())
    collapser.offer(key, occurrence())
    collapser.offer(key, occurrence())
    assert [event["count"] for event in collapser.drain()] == [2]
    assert collapser.drain() == []
    clock.now += 600
    assert [event["count"] for event in collapser.offer(key, occurrence())] == [1]


def test_incidents_are_told_apart_and_the_burst_limit_holds_the_rest_back() -> None:
    clock = Clock()
    collapser = Collapser(window_seconds=60, burst=3, clock=clock)
    sent = [
        event for i in range(5) for event in collapser.offer(("undecodable_record", f"t/0/{i}"), occurrence())
    ]
    assert len(sent) == 3
    clock.now += 60
    later = collapser.offer(("undecodable_record", "t/0/0"), occurrence())
    assert sorted(event["count"] for event in later) == [1, 1, 1]  # t/0/0's repeat, t/0/3 and t/0/4
