"""absturz's pure core: every payload is one Discord accepts, and user text cannot break out of it."""

from __future__ import annotations

import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.consumer.fetcher import ConsumerRecord

from franz import contracts
from franz.absturz import core
from franz.contracts.discord import EMBEDS_MAX, EMBEDS_TOTAL_MAX, embed_characters, limit_violations
from franz.runtime.logs import JsonFormatter, redact
from franz.runtime.secrets import Secret

FIELDS = ConsumerRecord._fields


def record(value: bytes, *, topic: str = "errors", offset: int = 0) -> ConsumerRecord:
    values = dict.fromkeys(FIELDS)
    values.update(topic=topic, partition=0, offset=offset, timestamp=1_700_000_000_000, value=value)
    return ConsumerRecord(**values)


def dead_letter(raw: bytes, *, error: str = "field 'message' is empty") -> bytes:
    letter = contracts.dead_letter(
        error=contracts.ContractError("validation_error", error),
        value=raw,
        service="aufbereitung",
        source={"topic": "discordMSG", "partition": 1, "offset": 42, "key": None, "timestamp": 1},
    )
    return contracts.encode(letter)


def error_event(message: str, **context: object) -> bytes:
    return contracts.encode(
        {
            "service": "aufbereitung",
            "severity": "error",
            "error_type": "broker_unreachable",
            "message": message,
            "time": "2026-11-21T10:00:00Z",
            "context": context,
        }
    )


def test_dead_letter_renders_its_source_error_and_pretty_json_content() -> None:
    alert = core.parse_alert(record(dead_letter(b'{"username":"a"}'), topic="tickets-formatted-dlq"))
    assert alert.kind == "dead_letter"
    assert alert.source == "discordMSG"
    assert alert.origin == "discordMSG/1/42"
    [message] = core.pack(core.collapse([alert]))
    [embed] = message.payload["embeds"]
    assert embed["title"] == "tickets-formatted-dlq · validation\\_error"
    assert embed["description"] == '```json\n{\n  "username": "a"\n}\n```'
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Source"] == "discordMSG/1/42"
    assert fields["Error"] == "field 'message' is empty"
    assert fields["Record"] == "tickets-formatted-dlq/0/0"
    assert message.payload["allowed_mentions"] == {"parse": []}
    assert embed["color"] == core.topic_colour("tickets-formatted-dlq")


def test_error_event_and_unknown_records_are_reported_too() -> None:
    event = core.parse_alert(record(error_event("broker down", broker="kafka:9092")))
    assert (event.kind, event.error, event.source) == ("error", "broker down", "aufbereitung (error)")
    assert json.loads(event.content) == {"broker": "kafka:9092"}
    raw = core.parse_alert(record(b"\xff\xfe not json at all"))
    assert raw.kind == "raw"
    assert "not json at all" in raw.content


def test_identical_alerts_collapse_into_one_embed_with_a_count() -> None:
    alerts = [core.parse_alert(record(dead_letter(b"x"), offset=i)) for i in range(50)]
    alerts.append(core.parse_alert(record(dead_letter(b"y", error="other"), offset=50)))
    groups = core.collapse(alerts)
    assert [group.count for group in groups] == [50, 1]
    [message] = core.pack(groups)
    fields = {field["name"]: field["value"] for field in message.payload["embeds"][0]["fields"]}
    assert fields["Occurrences"] == "50 identical alerts"
    assert "+49 more" in fields["Record"]


def test_backticks_cannot_close_the_code_block() -> None:
    hostile = "```\n**bold** @everyone <@123> ```js\nalert(1)\n```"
    [embed] = core.pack(core.collapse([core.parse_alert(record(dead_letter(hostile.encode())))]))[0].payload[
        "embeds"
    ]
    description = embed["description"]
    assert description.startswith("```\n")
    assert description.endswith("\n```")
    inner = description[len("```\n") : -len("\n```")]
    assert "```" not in inner
    assert inner.replace("\u200b", "") == hostile


def test_markdown_in_fields_is_escaped() -> None:
    alert = core.parse_alert(record(dead_letter(b"x", error="**loud** _text_ ~~gone~~ `code`")))
    [embed] = core.pack(core.collapse([alert]))[0].payload["embeds"]
    error = next(field["value"] for field in embed["fields"] if field["name"] == "Error")
    assert error == "\\*\\*loud\\*\\* \\_text\\_ \\~\\~gone\\~\\~ \\`code\\`"


def test_oversize_content_is_truncated_with_a_marker_never_a_broken_character() -> None:
    content = ("😀" * 3000 + "é" * 3000).encode()
    [embed] = core.pack(core.collapse([core.parse_alert(record(dead_letter(content)))]))[0].payload["embeds"]
    assert core.TRUNCATED in embed["description"]
    assert embed_characters(embed) <= EMBEDS_TOTAL_MAX
    assert limit_violations({"embeds": [embed]}) == []
    embed["description"].encode("utf-8")  # a split surrogate pair would raise here


alert_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=3000)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(alert_text, alert_text, st.sampled_from(["dlq", "event", "raw"])), min_size=1, max_size=40
    )
)
def test_every_packed_payload_is_within_discords_limits(items: list[tuple[str, str, str]]) -> None:
    records = []
    for offset, (body, error, kind) in enumerate(items):
        if kind == "dlq":
            value = dead_letter(body.encode(), error=error)
        elif kind == "event":
            value = error_event(error, body=body)
        else:
            value = body.encode()
        records.append(record(value, offset=offset))
    messages = core.pack(core.collapse(core.parse_alert(r) for r in records))
    assert sum(len(message.groups) for message in messages) == len(
        core.collapse(core.parse_alert(r) for r in records)
    )
    for message in messages:
        assert limit_violations(message.payload) == []
        assert len(message.payload["embeds"]) <= EMBEDS_MAX
        assert message.payload["allowed_mentions"] == {"parse": []}


def test_packing_uses_few_requests() -> None:
    alerts = [
        core.parse_alert(record(dead_letter(f"body {i}".encode(), error=f"e{i}"), offset=i))
        for i in range(100)
    ]
    assert len(core.pack(core.collapse(alerts))) == 10


def test_webhook_urls_and_tokens_are_redacted_from_logs() -> None:
    url = "https://discord.com/api/v10/webhooks/123456789012345678/AbC-dEf_123.xyz"
    assert (
        redact(f"posting to {url} failed")
        == "posting to https://discord.com/api/v10/webhooks/123456789012345678/[redacted] failed"
    )
    assert "AbC" not in redact("Max retries exceeded with url: /api/webhooks/1/AbC-dEf_123 (Caused by ...)")
    line = JsonFormatter().format(logging.makeLogRecord({"msg": "x %s", "args": (url,), "url": url}))
    assert "AbC-dEf_123" not in line
    assert "123456789012345678" in line
    assert "AbC" not in repr(Secret(url))
    assert "AbC" not in f"{Secret(url)}"


def test_every_error_franz_reports_says_what_to_do_and_a_collapsed_count_shows_as_occurrences() -> None:
    assert set(core.ADVICE) == set(contracts.OPERATIONAL_ERROR_TYPES)
    event = {
        **contracts.error_event(
            service="aufbereitung", error_type="batch_failing", message="stuck", context={"records": 5}
        ),
        "count": 12,
    }
    [group] = core.collapse([core.parse_alert(record(contracts.encode(event)))])
    fields = {field["name"]: field["value"] for field in core.render_embed(group)["fields"]}
    assert fields["What to do"].startswith("The service retries these records")
    assert fields["Occurrences"] == "12 identical alerts"


def test_a_dead_letter_says_how_to_replay_it() -> None:
    [group] = core.collapse([core.parse_alert(record(dead_letter(b"{}"), topic="tickets-formatted-dlq"))])
    fields = {field["name"]: field["value"] for field in core.render_embed(group)["fields"]}
    assert "franz dlq replay tickets-formatted-dlq" in fields["What to do"].replace("\\", "")
