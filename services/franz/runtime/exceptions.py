"""Errors of the shared Kafka runtime."""

from franz.exceptions import FranzError


class DeliveryError(FranzError):
    """Some records of a batch were not acknowledged; the batch is retried and nothing is committed."""


class PublishError(FranzError):
    """The broker did not acknowledge a ticket or a command; the person who sent it must be told."""


class BrokerUnreachable(FranzError):
    """A Kafka client could not reach any bootstrap server; the message names the servers tried."""


class KafkaClientIncompatible(FranzError):
    """The installed kafka-python lacks what Franz's fixes to it rely on; the pinned version has it."""


class TopicMissing(FranzError):
    """A topic a command or service needs does not exist; the message says how to create it."""
