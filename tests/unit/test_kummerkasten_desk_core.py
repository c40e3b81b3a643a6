"""The staff desk's pure core: teams and routing, desk posts and their buttons, transcripts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from franz.contracts import TicketEvent, TicketState
from franz.exceptions import ConfigError
from franz.kummerkasten import posts
from franz.kummerkasten.pacing import Pacer
from franz.kummerkasten.teams import parse_teams, single_team

BILLING_DESK, BILLING_ROLE = "700000000000000101", "700000000000000102"
SUPPORT_DESK, SUPPORT_ROLE = "700000000000000201", "700000000000000202"


def teams(*overrides: dict[str, Any]) -> str:
    declared: list[dict[str, Any]] = [
        {
            "name": "billing",
            "categories": ["billing", "account"],
            "deskChannelId": BILLING_DESK,
            "staffRoleId": BILLING_ROLE,
        },
        {"name": "support", "default": True, "deskChannelId": SUPPORT_DESK, "staffRoleId": SUPPORT_ROLE},
    ]
    for index, override in enumerate(overrides):
        declared[index] |= override
    return json.dumps(declared)


def state(**changes: Any) -> TicketState:
    base: TicketState = {
        "schema": 1,
        "ticket_id": "T-ABCDE-12345",
        "status": "open",
        "contact": "alice",
        "submitter_id": "4242",
        "category": "billing",
        "priority": "urgent",
        "body": "I was charged twice <@&1> @everyone",
        "assignee": None,
        "created_at": "2026-12-01T10:00:00+00:00",
        "updated_at": "2026-12-01T10:00:00+00:00",
        "assigned_at": None,
        "closed_at": None,
        "comments": 0,
        "version": 1,
        "last_event_id": "e1",
    }
    return base | changes  # type: ignore[return-value]


def event(kind: str, at: str, actor: str, **payload: Any) -> TicketEvent:
    return {
        "schema": 1,
        "type": kind,  # type: ignore[typeddict-item]
        "event_id": f"{kind}-{at}",
        "ticket_id": "T-ABCDE-12345",
        "time": f"2026-12-01T{at}+00:00",
        "actor": {"id": f"discord:{actor}", "name": actor},
        "command_id": None,
        "payload": payload,
    }


def test_categories_go_to_the_team_that_takes_them_and_the_rest_to_the_default() -> None:
    routing = parse_teams(teams())
    assert routing.team_for("billing").name == "billing"
    assert routing.team_for("account").desk_channel_id == int(BILLING_DESK)
    assert routing.team_for("bug").name == "support"
    assert [t.name for t in routing.teams_of([int(SUPPORT_ROLE), 5])] == ["support"]
    assert routing.channels() == [
        (int(BILLING_DESK), "desk", "team billing's desk"),
        (int(BILLING_DESK), "ticket threads", "team billing's ticket threads"),
        (int(SUPPORT_DESK), "desk", "team support's desk"),
        (int(SUPPORT_DESK), "ticket threads", "team support's ticket threads"),
    ]


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        (
            teams({"categories": ["billing"]}, {"categories": ["billing"]}),
            "category 'billing' is routed to both",
        ),
        (teams({}, {"default": False}), "exactly one team must be the default, found 0"),
        (teams({"default": True}), "exactly one team must be the default, found 2"),
        (teams({"deskChannelId": "12"}), "deskChannelId must be a Discord id"),
        (teams({"staffRoleId": True}), "staffRoleId must be a Discord id"),
        (teams({"categories": ["refunds"]}), "categories must be a list of general, bug"),
        (teams({"name": "support"}), "team name 'support' is used twice"),
        ("[]", "must be a non-empty JSON list"),
        ("{", "is not JSON"),
    ],
)
def test_ambiguous_or_broken_teams_are_refused_naming_the_problem(declared: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_teams(declared)


def test_staff_role_id_alone_is_one_default_team_without_a_desk() -> None:
    routing = single_team(int(SUPPORT_ROLE))
    assert routing is not None
    assert routing.team_for("bug").desk_channel_id is None
    assert routing.channels() == []
    assert single_team(None) is None


def test_a_desk_post_pings_only_its_role_and_its_buttons_follow_the_status() -> None:
    post = posts.desk_post(state(), staff_role_id=int(BILLING_ROLE))
    assert post.content.startswith(f"<@&{BILLING_ROLE}> New urgent ticket T-ABCDE-12345")
    assert post.ping_role_id == int(BILLING_ROLE)
    assert post.embed["color"] == posts.PRIORITY_COLOURS["urgent"]
    assert "<@&1>" not in post.content, "user text stays in the embed, where mentions never ping"
    assert [b.label for b in post.buttons] == ["Claim", "Close"]
    claimed = posts.desk_post(
        state(status="assigned", assignee={"id": "discord:7", "name": "bob"}), staff_role_id=None
    )
    assert [b.custom_id for b in claimed.buttons] == [
        "franz:unclaim:T-ABCDE-12345",
        "franz:close:T-ABCDE-12345",
    ]
    assert not claimed.content.startswith("<@&")
    closed = posts.desk_post(state(status="closed"), staff_role_id=None)
    assert [b.label for b in closed.buttons] == ["Reopen"]
    assert closed.embed["color"] == posts.CLOSED_COLOUR


def test_only_our_own_custom_ids_are_understood() -> None:
    assert posts.parse_custom_id(posts.custom_id("claim", "T-ABCDE-12345")) == ("claim", "T-ABCDE-12345")
    for foreign in ("other:claim:T-1", "franz:delete:T-1", "franz:claim:", "claim"):
        assert posts.parse_custom_id(foreign) is None


def test_the_transcript_tells_the_story_and_keeps_notes_for_staff() -> None:
    story = [
        event(
            "TicketCreated", "10:00:00", "alice", category="billing", priority="urgent", body="charged twice"
        ),
        event("TicketAssigned", "10:01:00", "bob", assignee={"id": "discord:7", "name": "bob"}),
        event("CommentAdded", "10:02:00", "bob", text="looks like a retry", visibility="internal"),
        event(
            "CommentAdded",
            "10:03:00",
            "bob",
            text="refunded",
            attachments=[{"name": "r.pdf", "url": "https://x/r.pdf"}],
        ),
        event("CommandRejected", "10:04:00", "eve", command="close", code="closed", reason="already closed"),
        event("TicketClosed", "10:05:00", "bob", reason="refunded"),
    ]
    for_submitter = posts.transcript(story, for_staff=False)
    assert "internal note" not in for_submitter
    assert "[2026-12-01T10:03:00+00:00] bob: refunded\n  attachment: r.pdf https://x/r.pdf" in for_submitter
    assert for_submitter.endswith("bob closed it: refunded\n")
    assert "already closed" not in for_submitter
    assert "bob (internal note): looks like a retry" in posts.transcript(story, for_staff=True)


def test_thread_names_fit_discord_and_the_opening_mentions_the_submitter() -> None:
    long = state(body="x" * 500)
    assert 1 <= len(posts.thread_name(long)) <= 100
    assert posts.thread_opening(state()).startswith("<@4242>, this is your private thread for ticket")


def test_the_pacer_spaces_requests_below_the_global_limit_in_the_order_they_asked() -> None:
    now = [100.0]
    pacer = Pacer(40, clock=lambda: now[0])
    assert [round(pacer.delay(), 3) for _ in range(4)] == [0.0, 0.025, 0.05, 0.075]
    now[0] += 1.0
    assert pacer.delay() == 0.0, "after a quiet second there is nothing to wait for"
