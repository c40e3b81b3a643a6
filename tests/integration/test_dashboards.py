"""Every panel of the three dashboards, evaluated by the real Prometheus as Grafana would evaluate it, on
the whole local pipeline under one scripted workload: the operator creates the pipeline's topics, the bot
takes tickets through the Discord emulator, aufbereitung formats and dead-letters, sachbearbeiter tracks
assignments and closes, absturz reports the dead letters to the local webhook (one 429 on the way).

The workload runs once for the module; each dashboard is then checked panel by panel, and drawn as PNG.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from franz import contracts
from franz.devstack.dashboard_png import Rendered, render_dashboards
from franz.devstack.dashboards import Window
from franz.devstack.discord_api import DiscordApiThread, InteractionRecord, LocalDiscordApi
from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.kafka import LocalKafka
from franz.devstack.kube import LocalControlPlane
from franz.devstack.process import free_port
from franz.devstack.prometheus import LocalPrometheus
from franz.runtime.clients import new_producer
from franz_operator.kube import Kube
from tests.helpers import (
    FRANZ,
    NAMESPACE,
    ServiceProcess,
    exhaust_bucket,
    pipeline_env,
    start_scraped,
    wait_until,
)
from tests.integration.test_kummerkasten import GUILD_ID, interaction, user
from tests.integration.test_kummerkasten import slash as ticket
from tests.integration.test_operator import admin_spec, create_pipeline, secret, wait_condition

TOKEN = "dashboards-test-token"  # the Discord emulator's bot token
STAFF_ROLE = "700000000000000099"
STAFFER = user(5151, "bob")
STRANGER = user(6161, "eve")
# Six submitters, each ticket of its own category and priority: the open-ticket panels split by both.
SUBMISSIONS = [
    (user(4000 + index, name), category, priority)
    for index, (name, category, priority) in enumerate(
        [
            ("alice", "bug", "high"),
            ("carol", "account", "normal"),
            ("dave", "billing", "low"),
            ("erin", "feature", "urgent"),
            ("frank", "general", "normal"),
            ("grace", "bug", "low"),
        ]
    )
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Workload:
    namespace: str
    started: float
    rendered: list[Rendered]
    png_dir: Path


def _answer(emulator: DiscordApiThread, payload: dict[str, Any]) -> InteractionRecord:
    """Deliver an interaction and wait for the bot's answer (a follow-up, or a direct reply)."""
    emulator.dispatch_interaction(payload)

    def answered() -> InteractionRecord | None:
        record = emulator.interaction(payload["id"])
        direct = any(callback["type"] == 4 for callback in record.callbacks)
        return record if record.followups or direct else None

    return wait_until(answered, timeout=60)


def _staff(
    emulator: DiscordApiThread, command: str, ticket_id: str, *, staff: bool = True, **options: str
) -> None:
    author, roles = (STAFFER, (STAFF_ROLE,)) if staff else (STRANGER, ())
    values = {"ticket": ticket_id, **options}
    data = {
        "id": "9",
        "name": command,
        "type": 1,
        "options": [{"name": key, "type": 3, "value": value} for key, value in values.items()],
    }
    application_id = emulator.read(lambda api: api.application_id)
    _answer(emulator, interaction(data, application_id=application_id, author=author, roles=roles))


def _pipeline(kube: Kube, namespace: str, bootstrap: str, prefix: str, webhook_secret: str) -> dict[str, str]:
    """A pipeline with the admin backend whose topics are `<prefix>-<role>`; returns them by role."""
    spec = admin_spec(bootstrap, prefix, secrets={"discordWebhook": {"name": webhook_secret, "key": "url"}})
    create_pipeline(kube, namespace, spec, name=prefix)
    return {role: topic["name"] for role, topic in spec["topics"].items()}


@pytest.fixture(scope="module")
def workload(
    kafka: LocalKafka,
    kube: Kube,
    control_plane: LocalControlPlane,
    prometheus: LocalPrometheus,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workload]:
    namespace = f"dash-{uuid.uuid4().hex[:8]}"
    logs = tmp_path_factory.mktemp("dashboards-logs")
    kube.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    webhook = LocalDiscordWebhook(rate_limit=3, per_seconds=10).start()
    secret(kube, namespace, "discord-webhook", {"url": webhook.url})
    api = LocalDiscordApi(token=TOKEN, guild_ids=[GUILD_ID])
    emulator = DiscordApiThread(api).start()
    processes: list[tuple[str, ServiceProcess]] = []

    def start(service: str, **env: str) -> ServiceProcess:
        name, process = start_scraped(
            prometheus, service, env={"LOG_LEVEL": "INFO", **env}, log_dir=logs, namespace=namespace
        )
        processes.append((name, process))
        return process

    try:
        started = time.time()
        start(
            "operator",
            KUBECONFIG=str(control_plane.kubeconfig),
            OPERATOR_NAMESPACES=namespace,
            OPERATOR_RESYNC_SECONDS="2",
        )
        prefix = f"dash-{uuid.uuid4().hex[:6]}"
        topics = _pipeline(kube, namespace, kafka.bootstrap, prefix, "discord-webhook")
        # A second pipeline whose webhook Secret does not exist: not Ready, as the operator panels show.
        _pipeline(kube, namespace, kafka.bootstrap, f"{prefix}-b", "no-such-secret")
        wait_condition(kube, namespace, prefix, "Ready", "True", timeout=90)
        env = pipeline_env(kafka.bootstrap, topics, group_prefix=prefix)
        start("aufbereitung", **env["aufbereitung"])
        sachbearbeiter = start(
            "sachbearbeiter", **env["sachbearbeiter"], SACHBEARBEITER_STORE_DIR=str(logs / "store")
        )
        start("absturz", **env["absturz"], DISCORD_WEBHOOK_URL=webhook.url)
        start(
            "kummerkasten",
            **env["kummerkasten"],
            # The bot reads ticket states and histories (for the close DMs) from sachbearbeiter's read API.
            TICKETS_API_URL=f"http://127.0.0.1:{sachbearbeiter.metrics_port}",
            DISCORD_TOKEN=TOKEN,
            DISCORD_API_BASE=emulator.base,
            DISCORD_GUILD_ID=str(GUILD_ID),
            STAFF_ROLE_ID=STAFF_ROLE,
        )
        emulator.wait_until_connected(timeout=120)

        # Tickets through the bot: six, one of them twice (the cooldown holds it), one blank (invalid).
        ticket_ids = []
        for submitter, category, priority in SUBMISSIONS:
            payload = interaction(
                ticket(f"{submitter['username']} needs help", category=category, priority=priority),
                application_id=api.application_id,
                author=submitter,
            )
            _answer(emulator, payload)
            ticket_ids.append(contracts.ticket_id_for(f"discord:{payload['id']}"))
        first = SUBMISSIONS[0][0]
        _answer(emulator, interaction(ticket("again"), application_id=api.application_id, author=first))
        blank = interaction(ticket("   "), application_id=api.application_id, author=user(4999, "heidi"))
        _answer(emulator, blank)

        # Broken records straight into the intake: three identical (absturz collapses them into one
        # embed) and one without a message; absturz meets a bucket another poster has emptied.
        exhaust_bucket(webhook)
        producer = new_producer(kafka.bootstrap, client_id="test-dashboards")
        for value in [b"{this is not json"] * 3 + [b'{"username": "x", "timestamp": "2026-11-21T10:00:00Z"}']:
            producer.send(topics["intake"], value=value)
        producer.flush()
        producer.close()

        def lifecycle_at(expression: str, at_least: float) -> bool:
            found = prometheus.query(f"sum({expression}) >= {at_least}")
            return bool(found)

        created = f'franz_tickets_created_total{{namespace="{namespace}"}}'
        wait_until(lambda: lifecycle_at(created, len(SUBMISSIONS)), timeout=90)
        # Staff at work: three assigned, two closed (each submitter told), a close of a closed ticket
        # refused, and a member without the staff role turned away.
        for ticket_id in ticket_ids[:3]:
            _staff(emulator, "ticket-assign", ticket_id)
        for ticket_id in ticket_ids[:2]:
            _staff(emulator, "ticket-close", ticket_id, reason="fixed")
        _staff(emulator, "ticket-close", ticket_ids[0], reason="again")
        _staff(emulator, "ticket-assign", ticket_ids[3], staff=False)

        for expression, at_least in [
            (f'franz_tickets_closed_total{{namespace="{namespace}"}}', 2),
            (f'franz_ticket_close_notices_total{{namespace="{namespace}", outcome="sent"}}', 2),
            (f'franz_webhook_requests_total{{namespace="{namespace}", status="429"}}', 1),
            (f'franz_alerts_delivered_total{{namespace="{namespace}"}}', 1),
            (f'franz_alerts_collapsed_total{{namespace="{namespace}"}}', 1),
        ]:
            wait_until(partial(lifecycle_at, expression, at_least), timeout=90)
        # The window ends after every service has been scraped twice more, so its last points hold the
        # workload's last changes (a range query's points fall on steps, up to one step before its end).
        done = time.time()
        wait_until(lambda: prometheus.query(f'min(timestamp(up{{namespace="{namespace}"}})) > {done + 2}'))
        end = time.time()
        window = Window.last(end - started, end=end)
        png_dir = tmp_path_factory.mktemp("dashboards-png")
        rendered = render_dashboards(prometheus, png_dir, window=window, namespace=namespace)
        yield Workload(namespace, started, rendered, png_dir)
    finally:
        for name, process in processes:
            prometheus.scrape(name, [])
            process.kill()
        emulator.stop()
        webhook.stop()


@pytest.mark.parametrize("uid", ["franz-overview", "franz-services", "franz-tickets"])
def test_every_panel_shows_data_from_the_running_pipeline(workload: Workload, uid: str) -> None:
    [rendered] = [found for found in workload.rendered if found.uid == uid]
    empty = [
        f"{data.panel.title}: {target.expr}"
        for data in rendered.panels
        for target, lines in data.results
        if not lines or not all(line.finite() for line in lines)
    ]
    assert not empty, "\n".join(["panels with no data in the workload:", *empty])


def test_every_dashboard_is_drawn_as_a_png_with_its_panels(workload: Workload) -> None:
    assert sorted(path.name for path in workload.png_dir.iterdir()) == [
        "franz-overview.png",
        "franz-services.png",
        "franz-tickets.png",
    ]
    for rendered in workload.rendered:
        image = rendered.path.read_bytes()
        assert image.startswith(PNG_SIGNATURE), rendered.path
        # Width and height from the IHDR chunk: a grid of panels, three wide, a row per three panels.
        width, height = int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
        assert width >= 1000
        assert height >= 200 * -(-len(rendered.panels) // 3)
        assert len(image) > 20_000, "a drawn grid of panels, not a blank canvas"


def test_franz_dashboards_draws_them_from_a_prometheus_url(
    workload: Workload, prometheus: LocalPrometheus, tmp_path: Path
) -> None:
    since = ["--minutes", str((time.time() - workload.started) / 60), "--namespace", workload.namespace]
    result = subprocess.run(
        [*FRANZ, "dashboards", "--png", str(tmp_path), "--prometheus", prometheus.url, *since],
        capture_output=True,
        text=True,
        check=True,
    )
    # Every panel has data, so none is named as empty.
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'franz-overview.png'}: 15 panels",
        f"{tmp_path / 'franz-services.png'}: 14 panels",
        f"{tmp_path / 'franz-tickets.png'}: 15 panels",
    ]
    assert all(path.read_bytes().startswith(PNG_SIGNATURE) for path in tmp_path.glob("*.png"))


def test_franz_dashboards_without_a_prometheus_says_so_in_one_line(tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [*FRANZ, "dashboards", "--png", str(tmp_path), "--prometheus", unreachable],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"franz dashboards: cannot reach Prometheus at {unreachable} (")
    assert line.endswith("is it running? (franz up --prometheus)")
    assert list(tmp_path.iterdir()) == []
