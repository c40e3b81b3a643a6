"""Franz: a Kafka-based ticketing platform for teams that take support requests on Discord."""

__version__ = "0.1.0"
