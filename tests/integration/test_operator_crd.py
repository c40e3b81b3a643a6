"""The FranzPipeline CRD on the real kube-apiserver: defaults, and what Kafka cannot do refused at apply."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from franz_operator import constants
from franz_operator.kube import Kube


@pytest.fixture(scope="module")
def objects(kubeconfig: Path, kube: Kube) -> client.CustomObjectsApi:
    """The CRD is installed by the `kube` fixture; this client sees the API server's own errors."""
    api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return client.CustomObjectsApi(api)


def pipeline(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{constants.GROUP}/{constants.VERSION}",
        "kind": constants.KIND,
        "metadata": {"name": f"p-{uuid.uuid4().hex[:8]}"},
        "spec": {"kafka": {"bootstrapServers": "kafka:9092", "topicBackend": "admin"}, **spec},
    }


def create(objects: client.CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    created = objects.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, "default", constants.PLURAL, body
    )
    return cast(dict[str, Any], created)  # the client does not know our kind's shape


def patch(objects: client.CustomObjectsApi, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    patched = objects.patch_namespaced_custom_object(
        constants.GROUP, constants.VERSION, "default", constants.PLURAL, name, {"spec": spec}
    )
    return cast(dict[str, Any], patched)


def refused(call: Any) -> str:
    with pytest.raises(ApiException) as failure:
        call()
    assert failure.value.status == 422
    return str(failure.value.body)


def test_defaults_fill_in_the_seed_pipeline(objects: client.CustomObjectsApi) -> None:
    created = create(objects, pipeline())
    spec = created["spec"]
    assert {role: topic["name"] for role, topic in spec["topics"].items()} == constants.TOPIC_ROLES
    assert spec["topicDefaults"] == {"partitions": 3, "replicas": 3}
    assert spec["deadLetter"] == {"enabled": True, "suffix": "-dlq"}
    assert spec["deletionPolicy"] == "Retain"


def test_partitions_can_grow_but_never_shrink(objects: client.CustomObjectsApi) -> None:
    name = create(objects, pipeline(topics={"intake": {"partitions": 6}}))["metadata"]["name"]
    assert (
        patch(objects, name, {"topics": {"intake": {"partitions": 12}}})["spec"]["topics"]["intake"][
            "partitions"
        ]
        == 12
    )
    message = refused(lambda: patch(objects, name, {"topics": {"intake": {"partitions": 4}}}))
    assert "partitions can never decrease" in message


def test_the_lifecycle_topics_partitions_never_change_others_may_grow(
    objects: client.CustomObjectsApi,
) -> None:
    """Growing them would move ticket ids to other partitions, away from their history in sachbearbeiter."""
    name = create(objects, pipeline(topics={"intake": {"partitions": 6}}))["metadata"]["name"]
    for spec in (
        {"topics": {"formatted": {"partitions": 6}}},
        {"topics": {"events": {"partitions": 6}}},
        {"topicDefaults": {"partitions": 6}},  # formatted follows the default, the others formatted
    ):
        assert "partitions of the lifecycle topics" in refused(lambda: patch(objects, name, spec))  # noqa: B023
    grown = patch(objects, name, {"topics": {"intake": {"partitions": 12}, "errors": {"partitions": 3}}})
    assert grown["spec"]["topics"]["intake"]["partitions"] == 12
    pinned = create(objects, pipeline(topics={"formatted": {"partitions": 4}}))["metadata"]["name"]
    # Explicit lifecycle partitions hold the count, so the default may grow for the other topics.
    assert (
        patch(objects, pinned, {"topicDefaults": {"partitions": 6}})["spec"]["topicDefaults"]["partitions"]
        == 6
    )


def test_topic_defaults_partitions_never_shrink(objects: client.CustomObjectsApi) -> None:
    name = create(objects, pipeline(topicDefaults={"partitions": 6}))["metadata"]["name"]
    message = refused(lambda: patch(objects, name, {"topicDefaults": {"partitions": 3}}))
    assert "topicDefaults.partitions can never decrease" in message


def test_pipeline_names_fit_in_a_label(objects: client.CustomObjectsApi) -> None:
    body = pipeline()
    body["metadata"]["name"] = "p" * 64
    assert "at most 63 characters" in refused(lambda: create(objects, body))


def test_topic_names_are_immutable(objects: client.CustomObjectsApi) -> None:
    name = create(objects, pipeline())["metadata"]["name"]
    message = refused(lambda: patch(objects, name, {"topics": {"formatted": {"name": "renamed"}}}))
    assert "topic names are immutable" in message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"kafka": {"bootstrapServers": "k:9092", "topicBackend": "zookeeper"}}, "topicBackend"),
        ({"kafka": {"bootstrapServers": "k:9092", "topicBackend": "strimzi"}}, "needs kafka.strimzi.cluster"),
        ({"topics": {"intake": {"name": "not a topic!"}}}, "spec.topics.intake.name"),
        ({"deadLetter": {"suffix": "/dlq"}}, "spec.deadLetter.suffix"),
        ({"topics": {"errors": {"partitions": 0}}}, "spec.topics.errors.partitions"),
        ({"deletionPolicy": "Shred"}, "deletionPolicy"),
    ],
)
def test_invalid_pipelines_are_refused_with_a_message_naming_the_field(
    objects: client.CustomObjectsApi, spec: dict[str, Any], expected: str
) -> None:
    body = pipeline()
    body["spec"].update(spec)
    assert expected in refused(lambda: create(objects, body))


def test_the_status_keeps_each_topics_id(objects: client.CustomObjectsApi) -> None:
    """The ids the operator compares a topic with (TopicRecreated) survive the schema's pruning."""
    name = create(objects, pipeline())["metadata"]["name"]
    topic = {"role": "intake", "name": "discordMSG", "partitions": 3, "replicas": 1, "ready": False}
    topic |= {"topicId": "id-old", "newTopicId": "id-new", "message": "recreated"}
    written = objects.patch_namespaced_custom_object_status(
        constants.GROUP, constants.VERSION, "default", constants.PLURAL, name, {"status": {"topics": [topic]}}
    )
    assert cast(dict[str, Any], written)["status"]["topics"] == [topic]


BILLING = {"name": "billing", "categories": ["billing"], "deskChannelId": "7" * 18, "staffRoleId": "8" * 18}
SUPPORT = {"name": "support", "default": True, "deskChannelId": "5" * 18, "staffRoleId": "6" * 18}


def test_support_teams_are_accepted_with_the_desk_defaults(objects: client.CustomObjectsApi) -> None:
    created = create(objects, pipeline(discord={"teams": [BILLING, SUPPORT]}))
    discord = created["spec"]["discord"]
    assert [team["name"] for team in discord["teams"]] == ["billing", "support"]
    assert (discord["reopenDays"], discord["messageContent"]) == (7, False)


@pytest.mark.parametrize(
    ("teams", "expected"),
    [
        ([BILLING, SUPPORT | {"categories": ["billing"]}], "each category can be routed to one team only"),
        ([BILLING | {"default": True}, SUPPORT], "exactly one team must be the default"),
        ([BILLING], "exactly one team must be the default"),
        ([BILLING, SUPPORT, SUPPORT | {"default": False}], "Duplicate value"),
        ([BILLING | {"deskChannelId": "general"}, SUPPORT], "deskChannelId"),
        ([BILLING | {"categories": ["refunds"]}, SUPPORT], 'Unsupported value: \\"refunds\\"'),
        ([{"name": "x", "default": True, "deskChannelId": "5" * 18}], "staffRoleId: Required value"),
    ],
)
def test_ambiguous_teams_are_refused_at_apply(
    objects: client.CustomObjectsApi, teams: list[dict[str, Any]], expected: str
) -> None:
    assert expected in refused(lambda: create(objects, pipeline(discord={"teams": teams})))
