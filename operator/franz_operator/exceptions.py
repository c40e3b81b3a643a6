"""The operator's errors, under Franz's one base; each message says what to fix."""

from __future__ import annotations

from franz.exceptions import FranzError


class OperatorError(FranzError):
    """Base of the operator's errors."""


class KubeError(OperatorError):
    """The API server refused a request or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class KafkaUnavailable(OperatorError):
    """The admin backend could not reach Kafka or Kafka refused the request as a whole."""


class TopicsNotDeleted(OperatorError):
    """deletionPolicy Delete could not be honoured yet; the message says how to let the pipeline go."""
