"""Errors of the contracts: a record that breaks its schema, classified the way the DLQ records it."""

from __future__ import annotations

from typing import Literal

from franz.exceptions import FranzError

ErrorType = Literal[
    "json_decode_error", "validation_error", "encoding_error", "too_large", "unexpected_error"
]


class ContractError(FranzError, ValueError):
    """A record breaks its contract; `error_type` is the DLQ's classification."""

    def __init__(self, error_type: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error_type: ErrorType = error_type


class UndecodableRecord(ContractError):
    """The bytes are no record of their topic's contract at all (not UTF-8, not JSON, not the shape).

    Readers of logs skip and count such a record and report its coordinates; they never stall on it.
    """
