"""A pipeline that turns not Ready is reported on that pipeline's own `errors` topic, so its absturz tells
the team's Discord channel what Kubernetes Events tell only those who look.

Each of TopicsReady, SecretsReady and ConfigReady turning False is one event (the aggregate `Ready`
condition only repeats them). A Kafka that cannot be reached gets nothing: a condition that says so is not
sent at all, any other send fails after a short wait and is logged, and the pipeline's status says it.
One reporter per errors topic, kept for the operator's lifetime.
"""

from __future__ import annotations

import threading

from franz.runtime.errors import ErrorReporter, error_reporter
from franz.runtime.security import PLAINTEXT, KafkaSecurity
from franz_operator.builders import Condition
from franz_operator.pipeline import Pipeline

SERVICE = "franz-operator"
AGGREGATE_CONDITION = "Ready"
KAFKA_UNREACHABLE = "KafkaUnreachable"  # the admin backend's reason: the errors topic is out of reach too


class PipelineAlerts:
    def __init__(self, *, security: KafkaSecurity = PLAINTEXT) -> None:
        self._security = security  # the operator's own Kafka identity, as for the admin backend
        self._reporters: dict[tuple[str, str], ErrorReporter] = {}
        self._guard = threading.Lock()  # reconciles of different pipelines run in parallel

    def not_ready(self, pipeline: Pipeline, condition: Condition) -> None:
        """One condition of `pipeline` has just turned not True."""
        if condition.type == AGGREGATE_CONDITION or condition.reason == KAFKA_UNREACHABLE:
            return
        where = f"{pipeline.namespace}/{pipeline.name}"
        self._reporter(pipeline).report(
            "pipeline_not_ready",
            f"FranzPipeline {where}: {condition.type}={condition.status} ({condition.reason}): "
            f"{condition.message}",
            incident=f"{pipeline.uid}/{condition.type}",
            severity="warning",
            context={
                "pipeline": where,
                "condition": condition.type,
                "reason": condition.reason,
                "generation": pipeline.generation,
            },
        )

    def close(self) -> None:
        with self._guard:
            reporters, self._reporters = list(self._reporters.values()), {}
        for reporter in reporters:
            reporter.close(timeout=5)

    def _reporter(self, pipeline: Pipeline) -> ErrorReporter:
        key = (pipeline.bootstrap_servers, pipeline.topic("errors").name)
        with self._guard:
            if key not in self._reporters:
                self._reporters[key] = error_reporter(
                    SERVICE, bootstrap=key[0], topic=key[1], security=self._security
                )
            return self._reporters[key]
