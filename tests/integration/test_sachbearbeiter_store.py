"""sachbearbeiter's store against the real broker: a restart folds only the tail, a new instance restores
from `tickets-state` and the event tail, a corrupted or half-written store is rebuilt, poison records are
skipped and counted, grown lifecycle topics stop it at start, and the read API answers and pages."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from collections import Counter
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewPartitions

from franz import contracts
from franz.runtime.clients import new_producer
from franz.sachbearbeiter import eventlog
from franz.sachbearbeiter.store import TicketStore
from tests.helpers import FRANZ, ServiceProcess, read_topic, wait_until
from tests.integration.lifecycle import (
    PARTITIONS,
    STAFF,
    Lifecycle,
    command,
    ticket,
    trail,
)


def restores(service: ServiceProcess, since: int) -> list[dict[str, Any]]:
    """The "partition restored" log lines of this start (the log file is shared by every start)."""
    lines = service.log_path.read_text().splitlines()[since:]
    return [json.loads(line) for line in lines if '"partition restored"' in line]


def log_length(lifecycle: Lifecycle) -> int:
    path = lifecycle.log_dir / "sachbearbeiter.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def start_restored(lifecycle: Lifecycle, **env: str) -> tuple[ServiceProcess, list[dict[str, Any]]]:
    """A started, ready service, and how this start first restored each partition (a rebalance right
    after the start restores them again, from the store that the first restore wrote)."""
    since = log_length(lifecycle)
    service = lifecycle.start(**env)
    service.wait_until_ready(timeout=120)

    def first_restores() -> list[dict[str, Any]] | None:
        first: dict[int, dict[str, Any]] = {}
        for line in restores(service, since):
            first.setdefault(line["partition"], line)
        return list(first.values()) if len(first) == PARTITIONS else None

    return service, wait_until(first_restores)


def api(service: ServiceProcess, path: str) -> tuple[int, Any]:
    """The read API's answer, once the partition is not being restored (a rebalance right after a start
    restores the partitions again)."""

    def answered() -> tuple[int, Any] | None:
        status, body = service.get(path)
        return None if status in (0, 503) else (status, json.loads(body))

    return wait_until(answered)


def worked(lifecycle: Lifecycle, tickets: int) -> tuple[list[dict[str, Any]], int]:
    """Tickets created, half of them assigned and a third closed, through a running service."""
    created = [ticket(n) for n in range(tickets)]
    lifecycle.send("formatted", created)
    lifecycle.send("commands", [command(t["ticket_id"], "assign", assignee=STAFF) for t in created[::2]])
    lifecycle.send("commands", [command(t["ticket_id"], "close") for t in created[::3]])
    total = len(created) + len(created[::2]) + len(created[::3])
    lifecycle.events(expected=total)
    wait_until(lambda: lifecycle.committed() == total)
    return created, total


def test_a_restart_with_its_store_folds_only_the_tail(lifecycle: Lifecycle) -> None:
    first, _ = start_restored(lifecycle)
    created, total = worked(lifecycle, 30)
    before = lifecycle.states()
    first.stop()

    second, restored = start_restored(lifecycle)
    assert {line["source"] for line in restored} == {"store"}
    assert sum(line["events_folded"] for line in restored) == 0, "nothing happened while it was away"
    wait_until(lambda: second.metric("franz_tickets") == len(created))  # the gauges come from the store
    lifecycle.send("commands", [command(created[1]["ticket_id"], "close")])
    events = lifecycle.events(expected=total + 1)
    assert trail(events, created[1]["ticket_id"]) == ["TicketCreated", "TicketClosed"]
    wait_until(lambda: lifecycle.states()[created[1]["ticket_id"]]["version"] == 2)
    assert {tid: s for tid, s in lifecycle.states().items() if tid != created[1]["ticket_id"]} == {
        tid: s for tid, s in before.items() if tid != created[1]["ticket_id"]
    }


def test_a_new_instance_without_a_store_restores_from_the_state_topic_and_the_event_tail(
    lifecycle: Lifecycle,
) -> None:
    first, _ = start_restored(lifecycle)
    created, total = worked(lifecycle, 30)
    tid = created[0]["ticket_id"]
    history = api(first, f"/tickets/{tid}/history")[1]["events"]
    first.stop()
    shutil.rmtree(lifecycle.store)  # a new pod on a new volume

    second, restored = start_restored(lifecycle)
    assert {line["source"] for line in restored} == {"state_topic"}
    # Until compaction has run, the state topic holds every ticket's earlier states too.
    assert sum(line["state_records"] for line in restored) >= len(created)
    wait_until(lambda: second.metric("franz_tickets") == len(created))
    assert sum(line["events_folded"] for line in restored) == 0, "the state topic held everything"
    assert api(second, f"/tickets/{tid}/history") == (
        200,
        {"ticket_id": tid, "events": history, "next": None},
    )
    assert api(second, f"/tickets/{tid}")[1] == lifecycle.states()[tid]
    # What the state records carry of each ticket's commands still recognises a retry, applied or refused.
    retried = command(created[1]["ticket_id"], "comment", text="once")
    refused = command(tid, "comment", text="closed")
    lifecycle.send("commands", [retried, refused])
    lifecycle.events(expected=total + 2)
    second.stop()
    shutil.rmtree(lifecycle.store)
    third, _ = start_restored(lifecycle)
    lifecycle.send("commands", [retried, refused])
    wait_until(lambda: third.metric("franz_ticket_commands_total", outcome="duplicate") == 2)
    assert lifecycle.states()[created[1]["ticket_id"]]["comments"] == 1


def test_a_corrupted_store_is_deleted_and_rebuilt(lifecycle: Lifecycle) -> None:
    first, _ = start_restored(lifecycle)
    created, _ = worked(lifecycle, 20)
    first.stop()
    for file in lifecycle.store.iterdir():
        if file.name.startswith(("MANIFEST", "CURRENT")) or file.suffix in (".sst", ".log"):
            file.write_bytes(b"\x00garbage" * 64)

    second, restored = start_restored(lifecycle)
    assert "the ticket store cannot be opened" in second.log_path.read_text()
    assert {line["source"] for line in restored} == {"state_topic"}
    for t in created:
        assert api(second, f"/tickets/{t['ticket_id']}")[1] == lifecycle.states()[t["ticket_id"]]


def test_a_partition_whose_restore_did_not_finish_is_restored_again(lifecycle: Lifecycle) -> None:
    first, _ = start_restored(lifecycle)
    created, _ = worked(lifecycle, 20)
    first.stop()
    # What a restore killed half-way leaves: tickets written, the partition's mark not yet.
    victim = eventlog.partition_for(created[0]["ticket_id"], PARTITIONS)
    store = TicketStore(lifecycle.store, events_topic=lifecycle.topics["events"], partitions=PARTITIONS)
    store.drop(victim)
    stray = next(
        contracts.ticket_id_for(f"stray-{n}")
        for n in range(100)
        if eventlog.partition_for(contracts.ticket_id_for(f"stray-{n}"), PARTITIONS) == victim
    )
    half = store.loader(victim)(created[0]["ticket_id"])
    store.write(victim, {} if half is None else {stray: half})
    store.close()

    second, restored = start_restored(lifecycle)
    sources = {line["partition"]: line["source"] for line in restored}
    assert sources.pop(victim) == "state_topic"
    assert set(sources.values()) == {"store"}
    assert api(second, f"/tickets/{stray}")[0] == 404, "nothing of the unfinished restore is served"
    assert (
        api(second, f"/tickets/{created[0]['ticket_id']}")[1] == lifecycle.states()[created[0]["ticket_id"]]
    )


def test_poison_records_are_skipped_counted_and_located_by_every_reader(lifecycle: Lifecycle) -> None:
    first, _ = start_restored(lifecycle)
    created, total = worked(lifecycle, 10)
    first.stop()
    tid = created[0]["ticket_id"]
    partition = eventlog.partition_for(tid, PARTITIONS)
    newer = {**lifecycle.events(expected=1)[0], "type": "TicketEscalated", "event_id": "E-from-the-future"}
    producer = new_producer(lifecycle.bootstrap, client_id="test-poison")
    sent = [
        producer.send(lifecycle.topics["events"], key=tid.encode(), value=b"\xff\xfe not json"),
        producer.send(lifecycle.topics["events"], key=tid.encode(), value=contracts.encode(newer)),
        producer.send(lifecycle.topics["state"], key=tid.encode(), value=b"{broken"),
    ]
    producer.flush()
    coordinates = [(future.get().topic, future.get().partition, future.get().offset) for future in sent]
    producer.close()

    shutil.rmtree(lifecycle.store)  # restore without the store: the state topic and the event tail
    second, _ = start_restored(lifecycle)
    wait_until(lambda: second.metric("franz_ticket_records_skipped_total", reader="restore") == 1)
    text = second.log_path.read_text()
    topic, where, offset = coordinates[2]
    assert f"skipped {topic}/{where} offset {offset}" in text
    lifecycle.send("commands", [command(created[1]["ticket_id"], "comment", text="still alive")])
    read_topic(lifecycle.bootstrap, lifecycle.topics["events"], expected=total + 3)  # 2 poison, 1 comment
    wait_until(lambda: lifecycle.states()[created[1]["ticket_id"]]["comments"] == 1)
    second.stop()

    # Folding the events from the beginning (a group without a checkpoint) skips both poison events.
    fresh, _ = start_restored(
        lifecycle,
        SACHBEARBEITER_GROUP_ID=lifecycle.group + "-new",
        SACHBEARBEITER_STORE_DIR=str(lifecycle.store) + "-new",
    )
    assert fresh.metric("franz_ticket_records_skipped_total", reader="fold") == 2
    assert api(fresh, f"/tickets/{tid}")[1] == lifecycle.states()[tid]
    assert partition == coordinates[0][1]

    env = {**lifecycle.env, "PATH": "/usr/bin:/bin"}
    for args in (("history", tid), ("tickets",)):
        result = subprocess.run(
            [*FRANZ, *args, "--from-log"], env=env, capture_output=True, text=True, check=True
        )
        assert "cannot be decoded" in result.stderr
    history = subprocess.run(
        [*FRANZ, "history", tid, "--from-log"], env=env, capture_output=True, text=True, check=True
    )
    assert f"skipped {coordinates[0][0]}/{coordinates[0][1]} offset {coordinates[0][2]}" in history.stderr
    [shown] = [line for line in history.stdout.splitlines() if "TicketEscalated" in line]
    assert "unknown to this one" in shown, "an event of a newer version is shown, as unknown"


def test_grown_lifecycle_topics_stop_it_at_start_with_or_without_its_store(lifecycle: Lifecycle) -> None:
    first, _ = start_restored(lifecycle)
    worked(lifecycle, 10)
    first.stop()
    admin = KafkaAdminClient(bootstrap_servers=lifecycle.bootstrap)
    roles = ("formatted", "commands", "events", "state")
    admin.create_partitions({lifecycle.topics[role]: NewPartitions(PARTITIONS * 2) for role in roles})
    admin.close()

    for env in (
        {},
        {"SACHBEARBEITER_STORE_DIR": str(lifecycle.store) + "-new"},
        {"SACHBEARBEITER_GROUP_ID": lifecycle.group + "-new"},
    ):
        service = lifecycle.start(**env)
        assert service.wait(timeout=60) == 2
        last = service.log_path.read_text().strip().splitlines()[-1]
        assert f"has {PARTITIONS * 2} partitions, but its tickets were placed by {PARTITIONS}" in last, env


def test_the_read_api_answers_pages_and_refuses_with_json_errors(lifecycle: Lifecycle) -> None:
    one, _ = start_restored(lifecycle)
    created, _ = worked(lifecycle, 40)
    two = lifecycle.start(SACHBEARBEITER_STORE_DIR=str(lifecycle.store) + "-two")
    wait_until(lambda: len(api(one, "/tickets")[1]["partitions"]) < PARTITIONS, timeout=120)
    two.wait_until_ready(timeout=120)
    wait_until(
        lambda: (
            len(api(one, "/tickets")[1]["partitions"]) + len(api(two, "/tickets")[1]["partitions"])
            == PARTITIONS
        ),
        timeout=120,
    )

    # Each instance serves its partitions, and says 421 for the others; the client asks both.
    tid = created[0]["ticket_id"]
    statuses = sorted(api(service, f"/tickets/{tid}")[0] for service in (one, two))
    assert statuses == [200, 421]
    urls = ",".join(f"http://127.0.0.1:{s.metrics_port}" for s in (one, two))
    env = {**lifecycle.env, "PATH": "/usr/bin:/bin", "TICKETS_API_URL": urls}
    listed = subprocess.run(
        [*FRANZ, "tickets", "--json"], env=env, capture_output=True, text=True, check=True
    )
    assert Counter(json.loads(line)["ticket_id"] for line in listed.stdout.splitlines()) == Counter(
        t["ticket_id"] for t in created
    )
    # With an instance left out, the listing says which partitions nobody serves instead of missing them.
    partial = {**env, "TICKETS_API_URL": f"http://127.0.0.1:{one.metrics_port}"}
    missing = subprocess.run([*FRANZ, "tickets", "--json"], env=partial, capture_output=True, text=True)
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert "serves partitions" in missing.stderr

    # Pages of 7 over both instances: every ticket once, in store order, each page bounded.
    seen: list[str] = []
    for service in (one, two):
        cursor: str | None = ""
        while cursor is not None:
            query = urllib.parse.urlencode({"limit": 7, **({"cursor": cursor} if cursor else {})})
            status, page = api(service, f"/tickets?{query}")
            assert status == 200
            assert len(page["tickets"]) <= 7
            seen += [state["ticket_id"] for state in page["tickets"]]
            cursor = page["next"]
    assert sorted(seen) == sorted(t["ticket_id"] for t in created)
    closed = [t["ticket_id"] for t in created[::3]]
    by_status = [
        s["ticket_id"]
        for srv in (one, two)
        for s in api(srv, "/tickets?status=closed&limit=500")[1]["tickets"]
    ]
    assert sorted(by_status) == sorted(closed)

    never = contracts.ticket_id_for("never-mentioned")
    assert {api(s, f"/tickets/{never}")[0] for s in (one, two)} == {404, 421}
    status, body = api(one, "/tickets/not-an-id")
    assert status == 400
    assert "ticket id" in body["error"]
    for bad in ("limit=0", "limit=501", "limit=x", "status=lost", "cursor=%%%", "cursor=AAAA"):
        status, body = api(one, f"/tickets?{bad}")
        assert status == 400, bad
        assert body["error"], bad
    assert one.get("/tickets/a/b/c") == (404, "not found\n")
