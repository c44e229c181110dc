"""A small synthetic market for tests that run a real desk: one binance-spot BTCUSDT book deep
enough for 1..50 BTC, fed through the engine, and a free loopback port for a desk's listener."""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy as np

from rfqcore.instruments import Registry
from rfqcore.records import RECORD_DTYPE, Flag, Kind


def spot_snapshot(registry: Registry, ts: int) -> np.ndarray:
    """A binance-spot BTCUSDT book: bids 60000.00 x 5, 59990.00 x 50; asks 60001.00 x 5,
    60011.00 x 50 (enough depth for 1..50 BTC), as ring records."""
    ins = registry.by_key("binance-spot:BTCUSDT")
    q, px = 10**ins.qty_decimals, 10**ins.price_decimals
    rows = [(Kind.BOOK_CLEAR, 255, 0, 0), (Kind.BOOK_LEVEL, 0, 60000 * px, 5 * q),
            (Kind.BOOK_LEVEL, 0, 59990 * px, 50 * q), (Kind.BOOK_LEVEL, 1, 60001 * px, 5 * q),
            (Kind.BOOK_LEVEL, 1, 60011 * px, 50 * q)]
    a = np.zeros(len(rows), dtype=RECORD_DTYPE)
    for i, (k, side, price, qty) in enumerate(rows):
        flags = int(Flag.SNAPSHOT) | (int(Flag.END) if i == len(rows) - 1 else 0)
        a[i] = (k, ins.id, side, flags, 0, 1000 + i, ts, ts, price, qty, 0, 0)
    return a


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
