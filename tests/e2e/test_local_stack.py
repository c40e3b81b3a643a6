"""`franz up` end to end: the local broker, the default topics, the services, a ticket flowing through,
and the local Prometheus scraping every service."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.parse
import urllib.request

from kafka import KafkaAdminClient

from franz import contracts
from franz.devstack.process import free_port
from franz.devstack.stack import default_services
from franz.runtime.clients import new_producer
from tests.helpers import FRANZ, Foreground, read_topic, wait_until


def test_franz_up_runs_the_pipeline_and_stops_on_ctrl_c(foreground: list[Foreground]) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    command = Foreground("up", "--port", str(port), "--prometheus")
    foreground.append(command)
    command.line_starting("Franz is up.")
    prometheus = command.line_starting("  Prometheus").split()[1]

    def every_service_scraped() -> bool:
        query = urllib.parse.urlencode({"query": "up == 1"})
        with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=5) as response:
            result = json.load(response)["data"]["result"]
        return {sample["metric"]["service"] for sample in result} == {
            spec.name for spec in default_services({})
        }

    wait_until(every_service_scraped, timeout=60)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    topics = admin.describe_topics(list(contracts.DEFAULT_TOPICS))
    admin.close()
    assert {topic["name"]: len(topic["partitions"]) for topic in topics} == dict.fromkeys(
        contracts.DEFAULT_TOPICS, 3
    )

    receipt = json.loads(
        subprocess.run(
            [
                *FRANZ,
                "ticket",
                "The coffee machine speaks Klingon",
                "--user",
                "bob",
                "--bootstrap",
                bootstrap,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    [formatted] = read_topic(bootstrap, contracts.TOPIC_FORMATTED, expected=1, timeout=60)
    ticket = json.loads(formatted.value)
    assert ticket["ticket_id"] == receipt["ticket_id"]
    assert ticket["contact"] == "bob"
    assert ticket["body"] == "The coffee machine speaks Klingon"

    # A broken record goes aufbereitung → DLQ → absturz → the local Discord webhook, printed by `franz up`.
    producer = new_producer(bootstrap, client_id="e2e")
    producer.send(contracts.TOPIC_INTAKE, value=b"{this is not json").get(timeout=30)
    producer.close()
    alert = command.line_starting("[discord]", timeout=60)
    assert "tickets-formatted-dlq" in alert
    assert "json" in alert.lower()
    assert command.stop(signal.SIGINT) == 0
