"""The desk's HTTP endpoints: aiohttp on a thread of the desk process (docs/web.md).

``GET /metrics`` answers in the Prometheus text exposition format (or OpenMetrics, when the
scraper asks for it in ``Accept``), encoded by ``prometheus_client`` from a registry;
``GET /healthz`` answers ``{"status": "ok", ...}`` (200) or ``"down"`` (503). Any other path is
404, any other method 405.

The server has its own asyncio loop on its own thread: nothing of it runs on the core thread,
the output pump or the gateway process. A scrape reads the registry on a worker thread of that
loop (the readings wait for other threads' answers), one scrape at a time, and at most once
per ``min_interval_s``: a scrape sooner than that gets the previous reading again, so scrapers,
however many and however often, cost the desk at most one reading a second.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import hdrs, web
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from rfqcore.errors import RfqCoreError

__all__ = ["HttpServer", "HttpUnavailable", "parse_address", "tls_context"]

_ADDRESS_HINT = "give HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)"


class HttpUnavailable(RfqCoreError):
    """The HTTP server cannot listen where asked (port in use, address not local): one line
    saying what to do."""


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 at least) from a PEM certificate chain and its key;
    :class:`HttpUnavailable` saying which file is wrong."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except FileNotFoundError as e:
        raise HttpUnavailable(f"cannot serve HTTPS: {e.filename}: no such file; give a PEM certificate "
                              f"(--http-cert) and its private key (--http-key)") from None
    except (ssl.SSLError, OSError) as e:
        raise HttpUnavailable(f"cannot serve HTTPS with {cert} and {key}: {getattr(e, 'reason', None) or e}; "
                              f"give a PEM certificate chain and the private key that goes with it") from None
    return ctx


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as ``(host, port)``; ValueError saying what to give."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad HTTP address {text!r}: {_ADDRESS_HINT}")
    return host, int(port)


class HttpServer:
    """``/metrics`` of ``registry`` and ``/healthz`` of ``health`` on ``host:port``, and what
    ``routes(app)`` adds (the RFQ portal).

    ``start()`` returns once it listens (raises :class:`HttpUnavailable` when it cannot);
    ``url`` then has the port (the one the system picked for port 0). ``stop()`` closes it.
    ``health()`` returns a dict whose ``"status"`` is ``"ok"`` or not.
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry, *,
                 health: Callable[[], dict[str, Any]] | None = None, min_interval_s: float = 1.0,
                 routes: Callable[[web.Application], None] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port = host, port
        self.registry = registry
        self.health = health or (lambda: {"status": "ok"})
        self.min_interval_s = min_interval_s
        self.routes = routes  # more routes (the RFQ portal: rfqcore.web.portal)
        self.tls = tls  # HTTPS with this context (tls_context())
        self._scrape_lock = threading.Lock()
        self._last: dict[str, tuple[float, bytes]] = {}  # content type -> (monotonic time, body)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls is not None else 'http'}://{host}:{self.port}"

    # -- lifetime ----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> HttpServer:
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="rfqcore-http", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    async def _open(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        if self.routes is not None:
            self.routes(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.tls)
        try:
            await site.start()
        except OSError as e:
            where = f"{self.host}:{self.port}"
            if e.errno == errno.EADDRINUSE:
                raise HttpUnavailable(f"cannot serve HTTP on {where}: the port is in use; stop what listens "
                                      f"there or choose another port (--http HOST:0 picks a free one)") from None
            raise HttpUnavailable(f"cannot serve HTTP on {where}: {e.strerror or e}; give a local address "
                                  f"and a free port, e.g. 127.0.0.1:8080") from None
        self.port = int(runner.addresses[0][1])

    def stop(self) -> None:
        """Stop listening and end the server's thread. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        runner, self._runner = self._runner, None
        if runner is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
            except Exception:  # noqa: BLE001, S110 - stopping anyway: the loop and its sockets go below
                pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if not loop.is_running():
            loop.close()

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handlers ----------------------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        accept = ",".join(request.headers.getall(hdrs.ACCEPT, []))
        body, content_type = await asyncio.get_running_loop().run_in_executor(None, self.render, accept)
        return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The registry encoded for ``accept`` (a scrape's ``Accept`` header): ``(body, content
        type)``; the previous reading when it is younger than ``min_interval_s``."""
        encode, content_type = choose_encoder(accept)
        with self._scrape_lock:
            now = time.monotonic()
            last = self._last.get(content_type)
            if last is not None and now - last[0] < self.min_interval_s:
                return last[1], content_type
            body = encode(self.registry)
            self._last[content_type] = (time.monotonic(), body)
            return body, content_type

    async def _healthz(self, request: web.Request) -> web.Response:
        h = await asyncio.get_running_loop().run_in_executor(None, self.health)
        return web.Response(body=orjson.dumps(h), status=200 if h.get("status") == "ok" else 503,
                            content_type="application/json")
