"""Logging for the command line: configured once, on the ``node`` package logger.

Text for people at a terminal; JSON lines (``log.format = "json"``) for log shippers. Messages
carry partner names, counts and indicator ids; hash values of restricted lists are logged only
at DEBUG, never above (DESIGN §9).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure(level: int, *, json_lines: bool = False) -> None:
    """Send the package's logs to stderr at ``level``, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    package = logging.getLogger("node")
    package.handlers[:] = [handler]
    package.setLevel(level)
    package.propagate = False


def use_json() -> None:
    """Switch the configured handlers to JSON lines (once the config says so)."""
    for handler in logging.getLogger("node").handlers:
        handler.setFormatter(JsonFormatter())


def status_line(text: str, *, json_lines: bool) -> str:
    """A human status line from ``accord serve``, as JSON when the logs are JSON lines."""
    if not json_lines:
        return text
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    return json.dumps(
        {"time": now, "level": "INFO", "logger": "accord.serve", "message": text}, ensure_ascii=False
    )
