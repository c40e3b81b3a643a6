"""What each watch event means for the pipelines; kopf's decorators in `main` only call these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from franz_operator.constants import LABEL_PIPELINE, LABEL_PIPELINE_NAMESPACE
from franz_operator.controller import Controller, retry_delay
from franz_operator.exceptions import OperatorError
from franz_operator.reconcile import Reconciler


def handle_pipeline_event(
    *, event_type: str | None, body: Mapping[str, Any], controller: Controller, reconciler: Reconciler
) -> None:
    metadata = body["metadata"]
    if event_type == "DELETED":
        reconciler.forget(metadata["uid"])
        return
    observed = (body.get("status") or {}).get("observedGeneration")
    if event_type == "MODIFIED" and observed == metadata.get("generation"):
        return  # our own status write, or a change to metadata only: the spec is already handled
    controller.enqueue(metadata["namespace"], metadata["name"])


def handle_kafka_topic_event(*, labels: Mapping[str, str], controller: Controller) -> None:
    """Strimzi wrote a topic's status (or someone deleted the topic): look at its pipeline now."""
    namespace, name = labels.get(LABEL_PIPELINE_NAMESPACE), labels.get(LABEL_PIPELINE)
    if namespace and name:
        controller.enqueue(namespace, name)


def handle_delete(*, body: Mapping[str, Any], reconciler: Reconciler, retry: int) -> None:
    """deletionPolicy Delete: the pipeline goes once its topics are gone; until then, kopf retries."""
    try:
        reconciler.delete_topics(body)
    except OperatorError as error:
        raise kopf.TemporaryError(str(error), delay=retry_delay(retry + 1)) from error
    reconciler.forget(body["metadata"]["uid"])
