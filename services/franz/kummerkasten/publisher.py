"""Kafka at the bot's edge: blocking kafka-python calls run in worker threads, never on Discord's loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

from kafka import KafkaProducer

from franz.contracts import RawIntake, TicketCommand, encode
from franz.runtime.clients import new_producer
from franz.runtime.errors import ErrorReporter
from franz.runtime.exceptions import PublishError
from franz.runtime.intake import PublishedTicket, publish_intake
from franz.runtime.security import PLAINTEXT, KafkaSecurity, describe_failure


class IntakePublisher:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        security: KafkaSecurity = PLAINTEXT,
        ack_timeout: float = 10.0,
        reporter: ErrorReporter | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.topic = topic
        self.ack_timeout = ack_timeout
        self.reporter = reporter
        self._producer: KafkaProducer | None = None
        # Whether the broker took the last thing we sent (or, before the first, answered at connect).
        self._broker_answers = False
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kafka-publish")

    def _connected_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    # Short blocking bounds: a submitter waits for an answer, not for a minute of retries.
                    self._producer = new_producer(
                        self.bootstrap,
                        client_id="franz-kummerkasten",
                        security=self.security,
                        max_block_ms=5000,
                        bootstrap_timeout_ms=5000,
                        delivery_timeout_ms=int(self.ack_timeout * 1000),
                        request_timeout_ms=int(self.ack_timeout * 1000) // 2,
                    )
                except Exception as error:
                    raise PublishError(f"cannot connect to Kafka at {self.bootstrap}: {error}") from error
                self._broker_answers = True
            return self._producer

    def _publish(self, intake: RawIntake) -> PublishedTicket:
        try:
            producer = self._connected_producer()
            published = publish_intake(producer, topic=self.topic, intake=intake, timeout=self.ack_timeout)
        except Exception as error:
            self._fail("ticket", self.topic, error)
        self._broker_answers = True
        return published

    def _send_command(self, command: TicketCommand, topic: str) -> None:
        try:
            producer = self._connected_producer()
            key = command["ticket_id"].encode()
            producer.send(topic, key=key, value=encode(command)).get(timeout=self.ack_timeout)
        except Exception as error:
            self._fail("command", topic, error)
        self._broker_answers = True

    def _fail(self, what: str, topic: str, error: Exception) -> NoReturn:
        """Readiness drops and `errors` hears of it (a storm of failed tickets is one alert with a count);
        the PublishError raised tells the person who sent it."""
        self._broker_answers = False
        failure = (
            error
            if isinstance(error, PublishError)
            else PublishError(f"Kafka did not take the {what}: {describe_failure(error)}")
        )
        if self.reporter is not None:
            self.reporter.report(
                "publish_failed",
                f"the bot could not publish a {what}: {failure}",
                incident=f"{what}:{topic}",
                context={"topic": topic, "what": what, "error_class": type(error).__name__},
            )
        if failure is error:
            raise failure
        raise failure from error

    async def publish_command(self, command: TicketCommand, *, topic: str) -> None:
        """Publish a lifecycle command keyed by its ticket id and wait for the broker's acknowledgement."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._send_command, command, topic)

    async def publish(self, intake: RawIntake) -> PublishedTicket:
        """Publish and wait for the broker's acknowledgement, without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._publish, intake)

    async def connect(self) -> None:
        """Try to connect early so /readyz reflects Kafka; a failure here is retried on the first ticket."""
        with contextlib.suppress(PublishError):
            await asyncio.get_running_loop().run_in_executor(self._executor, self._connected_producer)

    def ready(self) -> bool:
        """Connected, and the broker took the last ticket or command. Not the bootstrap connection's
        state: kafka-python closes that once it has the cluster's metadata, so it reads false for good."""
        return self._producer is not None and self._broker_answers

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._producer is not None:
            self._producer.flush(timeout=self.ack_timeout)
            self._producer.close(timeout=self.ack_timeout)
