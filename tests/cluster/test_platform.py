"""The umbrella chart on a real node: every service a pod, the operator reconciling, faults with nothing lost.

The scenarios share one installed release (module scope) and run in file order; each counts records on
the topics, so a scenario that left duplicates or losses behind fails where they happened.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import threading
from typing import Any, cast

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kubernetes import watch

from franz import contracts
from franz.devstack.kafka import committed_total
from franz.runtime.clients import new_producer
from tests.cluster.conftest import PIPELINE, RELEASE, SERVICES, Platform
from tests.helpers import FRANZ, read_topic, wait_until
from tests.integration.test_kummerkasten import interaction, slash, user


def test_every_pod_runs_restricted_under_its_own_account_and_is_ready(platform: Platform) -> None:
    for service in (*SERVICES, "kummerkasten", "operator"):
        [pod] = platform.pods(service)
        assert pod.status.phase == "Running", service
        assert all(status.ready for status in pod.status.container_statuses), service
        [container] = pod.spec.containers
        assert container.image == platform.image.reference
        assert container.security_context.read_only_root_filesystem is True
        assert pod.spec.security_context.run_as_non_root is True
    [operator] = platform.pods("operator")
    assert operator.spec.service_account_name == f"{RELEASE}-operator"
    for service in (*SERVICES, "kummerkasten"):
        [pod] = platform.pods(service)
        assert pod.spec.automount_service_account_token is False


def test_a_ticket_from_the_cli_flows_through_the_pods_to_events_and_state(platform: Platform) -> None:
    bootstrap = platform.cluster.bootstrap
    receipt = json.loads(
        subprocess.run(
            [
                *FRANZ,
                "ticket",
                "The printer on floor 3 is on fire",
                "--user",
                "alice",
                "--bootstrap",
                bootstrap,
                "--topic",
                platform.topics["intake"],
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    ticket_id = receipt["ticket_id"]

    def created() -> list[dict[str, Any]]:
        events = [json.loads(r.value) for r in read_topic(bootstrap, platform.topics["events"], expected=0)]
        return [e for e in events if e["ticket_id"] == ticket_id and e["type"] == "TicketCreated"]

    [event] = wait_until(created, timeout=120, interval=1)
    assert event["ticket_id"] == ticket_id

    def state() -> dict[str, Any] | None:
        for record in read_topic(bootstrap, platform.topics["state"], expected=0):
            if record.key == ticket_id.encode() and record.value:
                value: dict[str, Any] = json.loads(record.value)
                return value
        return None

    assert wait_until(state, timeout=60, interval=1)["status"] == "open"


def test_a_broken_record_reaches_the_webhook_through_absturz(platform: Platform) -> None:
    producer = new_producer(platform.cluster.bootstrap, client_id="cluster-broken")
    producer.send(platform.topics["intake"], value=b"{this is not json").get(timeout=30)
    producer.close()

    def reported() -> list[dict[str, Any]]:
        return [e for e in platform.webhook.embeds() if platform.topics["dlq"] in json.dumps(e)]

    [embed, *_] = wait_until(reported, timeout=120, interval=1)
    assert "json" in json.dumps(embed).lower()


def _created_ticket_ids(platform: Platform) -> set[str]:
    events = read_topic(platform.cluster.bootstrap, platform.topics["events"], expected=0)
    return {e["ticket_id"] for e in (json.loads(r.value) for r in events) if e["type"] == "TicketCreated"}


_submitters = itertools.count(5_000_000_000_000_000)


def _slash_ticket(platform: Platform, message: str) -> str:
    """A /ticket delivered through the gateway to the bot pod, each from a submitter of its own (the
    bot allows one ticket per submitter per cooldown); returns the interaction's id."""
    submitter = user(user_id=next(_submitters), name="submitter")
    payload = interaction(
        slash(message), application_id=platform.discord.api.application_id, author=submitter
    )
    platform.discord.dispatch_interaction(payload)
    return str(payload["id"])


def _confirmed(platform: Platform, interaction_id: str) -> bool:
    """The submitter was shown the ticket id (the bot's ephemeral confirmation)."""
    ticket_id = contracts.ticket_id_for(f"discord:{interaction_id}")
    record = platform.discord.interaction(interaction_id)
    return any(ticket_id in json.dumps(message) for message in record.messages)


def test_a_slash_ticket_to_the_bot_pod_is_confirmed_and_reaches_the_lifecycle(platform: Platform) -> None:
    interaction_id = _slash_ticket(platform, "The VPN drops every hour")
    wait_until(lambda: _confirmed(platform, interaction_id), timeout=30)
    ticket_id = contracts.ticket_id_for(f"discord:{interaction_id}")
    wait_until(lambda: ticket_id in _created_ticket_ids(platform), timeout=120, interval=1)


def test_rotating_the_webhook_secret_rolls_the_deployments_and_loses_no_ticket(platform: Platform) -> None:
    before = platform.config_hashes()
    stream, tickets = platform.stream_tickets(3000, tag="rotation", pause_every=100, pause=0.2)
    secret = platform.core.read_namespaced_secret("discord-webhook", platform.namespace)
    rotated = base64.b64decode((secret.data or {})["url"]).decode() + "?rotated=1"
    platform.core.patch_namespaced_secret(
        "discord-webhook", platform.namespace, {"stringData": {"url": rotated}}
    )
    wait_until(lambda: platform.config_hashes() != before, timeout=120, interval=1)
    after = platform.config_hashes()
    assert all(after[s] and after[s] != before[s] for s in SERVICES), (before, after)
    for service in SERVICES:
        platform.wait_rolled_out(service)
    stream.join()
    lost, formatted_duplicates, event_duplicates = platform.created_counts(tickets)
    print(
        f"secret rotation under 3,000 tickets: {formatted_duplicates} duplicate formatted, {event_duplicates}"
    )
    assert lost == 0
    assert event_duplicates == 0


def _terminated_exit_code(platform: Platform, pod_name: str, *, force: bool) -> int | None:
    """Delete a pod and watch it go (from the version read before the delete, so no event is missed);
    the exit code its container reported on the way, None if the API server forgot the pod first."""
    pod: Any = platform.core.read_namespaced_pod(pod_name, platform.namespace)
    version = pod.metadata.resource_version
    args = ["delete", "pod", pod_name, f"--namespace={platform.namespace}", "--wait=false"]
    if force:
        args += ["--grace-period=0", "--force"]
    platform.run(platform.kubectl, *args)
    codes: list[int] = []
    watcher = watch.Watch()  # type: ignore[no-untyped-call]
    for event in watcher.stream(  # type: ignore[no-untyped-call]
        platform.core.list_namespaced_pod,
        platform.namespace,
        field_selector=f"metadata.name={pod_name}",
        resource_version=version,
        timeout_seconds=90,
    ):
        pod = event["object"]
        for status in pod.status.container_statuses or []:
            if status.state.terminated is not None:
                codes.append(status.state.terminated.exit_code)
        if event["type"] == "DELETED":
            watcher.stop()  # type: ignore[no-untyped-call]
    return codes[-1] if codes else None


def _end_offsets(platform: Platform, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=platform.cluster.bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def test_deleting_each_service_pod_mid_stream_loses_nothing(platform: Platform) -> None:
    """`kubectl delete pod` (SIGTERM within the grace period: the loop finishes its batch, commits and
    exits 0), then the same with --force for at-least-once services (no grace at all)."""
    config = (
        platform.core.read_namespaced_config_map(f"franz-{PIPELINE}-config", platform.namespace).data or {}
    )
    for force in (False, True):
        for service in ("aufbereitung", "sachbearbeiter"):
            started_at = _end_offsets(platform, platform.topics["intake"])
            stream, tickets = platform.stream_tickets(
                5000, tag=f"delete-{service}-{force}", pause_every=250, pause=0.1
            )
            wait_until(
                lambda: _end_offsets(platform, platform.topics["intake"]) > started_at + 1000,  # noqa: B023
                timeout=60,
            )
            [pod] = platform.pods(service)
            code = _terminated_exit_code(platform, pod.metadata.name, force=force)
            if not force:
                assert code == 0, f"{service} exited {code} on SIGTERM"
            platform.wait_rolled_out(service)
            wait_until(platform.settled, timeout=120, interval=1)
            if service == "sachbearbeiter":
                # The new pod found its store on the replica's volume: it folded only the tail.
                assert _restore_sources(platform, service) == {"store"}
            stream.join()
            lost, formatted_duplicates, event_duplicates = platform.created_counts(tickets)
            print(
                f"delete {service} pod (force={force}) under 5,000 tickets: lost {lost}, "
                f"{formatted_duplicates} duplicate formatted, {event_duplicates} duplicate events"
            )
            assert lost == 0
            assert event_duplicates == 0
    intake_end = _end_offsets(platform, platform.topics["intake"])
    wait_until(
        lambda: committed_total(platform.cluster.bootstrap, config["GROUP_ID"]) == intake_end, timeout=60
    )


def _restore_sources(platform: Platform, service: str) -> set[str]:
    """Where the service's pod restored its partitions from, by its "partition restored" log lines."""
    [pod] = platform.pods(service)

    def restored() -> set[str] | None:
        log: str = platform.core.read_namespaced_pod_log(pod.metadata.name, platform.namespace)
        lines = [json.loads(line) for line in log.splitlines() if '"partition restored"' in line]
        return {line["source"] for line in lines} or None

    return wait_until(restored, timeout=60, interval=1)


def _dead_letters_reported(platform: Platform) -> int:
    """Dead letters absturz reported, counting each collapsed alert's occurrences."""
    total = 0
    for embed in platform.webhook.embeds():
        fields = {field["name"]: field["value"] for field in embed.get("fields", [])}
        if platform.topics["dlq"] in fields.get("Source", "") + fields.get("Record", ""):
            total += int(fields.get("Occurrences", "1").split()[0])
    return total


def test_deleting_the_absturz_pod_mid_stream_reports_every_dead_letter(platform: Platform) -> None:
    before = _dead_letters_reported(platform)
    dlq_before = _end_offsets(platform, platform.topics["dlq"])
    producer = new_producer(platform.cluster.bootstrap, client_id="cluster-broken-stream")
    for i in range(300):
        producer.send(platform.topics["intake"], value=f"{{broken {i}".encode())
        if i == 100:
            producer.flush()
            wait_until(lambda: _end_offsets(platform, platform.topics["dlq"]) > dlq_before + 50, timeout=60)
            [pod] = platform.pods("absturz")
            assert _terminated_exit_code(platform, pod.metadata.name, force=False) == 0
    producer.flush(timeout=60)
    producer.close()
    platform.wait_rolled_out("absturz")
    wait_until(lambda: _dead_letters_reported(platform) >= before + 300, timeout=180, interval=1)
    repeated = _dead_letters_reported(platform) - before - 300
    print(f"delete absturz pod under 300 dead letters: all reported, {repeated} repeated")


def test_a_new_operator_pod_takes_over_and_repairs_drift(platform: Platform) -> None:
    [pod] = platform.pods("operator")
    assert _terminated_exit_code(platform, pod.metadata.name, force=False) == 0
    platform.wait_rolled_out("operator")
    wait_until(platform.settled, timeout=120, interval=1)
    name = f"franz-{PIPELINE}-config"
    platform.core.delete_namespaced_config_map(name, platform.namespace)

    def recreated() -> bool:
        maps: list[Any] = platform.core.list_namespaced_config_map(platform.namespace).items
        return any(config_map.metadata.name == name for config_map in maps)

    wait_until(recreated, timeout=90, interval=1)
    assert platform.pipeline_ready()


def test_helm_upgrade_to_a_second_tag_under_a_stream_loses_nothing(platform: Platform) -> None:
    repository = platform.image.reference.rsplit(":", 1)[0]
    second = f"{platform.image.reference}-second"
    subprocess.run(
        [
            "ctr",
            f"--address={platform.cluster.containerd_socket}",
            "--namespace=k8s.io",
            "images",
            "tag",
            platform.image.reference,
            second,
        ],
        check=True,
        capture_output=True,
    )
    stream, tickets = platform.stream_tickets(3000, tag="upgrade", pause_every=100, pause=0.2)
    done = threading.Event()
    interactions: list[str] = []

    def slash_tickets() -> None:
        while not done.is_set():
            interactions.append(_slash_ticket(platform, f"during the upgrade {len(interactions)}"))
            done.wait(0.25)

    bot_traffic = threading.Thread(target=slash_tickets, name="slash-tickets")
    bot_traffic.start()
    platform.helm_install(
        f"--set=global.image.repository={repository}",
        f"--set=global.image.tag={second.rsplit(':', 1)[1]}",
        "--wait",
        "--timeout=5m",
        command="upgrade",
    )
    for service in (*SERVICES, "kummerkasten", "operator"):
        platform.wait_rolled_out(service)
    wait_until(platform.settled, timeout=120, interval=1)
    for service in (*SERVICES, "kummerkasten", "operator"):
        [pod] = platform.pods(service)
        assert pod.spec.containers[0].image == second
    platform.discord.wait_until_connected(timeout=120)
    # The new bot answers: more confirmations arrive after the roll than were there before it.
    before = len([i for i in list(interactions) if _confirmed(platform, i)])
    wait_until(
        lambda: len([i for i in list(interactions) if _confirmed(platform, i)]) >= before + 5, timeout=60
    )
    done.set()
    bot_traffic.join()
    stream.join()
    # Recreate: no moment with two bots, and none in which a submitter was told "ticket T-…" that
    # Kafka does not have. Interactions sent while no bot was connected go unanswered, as on Discord.
    confirmed = [i for i in interactions if _confirmed(platform, i)]
    wait_until(
        lambda: {contracts.ticket_id_for(f"discord:{i}") for i in confirmed} <= _created_ticket_ids(platform),
        timeout=120,
        interval=1,
    )
    print(
        f"helm upgrade: {len(confirmed)} of {len(interactions)} /ticket interactions confirmed, all published"
    )
    assert confirmed
    lost, formatted_duplicates, event_duplicates = platform.created_counts(tickets)
    print(f"helm upgrade under 3,000 tickets: {formatted_duplicates} duplicate formatted, {event_duplicates}")
    assert lost == 0
    assert event_duplicates == 0


def test_helm_uninstall_removes_the_release_and_the_retained_pipeline_keeps_its_topics(
    platform: Platform,
) -> None:
    platform.run(platform.helm, "uninstall", RELEASE, f"--namespace={platform.namespace}", "--wait")
    selector = f"app.kubernetes.io/instance={RELEASE}"

    def gone() -> bool:
        left: list[Any] = [
            *platform.apps.list_namespaced_deployment(platform.namespace, label_selector=selector).items,
            *platform.core.list_namespaced_service(platform.namespace, label_selector=selector).items,
            *platform.core.list_namespaced_pod(platform.namespace, label_selector=selector).items,
            *platform.core.list_namespaced_config_map(platform.namespace).items,
        ]
        return not [item for item in left if item.metadata.name != "kube-root-ca.crt"]

    wait_until(gone, timeout=120, interval=1)
    pipelines = cast(
        "dict[str, Any]",
        platform.custom.list_namespaced_custom_object(
            "franz.dev", "v1alpha1", platform.namespace, "franzpipelines"
        ),
    )["items"]
    assert pipelines == []
    admin = KafkaAdminClient(bootstrap_servers=platform.cluster.bootstrap)
    try:
        topics = set(admin.list_topics())
    finally:
        admin.close()
    assert set(platform.topics.values()) <= topics
