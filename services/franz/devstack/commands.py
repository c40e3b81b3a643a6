"""The dev stack's commands: `franz prepare`, `kafka`, `cluster`, `image`, `up` and `dashboards`.

They exist only where the dev stack is installed (a checkout with `franz[dev]`), never in the image.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from franz.devstack.cache import progress
from franz.devstack.exceptions import InfrastructureError
from franz.devstack.images import REPOSITORY_ROOT
from franz.devstack.process import OwnedDirectory
from franz.runtime.wait import stop_event
from franz.services import AddCommand

if TYPE_CHECKING:
    from franz.devstack.images import ImageArchive
    from franz.devstack.node import LocalCluster
    from franz.devstack.supervisor import Supervisor

DEFAULT_UP_PORT = 9092


def cmd_prepare(args: argparse.Namespace) -> int:
    """Obtain every local component into the cache, so the first test or `franz up` does not wait."""
    from franz.devstack.debian import require_node_packages
    from franz.devstack.images import base_rootfs, pause_image
    from franz.devstack.kafka import KAFKA_VERSION, kafka_libs
    from franz.devstack.kube import prepare_control_plane
    from franz.devstack.strimzi import STRIMZI_VERSION, strimzi_jar
    from franz.devstack.tools import tool, tool_version

    progress(f"Apache Kafka {KAFKA_VERSION}: {kafka_libs()}")
    progress(f"Strimzi {STRIMZI_VERSION}'s CRDs: {strimzi_jar()}")
    require_node_packages()
    prepare_control_plane()
    for name in ("helm", "kubectl", "promtool"):
        progress(f"{name}: {tool(name)} ({tool_version(name)})")
    progress(f"pause image: {pause_image().path}")
    progress(f"Debian base for the Franz image: {base_rootfs()}")
    return 0


def cmd_kafka(args: argparse.Namespace) -> int:
    from franz.devstack.kafka import LocalKafka

    stop = stop_event()
    with LocalKafka(port=args.port) as kafka:
        print(f"bootstrap={kafka.bootstrap}", flush=True)
        stop.wait()
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from franz.devstack.kube import LocalControlPlane
    from franz.devstack.node import LocalCluster

    stop = stop_event()
    if not args.node:
        with LocalControlPlane() as plane:
            print(f"kubeconfig={plane.kubeconfig}", flush=True)
            stop.wait()
        return 0
    with LocalCluster() as cluster, contextlib.ExitStack() as demo:
        if args.image or args.demo:
            image = franz_image_archive()
            cluster.import_image(image)
            print(f"image={image.reference}", flush=True)
        print(f"kubeconfig={cluster.kubeconfig}", flush=True)
        print(f"bootstrap={cluster.bootstrap}", flush=True)
        print(f"pod-bootstrap={cluster.pod_bootstrap}", flush=True)
        print(f"containerd={cluster.containerd_socket}", flush=True)
        progress(
            f"the node is Ready after {cluster.start_seconds:.1f}s; Ctrl-C stops it and removes everything"
        )
        if args.demo:
            install_demo(cluster, image, demo)
        stop.wait()
        progress("stopping the node")
    return 0


DEMO_NAMESPACE = "franz"


def install_demo(cluster: LocalCluster, image: ImageArchive, resources: contextlib.ExitStack) -> None:
    """The umbrella chart on the node with an example pipeline, absturz posting to a local webhook whose
    alerts print here; then how to send a ticket and watch the pods (what `make node-demo` shows)."""
    import yaml

    from franz.devstack.discord_webhook import LocalDiscordWebhook
    from franz.devstack.platform import store_volume, umbrella_values
    from franz.devstack.tools import tool

    webhook = resources.enter_context(LocalDiscordWebhook(on_message=_print_alerts))
    port = int(webhook.url.split("/")[2].rsplit(":", 1)[1])
    pod_webhook = webhook.url.replace(f"127.0.0.1:{port}", cluster.namespaces.expose_host_port(port))
    kubeconfig = f"--kubeconfig={cluster.kubeconfig}"
    kubectl, helm = str(tool("kubectl")), str(tool("helm"))
    volume = cluster.state_dir / "demo-store-volume.yaml"
    volume.write_text(
        yaml.safe_dump(
            store_volume(
                namespace=DEMO_NAMESPACE,
                release="franz",
                replica=0,
                directory=cluster.state_dir / "volumes" / "sachbearbeiter-0",
            )
        )
    )
    values = cluster.state_dir / "demo-values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                **umbrella_values(pipeline="demo", image=image, pod_bootstrap=cluster.pod_bootstrap),
                "kummerkasten": {"enabled": False},  # it needs a Discord bot token
            }
        )
    )
    create = [kubectl, kubeconfig, f"--namespace={DEMO_NAMESPACE}", "create"]
    steps = [
        [*create, "namespace", DEMO_NAMESPACE],
        [
            kubectl,
            kubeconfig,
            "label",
            "namespace",
            DEMO_NAMESPACE,
            "pod-security.kubernetes.io/enforce=restricted",
        ],
        [kubectl, kubeconfig, "create", f"--filename={volume}"],  # sachbearbeiter's store
        *(
            [*create, "secret", "generic", name, f"--from-literal={literal}"]
            for name, literal in (("discord-webhook", f"url={pod_webhook}"), ("discord-bot", "token=unused"))
        ),
        [
            helm,
            kubeconfig,
            "install",
            "franz",
            str(REPOSITORY_ROOT / "charts" / "franz"),
            f"--namespace={DEMO_NAMESPACE}",
            f"--values={values}",
            "--wait",
            "--timeout=5m",
        ],
    ]
    progress("installing the umbrella chart with an example pipeline (helm install --wait)")
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InfrastructureError(f"{' '.join(step[:4])} failed:\n{result.stderr.strip()}")
    print(
        "\n".join(
            [
                "",
                "Franz runs as pods on the node.",
                f"  export KUBECONFIG={cluster.kubeconfig}",
                f"  {kubectl} get pods -n {DEMO_NAMESPACE} -w",
                f"  {kubectl} get franzpipelines -n {DEMO_NAMESPACE}",
                f"  .venv/bin/franz ticket 'Printer on fire' --user alice --bootstrap {cluster.bootstrap}",
                f"  .venv/bin/franz tickets --bootstrap {cluster.bootstrap}",
                "Alerts from absturz print here as [discord] lines. Ctrl-C stops the node and removes it.",
                "",
            ]
        ),
        flush=True,
    )


def franz_image_archive() -> ImageArchive:
    from franz.devstack.images import franz_image, image_size

    image = franz_image()
    progress(f"{image.reference}: {image_size(image) / 1e6:.0f} MB uncompressed, archive {image.path}")
    return image


def cmd_image(args: argparse.Namespace) -> int:
    from franz.devstack.images import import_image

    image = franz_image_archive()
    if args.containerd is not None:
        import_image(args.containerd, image)
        progress(f"loaded {image.reference} into the node at {args.containerd}")
    print(f"image={image.reference}", flush=True)
    print(f"archive={image.path}", flush=True)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from franz.contracts import DEFAULT_TOPICS, TOPIC_CONFIGS
    from franz.devstack.discord_webhook import LocalDiscordWebhook
    from franz.devstack.kafka import LocalKafka, ensure_topics
    from franz.devstack.prometheus import LocalPrometheus
    from franz.devstack.stack import default_services
    from franz.devstack.supervisor import Supervisor

    stop = stop_event()
    owned = OwnedDirectory("franz-up-")  # removed on the way out, by a janitor if we are killed
    run_dir = owned.path
    env = dict(os.environ)
    # sachbearbeiter's store belongs with this run's broker: a store of another broker's topics is no
    # picture of these.
    env.setdefault("SACHBEARBEITER_STORE_DIR", str(run_dir / "sachbearbeiter-store"))
    webhook: LocalDiscordWebhook | None = None
    if not env.get("DISCORD_WEBHOOK_URL"):
        webhook = LocalDiscordWebhook(on_message=_print_alerts).start()
        env["DISCORD_WEBHOOK_URL"] = webhook.url
    progress("starting the local Kafka broker")
    try:
        with (
            LocalKafka(port=args.port, data_dir=run_dir / "kafka") as kafka,
            contextlib.ExitStack() as optional,
        ):
            ensure_topics(kafka.bootstrap, DEFAULT_TOPICS, partitions=args.partitions, configs=TOPIC_CONFIGS)
            supervisor = Supervisor(
                log_dir=run_dir / "logs", base_env={**env, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap}
            )
            for spec in default_services(env):
                supervisor.add(spec)
            prometheus = None
            if args.prometheus:
                progress("starting Prometheus")
                targets = {
                    spec.name: [f"127.0.0.1:{spec.metrics_port}"]
                    for spec in supervisor.specs
                    if spec.metrics_port
                }
                prometheus = optional.enter_context(LocalPrometheus(targets, data_dir=run_dir / "prometheus"))
            supervisor.start_all()
            _print_up_summary(
                kafka.bootstrap,
                run_dir,
                supervisor,
                local_webhook=webhook is not None,
                prometheus_url=prometheus.url if prometheus is not None else None,
            )
            try:
                while not stop.wait(0.5):
                    supervisor.check()
            finally:
                progress("stopping the services and the broker")
                supervisor.stop_all()
    finally:
        if webhook is not None:
            webhook.stop()
        owned.remove()
    progress("stopped")
    return 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    import time

    from franz.devstack.dashboard_png import render_dashboards
    from franz.devstack.dashboards import Window
    from franz.devstack.prometheus import PrometheusApi

    window = Window.last(args.minutes * 60, end=time.time())
    for rendered in render_dashboards(
        PrometheusApi(args.prometheus),
        args.png,
        window=window,
        namespace=args.namespace,
        service=args.service,
    ):
        empty = [data.panel.title for data in rendered.panels if not data.shown()]
        print(
            f"{rendered.path}: {len(rendered.panels)} panels"
            + (f", no data in: {', '.join(empty)}" if empty else "")
        )
    return 0


def _print_alerts(payload: dict[str, object]) -> None:
    """What the local Discord webhook receives, one line per embed, so alerts show in `franz up`."""
    embeds = payload.get("embeds")
    for embed in embeds if isinstance(embeds, list) else []:
        fields = {field["name"]: field["value"] for field in embed.get("fields", [])}
        print(f"[discord] {embed.get('title')}: {fields.get('Error', '')}", flush=True)


def _print_up_summary(
    bootstrap: str, run_dir: Path, supervisor: Supervisor, *, local_webhook: bool, prometheus_url: str | None
) -> None:
    from franz.contracts import DEFAULT_TOPICS

    lines = [
        "",
        "Franz is up.",
        f"  Kafka         {bootstrap}   (data and logs in {run_dir}, removed when franz up stops)",
        f"  topics        {', '.join(DEFAULT_TOPICS)}",
        "  Discord       "
        + (
            "a local webhook (DISCORD_WEBHOOK_URL is not set): alerts print here as [discord] lines"
            if local_webhook
            else "the webhook in DISCORD_WEBHOOK_URL"
        ),
    ]
    for spec in supervisor.specs:
        metrics = f"http://127.0.0.1:{spec.metrics_port}/metrics" if spec.metrics_port else "-"
        lines.append(f"  {spec.name:<13} {metrics}   (log {run_dir / 'logs' / (spec.name + '.log')})")
    if prometheus_url is not None:
        lines.append(f"  Prometheus    {prometheus_url}   (scrapes every service, with the chart's alerts)")
    lines += [
        "",
        "Try it (in another terminal, with the venv active or via .venv/bin/franz):",
        '  franz ticket "My printer is on fire" --user alice',
        "  franz tail tickets-formatted",
        "  franz tickets                  # current tickets by status",
        "  franz history T-XXXXX-XXXXX    # a ticket's event trail",
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def register_dev_commands(add: AddCommand) -> None:
    add(
        "prepare",
        cmd_prepare,
        "obtain the local infrastructure (Kafka, Kubernetes and its node, helm, kubectl, promtool, images)",
    )
    kafka = add("kafka", cmd_kafka, "run a local Kafka broker in the foreground; prints bootstrap=HOST:PORT")
    kafka.add_argument("--port", type=int, default=None, help="listener port (default: a free port)")
    cluster = add(
        "cluster",
        cmd_cluster,
        "run a local etcd + kube-apiserver (or, with --node, a whole one-node Kubernetes) in the "
        "foreground; prints kubeconfig=PATH when ready",
    )
    cluster.add_argument(
        "--node",
        action="store_true",
        help="a real node that runs pods (kubelet, containerd, kube-proxy, CoreDNS, controllers; needs "
        "root and Linux namespaces), with a Kafka broker for pods and host; also prints bootstrap=, "
        "pod-bootstrap= and containerd=",
    )
    cluster.add_argument(
        "--image", action="store_true", help="with --node: build the Franz image and load it into the node"
    )
    cluster.add_argument(
        "--demo",
        action="store_true",
        help="with --node: also install the umbrella chart with an example pipeline (make node-demo)",
    )
    image = add(
        "image", cmd_image, "build the Franz image from the Dockerfile with buildah; prints image=REF"
    )
    image.add_argument(
        "--containerd", type=Path, default=None, help="load it into the node whose containerd listens here"
    )
    dashboards = add(
        "dashboards",
        cmd_dashboards,
        "draw the Grafana dashboards' panels from a Prometheus as PNG images (one per dashboard), "
        "for a look without Grafana",
    )
    dashboards.add_argument("--png", type=Path, required=True, metavar="DIR", help="where the images go")
    dashboards.add_argument(
        "--prometheus",
        default="http://127.0.0.1:9090",
        metavar="URL",
        help="the Prometheus to query (franz up --prometheus prints its URL; default http://127.0.0.1:9090)",
    )
    dashboards.add_argument(
        "--minutes", type=float, default=60, help="the time range, up to now (default: the last 60)"
    )
    dashboards.add_argument(
        "--namespace", default=".*", help="the dashboards' $namespace, a regular expression (default: all)"
    )
    dashboards.add_argument(
        "--service",
        default=".*",
        help="the services dashboard's $service, a regular expression (default: all)",
    )
    up = add("up", cmd_up, "run the whole local stack: Kafka, the default topics and the services")
    up.add_argument("--port", type=int, default=DEFAULT_UP_PORT, help="Kafka listener port (default 9092)")
    up.add_argument("--partitions", type=int, default=3, help="partitions of each default topic (default 3)")
    up.add_argument(
        "--prometheus",
        action="store_true",
        help="also run a local Prometheus scraping every service, with the chart's alerts; prints its URL",
    )
