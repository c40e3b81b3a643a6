"""The operator's pure parts: spec reading, builders, status, the retry schedule."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from franz.kummerkasten.teams import parse_teams
from franz_operator import builders
from franz_operator.builders import Condition, TopicState
from franz_operator.handlers import retry_delay
from franz_operator.pipeline import from_body, partition_mismatches


def body(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "tickets", "namespace": "team", "uid": "u-1", "generation": 4},
        "spec": {"kafka": {"bootstrapServers": "k:9092", "topicBackend": "admin"}, **spec},
    }


def test_topics_fall_back_to_topic_defaults_and_each_stage_output_gets_a_dlq() -> None:
    pipeline = from_body(
        body(
            topicDefaults={"partitions": 4, "replicas": 2, "config": {"retention.ms": "1"}},
            topics={"formatted": {"name": "out", "partitions": 8, "config": {"cleanup.policy": "delete"}}},
            deadLetter={"enabled": True, "suffix": ".dead", "config": {"retention.ms": "2"}},
        )
    )
    by_role = {topic.role: topic for topic in pipeline.topics}
    assert by_role["intake"].name == "discordMSG"
    assert (by_role["intake"].partitions, by_role["intake"].replicas) == (4, 2)
    assert by_role["formatted"].partitions == 8
    assert by_role["formatted"].config == {"retention.ms": "1", "cleanup.policy": "delete"}
    assert by_role["formatted-dlq"].name == "out.dead"
    assert by_role["formatted-dlq"].config == {"retention.ms": "2"}
    assert pipeline.strimzi_namespace == "team"


def test_without_dead_letters_rejects_go_to_the_errors_topic() -> None:
    pipeline = from_body(body(deadLetter={"enabled": False}))
    assert [topic.role for topic in pipeline.topics] == [
        "intake",
        "formatted",
        "errors",
        "commands",
        "events",
        "state",
    ]
    environment = builders.service_environment(pipeline)
    assert environment["DLQ_TOPIC"] == "errors"
    assert environment["COMMANDS_DLQ_TOPIC"] == "errors"
    assert environment["KAFKA_TOPICS"] == "errors"


def test_lifecycle_topics_follow_formatted_and_keep_what_they_need() -> None:
    pipeline = from_body(
        body(
            topicDefaults={"partitions": 2, "config": {"cleanup.policy": "delete", "retention.ms": "5"}},
            topics={"formatted": {"partitions": 12}},
        )
    )
    by_role = {topic.role: topic for topic in pipeline.topics}
    assert {by_role[role].partitions for role in ("formatted", "commands", "events", "state")} == {12}
    assert by_role["commands-dlq"].name == "ticket-commands-dlq"
    assert by_role["commands-dlq"].partitions == 2
    assert by_role["state"].config["cleanup.policy"] == "compact"
    assert by_role["events"].config["retention.ms"] == "-1"
    assert partition_mismatches(pipeline) == []
    split = from_body(body(topics={"formatted": {"partitions": 6}, "events": {"partitions": 3}}))
    assert partition_mismatches(split) == [
        "ticket-events has 3 partitions but tickets-formatted has 6: "
        "spec.topics.events.partitions must equal spec.topics.formatted.partitions"
    ]


def test_kubernetes_names_for_kafka_topics_are_valid_and_distinct() -> None:
    assert builders.kafka_topic_name("tickets-formatted") == "tickets-formatted"
    upper, lower = builders.kafka_topic_name("discordMSG"), builders.kafka_topic_name("discordmsg")
    assert upper.startswith("discordmsg-")
    assert upper != lower
    assert builders.kafka_topic_name("a_b") != builders.kafka_topic_name("a-b")


def test_the_config_hash_changes_with_a_secret_value_and_only_then() -> None:
    config = {"SOURCE_TOPIC": "x"}
    first = builders.config_hash(config, {"DISCORD_TOKEN": "YQ=="})
    assert first == builders.config_hash(dict(config), {"DISCORD_TOKEN": "YQ=="})
    assert first != builders.config_hash(config, {"DISCORD_TOKEN": "Yg=="})
    assert "YQ" not in first


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    previous = [{"type": "TopicsReady", "status": "False", "lastTransitionTime": "t0"}]
    same = builders.merge_conditions(
        previous, [Condition.of("TopicsReady", False, "KafkaUnreachable", "again")], generation=2, now="t1"
    )
    flipped = builders.merge_conditions(
        previous, [Condition.of("TopicsReady", True, "Ready", "ok")], generation=2, now="t1"
    )
    assert same[0]["lastTransitionTime"] == "t0"
    assert flipped[0]["lastTransitionTime"] == "t1"


def test_ready_is_false_and_names_every_failing_condition() -> None:
    conditions = [
        Condition.of("TopicsReady", True, "Ready", "4 topics ready"),
        Condition.of("SecretsReady", False, "SecretMissing", "Secret team/hook does not exist"),
    ]
    ready = builders.ready_condition(conditions)
    assert (ready.status, ready.reason) == ("False", "SecretMissing")
    assert "SecretsReady: Secret team/hook does not exist" in ready.message


def test_status_counts_ready_topics_and_events_follow_transitions() -> None:
    pipeline = from_body(body())
    topics = [TopicState("intake", "a", 3, 1, True), TopicState("errors", "b", 0, 0, False, "waiting")]
    conditions = [Condition.of("TopicsReady", False, "TopicsNotReady", "b: waiting")]
    status = builders.status(pipeline, previous={}, conditions=conditions, topics=topics, now="t")
    assert status["topicsReady"] == "1/2"
    assert status["observedGeneration"] == 4
    assert status["topics"][1] == {
        "role": "errors",
        "name": "b",
        "partitions": 0,
        "replicas": 0,
        "ready": False,
        "message": "waiting",
    }
    assert [c.type for c in builders.transitions({}, status)] == ["TopicsReady", "Ready"]
    assert builders.transitions(status, status) == []


def test_strimzi_status_is_read_only_when_it_describes_the_current_generation() -> None:
    topic = from_body(body()).topics[0]
    stale = {"metadata": {"generation": 2}, "spec": {"partitions": 3}, "status": {"observedGeneration": 1}}
    refused = {
        "metadata": {"generation": 2},
        "spec": {"partitions": 3, "replicas": 3},
        "status": {
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "False", "reason": "NotSupported", "message": "no"}],
        },
    }
    assert builders.strimzi_topic_state(topic, stale).message == "waiting for Strimzi"
    state = builders.strimzi_topic_state(topic, refused)
    assert (state.ready, state.message) == (False, "Strimzi: NotSupported: no")


def test_retries_back_off_to_a_minute() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 7, 20)] == [1.0, 2.0, 4.0, 60.0, 60.0]


def strimzi_refusal(reason: str, message: str) -> dict[str, Any]:
    condition = {"type": "Ready", "status": "False", "reason": reason, "message": message}
    return {
        "metadata": {"generation": 1},
        "spec": {"partitions": 3, "replicas": 3},
        "status": {"observedGeneration": 1, "topicId": "id-1", "conditions": [condition]},
    }


@pytest.mark.parametrize(
    ("role", "strimzi_reason", "strimzi_message", "reason", "expected"),
    [
        (
            "intake",
            "NotSupported",
            "Decreasing partitions not supported",
            "MorePartitionsInKafka",
            "raise spec.topics.intake.partitions to at least the count in Kafka",
        ),
        (
            "formatted-dlq",
            "NotSupported",
            "Replication factor change not supported, but required for partitions [0]",
            "ReplicasChangeNotSupported",
            "set spec.topicDefaults.replicas back",
        ),
        (
            "intake",
            "KafkaError",
            "org.apache.kafka.common.errors.InvalidReplicationFactorException: only 1 broker",
            "NotEnoughBrokers",
            "cannot create: Kafka has fewer brokers than the 3 replicas asked for",
        ),
        (
            "intake",
            "ResourceConflict",
            "Managed by Ref{…}",
            "TopicsNotReady",
            "Strimzi: ResourceConflict: Managed by Ref{…}",
        ),
    ],
)
def test_strimzis_refusals_get_reasons_of_their_own_and_name_the_field_to_change(
    role: str, strimzi_reason: str, strimzi_message: str, reason: str, expected: str
) -> None:
    topic = from_body(body()).topic(role)
    state = builders.strimzi_topic_state(topic, strimzi_refusal(strimzi_reason, strimzi_message))
    assert (state.ready, state.reason, state.topic_id) == (False, reason, "id-1")
    assert expected in state.message


def test_topics_ready_carries_the_most_urgent_reason_and_every_topics_message() -> None:
    states = [
        TopicState("intake", "a", 1, 1, False, "waiting for Strimzi"),
        TopicState("errors", "b", 1, 1, False, "recreated", reason="TopicRecreated"),
        TopicState("formatted", "c", 1, 1, False, "grown", reason="MorePartitionsInKafka"),
    ]
    condition = builders.topics_condition(states)
    assert (condition.status, condition.reason) == ("False", "TopicRecreated")
    assert condition.message == "a: waiting for Strimzi; b: recreated; c: grown"
    assert builders.topics_condition([TopicState("intake", "a", 1, 1, True)]).reason == "Ready"


def test_a_topic_keeps_its_recorded_id_and_a_new_one_is_reported_once_until_accepted() -> None:
    pipeline = from_body(body())
    seen = [TopicState("intake", "a", 1, 1, True, topic_id="old")]
    first, reported = builders.track_topic_ids(pipeline, {}, seen)
    assert (first[0].topic_id, reported) == ("old", [])
    previous = {"topics": [state.as_status() for state in first]}

    # Not known just now (Kafka unreachable, Strimzi not there yet): the recorded id stays.
    unknown, _ = builders.track_topic_ids(
        pipeline, previous, [TopicState("intake", "a", 0, 0, False, "down")]
    )
    assert unknown[0].topic_id == "old"

    recreated, reported = builders.track_topic_ids(pipeline, previous, [replace(seen[0], topic_id="new")])
    assert reported == [builders.Recreation("a", "old", "new")]
    [state] = recreated
    assert (state.ready, state.reason, state.topic_id, state.new_topic_id) == (
        False,
        "TopicRecreated",
        "old",
        "new",
    )
    assert "topicId old is now new" in state.message
    assert "kubectl annotate fp tickets -n team --overwrite franz.dev/accept-topic-ids=new" in state.message

    again, reported = builders.track_topic_ids(
        pipeline, {"topics": [state.as_status()]}, [replace(seen[0], topic_id="new")]
    )
    assert (again[0].reason, reported) == ("TopicRecreated", [])

    annotated = body()
    annotated["metadata"]["annotations"] = {"franz.dev/accept-topic-ids": "x, new"}
    accepted, reported = builders.track_topic_ids(
        from_body(annotated), {"topics": [state.as_status()]}, [replace(seen[0], topic_id="new")]
    )
    assert (accepted[0].ready, accepted[0].topic_id, accepted[0].new_topic_id, reported) == (
        True,
        "new",
        "",
        [],
    )


def test_kafka_topics_strimzi_never_reconciled_are_named_after_the_grace_period() -> None:
    pipeline = from_body(body(kafka={"bootstrapServers": "k:9092", "strimzi": {"cluster": "c"}}))
    found = [{"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}]

    def silent(now: str, topics: list[dict[str, Any]] = found) -> str | None:
        return builders.strimzi_not_reconciling(pipeline, topics, now=now, grace_seconds=60)

    assert silent("2026-01-01T00:00:59Z") is None
    message = silent("2026-01-01T00:01:00Z")
    assert message is not None
    assert "they are in namespace team; spec.kafka.strimzi.namespace must name the namespace" in message
    assert silent("2026-01-01T00:05:00Z", [{**found[0], "status": {"conditions": []}}]) is None


def test_a_kafka_topic_without_config_has_no_config_key() -> None:
    pipeline = from_body(body())
    assert "config" not in builders.kafka_topic(pipeline, pipeline.topic("intake"))["spec"]
    assert builders.kafka_topic(pipeline, pipeline.topic("state"))["spec"]["config"] == {
        "cleanup.policy": "compact"
    }


def test_the_pipelines_teams_reach_the_bot_as_it_parses_them() -> None:
    teams = [
        {"name": "billing", "categories": ["billing"], "deskChannelId": "7" * 18, "staffRoleId": "8" * 18},
        {"name": "support", "default": True, "deskChannelId": "5" * 18, "staffRoleId": "6" * 18},
    ]
    environment = builders.service_environment(
        from_body(body(discord={"teams": teams, "reopenDays": 3, "messageContent": True}))
    )
    assert (environment["REOPEN_DAYS"], environment["DISCORD_MESSAGE_CONTENT"]) == ("3", "true")
    routing = parse_teams(environment["DISCORD_TEAMS"])
    assert routing.team_for("billing").desk_channel_id == int("7" * 18)
    assert routing.team_for("bug").name == "support"
    plain = builders.service_environment(from_body(body()))
    assert "DISCORD_TEAMS" not in plain
    assert plain["REOPEN_DAYS"] == "7"
