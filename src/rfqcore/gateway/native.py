"""The Rust gateway (crate ``rfq-gateway``): a thread of the desk's process, beside the core.

Same duty and behaviour as :mod:`rfqcore.gateway.server` (docs/gateway-schema.md), without
Python on its path: an Aeron-style agent thread (poll requests, decode and check, push ring
records, drain the core's answers, offer them; idle when there was nothing to do) over the
Aeron C client. Python only starts and stops it, asks for its counters and forwards its log
lines to :mod:`logging` (``rfqcore.gateway``) from a helper thread.

:class:`NativeGateway` has the interface of :class:`rfqcore.gateway.server.GatewayProcess`
(``start`` / ``stats`` / ``stop`` / context manager, ``final_stats``), so the desk, the tests and
the benchmarks use either; ``rfqcore serve --python-gateway`` selects the Python one.

>>> with NativeGateway(eng.ring_path("gateway"), eng.add_tap("gateway"),   # doctest: +SKIP
...                    aeron_dir=driver.dir) as gw:
...     print(gw.stats()["pushed"])
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rfqcore.gateway import aeron as aeronx
from rfqcore.gateway.schema import Role

__all__ = ["NativeGateway", "executions_from_store"]

log = logging.getLogger("rfqcore.gateway")

#: as in rfqcore.gateway.server
LOGON_WINDOW_NS = 30_000_000_000


#: how far back ``executions_from_store`` reads (the gateway keeps the newest 65,536 per client)
STORE_DAYS = 7


def executions_from_store(store: Any, *, now_ns: int | None = None,
                          days: int = STORE_DAYS) -> list[tuple[int, tuple[int, ...]]]:
    """The settlement store's trades of the last ``days`` as execution reports for
    :class:`NativeGateway`'s ``executions``: a desk restarted after a crash can still send a
    client a fill it booked but whose report never reached it (``EXEC_RESEND``)."""
    import time

    start = (now_ns if now_ns is not None else time.time_ns()) - days * 86_400_000_000_000
    return [(t.client_id, (t.trade_id, t.quote_id, t.rfq_id, t.accept_id, t.composite_id, int(t.side), t.price,
                           t.qty, t.notional, t.fee, t.core_time_ns))
            for t in store.trades(start_ns=start)]


class _Alive:
    """``process.is_alive()`` of GatewayProcess, for the desk's health checks."""

    def __init__(self, gw: NativeGateway) -> None:
        self._gw = gw

    def is_alive(self) -> bool:
        return self._gw._native is not None and bool(self._gw._native.is_alive())


class NativeGateway:
    """The Rust gateway agent on ``input_ring`` (the core's gateway ring) and ``tap_ring``.

    ``settings`` (an :class:`rfqcore.rfqconfig.RfqSettings`) or ``settings_path`` /
    ``registry_path`` give the clients, operators and streams. ``idle`` is ``"spin"``,
    ``"yield"`` or ``"sleep"`` (as :meth:`rfqcore.gateway.server.Gateway.run`); ``cpu`` pins the
    agent thread. ``executions``: reports from before this start, oldest first, as ``(client id,
    (trade, quote, rfq, accept, composite, side, price, qty, notional, fee, core time))`` — kept
    for ``EXEC_RESEND`` like the ones this gateway sends (``rfqcore serve`` passes the settlement
    store's recent trades: :func:`executions_from_store`).
    """

    def __init__(self, input_ring: str, tap_ring: str, *, aeron_dir: str | None = None, settings: Any = None,
                 settings_path: str | None = None, registry_path: str | None = None, cpu: int | None = None,
                 idle: str = "spin", idle_spins: int = 1000, channel: str | None = None,
                 response_channel: str | None = None, log_level: int | None = None,
                 measure_core_hop: bool = False, logon_window_ns: int = LOGON_WINDOW_NS, offer_retries: int = 64,
                 backlog_limit: int = 65536, fragment_limit: int = 32,
                 executions: list[tuple[int, tuple[int, ...]]] | None = None) -> None:
        from rfqcore_core import NativeGateway as _Native

        if settings is None:
            from rfqcore.instruments import Registry
            from rfqcore.rfqconfig import RfqSettings

            settings = RfqSettings.load(settings_path, Registry.load(registry_path))
        g = settings.gateway
        principals = [(int(Role.CLIENT), c.id, c.name, bytes(c.secret)) for c in settings.clients]
        principals += [(int(Role.OPERATOR), o.id, o.name, bytes(o.secret)) for o in settings.operators]
        self.channel = channel or g.channel
        self._native_args: dict[str, Any] = dict(
            aeron_dir=aeronx.resolve_dir(aeron_dir or g.aeron_dir), channel=self.channel,
            response_channel=g.answers_on(channel, response_channel),
            request_stream=int(g.request_stream),
            response_stream_base=int(g.response_stream_base), operator_stream=int(g.operator_stream),
            input_ring=str(input_ring), tap_ring=str(tap_ring), principals=principals,
            logon_window_ns=logon_window_ns, offer_retries=offer_retries, backlog_limit=backlog_limit,
            fragment_limit=fragment_limit, idle=idle, idle_spins=idle_spins, cpu=cpu,
            measure_core_hop=measure_core_hop, executions=[(c, tuple(e)) for c, e in executions or ()])
        self._cls = _Native
        self._native: Any = None
        self._stop_logs = threading.Event()
        self._logs: threading.Thread | None = None
        self.process = _Alive(self)
        self.final_stats: dict[str, Any] | None = None
        if log_level is not None:
            log.setLevel(log_level)

    def start(self, timeout: float = 20.0) -> NativeGateway:
        """Start the agent thread; returns once it listens. ``RuntimeError`` says why it could not."""
        native = self._cls(**self._native_args)
        try:
            native.start()
        except RuntimeError as e:
            raise RuntimeError(f"gateway failed to start: {e}") from None
        self._native = native
        self._logs = threading.Thread(target=self._forward_logs, name="rfqcore-gateway-log", daemon=True)
        self._logs.start()
        return self

    def _forward_logs(self) -> None:
        while not self._stop_logs.wait(0.1):
            self._flush_logs()
        self._flush_logs()

    def _flush_logs(self) -> None:
        native = self._native
        if native is None:
            return
        for level, text in native.take_logs():
            log.log(level, "%s", text)

    def stats(self, timeout: float = 5.0, *, reset_histograms: bool = False) -> dict[str, Any]:
        """The counters (the keys of ``Gateway.stats()``); ``reset_histograms`` restarts the
        core-hop histogram after reading it."""
        if self.final_stats is not None:
            return self.final_stats
        if self._native is None:
            raise RuntimeError("the gateway is not running")
        try:
            stats: dict[str, Any] = self._native.stats(reset_histograms, timeout)
        except RuntimeError as e:
            raise TimeoutError(str(e)) from None
        return stats

    def stop(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """Stop the agent (publications, subscription and Aeron client closed); its last counters."""
        native = self._native
        if native is None:
            return self.final_stats
        self.final_stats = native.stop()
        self._stop_logs.set()
        if self._logs is not None:
            self._logs.join(timeout)
        return self.final_stats

    def __enter__(self) -> NativeGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
