"""absturz's delivery rate under Discord's rate limit, against posting one alert per request.

    .venv/bin/python benchmarks/absturz.py [--alerts 500] [--upstream-alerts 50]

One run on one local broker and one local Discord webhook limited to 5 requests per 2 s (Discord's
documented webhook rate). Alerts are all distinct, so no collapsing helps: the gain is packing alone.
A storm of repeated alerts is measured too, where collapsing adds to it.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import requests

from franz import contracts
from franz.absturz import core
from franz.absturz.stage import AlertStage
from franz.absturz.webhook import DiscordWebhook
from franz.devstack.discord_webhook import LocalDiscordWebhook
from franz.devstack.kafka import LocalKafka, committed_total, ensure_topics
from franz.runtime.clients import new_consumer, new_producer
from franz.runtime.loop import KafkaLoop, LoopConfig
from franz.runtime.secrets import Secret


def letters(count: int, *, distinct: int) -> list[bytes]:
    return [
        contracts.encode(
            contracts.dead_letter(
                error=contracts.ContractError("validation_error", f"problem {i % distinct}"),
                value=b'{"username": "x", "message": ""}',
                service="aufbereitung",
                source={"topic": "discordMSG", "partition": 0, "offset": i, "key": None, "timestamp": 1},
            )
        )
        for i in range(count)
    ]


def load(bootstrap: str, values: list[bytes]) -> str:
    topic = f"bench-dlq-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic])
    producer = new_producer(bootstrap, client_id="bench")
    for value in values:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()
    return topic


def run_absturz(bootstrap: str, values: list[bytes]) -> tuple[float, float]:
    """Alerts per second and requests per alert for absturz's loop, start to last commit."""
    topic = load(bootstrap, values)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    stopping = threading.Event()
    with LocalDiscordWebhook(rate_limit=5, per_seconds=2.0) as webhook:
        stage = AlertStage(DiscordWebhook(Secret(webhook.url), stop=stopping))
        loop = KafkaLoop(
            LoopConfig(
                service="bench",
                bootstrap=bootstrap,
                group_id=group,
                topics=(topic,),
                max_batch=1000,
                linger_seconds=2.0,
            ),
            stage,
        )
        thread = threading.Thread(target=loop.run, daemon=True)
        started = time.perf_counter()
        thread.start()
        while committed_total(bootstrap, group) < len(values):
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        loop.stop()
        stopping.set()
        thread.join(30)
        requests_sent = len(webhook.requests)
        assert 400 not in webhook.statuses()
    return len(values) / elapsed, requests_sent / len(values)


def run_upstream(bootstrap: str, values: list[bytes]) -> tuple[float, float]:
    """The upstream's pattern: every alert its own request (honouring 429 so that nothing is lost)."""
    topic = load(bootstrap, values)
    consumer = new_consumer(bootstrap, client_id="bench-upstream", group_id=f"bench-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([topic])
    with LocalDiscordWebhook(rate_limit=5, per_seconds=2.0) as webhook:
        session = requests.Session()
        posted = 0
        started = time.perf_counter()
        while posted < len(values):
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    embed = core.render_embed(
                        core.AlertGroup(core.parse_alert(record), [core.parse_alert(record)])
                    )
                    while True:
                        response = session.post(webhook.url, json={"embeds": [embed]}, timeout=10)
                        if response.status_code != 429:
                            break
                        time.sleep(float(response.json()["retry_after"]))
                    posted += 1
        elapsed = time.perf_counter() - started
        requests_sent = len(webhook.requests)
    consumer.close()
    return len(values) / elapsed, requests_sent / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--upstream-alerts", type=int, default=50)
    args = parser.parse_args()
    with LocalKafka() as kafka:
        ours, ours_requests = run_absturz(kafka.bootstrap, letters(args.alerts, distinct=args.alerts))
        storm, storm_requests = run_absturz(kafka.bootstrap, letters(args.alerts * 4, distinct=50))
        upstream, upstream_requests = run_upstream(
            kafka.bootstrap, letters(args.upstream_alerts, distinct=args.upstream_alerts)
        )
    print("webhook limit                  5 requests per 2 s")
    print(
        f"absturz, {args.alerts} distinct alerts   {ours:7.1f} alerts/s  {ours_requests:.3f} requests/alert  "
        f"{ours / upstream:.1f}x upstream"
    )
    print(
        f"absturz, storm of {args.alerts * 4} (50 kinds) {storm:7.1f} alerts/s  "
        f"{storm_requests:.3f} requests/alert  "
        f"{storm / upstream:.1f}x upstream"
    )
    print(f"one alert per request          {upstream:7.1f} alerts/s  {upstream_requests:.3f} requests/alert")
    print("lost alerts                    0 (every run waits until all offsets are committed)")


if __name__ == "__main__":
    main()
