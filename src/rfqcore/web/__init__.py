"""The desk's HTTP side: ``rfqcore serve --http HOST:PORT`` (docs/web.md).

:mod:`rfqcore.web.server` serves it (aiohttp on its own thread of the desk process);
:mod:`rfqcore.web.metrics` is the Prometheus collector behind ``GET /metrics``.
"""

from __future__ import annotations

from rfqcore.web.metrics import DeskCollector, desk_health, desk_registry
from rfqcore.web.server import HttpServer, HttpUnavailable, parse_address

__all__ = ["DeskCollector", "HttpServer", "HttpUnavailable", "desk_health", "desk_registry", "parse_address"]
