"""What goes wrong, as records: dead letters (`<output>-dlq`) keep the record and where it came from, so
it can be found and replayed; error events (`errors`) report a service's operational failure."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final, Literal, NotRequired, TypedDict

from franz.contracts.codec import loads
from franz.contracts.exceptions import ContractError, ErrorType, UndecodableRecord
from franz.contracts.fields import utc_now_iso


class RecordCoordinates(TypedDict):
    """Where a record came from, so that it can be found and replayed."""

    topic: str
    partition: int
    offset: int
    key: str | None
    timestamp: int | None


class DeadLetter(TypedDict):
    """Topic `<output>-dlq`. `raw_value` is the original text, or base64 when it was not UTF-8.
    `replay_of` names the dead letter (`<dlq topic>/<partition>/<offset>`) whose replay failed again."""

    error: str
    error_type: ErrorType
    raw_value: str
    raw_encoding: Literal["utf-8", "base64"]
    time: str
    service: str
    source: RecordCoordinates
    replay_of: NotRequired[str]


Severity = Literal["info", "warning", "error", "critical"]
# What Franz's own services report; absturz tells for each what to do. Other producers may send others.
OperationalErrorType = Literal[
    "batch_failing",  # the shared loop: a batch failed again and again; its offsets stay uncommitted
    "webhook_disabled",  # absturz: Discord answered 401/403/404, posting stopped
    "publish_failed",  # the bot: Kafka did not take a ticket or a command
    "startup_refused",  # a service refused to start: its topics or its log are not usable
    "pipeline_not_ready",  # the operator: a FranzPipeline condition turned not Ready
    "undecodable_record",  # a reader skipped a record that no contract decodes
]
OPERATIONAL_ERROR_TYPES: Final[tuple[OperationalErrorType, ...]] = OperationalErrorType.__args__  # type: ignore[attr-defined]


class ErrorEvent(TypedDict):
    """Topic `errors`: a service's operational failure. Never secrets or ticket bodies.

    `count` is how many occurrences the event stands for: repeats of one incident are collapsed into the
    next event of that incident instead of being sent one by one.
    """

    service: str
    severity: Severity
    error_type: str
    message: str
    time: str
    context: dict[str, Any]
    count: int


def error_event(
    *, service: str, error_type: str, message: str, severity: Severity = "error", context: dict[str, Any]
) -> ErrorEvent:
    """One occurrence, now; the caller keeps secrets and ticket bodies out of `message` and `context`."""
    return {
        "service": service,
        "severity": severity,
        "error_type": error_type,
        "message": message,
        "time": utc_now_iso(),
        "context": context,
        "count": 1,
    }


def dead_letter(
    *,
    error: ContractError | Exception,
    value: bytes | None,
    service: str,
    source: RecordCoordinates,
    replay_of: str | None = None,
) -> DeadLetter:
    """The DLQ envelope: the seed's fields plus where the record came from; raw bytes are never lost."""
    raw = value or b""
    encoding: Literal["utf-8", "base64"]
    try:
        raw_value, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        raw_value, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    error_type: ErrorType = error.error_type if isinstance(error, ContractError) else "unexpected_error"
    letter: DeadLetter = {
        "error": str(error),
        "error_type": error_type,
        "raw_value": raw_value,
        "raw_encoding": encoding,
        "time": utc_now_iso(),
        "service": service,
        "source": source,
    }
    if replay_of is not None:
        letter["replay_of"] = replay_of
    return letter


def decode_dead_letter(value: bytes | None) -> DeadLetter:
    """A dead letter read back for listing and replay; `UndecodableRecord` for anything else."""
    record = loads(value or b"null")
    source = record.get("source") if isinstance(record, dict) else None
    if (
        not isinstance(record, dict)
        or not isinstance(source, dict)
        or not isinstance(source.get("topic"), str)
        or not isinstance(source.get("partition"), int)
        or not isinstance(record.get("raw_value"), str)
        or record.get("raw_encoding", "utf-8") not in ("utf-8", "base64")
    ):
        raise UndecodableRecord("validation_error", "not a dead letter: raw_value and source are needed")
    letter: DeadLetter = record  # type: ignore[assignment]
    return letter


def original_value(letter: DeadLetter) -> bytes:
    """The dead-lettered record's bytes exactly as they were consumed."""
    if letter.get("raw_encoding", "utf-8") == "utf-8":
        return letter["raw_value"].encode("utf-8")
    try:
        return base64.b64decode(letter["raw_value"], validate=True)
    except binascii.Error:
        raise UndecodableRecord("validation_error", "dead letter's base64 raw_value is broken") from None
