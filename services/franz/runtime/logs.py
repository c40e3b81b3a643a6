"""JSON-lines logging for every service, with secrets redacted before anything is written."""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
from typing import Final, Literal

# Discord webhook URLs carry their token in the path; bot tokens are three dot-separated base64 parts.
# The path alone is enough to redact: HTTP libraries put it, without the host, into their error messages.
_WEBHOOK_URL: Final = re.compile(r"(/api(?:/v\d+)?/webhooks/)(\d+)/[\w.-]+")
_BOT_TOKEN: Final = re.compile(r"\b[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,38}\b")
# Loggers that write request bodies or URLs at DEBUG: never below INFO, whatever LOG_LEVEL says.
_CHATTY_LOGGERS: Final = ("discord", "urllib3", "kafka", "kubernetes", "aiohttp")
# kopf attaches its whole settings object and a flag of its own to every object's log line; `k8s_ref` stays.
_STANDARD_ATTRIBUTES: Final = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "settings",
    "k8s_skip",
}


def redact(text: str) -> str:
    """Replace webhook tokens and bot tokens; keep the webhook id so operators can tell webhooks apart."""
    text = _WEBHOOK_URL.sub(r"\1\2/[redacted]", text)
    return _BOT_TOKEN.sub("[redacted-token]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class RedactingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str, log_format: Literal["json", "text"]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingTextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # kafka-python logs every refused connection at ERROR while a broker restarts; our loop reports that.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
