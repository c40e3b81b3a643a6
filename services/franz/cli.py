"""The `franz` command: the services, the local stack, and small tools for people and scripts."""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from franz.exceptions import FranzError
from franz.runtime.wait import stop_event

if TYPE_CHECKING:  # `franz --help` stays fast: kafka-python is imported by the commands that use it
    from franz.contracts import TicketState
    from franz.runtime.dlq import Letter
    from franz.runtime.security import KafkaSecurity
    from franz.runtime.ticketsapi import TicketsApi


def cmd_ticket(args: argparse.Namespace) -> int:
    from franz.contracts import TOPIC_INTAKE, new_raw_intake
    from franz.runtime.clients import new_producer
    from franz.runtime.intake import publish_intake
    from franz.runtime.settings import Environment

    env = Environment()
    bootstrap = args.bootstrap or env.bootstrap()
    topic = args.topic or env.topic("KAFKA_TOPIC", TOPIC_INTAKE)  # as the bot reads it; --topic wins
    intake = new_raw_intake(
        username=args.user,
        message=args.text,
        source_id=f"cli:{uuid.uuid4()}",
        category=args.category,
        priority=args.priority,
    )
    security = env.kafka_security()
    _check_topics(bootstrap, [topic], security)
    producer = new_producer(bootstrap, client_id="franz-ticket", security=security)
    try:
        published = publish_intake(producer, topic=topic, intake=intake)
    finally:
        producer.close(timeout=10)
    print(
        json.dumps(
            {
                "ticket_id": published.ticket_id,
                "topic": published.topic,
                "partition": published.partition,
                "offset": published.offset,
            }
        )
    )
    return 0


def _check_topics(bootstrap: str, topics: Sequence[str], security: KafkaSecurity) -> None:
    """Fail at once, saying how to create it, when a topic is missing (sends would wait a minute)."""
    from franz.runtime.clients import new_reader, partitions_of

    consumer = new_reader(bootstrap, client_id="franz-cli-metadata", security=security)
    try:
        for topic in topics:
            partitions_of(consumer, topic, bootstrap=bootstrap)
    finally:
        consumer.close()


def cmd_tail(args: argparse.Namespace) -> int:
    from kafka import TopicPartition

    from franz.runtime.clients import new_consumer, partitions_of
    from franz.runtime.settings import Environment

    stop = stop_event()
    env = Environment()
    bootstrap = args.bootstrap or env.bootstrap()
    consumer = new_consumer(
        bootstrap, client_id="franz-tail", security=env.kafka_security(), isolation_level="read_committed"
    )
    try:
        partitions = partitions_of(consumer, args.topic, bootstrap=bootstrap)
        assigned = [TopicPartition(args.topic, p) for p in partitions]
        consumer.assign(assigned)
        if args.from_beginning:
            consumer.seek_to_beginning(*assigned)
        else:
            consumer.seek_to_end(*assigned)
        printed = 0
        while not stop.is_set() and (args.max is None or printed < args.max):
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    print(json.dumps(_render_record(record), ensure_ascii=False), flush=True)
                    printed += 1
    finally:
        consumer.close()
    return 0


def _tickets_api(args: argparse.Namespace) -> TicketsApi:
    import os

    from franz.runtime.ticketsapi import ENV_VAR, LOCAL_URL, TicketsApi, parse_urls

    return TicketsApi(parse_urls(args.api or os.environ.get(ENV_VAR) or LOCAL_URL))


def cmd_history(args: argparse.Namespace) -> int:
    from franz.contracts import parse_ticket_id
    from franz.runtime.settings import Environment
    from franz.sachbearbeiter.views import history_line

    ticket_id = parse_ticket_id(args.ticket_id)
    if args.from_log:
        from franz.sachbearbeiter.eventlog import history  # Kafka's client: only when it is needed

        env = Environment()
        bootstrap, topic = args.bootstrap or env.bootstrap(), args.topic or env.lifecycle_topics().events
        security = env.kafka_security()
        _check_topics(bootstrap, [topic], security)
        events = history(bootstrap, topic, ticket_id, security=security)
    else:
        api = _tickets_api(args)
        try:
            events = api.history(ticket_id) or []
        finally:
            api.close()
    if not events:
        raise FranzError(
            f"no events for {ticket_id}: check the id, or whether sachbearbeiter has seen it yet"
        )
    for event in events:
        print(json.dumps(event, ensure_ascii=False) if args.json else history_line(event), flush=True)
    return 0


def cmd_tickets(args: argparse.Namespace) -> int:
    from franz.runtime.settings import Environment

    if args.from_log:
        from franz.sachbearbeiter.eventlog import current_states  # Kafka's client: only when it is needed

        env = Environment()
        bootstrap, topic = args.bootstrap or env.bootstrap(), args.topic or env.lifecycle_topics().state
        security = env.kafka_security()
        _check_topics(bootstrap, [topic], security)
        states: Iterable[TicketState] = current_states(bootstrap, topic, security=security).values()
        if args.status is not None:
            states = [state for state in states if state["status"] == args.status]
        return _print_tickets(states, args)
    api = _tickets_api(args)
    try:
        return _print_tickets(api.tickets(status=args.status), args)
    finally:
        api.close()


def _print_tickets(states: Iterable[TicketState], args: argparse.Namespace) -> int:
    """JSON lines as they come (one page in memory); the table sorts, so it holds the listing."""
    from franz.sachbearbeiter.views import tickets_table

    if args.json:
        for state in states:
            print(json.dumps(state, ensure_ascii=False))
    else:
        print(tickets_table(states, status=args.status))
    return 0


def _dead_letters(args: argparse.Namespace) -> Iterator[Letter]:
    """The DLQ's letters chosen by the command's filters, read to the end as it is now; a record that
    is no envelope is skipped with a line on stderr."""
    from kafka import TopicPartition

    from franz.contracts import UndecodableRecord
    from franz.runtime.clients import new_reader, partitions_of
    from franz.runtime.dlq import Letter
    from franz.runtime.settings import Environment
    from franz.sachbearbeiter.eventlog import read_to_end

    env = Environment()
    bootstrap = args.bootstrap or env.bootstrap()
    since = _since(args.since) if args.since else None
    offsets = _offset_range(args.offsets) if args.offsets else None
    consumer = new_reader(bootstrap, client_id="franz-dlq", security=env.kafka_security())
    try:
        partitions = [
            TopicPartition(args.topic, p) for p in partitions_of(consumer, args.topic, bootstrap=bootstrap)
        ]
        for record in read_to_end(consumer, partitions):
            try:
                letter = Letter.of(record)
            except UndecodableRecord as error:
                print(f"skipped {record.topic}/{record.partition}/{record.offset}: {error}", file=sys.stderr)
                continue
            if letter.selected(error_type=args.error_type, since=since, offsets=offsets):
                yield letter
    finally:
        consumer.close()


def cmd_dlq_list(args: argparse.Namespace) -> int:
    from franz.runtime.text import summary

    for letter in _dead_letters(args):
        if args.json:
            print(json.dumps({"id": letter.id, **letter.envelope}, ensure_ascii=False), flush=True)
            continue
        source = letter.envelope["source"]
        replayed = f" (replay of {letter.envelope['replay_of']})" if "replay_of" in letter.envelope else ""
        print(
            f"{letter.id}  {letter.envelope.get('time', '-')}  {letter.envelope.get('error_type')}  "
            f"from {source['topic']}/{source['partition']}/{source.get('offset')}{replayed}: "
            f"{summary(str(letter.envelope.get('error', '')), 120)}",
            flush=True,
        )
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    """Each chosen letter's original bytes and key back on its source partition, once: a letter whose
    replay is already on that partition (its header says so) is not sent again."""
    from franz.contracts import original_value
    from franz.runtime.clients import new_producer
    from franz.runtime.dlq import REPLAY_HEADER
    from franz.runtime.loop import require_acknowledged
    from franz.runtime.settings import Environment

    letters = list(_dead_letters(args))
    env = Environment()
    bootstrap, security = args.bootstrap or env.bootstrap(), env.kafka_security()
    _check_topics(bootstrap, sorted({letter.target[0] for letter in letters}), security)
    done = _replayed_already(bootstrap, letters, security)
    pending = [letter for letter in letters if letter.id not in done]
    summary = {"selected": len(letters), "already_replayed": len(letters) - len(pending), "replayed": 0}
    if args.dry_run:
        for letter in pending:
            topic, partition = letter.target
            print(f"would replay {letter.id} to {topic}/{partition}", flush=True)
        print(json.dumps({**summary, "dry_run": True}), flush=True)
        return 0
    producer = new_producer(bootstrap, client_id="franz-dlq-replay", security=security)
    try:
        futures = []
        for number, letter in enumerate(pending, start=1):
            topic, partition = letter.target
            futures.append(
                producer.send(
                    topic,
                    partition=partition,
                    key=letter.key,
                    value=original_value(letter.envelope),
                    headers=[(REPLAY_HEADER, letter.id.encode())],
                )
            )
            if number % REPLAY_PROGRESS_EVERY == 0 or number == len(pending):
                print(f"replaying: {number}/{len(pending)}", file=sys.stderr, flush=True)
        producer.flush(timeout=60)
        require_acknowledged(futures, timeout=60)
    finally:
        producer.close(timeout=10)
    print(json.dumps({**summary, "replayed": len(pending), "dry_run": False}), flush=True)
    return 0


REPLAY_PROGRESS_EVERY = 100


def _replayed_already(bootstrap: str, letters: Sequence[Letter], security: KafkaSecurity) -> set[str]:
    """The letters whose replay is on their source partition already: read from the earliest of their
    offsets, since a replay always lands after the record it repeats."""
    from kafka import TopicPartition

    from franz.runtime.clients import new_reader
    from franz.runtime.dlq import replay_of
    from franz.sachbearbeiter.eventlog import read_to_end

    earliest: dict[tuple[str, int], int] = {}
    for letter in letters:
        target = letter.target
        offset = int(letter.envelope["source"].get("offset") or 0)
        earliest[target] = min(earliest.get(target, offset), offset)
    found: set[str] = set()
    consumer = new_reader(bootstrap, client_id="franz-dlq-replayed", security=security)
    try:
        for (topic, partition), offset in earliest.items():
            for record in read_to_end(consumer, [TopicPartition(topic, partition)], start=offset):
                marker = replay_of(record)
                if marker is not None:
                    found.add(marker)
    finally:
        consumer.close()
    return found


def _since(text: str) -> datetime.datetime:
    """An ISO 8601 time (UTC unless it says otherwise)."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise FranzError(
            f"--since must be an ISO 8601 time like 2026-11-21T10:00:00Z, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _offset_range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    if not first.isdigit() or not last.isdigit() or int(first) > int(last):
        raise FranzError(f"--offsets must be a range of DLQ offsets like 120-180, got {text!r}")
    return int(first), int(last)


def _render_record(record: object) -> dict[str, object]:
    key = getattr(record, "key", None)
    value = getattr(record, "value", None)
    rendered: object
    try:
        rendered = json.loads(value) if value is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        rendered = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return {
        "partition": getattr(record, "partition", None),
        "offset": getattr(record, "offset", None),
        "key": key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
        "value": rendered,
    }


def cmd_operator(args: argparse.Namespace) -> int:
    from franz_operator.main import main as run_operator

    return run_operator(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="franz", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    ticket = add("ticket", cmd_ticket, "publish one ticket to the intake topic, as the Discord bot would")
    ticket.add_argument("text", help="the ticket's message")
    ticket.add_argument("--user", required=True, help="the submitter's name")
    ticket.add_argument("--category", default=None)
    ticket.add_argument("--priority", default=None)
    ticket.add_argument("--topic", default=None, help="default: KAFKA_TOPIC or discordMSG")
    ticket.add_argument(
        "--bootstrap", default=None, help="default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092"
    )

    tail = add("tail", cmd_tail, "print a topic's records as JSON lines as they arrive")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--max", type=int, default=None, help="stop after this many records")
    tail.add_argument("--bootstrap", default=None, help="default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092")

    operator = add("operator", cmd_operator, "run the FranzPipeline operator against the current kubeconfig")
    operator.add_argument(
        "--print-crd", action="store_true", help="print the FranzPipeline CRD as YAML and exit"
    )

    history = add("history", cmd_history, "print a ticket's full event trail, oldest first")
    history.add_argument("ticket_id", help="e.g. T-ABCDE-12345 (any case)")
    history.add_argument("--json", action="store_true", help="the events as JSON lines")
    _add_source_arguments(history, topic="EVENTS_TOPIC or ticket-events")

    tickets = add("tickets", cmd_tickets, "list the current tickets by status")
    tickets.add_argument("--status", choices=("open", "assigned", "closed"), default=None)
    tickets.add_argument("--json", action="store_true", help="one ticket state per line, as JSON")
    _add_source_arguments(tickets, topic="STATE_TOPIC or tickets-state")

    dlq = add("dlq", cmd_dlq_list, "list dead letters, or replay them onto the topics they came from")
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="one line per dead letter (with --json: the envelopes)")
    listing.set_defaults(handler=cmd_dlq_list)
    listing.add_argument("--json", action="store_true", help="the envelopes as JSON lines")
    replay = actions.add_parser(
        "replay", help="put dead letters back on their source topic (original bytes and key), each once"
    )
    replay.set_defaults(handler=cmd_dlq_replay)
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed; send nothing")
    for action in (listing, replay):
        action.add_argument("topic", help="the DLQ topic, e.g. tickets-formatted-dlq")
        action.add_argument("--error-type", default=None, help="only letters of this error_type")
        action.add_argument(
            "--since", default=None, help="only letters written at or after this ISO 8601 time"
        )
        action.add_argument("--offsets", default=None, help="only DLQ offsets in this range, e.g. 120-180")
        action.add_argument(
            "--bootstrap", default=None, help="default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092"
        )

    from franz.services import register_service_commands

    register_service_commands(add)
    # The dev stack (local Kafka, Kubernetes, images) is installed with `franz[dev]` from a checkout,
    # never in the production image, which therefore has none of its commands.
    if importlib.util.find_spec("franz.devstack") is not None:
        from franz.devstack.commands import register_dev_commands

        register_dev_commands(add)
    return parser


def _add_source_arguments(parser: argparse.ArgumentParser, *, topic: str) -> None:
    """sachbearbeiter's read API answers at once; `--from-log` reads the topic instead (a partition
    scan: slow with many tickets, but it needs only the brokers)."""
    parser.add_argument(
        "--api",
        default=None,
        help="sachbearbeiter's read API, every instance's URL comma-separated "
        "(default: TICKETS_API_URL or http://127.0.0.1:9104)",
    )
    parser.add_argument("--from-log", action="store_true", help="scan the topic instead of asking the API")
    parser.add_argument("--topic", default=None, help=f"with --from-log; default: {topic}")
    parser.add_argument(
        "--bootstrap",
        default=None,
        help="with --from-log; default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except FranzError as error:
        print(f"franz {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
