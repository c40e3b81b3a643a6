"""The `franz` command: the services, the local stack, and small tools for people and scripts."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import uuid
from collections.abc import Callable, Sequence

from franz.exceptions import FranzError
from franz.runtime.wait import stop_event


def cmd_ticket(args: argparse.Namespace) -> int:
    from franz.contracts import new_raw_intake
    from franz.runtime.clients import new_producer
    from franz.runtime.intake import publish_intake
    from franz.runtime.settings import Environment

    env = Environment()
    bootstrap = args.bootstrap or env.bootstrap()
    intake = new_raw_intake(
        username=args.user,
        message=args.text,
        source_id=f"cli:{uuid.uuid4()}",
        category=args.category,
        priority=args.priority,
    )
    producer = new_producer(bootstrap, client_id="franz-ticket", security=env.kafka_security())
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
    env = Environment()
    bootstrap = args.bootstrap or env.bootstrap()
    consumer = new_consumer(
        bootstrap, client_id="franz-tail", security=env.kafka_security(), isolation_level="read_committed"
    )
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


def cmd_history(args: argparse.Namespace) -> int:
    from franz.contracts import parse_ticket_id
    from franz.runtime.settings import Environment
    from franz.sachbearbeiter.eventlog import history
    from franz.sachbearbeiter.views import history_line

    env = Environment()
    ticket_id = parse_ticket_id(args.ticket_id)
    events = history(
        args.bootstrap or env.bootstrap(),
        args.topic or env.lifecycle_topics().events,
        ticket_id,
        security=env.kafka_security(),
    )
    if not events:
        raise FranzError(
            f"no events for {ticket_id}: check the id, or whether sachbearbeiter has seen it yet"
        )
    for event in events:
        print(json.dumps(event, ensure_ascii=False) if args.json else history_line(event), flush=True)
    return 0


def cmd_tickets(args: argparse.Namespace) -> int:
    from franz.runtime.settings import Environment
    from franz.sachbearbeiter.eventlog import current_states
    from franz.sachbearbeiter.views import tickets_table

    env = Environment()
    states = current_states(
        args.bootstrap or env.bootstrap(),
        args.topic or env.lifecycle_topics().state,
        security=env.kafka_security(),
    )
    if args.json:
        for state in states.values():
            if args.status is None or state["status"] == args.status:
                print(json.dumps(state, ensure_ascii=False))
    else:
        print(tickets_table(states.values(), status=args.status))
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
    history.add_argument("--topic", default=None, help="default: EVENTS_TOPIC or ticket-events")
    history.add_argument(
        "--bootstrap", default=None, help="default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092"
    )

    tickets = add("tickets", cmd_tickets, "list the current tickets by status, from the state topic")
    tickets.add_argument("--status", choices=("open", "assigned", "closed"), default=None)
    tickets.add_argument("--json", action="store_true", help="one ticket state per line, as JSON")
    tickets.add_argument("--topic", default=None, help="default: STATE_TOPIC or tickets-state")
    tickets.add_argument(
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
