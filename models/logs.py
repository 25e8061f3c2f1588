"""One log format for every process (watcher, API and its uvicorn workers, simulator): JSON lines when
stderr is not a terminal (for collectors), a readable line on a terminal. Records may carry a ``fields``
dict (``log.info(..., extra={"fields": {...}})``): JSON members, or ``key=value`` pairs on a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LEVEL = "INFO"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, plus the record's ``fields`` if any."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """``2026-01-01 12:00:00,123 INFO watcher: message key=value ...`` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            extra = " ".join(f"{key}={value}" for key, value in fields.items())
            head, newline, rest = line.partition("\n")  # keep a traceback below the fields
            line = f"{head} {extra}{newline}{rest}"
        return line


def formatter_class(stream: TextIO = sys.stderr) -> type[logging.Formatter]:
    return TextFormatter if stream.isatty() else JsonFormatter


def configure_logging(level: str = DEFAULT_LEVEL, stream: TextIO = sys.stderr) -> bool:
    """Route every record to one handler on ``stream`` in this format; returns whether it is a terminal."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_class(stream)())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return stream.isatty()


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """``logging.config.dictConfig`` input for uvicorn: its loggers and the root (the app's loggers in each
    worker process) on stderr in the same format as :func:`configure_logging`."""
    cls = formatter_class(sys.stderr)
    handler = {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"{cls.__module__}.{cls.__qualname__}"}},
        "handlers": {"default": handler},
        "loggers": {
            **{name: {"handlers": ["default"], "level": level, "propagate": False}
               for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
            "alembic": {"level": level if level == "DEBUG" else "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level},
    }
