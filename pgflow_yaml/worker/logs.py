"""Structured log lines: one per event, with an ``action`` key, never a password.

Every record the worker emits carries ``extra={"action": ..., ...}``; the formatters render
those fields as ``key=value`` pairs (text) or one JSON object per line (json), and pass the
whole line through ``pgflow_yaml.db.redact``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from pgflow_yaml.db import redact

LogFormat = Literal["text", "json"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: ts, level, logger, action, message and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single redacted JSON line."""
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_fields(record))
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(data, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Format a record as ``ts level action message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single redacted text line."""
        fields = _fields(record)
        action = fields.pop("action", "-")
        pairs = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        line = f"{_timestamp(record)} {record.levelname:<7} {action} {record.getMessage()}"
        if pairs:
            line = f"{line} {pairs}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return redact(line)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (" " in text or not text) else text


def configure(
    fmt: LogFormat = "text", level: int | str = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send the ``pgflow_yaml`` loggers to ``stream`` (stderr) in the given format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("pgflow_yaml")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    root.propagate = False
