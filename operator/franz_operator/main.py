"""`franz operator`: wiring only. kopf watches and holds the finalizer; the controller reconciles."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
from typing import Any

import kopf
import yaml

from franz.runtime.health import HealthServer
from franz.runtime.logs import configure_logging
from franz_operator.admin_topics import AdminTopics
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
from franz_operator.controller import Controller
from franz_operator.crd import custom_resource_definition
from franz_operator.handlers import handle_delete, handle_kafka_topic_event, handle_pipeline_event
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
    kube = Kube(load_client())
    admin = AdminTopics()
    reconciler = Reconciler(kube=kube, admin=admin)
    controller = Controller(
        kube=kube,
        reconciler=reconciler,
        workers=settings.workers,
        resync_seconds=settings.resync_seconds,
        namespaces=settings.namespaces,
    )
    ready = threading.Event()
    health = HealthServer(port=settings.metrics_port, ready=ready.is_set).start()
    log.info(
        "operator starting",
        extra={"namespaces": list(settings.namespaces) or "all", "resync_seconds": settings.resync_seconds},
    )
    controller.start()
    try:
        kopf.run(
            registry=registry(),
            memo=kopf.Memo(controller=controller, reconciler=reconciler),
            # One replica with a Recreate Deployment: no peering objects, no RBAC for them.
            standalone=True,
            # kopf would otherwise ask the passwd database for our user name, and the image's numeric
            # user (10001, for runAsNonRoot) has no entry there: the pod name is who we are.
            identity=socket.gethostname(),
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            ready_flag=ready,
        )
    finally:
        controller.stop()
        admin.close()
        health.stop()
    return 0


def registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Our finalizer name, and kopf's bookkeeping under our group instead of kopf.zalando.org.
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        # Our own Events say what changed; kopf's per-handler INFO lines would only repeat them.
        settings.posting.level = logging.WARNING
        # The server ends each watch after 5 min; the client gives up 30 s later on a silent connection.
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 30
        # Only the KafkaTopics we made: a cluster with thousands of others costs us nothing.
        settings.watching.label_selectors[(STRIMZI_GROUP, STRIMZI_TOPIC_PLURAL)] = (
            f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        )

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # The same credentials as our own client: the ServiceAccount in a pod, else the kubeconfig.
        return kopf.login_via_client(**kwargs)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def pipeline_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        handle_pipeline_event(
            event_type=type, body=body, controller=memo.controller, reconciler=memo.reconciler
        )

    @kopf.on.event(STRIMZI_GROUP, STRIMZI_VERSION, STRIMZI_TOPIC_PLURAL, registry=registry)
    def kafka_topic_event(labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> None:
        handle_kafka_topic_event(labels=labels, controller=memo.controller)

    @kopf.on.delete(
        GROUP,
        VERSION,
        PLURAL,
        registry=registry,
        when=lambda spec, **_: spec.get("deletionPolicy") == "Delete",
    )
    def delete_topics(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
        handle_delete(body=body, reconciler=memo.reconciler, retry=retry)

    return registry
