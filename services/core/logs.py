"""Logging for every process: one JSON object per line, or plain text (docs/operations.md).

``configure(service, settings)`` puts one handler on the root logger (replacing the one an
earlier call put there, so apps built again in tests do not log twice) and routes uvicorn's
own loggers through it. Each line carries ``ts``, ``level``, ``service``, ``logger``,
``msg``, the ``request_id`` of the request being served (services.core.requestid) and any
``extra=`` fields (the request line adds ``method``, ``route``, ``status``, ``duration_ms``).

What could identify a person or open a door never reaches a line: e-mail addresses, API keys
(``mc_live_…``) and bearer tokens are masked in the message and in every extra field.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from services.core import requestid

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_API_KEY = re.compile(r"mc_live_[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")
# A line per outgoing HTTP call with its full URL (httpx), and uvicorn's access line (client address,
# raw path and query): our own request line replaces both.
_QUIET = ("httpx", "httpcore", "uvicorn.access")
_MARK = "_microcred_handler"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(service)s %(name)s [%(request_id)s] %(message)s"


def redact(text: str) -> str:
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if "mc_live_" in text:
        text = _API_KEY.sub("mc_live_<redacted>", text)
    if "earer" in text:
        text = _BEARER.sub(r"\1<redacted>", text)
    return text


class _Context(logging.Filter):
    """Adds ``service`` and ``request_id``, and masks secrets and addresses in what is logged."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        if not hasattr(record, "request_id"):
            record.request_id = requestid.current()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what there is
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "service"}


class _Stderr(logging.StreamHandler):
    """stderr as it is when a line is written (a test runner swaps it between tests)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _Json(JsonFormatter):
    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") is None:
            log_data.pop("request_id", None)
        if "exc_info" in log_data:  # a traceback can quote anything
            log_data["exc_info"] = redact(str(log_data["exc_info"]))


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    return _Json("{levelname}{service}{name}{message}{request_id}", style="{", timestamp="ts",
                 rename_fields={"levelname": "level", "name": "logger", "message": "msg"})


def configure(service: str, level: str = "info", log_format: str = "json") -> None:
    """Send every log record of this process to stderr in ``log_format`` (``json`` or ``text``)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    handler = _Stderr()
    setattr(handler, _MARK, True)
    handler.addFilter(_Context(service))
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # Python's warnings as log lines too, not bare text on stderr
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in _UVICORN:  # uvicorn's startup and error lines in the same shape
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
