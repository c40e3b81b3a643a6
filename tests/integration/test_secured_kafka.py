"""Every service against a secured broker (SASL_SSL with SCRAM, and mutual TLS) with exactly the ACLs the
operator derives for it: it works end to end; each ACL is needed; a missing one, a wrong password and an
untrusted CA each say so in one line; nothing is lost once the ACL is added."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ACLOperation, ACLResourcePatternType, ResourcePattern, ResourceType

from franz import contracts
from franz.devstack.discord_api import DiscordApiThread, LocalDiscordApi
from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.kafka import committed_total, ensure_topics
from franz.devstack.pki import CertificateAuthority
from franz.runtime.clients import new_producer
from franz.runtime.settings import Environment
from franz.sachbearbeiter.core import created
from franz_operator.acls import Acl, service_acls
from franz_operator.admin_topics import AdminTopics
from franz_operator.pipeline import Topic
from tests.helpers import FRANZ, ServiceProcess, read_topic, wait_until
from tests.integration.lifecycle import create_topics, ticket
from tests.integration.test_absturz import letter
from tests.integration.test_aufbereitung import VALID
from tests.integration.test_kummerkasten import GUILD_ID, interaction, slash
from tests.integration.test_kummerkasten_staff import STAFF_ROLE, STAFFER
from tests.secured import SecuredKafka, User

MODES = ("sasl", "tls")
BOT_TOKEN = "secured-bot-token"


def new_user(secured: SecuredKafka, mode: str, service: str) -> User:
    return secured.scram_user(service) if mode == "sasl" else secured.tls_user(service)


@dataclass
class Case:
    """One service wired to fresh topics: its environment (the operator's variable names), how to feed
    it, and how to tell that everything it should produce arrived."""

    service: str
    env: dict[str, str]
    feed: Callable[[], None]
    arrived: Callable[[], bool]
    group: str


def _produce(bootstrap: str, topic: str, values: list[bytes], *, key: bytes | None = None) -> None:
    producer = new_producer(bootstrap, client_id="test-feed")
    for value in values:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def _count(bootstrap: str, topic: str, expected: int) -> bool:
    return len(read_topic(bootstrap, topic, expected=expected, timeout=2)) >= expected


def aufbereitung_case(secured: SecuredKafka, stack: ExitStack) -> Case:
    suffix = uuid.uuid4().hex[:8]
    topics = {role: f"{role}-{suffix}" for role in ("intake", "formatted", "dlq")}
    ensure_topics(secured.bootstrap, topics.values())
    admin = secured.bootstrap
    return Case(
        service="aufbereitung",
        env={
            "SOURCE_TOPIC": topics["intake"],
            "TARGET_TOPIC": topics["formatted"],
            "DLQ_TOPIC": topics["dlq"],
            "GROUP_ID": f"aufbereitung-{suffix}",
        },
        feed=lambda: _produce(admin, topics["intake"], [json.dumps(VALID).encode(), b"not json"]),
        arrived=lambda: _count(admin, topics["formatted"], 1) and _count(admin, topics["dlq"], 1),
        group=f"aufbereitung-{suffix}",
    )


def absturz_case(secured: SecuredKafka, stack: ExitStack) -> Case:
    suffix = uuid.uuid4().hex[:8]
    errors, dlq = f"errors-{suffix}", f"dlq-{suffix}"
    ensure_topics(secured.bootstrap, [errors, dlq])
    webhook = stack.enter_context(LocalDiscordWebhook())
    error = contracts.error_event(service="aufbereitung", error_type="test", message="disk full", context={})

    def feed() -> None:
        _produce(secured.bootstrap, dlq, [letter(1)])
        _produce(secured.bootstrap, errors, [contracts.encode(error)])

    return Case(
        service="absturz",
        env={
            "KAFKA_TOPICS": f"{errors},{dlq}",
            "CONSUMER_GROUP": f"absturz-{suffix}",
            "DISCORD_WEBHOOK_URL": webhook.url,
            "ALERT_BATCH_WINDOW_SECONDS": "0.2",
        },
        feed=feed,
        arrived=lambda: len(webhook.embeds()) >= 2,
        group=f"absturz-{suffix}",
    )


def sachbearbeiter_case(secured: SecuredKafka, stack: ExitStack) -> Case:
    suffix = uuid.uuid4().hex[:8]
    topics = {role: f"{role}-{suffix}" for role in ("formatted", "commands", "events", "state", "dlq")}
    create_topics(secured.bootstrap, topics)
    # The event log has history, as after any restart: restoring it is part of the service's work.
    earlier = created(ticket(0))  # type: ignore[arg-type]
    _produce(
        secured.bootstrap, topics["events"], [contracts.encode(earlier)], key=earlier["ticket_id"].encode()
    )
    formatted = ticket(1)

    def feed() -> None:
        key = formatted["ticket_id"].encode()
        _produce(secured.bootstrap, topics["formatted"], [contracts.encode(formatted)], key=key)
        _produce(secured.bootstrap, topics["commands"], [b"not a command"], key=key)

    return Case(
        service="sachbearbeiter",
        env={
            "FORMATTED_TOPIC": topics["formatted"],
            "COMMANDS_TOPIC": topics["commands"],
            "EVENTS_TOPIC": topics["events"],
            "STATE_TOPIC": topics["state"],
            "COMMANDS_DLQ_TOPIC": topics["dlq"],
            "SACHBEARBEITER_GROUP_ID": f"sachbearbeiter-{suffix}",
        },
        feed=feed,
        arrived=lambda: all(
            _count(secured.bootstrap, topics[role], 1) for role in ("events", "state", "dlq")
        ),
        group=f"sachbearbeiter-{suffix}",
    )


def kummerkasten_case(secured: SecuredKafka, stack: ExitStack) -> Case:
    suffix = uuid.uuid4().hex[:8]
    topics = {role: f"{role}-{suffix}" for role in ("intake", "commands", "events", "state")}
    ensure_topics(secured.bootstrap, topics.values())
    api = LocalDiscordApi(token=BOT_TOKEN, guild_ids=[GUILD_ID], heartbeat_interval_ms=500)
    emulator = stack.enter_context(DiscordApiThread(api))

    def feed() -> None:
        emulator.wait_until_connected(timeout=120)
        emulator.dispatch_interaction(
            interaction(slash("Printer on fire"), application_id=api.application_id)
        )
        # A staff member assigns a ticket: the bot publishes the command whatever the desk knows of it.
        assign = {
            "id": "9",
            "name": "ticket-assign",
            "type": 1,
            "options": [{"name": "ticket", "type": 3, "value": ticket(2)["ticket_id"]}],
        }
        emulator.dispatch_interaction(
            interaction(assign, application_id=api.application_id, author=STAFFER, roles=(str(STAFF_ROLE),))
        )

    return Case(
        service="kummerkasten",
        env={
            "DISCORD_TOKEN": BOT_TOKEN,
            "DISCORD_API_BASE": emulator.base,
            "DISCORD_GUILD_ID": str(GUILD_ID),
            "KAFKA_TOPIC": topics["intake"],
            "COMMANDS_TOPIC": topics["commands"],
            "EVENTS_TOPIC": topics["events"],
            "STATE_TOPIC": topics["state"],
            "KUMMERKASTEN_GROUP_ID": f"kummerkasten-{suffix}",
            "STAFF_ROLE_ID": str(STAFF_ROLE),
        },
        feed=feed,
        arrived=lambda: (
            _count(secured.bootstrap, topics["intake"], 1)
            and _count(secured.bootstrap, topics["commands"], 1)
        ),
        group=f"kummerkasten-{suffix}",
    )


CASES = {
    "aufbereitung": aufbereitung_case,
    "absturz": absturz_case,
    "sachbearbeiter": sachbearbeiter_case,
    "kummerkasten": kummerkasten_case,
}


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start a service as a process with the given environment; killed at the test's end."""
    processes: list[ServiceProcess] = []

    def start(service: str, env: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(service, env=env, log_dir=tmp_path / uuid.uuid4().hex[:6])
        process.log_path.parent.mkdir()
        process.start()
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as resources:
        yield resources


def logged(process: ServiceProcess, *fragments: str) -> str | None:
    """The first JSON log line (as text) containing every fragment."""
    for line in process.log_path.read_text().splitlines():
        if all(fragment in line for fragment in fragments):
            return line
    return None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", CASES)
def test_each_service_runs_end_to_end_with_exactly_the_acls_the_operator_derives(
    secured_kafka: SecuredKafka,
    stack: ExitStack,
    started: Callable[..., ServiceProcess],
    service: str,
    mode: str,
) -> None:
    case = CASES[service](secured_kafka, stack)
    user = new_user(secured_kafka, mode, service)
    secured_kafka.grant(user, service_acls(service, case.env))
    process = started(service, {**case.env, **user.env})
    process.wait_until_ready(timeout=120)
    case.feed()
    wait_until(case.arrived, timeout=90)
    if mode == "sasl":
        password = Path(user.env["KAFKA_SASL_PASSWORD_FILE"]).read_text()
        assert password not in process.log_path.read_text()


def failed_without(process: ServiceProcess, acl: Acl) -> bool:
    """Whether the service's log says what `acl`'s absence did: a refused group or transactional id, a
    topic it may not use named with its ACL, or a topic it may not describe waited for as missing."""
    if acl.resource_type == "group":
        return bool(logged(process, "GroupAuthorizationFailed"))
    if acl.resource_type == "transactionalId":
        return bool(logged(process, "TransactionalIdAuthorizationFailed"))
    return bool(
        logged(process, "waiting for topics", acl.name) or logged(process, "lacks an ACL on topic", acl.name)
    )


@pytest.mark.parametrize("service", CASES)
def test_every_acl_the_operator_derives_is_needed(
    secured_kafka: SecuredKafka,
    stack: ExitStack,
    started: Callable[..., ServiceProcess],
    service: str,
) -> None:
    """Minimality: for each ACL of the service, a user with all the others fails, naming what it lacks.

    Each run gets fresh topics and a fresh group: what one run wrote must not spare the next its work.
    """
    count = len(service_acls(service, CASES[service](secured_kafka, stack).env))
    assert count, "a service without ACLs proves nothing here"
    for index in range(count):
        case = CASES[service](secured_kafka, stack)
        acls = service_acls(service, case.env)
        missing = acls[index]
        user = secured_kafka.scram_user(service)
        secured_kafka.grant(user, [acl for acl in acls if acl != missing])
        process = started(service, {**case.env, **user.env})
        case.feed()
        failed = functools.partial(failed_without, process, missing)
        functools.update_wrapper(failed, failed_without).__name__ = f"failure without {missing.describe()}"
        wait_until(failed, timeout=90)
        process.kill()


def test_a_missing_write_acl_is_named_and_nothing_is_lost_once_it_is_added(
    secured_kafka: SecuredKafka, stack: ExitStack, started: Callable[..., ServiceProcess]
) -> None:
    case = aufbereitung_case(secured_kafka, stack)
    acls = service_acls("aufbereitung", case.env)
    [write_formatted] = [a for a in acls if a.operation == "Write" and a.name == case.env["TARGET_TOPIC"]]
    user = secured_kafka.scram_user("aufbereitung")
    secured_kafka.grant(user, [acl for acl in acls if acl != write_formatted])
    process = started("aufbereitung", {**case.env, **user.env})
    case.feed()
    line = wait_until(
        lambda: logged(process, "TopicAuthorizationFailed on", case.env["TARGET_TOPIC"]), timeout=60
    )
    assert "the Kafka user lacks an ACL on topic" in line
    assert committed_total(secured_kafka.bootstrap, case.group) == 0  # nothing skipped meanwhile

    secured_kafka.grant(user, [write_formatted])
    wait_until(case.arrived, timeout=90)
    assert len(read_topic(secured_kafka.bootstrap, case.env["TARGET_TOPIC"], expected=1)) == 1
    wait_until(lambda: committed_total(secured_kafka.bootstrap, case.group) == 2, timeout=30)


def test_a_wrong_password_is_named_keeps_the_service_not_ready_and_a_rotated_one_is_used(
    secured_kafka: SecuredKafka, stack: ExitStack, started: Callable[..., ServiceProcess]
) -> None:
    case = aufbereitung_case(secured_kafka, stack)
    user = secured_kafka.scram_user("aufbereitung")
    secured_kafka.grant(user, service_acls("aufbereitung", case.env))
    password_file = Path(user.env["KAFKA_SASL_PASSWORD_FILE"])
    password = password_file.read_text()
    password_file.write_text("not-the-password")
    process = started("aufbereitung", {**case.env, **user.env})
    line = wait_until(lambda: logged(process, "refused the SCRAM-SHA-512 login", user.name), timeout=30)
    assert "KAFKA_SASL_PASSWORD_FILE" in line
    assert "not-the-password" not in process.log_path.read_text()
    assert process.get("/readyz")[0] == 503
    assert process.running()

    password_file.write_text(password)  # the Secret rotated back into place under the running pod
    process.wait_until_ready(timeout=120)
    case.feed()
    wait_until(case.arrived, timeout=90)


@pytest.mark.parametrize("mode", MODES)
def test_an_untrusted_ca_is_named(
    secured_kafka: SecuredKafka,
    stack: ExitStack,
    started: Callable[..., ServiceProcess],
    tmp_path: Path,
    mode: str,
) -> None:
    case = aufbereitung_case(secured_kafka, stack)
    user = new_user(secured_kafka, mode, "aufbereitung")
    other = CertificateAuthority(tmp_path / "other-ca")
    process = started("aufbereitung", {**case.env, **user.env, "KAFKA_SSL_CA_FILE": str(other.path)})
    line = wait_until(lambda: logged(process, "presented a certificate that is not trusted"), timeout=30)
    assert "KAFKA_SSL_CA_FILE" in line
    assert process.get("/readyz")[0] == 503


def test_a_client_certificate_of_another_ca_is_refused_by_name(
    secured_kafka: SecuredKafka, stack: ExitStack, started: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    case = aufbereitung_case(secured_kafka, stack)
    user = secured_kafka.tls_user("aufbereitung")
    cert, key = CertificateAuthority(tmp_path / "rogue").issue("rogue", common_name=user.name)
    env = {**case.env, **user.env, "KAFKA_SSL_CERT_FILE": str(cert), "KAFKA_SSL_KEY_FILE": str(key)}
    process = started("aufbereitung", env)
    line = wait_until(lambda: logged(process, "refused the client certificate"), timeout=30)
    assert "KAFKA_SSL_CERT_FILE" in line


def test_the_operators_admin_backend_creates_topics_over_sasl_ssl(secured_kafka: SecuredKafka) -> None:
    prefix = f"admin-{uuid.uuid4().hex[:8]}-"
    user = secured_kafka.scram_user("franz-operator")
    security = Environment(user.env).kafka_security()
    topic = Topic(
        role="intake", name=f"{prefix}intake", partitions=2, replicas=1, config={"retention.ms": "3600000"}
    )
    refused = AdminTopics(security=security)
    try:
        [state] = refused.reconcile(secured_kafka.sasl_bootstrap, [topic]).states
    finally:
        refused.close()
    assert not state.ready
    assert f"the operator's Kafka user lacks an ACL on topic {topic.name}" in state.message

    secured_kafka.grant_operations(
        user,
        ResourcePattern(ResourceType.TOPIC, prefix, ACLResourcePatternType.PREFIXED),
        [
            ACLOperation.CREATE,
            ACLOperation.DESCRIBE,
            ACLOperation.DESCRIBE_CONFIGS,
            ACLOperation.ALTER_CONFIGS,
            ACLOperation.ALTER,
        ],
    )
    admin = AdminTopics(security=security)
    try:
        [state] = admin.reconcile(secured_kafka.sasl_bootstrap, [topic]).states
    finally:
        admin.close()
    assert (state.ready, state.partitions) == (True, 2), state.message
    described = KafkaAdminClient(bootstrap_servers=secured_kafka.bootstrap).describe_topics([topic.name])
    assert len(described[0]["partitions"]) == 2


def test_the_cli_sends_a_ticket_over_mutual_tls(secured_kafka: SecuredKafka, new_secured_topic: str) -> None:
    user = secured_kafka.tls_user("franz-cli")
    secured_kafka.grant(user, [Acl("topic", new_secured_topic, "Write")])
    sent = subprocess.run(
        [*FRANZ, "ticket", "--topic", new_secured_topic, "--user", "alice", "VPN down"],
        env={**os.environ, **user.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["topic"] == new_secured_topic
    assert len(read_topic(secured_kafka.bootstrap, new_secured_topic, expected=1)) == 1


@pytest.fixture
def new_secured_topic(secured_kafka: SecuredKafka) -> str:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    ensure_topics(secured_kafka.bootstrap, [name])
    return name
