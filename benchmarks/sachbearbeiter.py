"""sachbearbeiter: events folded per second, and rebuilding state from 100k events, on one local broker.

    .venv/bin/python benchmarks/sachbearbeiter.py [--tickets 5000] [--rebuild-events 100000]

Prints, side by side in one run:
- the fold alone (`Ledger.apply`, in memory) against decoding the same events without folding;
- the service's loop (formatted tickets and commands in; events, then state, out; commit) against a bare
  consume→produce loop on the same broker (aufbereitung's baseline);
- rebuilding every ticket's state from the event log (`--rebuild-state`: read, fold, write) against only
  reading the same log to its end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from kafka import TopicPartition

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.devstack.kafka import LocalKafka, ensure_topics
from franz.runtime.clients import new_producer, new_reader
from franz.runtime.loop import KafkaLoop, LoopConfig
from franz.sachbearbeiter import core, eventlog
from franz.sachbearbeiter.restore import Restorer
from franz.sachbearbeiter.service import rebuild_state
from franz.sachbearbeiter.stage import LifecycleStage
from franz.sachbearbeiter.store import TicketStore

sys.path.insert(0, str(Path(__file__).parents[1]))  # run as a script: the repository's root
from benchmarks.aufbereitung import bare_batch, run_client_loop  # the shared baseline

PARTITIONS = 3
STAFF: contracts.Actor = {"id": "discord:7", "name": "sam"}


def lifecycle_topics(bootstrap: str) -> LifecycleTopics:
    suffix = uuid.uuid4().hex[:6]
    topics = LifecycleTopics(
        *(f"bench-{role}-{suffix}" for role in ("formatted", "commands", "events", "state", "dlq"))
    )
    ensure_topics(
        bootstrap,
        [topics.formatted, topics.commands, topics.events, topics.state, topics.dlq],
        partitions=PARTITIONS,
        configs={topics.state: {"cleanup.policy": "compact"}},
    )
    return topics


def formatted(n: int) -> contracts.FormattedTicket:
    source_id = f"bench:{uuid.uuid4().hex}:{n}"
    intake = contracts.new_raw_intake(
        username=f"user{n % 97}", message=f"ticket {n} " + "x" * 120, source_id=source_id, user_id=str(n)
    )
    return contracts.format_ticket(intake, topic="discordMSG", partition=0, offset=0)


def commands_for(ticket_id: str) -> list[contracts.TicketCommand]:
    kinds: list[tuple[contracts.CommandType, dict[str, object]]] = [
        ("assign", {"assignee": STAFF}),
        ("comment", {"text": "looking into it"}),
        ("update", {"priority": "high"}),
        ("close", {"text": "fixed"}),
    ]
    return [
        contracts.new_command(
            command=kind, ticket_id=ticket_id, command_id=f"bench:{uuid.uuid4().hex}", actor=STAFF, **fields
        )
        for kind, fields in kinds
    ]


def event_log(tickets: int) -> list[contracts.TicketEvent]:
    """Five events per ticket (created, assigned, updated, commented, closed), decided by the real core."""
    ledger, events = core.Ledger(), []
    for n in range(tickets):
        ticket = formatted(n)
        created = core.created(ticket)
        ledger.apply(created)
        events.append(created)
        for command in commands_for(ticket["ticket_id"]):
            event = core.decide(ledger.state(command["ticket_id"]), command)
            ledger.apply(event)
            events.append(event)
    return events


def produce(bootstrap: str, topic: str, records: list[tuple[str, object]]) -> None:
    producer = new_producer(bootstrap, client_id="bench-preload")
    for key, value in records:
        producer.send(topic, key=key.encode(), value=contracts.encode(value))
    producer.flush()
    producer.close()


def fold_in_memory(events: list[contracts.TicketEvent]) -> tuple[float, float]:
    encoded = [contracts.encode(event) for event in events]
    started = time.perf_counter()
    decoded = [contracts.decode_event(value) for value in encoded]
    decode_rate = len(encoded) / (time.perf_counter() - started)
    started = time.perf_counter()
    ledger = core.Ledger()
    for value in encoded:
        ledger.apply(contracts.decode_event(value))
    assert len(decoded) == len(events)
    return decode_rate, len(encoded) / (time.perf_counter() - started)


def run_service(bootstrap: str, tickets: int) -> float:
    """Records/s through the service's loop: tickets first, then four commands for each."""
    topics = lifecycle_topics(bootstrap)
    created = [formatted(n) for n in range(tickets)]
    produce(bootstrap, topics.formatted, [(t["ticket_id"], t) for t in created])
    commands = [c for t in created for c in commands_for(t["ticket_id"])]
    produce(bootstrap, topics.commands, [(c["ticket_id"], c) for c in commands])
    total = len(created) + len(commands)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    store = TicketStore(Path(tempfile.mkdtemp()) / "store", events_topic=topics.events, partitions=PARTITIONS)
    stage = LifecycleStage(
        topics=topics,
        partitions=PARTITIONS,
        producer_factory=lambda: new_producer(bootstrap, client_id="bench"),
        restorer=Restorer(bootstrap=bootstrap, topics=topics, group_id=group, store=store),
    )
    loop = KafkaLoop(
        LoopConfig(
            service="bench", bootstrap=bootstrap, group_id=group, topics=(topics.formatted, topics.commands)
        ),
        stage,
    )
    watcher = new_reader(bootstrap, client_id="bench-watch")
    partitions = [TopicPartition(topics.events, p) for p in range(PARTITIONS)]
    thread = threading.Thread(target=loop.run, daemon=True)
    started = time.perf_counter()
    thread.start()
    while sum(watcher.end_offsets(partitions).values()) < total:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    loop.stop()
    thread.join(60)
    watcher.close()
    store.close()
    return total / elapsed


def rebuild(bootstrap: str, events: list[contracts.TicketEvent]) -> tuple[float, float, int]:
    topics = lifecycle_topics(bootstrap)
    produce(bootstrap, topics.events, [(e["ticket_id"], e) for e in events])
    consumer = new_reader(bootstrap, client_id="bench-read")
    started = time.perf_counter()
    read = sum(
        1
        for _ in eventlog.read_to_end(consumer, [TopicPartition(topics.events, p) for p in range(PARTITIONS)])
    )
    read_seconds = time.perf_counter() - started
    consumer.close()
    assert read == len(events)
    started = time.perf_counter()
    rebuild_state(bootstrap, topics, PARTITIONS)
    rebuild_seconds = time.perf_counter() - started
    return read_seconds, rebuild_seconds, len(eventlog.current_states(bootstrap, topics.state))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=5_000, help="tickets through the service (x5 records)")
    parser.add_argument("--rebuild-events", type=int, default=100_000)
    args = parser.parse_args()
    events = event_log(args.rebuild_events // 5)
    decode_rate, fold_rate = fold_in_memory(events)
    with LocalKafka(heap="1g") as kafka:
        bare = run_client_loop(kafka.bootstrap, args.tickets * 5, "bare", bare_batch)
        service = run_service(kafka.bootstrap, args.tickets)
        read_seconds, rebuild_seconds, tickets = rebuild(kafka.bootstrap, events)
    print(f"fold in memory               {fold_rate:10.0f} events/s   decode alone {decode_rate:.0f}/s")
    print(
        f"sachbearbeiter loop          {service:10.0f} records/s   {service / bare:.2f}x bare   "
        f"({args.tickets} tickets + {args.tickets * 4} commands)"
    )
    print(f"bare consume->produce loop   {bare:10.0f} records/s")
    print(
        f"rebuild {len(events)} events       {rebuild_seconds:10.2f} s   ({tickets} tickets)   "
        f"reading the log alone {read_seconds:.2f} s ({rebuild_seconds / read_seconds:.1f}x)"
    )


if __name__ == "__main__":
    main()
