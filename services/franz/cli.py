"""The `franz` command: the services, the local stack, and small tools for people and scripts."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from franz.exceptions import FranzError
from franz.runtime.wait import stop_event

if TYPE_CHECKING:
    from franz.contracts import TicketState
    from franz.runtime.ticketsapi import TicketsApi


def cmd_ticket(args: argparse.Namespace) -> int:
    from franz.contracts import new_raw_intake
    from franz.runtime.clients import new_producer
    from franz.runtime.intake import publish_intake
    from franz.runtime.settings import Environment

    bootstrap = args.bootstrap or Environment().bootstrap()
    intake = new_raw_intake(
        username=args.user,
        message=args.text,
        source_id=f"cli:{uuid.uuid4()}",
        category=args.category,
        priority=args.priority,
    )
    producer = new_producer(bootstrap, client_id="franz-ticket")
    try:
        published = publish_intake(producer, topic=args.topic, intake=intake)
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


def cmd_tail(args: argparse.Namespace) -> int:
    from kafka import TopicPartition

    from franz.runtime.clients import new_consumer
    from franz.runtime.settings import Environment

    stop = stop_event()
    bootstrap = args.bootstrap or Environment().bootstrap()
    consumer = new_consumer(bootstrap, client_id="franz-tail", isolation_level="read_committed")
    try:
        partitions = consumer.partitions_for_topic(args.topic)
        if not partitions:
            raise FranzError(f"topic {args.topic!r} does not exist on {bootstrap}")
        assigned = [TopicPartition(args.topic, p) for p in sorted(partitions)]
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
        events = history(
            args.bootstrap or env.bootstrap(), args.topic or env.lifecycle_topics().events, ticket_id
        )
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
        topic = args.topic or env.lifecycle_topics().state
        states: Iterable[TicketState] = current_states(args.bootstrap or env.bootstrap(), topic).values()
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
    ticket.add_argument("--topic", default="discordMSG")
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
