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
