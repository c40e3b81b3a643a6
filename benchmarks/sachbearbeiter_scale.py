"""sachbearbeiter at 100k and 1,000,000 tickets on one local broker (3 partitions, 4 events a ticket):
memory, restarts, history and listing, store size, and the growth between the two sizes.

    .venv/bin/python benchmarks/sachbearbeiter_scale.py [--sizes 100000,1000000]

The tickets are written straight into the lifecycle topics (the service's own core decides each event;
states go to `tickets-state` as compaction leaves them: the latest per ticket, with the header the
service writes) and the consumer group gets the checkpoint a running sachbearbeiter commits, so the
service starts as it would after having handled them. Then, for the real `franz sachbearbeiter`:
- restart without store (a new pod): from the start of the process until a new command's event is in
  the log; and the peak RSS of that restore;
- restart with the store it just built: the same;
- `GET /tickets/ID/history` for random tickets (p50/p99), and `franz history ID` as a person runs it;
- `GET /tickets?status=assigned` first page, and `franz tickets --status assigned --json` to its first line;
- RSS after the lookups, and the store's size on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from franz import contracts
from franz.contracts import LifecycleTopics
from franz.devstack.kafka import LocalKafka, ensure_topics
from franz.devstack.process import free_port
from franz.runtime.clients import new_consumer, new_producer, new_reader
from franz.sachbearbeiter import core, eventlog
from franz.sachbearbeiter.restore import state_header

PARTITIONS = 3
STAFF: contracts.Actor = {"id": "discord:7", "name": "sam"}
FRANZ = [sys.executable, "-m", "franz"]
LOOKUPS = 300


@dataclass
class Figures:
    tickets: int
    produce_seconds: float
    without_store_seconds: float
    without_store_peak_mb: float
    with_store_seconds: float
    with_store_peak_mb: float
    history_p50: float
    history_p99: float
    history_cli: float
    first_page: float
    first_page_cli: float
    rss_mb: float
    store_mb: float


def lifecycle_topics(bootstrap: str) -> LifecycleTopics:
    suffix = uuid.uuid4().hex[:6]
    topics = LifecycleTopics(
        *(f"scale-{role}-{suffix}" for role in ("formatted", "commands", "events", "state", "dlq"))
    )
    ensure_topics(
        bootstrap,
        [topics.formatted, topics.commands, topics.events, topics.state, topics.dlq],
        partitions=PARTITIONS,
        configs={
            topics.events: contracts.TOPIC_CONFIGS[contracts.TOPIC_EVENTS],
            topics.state: contracts.TOPIC_CONFIGS[contracts.TOPIC_STATE],
        },
    )
    return topics


def lifecycles(count: int) -> Iterator[tuple[str, list[contracts.TicketEvent], core.Ticket]]:
    """Each ticket's four events (created, assigned, commented, then closed for three in four and
    commented again for the rest) decided by the real core, and the ticket they fold into."""
    run = uuid.uuid4().hex[:8]
    for n in range(count):
        source_id = f"scale:{run}:{n}"
        intake = contracts.new_raw_intake(
            username=f"user{n % 997}",
            message=f"ticket {n}: " + "the VPN drops every few minutes " * 3,
            source_id=source_id,
            user_id=str(n),
        )
        ticket = contracts.format_ticket(intake, topic="discordMSG", partition=0, offset=0)
        ledger = core.Ledger()
        events = [core.created(ticket)]
        ledger.apply(events[0])
        last = ("close", {"text": "fixed"}) if n % 4 else ("comment", {"text": "waiting on the user"})
        steps: list[tuple[contracts.CommandType, dict[str, object]]] = [
            ("assign", {"assignee": STAFF}),
            ("comment", {"text": "looking into it"}),
            last,  # type: ignore[list-item]
        ]
        for kind, fields in steps:
            command = contracts.new_command(
                command=kind,
                ticket_id=ticket["ticket_id"],
                command_id=f"scale:{run}:{n}:{kind}:{len(events)}",
                actor=STAFF,
                **fields,
            )
            event = core.decide(ledger.state(ticket["ticket_id"]), command)
            ledger.apply(event)
            events.append(event)
        yield ticket["ticket_id"], events, ledger.dirty[ticket["ticket_id"]]


def produce(bootstrap: str, topics: LifecycleTopics, count: int, sample: list[str]) -> float:
    """Events, then each ticket's latest state with its header; an idempotent producer into fresh topics
    gives each partition's records consecutive offsets from 0, so the history offsets are known."""
    producer = new_producer(bootstrap, client_id="scale-produce", linger_ms=50, batch_size=1024 * 1024)
    next_offset = [0] * PARTITIONS
    started = time.perf_counter()
    pending: list[tuple[str, core.Ticket]] = []
    for n, (ticket_id, events, ticket) in enumerate(lifecycles(count)):
        partition = eventlog.partition_for(ticket_id, PARTITIONS)
        key = ticket_id.encode()
        ticket.history = []
        for event in events:
            producer.send(topics.events, key=key, value=contracts.encode(event), partition=partition)
            ticket.history.append(next_offset[partition])
            next_offset[partition] += 1
        ticket.offset = ticket.history[-1]
        pending.append((ticket_id, ticket))
        if len(sample) < LOOKUPS * 4 and n % 7 == 0:
            sample.append(ticket_id)
        if len(pending) >= 20_000:
            send_states(producer, topics, pending)
    send_states(producer, topics, pending)
    producer.flush(timeout=600)
    producer.close(timeout=60)
    checkpoint(bootstrap, topics, next_offset)
    return time.perf_counter() - started


def send_states(producer: object, topics: LifecycleTopics, pending: list[tuple[str, core.Ticket]]) -> None:
    for ticket_id, ticket in pending:
        producer.send(  # type: ignore[attr-defined]
            topics.state,
            key=ticket_id.encode(),
            value=contracts.encode(ticket.state),
            headers=state_header(ticket),
        )
    pending.clear()


def group_of(topics: LifecycleTopics) -> str:
    return f"{topics.events}-group"


def checkpoint(bootstrap: str, topics: LifecycleTopics, next_offset: list[int]) -> None:
    """What a sachbearbeiter that handled these tickets leaves committed: offsets with its checkpoint."""
    consumer = new_consumer(bootstrap, client_id="scale-checkpoint", group_id=group_of(topics))
    offsets = {
        TopicPartition(topic, p): OffsetAndMetadata(
            0, eventlog.checkpoint_metadata(events=next_offset[p], partitions=PARTITIONS), -1
        )
        for topic in (topics.formatted, topics.commands)
        for p in range(PARTITIONS)
    }
    consumer.commit(offsets)
    consumer.close(autocommit=False)


class Service:
    """The real `franz sachbearbeiter`, as a child process with its own store directory."""

    def __init__(self, bootstrap: str, topics: LifecycleTopics, store: Path, port: int) -> None:
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "FORMATTED_TOPIC": topics.formatted,
            "COMMANDS_TOPIC": topics.commands,
            "EVENTS_TOPIC": topics.events,
            "STATE_TOPIC": topics.state,
            "COMMANDS_DLQ_TOPIC": topics.dlq,
            "SACHBEARBEITER_GROUP_ID": group_of(topics),
            "SACHBEARBEITER_STORE_DIR": str(store),
            "METRICS_PORT": str(port),
            "LOG_LEVEL": "WARNING",
        }
        self.url = f"http://127.0.0.1:{port}"
        self.log = store.parent / f"sachbearbeiter-{port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*FRANZ, "sachbearbeiter"], env=self.env, stdout=log, stderr=log)

    def status(self, field: str) -> float:
        """A field of /proc/PID/status in MB (VmRSS: now; VmHWM: the peak)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field} for {self.process.pid}")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=120)

    def kill(self) -> None:
        """Whatever happened to the measurement, the process does not outlive it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def restart_until_applied(service: Service, bootstrap: str, topics: LifecycleTopics, ticket_id: str) -> float:
    """From the process's start until the event of a command sent at that moment is in the log."""
    partition = eventlog.partition_for(ticket_id, PARTITIONS)
    events = TopicPartition(topics.events, partition)
    reader = new_reader(bootstrap, client_id="scale-watch")
    before = reader.end_offsets([events])[events]
    producer = new_producer(bootstrap, client_id="scale-command")
    started = time.perf_counter()
    service.start()
    command = contracts.new_command(
        command="comment", ticket_id=ticket_id, command_id=f"scale:{uuid.uuid4().hex}", actor=STAFF, text="hi"
    )
    producer.send(topics.commands, key=ticket_id.encode(), value=contracts.encode(command)).get(timeout=60)
    producer.close(timeout=10)
    while reader.end_offsets([events])[events] <= before:
        if service.process is None or service.process.poll() is not None:
            raise RuntimeError(f"sachbearbeiter stopped:\n{service.log.read_text()[-2000:]}")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    reader.close()
    return elapsed


def get(url: str) -> tuple[float, dict[str, object]]:
    """One request's seconds and body; asked again while a rebalance right after the start moves the
    partitions (421: not assigned here at the moment) and restores them (503)."""
    deadline = time.monotonic() + 60
    while True:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.loads(response.read())
            return time.perf_counter() - started, body
        except urllib.error.HTTPError as error:
            if error.code not in (421, 503) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def first_line_seconds(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen([*FRANZ, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    process.stdout.readline()
    elapsed = time.perf_counter() - started
    process.kill()
    process.wait()
    return elapsed


def measure(bootstrap: str, tickets: int, work: Path) -> Figures:
    topics = lifecycle_topics(bootstrap)
    sample: list[str] = []
    produced = produce(bootstrap, topics, tickets, sample)
    print(f"  {tickets} tickets written in {produced:.1f} s", flush=True)
    store = work / f"store-{tickets}"
    service = Service(bootstrap, topics, store, port=free_port())
    try:
        return measure_service(service, bootstrap, topics, sample, tickets, produced)
    finally:
        service.kill()


def measure_service(
    service: Service,
    bootstrap: str,
    topics: LifecycleTopics,
    sample: list[str],
    tickets: int,
    produced: float,
) -> Figures:
    store = Path(service.env["SACHBEARBEITER_STORE_DIR"])
    rng = random.Random(tickets)
    without = restart_until_applied(service, bootstrap, topics, sample[0])
    without_peak = service.status("VmHWM")
    service.stop()
    with_store = restart_until_applied(service, bootstrap, topics, sample[1])
    with_peak = service.status("VmHWM")
    get(f"{service.url}/tickets/{sample[0]}")  # every partition served, not being restored
    for tid in sample[: PARTITIONS * 10]:
        get(f"{service.url}/tickets/{tid}")

    chosen = rng.sample(sample, min(LOOKUPS, len(sample)))
    lookups = [get(f"{service.url}/tickets/{tid}/history")[0] for tid in chosen]
    quantiles = statistics.quantiles(lookups, n=100)
    env = {**service.env, "TICKETS_API_URL": service.url}
    history_cli = statistics.median(
        first_line_seconds(["history", tid], env) for tid in rng.sample(sample, 5)
    )
    first_page, page = get(f"{service.url}/tickets?status=assigned&limit=100")
    if len(page["tickets"]) != 100:  # type: ignore[arg-type]
        raise RuntimeError(f"the first page has not 100 assigned tickets: {page}")
    first_page_cli = first_line_seconds(["tickets", "--status", "assigned", "--json"], env)
    rss = service.status("VmRSS")
    service.stop()
    store_mb = sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 1e6
    shutil.rmtree(store)
    return Figures(
        tickets,
        produced,
        without,
        without_peak,
        with_store,
        with_peak,
        quantiles[49],
        quantiles[98],
        history_cli,
        first_page,
        first_page_cli,
        rss,
        store_mb,
    )


def report(figures: list[Figures]) -> None:
    rows = [
        ("restart without store (s)", "without_store_seconds", "{:.1f}"),
        ("  peak RSS of that start (MB)", "without_store_peak_mb", "{:.0f}"),
        ("restart with store (s)", "with_store_seconds", "{:.1f}"),
        ("  peak RSS of that start (MB)", "with_store_peak_mb", "{:.0f}"),
        ("RSS after the lookups (MB)", "rss_mb", "{:.0f}"),
        ("GET history p50 (s)", "history_p50", "{:.3f}"),
        ("GET history p99 (s)", "history_p99", "{:.3f}"),
        ("franz history, median (s)", "history_cli", "{:.2f}"),
        ("GET first page (s)", "first_page", "{:.3f}"),
        ("franz tickets, first line (s)", "first_page_cli", "{:.2f}"),
        ("store on disk (MB)", "store_mb", "{:.0f}"),
    ]
    header = "".join(f"{f.tickets:>14,}" for f in figures)
    ratio = len(figures) > 1
    print(f"{'tickets':32}{header}" + (f"{'growth':>10}" if ratio else ""))
    for label, name, fmt in rows:
        values = [getattr(f, name) for f in figures]
        line = f"{label:32}" + "".join(f"{fmt.format(v):>14}" for v in values)
        if ratio and values[0]:
            line += f"{values[-1] / values[0]:>9.2f}x"
        print(line)
    if ratio:
        print(f"(tickets grew {figures[-1].tickets / figures[0].tickets:.0f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="ticket counts, comma-separated")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="franz-scale-"))
    try:
        with LocalKafka(heap="1g") as kafka:
            figures = []
            for tickets in sizes:
                print(f"{tickets} tickets:", flush=True)
                figures.append(measure(kafka.bootstrap, tickets, work))
                report(figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
