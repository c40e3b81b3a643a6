"""Errors of the shared Kafka runtime."""

from franz.exceptions import FranzError


class DeliveryError(FranzError):
    """Some records of a batch were not acknowledged; the batch is retried and nothing is committed."""


class BrokerUnreachable(FranzError):
    """A Kafka client could not reach any bootstrap server; the message names the servers tried."""
