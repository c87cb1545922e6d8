"""The process's log lines: plain text, or one JSON object per line (VIGIL_LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """ts (ISO 8601, UTC), level, logger, message, and exc_info / stack_info when present.

    Only what the text format shows: the message as the code wrote it, never the record's
    arguments or extras on their own, so a JSON line can hold no more than a text line.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, fmt: str) -> None:
    """The root logger's one handler (stderr), as logging.basicConfig: a no-op when the root
    already has one (gunicorn's `logconfig_dict` below put it there in JSON mode)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    logging.basicConfig(level=level, handlers=[handler])


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """gunicorn's `logconfig_dict` for JSON lines: its own log and the root logger (Vigil's)
    share one JSON formatter on stderr. gunicorn lays this over its defaults, and a
    logconfig_dict turns its access log on: it stays off, as `accesslog = None` has it (a
    request line may carry a share link's token)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level, "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
        "formatters": {"generic": {"()": JsonFormatter}},
    }
