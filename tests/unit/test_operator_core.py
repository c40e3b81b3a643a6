"""The operator's pure parts: spec reading, builders, status, the retry schedule."""

from __future__ import annotations

from typing import Any

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
