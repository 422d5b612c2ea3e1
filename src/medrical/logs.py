"""Logging to stderr: readable text on a terminal, JSON lines otherwise."""

from __future__ import annotations

import json
import logging
import sys
import time

from medrical.redaction import redact


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class _TextFormatter(logging.Formatter):
    """Lines for a person: "warning: ..." for what needs attention, the bare message for
    progress, and the logger's name only at debug level, where it helps."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            line = f"{record.levelname.lower()}: {message}"
        elif record.levelno >= logging.INFO:
            line = message
        else:
            line = f"debug {record.name}: {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of each record, so that a handler set up
    while stderr was redirected (a captured test run) never writes to a closed stream."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup_logging(level: int = logging.INFO) -> None:
    handler = _StderrHandler()
    if sys.stderr.isatty():
        handler.setFormatter(_TextFormatter())
    else:
        handler.setFormatter(_JsonFormatter())
    root = logging.getLogger("medrical")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
