"""A small synthetic market for tests that run a real desk: one binance-spot BTCUSDT book deep
enough for 1..50 BTC (:mod:`rfqcore.testing`, shared with the benchmarks), fed through the
engine, and a free loopback port for a desk's listener."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rfqcore.testing import spot_snapshot

__all__ = ["feed_market", "free_port", "spot_snapshot", "web_desk"]


def feed_market(eng: Any) -> None:
    """A fresh BTCUSDT book, and wait until the core has it: a core thread that slept through
    both would merge an RFQ sent right after it first (the gateway's ring was registered first)."""
    eng.feed(spot_snapshot(eng.registry, time.time_ns()), producer="market")
    deadline = time.monotonic() + 10
    while eng.best("binance-spot:BTCUSDT") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert eng.best("binance-spot:BTCUSDT") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def web_desk(**server_args: Any) -> Iterator[Any]:
    """A desk serving HTTP on a free loopback port (rfqcore.serve.Server, what ``rfqcore serve
    --http`` runs; ``server_args`` go to it), its BTCUSDT book fed, stopped on exit."""
    from rfqcore.serve import Server

    srv = Server(market_files=[], http="127.0.0.1:0", **server_args)
    srv.start()
    try:
        feed_market(srv.engine)
        yield srv
    finally:
        srv.stop()
