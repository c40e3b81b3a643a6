"""`franz operator`: wiring only. kopf watches and holds the finalizer of Delete pipelines; its events
start, wake and stop one worker per pipeline (`handlers`)."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import yaml
from kopf._core.engines import peering  # kopf exports the type of run(identity=...) nowhere else

from franz.runtime.health import HealthServer
from franz.runtime.logs import configure_logging
from franz_operator import handlers
from franz_operator.admin_topics import AdminTopics
from franz_operator.alerts import PipelineAlerts
from franz_operator.constants import (
    FINALIZER,
    GROUP,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    PLURAL,
    STRIMZI_GROUP,
    STRIMZI_TOPIC_PLURAL,
    STRIMZI_VERSION,
    VERSION,
)
from franz_operator.crd import custom_resource_definition
from franz_operator.kube import Kube, load_client
from franz_operator.reconcile import Reconciler
from franz_operator.settings import Settings

log = logging.getLogger(__name__)


def main(args: argparse.Namespace) -> int:
    if args.print_crd:
        yaml.safe_dump(custom_resource_definition(), sys.stdout, sort_keys=False)
        return 0
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    # kopf says "Handler … succeeded" for every watch event; our reconcile logs say what happened.
    logging.getLogger("kopf.objects").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    # An unreachable Kafka is a pipeline's TopicsReady=False with Kafka's error; not a line per retry.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    admin = AdminTopics(security=settings.security)
    alerts = PipelineAlerts(security=settings.security)
    pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="reconcile")
    pipelines = handlers.Pipelines(
        reconciler=Reconciler(
            kube=Kube(load_client()),
            admin=admin,
            post_event=post_event,
            strimzi_grace_seconds=settings.strimzi_grace_seconds,
            report_not_ready=alerts.not_ready,
        ),
        executor=pool,
        resync_seconds=settings.resync_seconds,
    )
    ready = threading.Event()
    health = HealthServer(port=settings.metrics_port, ready=ready.is_set).start()
    log.info(
        "operator starting",
        extra={"namespaces": list(settings.namespaces) or "all", "resync_seconds": settings.resync_seconds},
    )
    try:
        kopf.run(
            registry=registry(pipelines),
            # One replica with a Recreate Deployment: no peering objects, no RBAC for them.
            standalone=True,
            # kopf would otherwise ask the passwd database for our user name, and the image's numeric
            # user (10001, for runAsNonRoot) has no entry there: the pod name is who we are.
            identity=peering.Identity(socket.gethostname()),
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            ready_flag=ready,
        )
    finally:
        pool.shutdown(cancel_futures=True)  # a reconcile in flight finishes: its requests have timeouts
        admin.close()
        alerts.close()
        health.stop()
    return 0


def post_event(body: Mapping[str, Any], *, warning: bool, reason: str, message: str) -> None:
    """The reconciler's Events go out through kopf's poster (in the background, with its retries)."""
    raw = cast(kopf.RawBody, body)  # the pipeline as the API server returned it
    kopf.event(kopf.Body(raw), type="Warning" if warning else "Normal", reason=reason, message=message)


def registry(pipelines: handlers.Pipelines) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Our finalizer name (only deletionPolicy Delete pipelines carry it: the deletion handler's
        # filter), and kopf's bookkeeping under our group instead of kopf.zalando.org.
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        # Events are ours, one per change (kopf.event); kopf's per-handler log lines stay in the log.
        settings.posting.loggers = False
        settings.posting.reporting_component = MANAGED_BY
        # The server ends each watch after 5 min; the client gives up 30 s later on a silent connection.
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 30
        # Only the KafkaTopics we made: a cluster with thousands of others costs us nothing.
        settings.watching.label_selectors[(STRIMZI_GROUP, STRIMZI_TOPIC_PLURAL)] = (
            f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        )

    # After kopf has stopped its watches: each worker finishes the reconcile it is in.
    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        await handlers.stop_workers(pipelines)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # The same credentials as our own client: the ServiceAccount in a pod, else the kubeconfig.
        return kopf.login_via_client(**kwargs)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def pipeline_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        handlers.on_pipeline_event(pipelines=pipelines, event_type=type, body=body)

    @kopf.on.event(STRIMZI_GROUP, STRIMZI_VERSION, STRIMZI_TOPIC_PLURAL, registry=registry)
    async def kafka_topic_event(labels: kopf.Labels, **_: Any) -> None:
        handlers.wake_on_kafka_topic_event(pipelines=pipelines, labels=labels)

    @kopf.on.delete(
        GROUP,
        VERSION,
        PLURAL,
        registry=registry,
        when=lambda spec, **_: spec.get("deletionPolicy") == "Delete",
    )
    def delete_topics(body: kopf.Body, retry: int, **_: Any) -> None:
        handlers.delete_topics(reconciler=pipelines.reconciler, body=body, retry=retry)

    return registry
