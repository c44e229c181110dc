"""Logging for a desk: stdlib ``logging``, one logger per component (``rfqcore.serve``,
``rfqcore.gateway``, ``rfqcore.hedger``, ``rfqcore.settlement``, ``rfqcore.client``,
``rfqcore.venues.*``), as text for people or as JSON lines for a log shipper.

JSON lines carry ``ts`` (UTC, ISO 8601 with microseconds), ``level``, ``logger``, ``msg``,
``pid``, every field passed with ``extra={...}``, and ``exc`` (the formatted traceback) when an
exception is logged; one object per line, encoded by orjson. The format is chosen by
``rfqcore --log-format json`` (or ``RFQCORE_LOG_FORMAT=json``); the CLI exports its choice in
that variable so the desk's child processes (the gateway) log the same way.

Records go to whatever ``sys.stderr`` is when they are written (:class:`StderrHandler`), not to
the stream that was ``sys.stderr`` when logging was configured: a process that swaps it (a test
runner's capture, a redirect) never has a later record — e.g. one the native gateway's log
forwarder thread hands over after the swap — written to a stream that has since been closed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from typing import Any, TextIO

import orjson

__all__ = ["JsonFormatter", "StderrHandler", "configure", "FORMATS", "ENV"]

#: the environment variable that selects the format (children inherit it)
ENV = "RFQCORE_LOG_FORMAT"
FORMATS = ("text", "json")
TEXT = "%(asctime)s %(name)s %(levelname)s %(message)s"

#: attributes every LogRecord has: anything else on a record came from ``extra=``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docs)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and k not in out:
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` on the ``sys.stderr`` of the moment each record is written (as the
    standard library's last-resort handler does), so it never holds on to a replaced stream."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # not StreamHandler.__init__: it would pin a stream

    @property
    def stream(self) -> TextIO:
        return sys.stderr


def configure(level: int, fmt: str | None = None) -> None:
    """Log records at ``level`` and above to stderr as ``fmt`` ("text" or "json"; default
    ``$RFQCORE_LOG_FORMAT``, else text), replacing any handler set before."""
    fmt = fmt or os.environ.get(ENV) or "text"
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: use one of {', '.join(FORMATS)} (--log-format or ${ENV})")
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
