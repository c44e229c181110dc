"""Synthetic market data for tests, benchmarks and examples that run a real desk.

One binance-spot BTCUSDT book deep enough for 1..50 BTC, as ring records ready for
:meth:`rfqcore.engine.Engine.feed`. The test suite and the RFQ round-trip benchmark use the
same book, so the prices a benchmark quotes are the ones the tests check.
"""

from __future__ import annotations

import numpy as np

from rfqcore.instruments import Registry
from rfqcore.records import RECORD_DTYPE, Flag, Kind

__all__ = ["spot_snapshot"]


def spot_snapshot(registry: Registry, ts: int) -> np.ndarray:
    """A binance-spot BTCUSDT book: bids 60000.00 x 5, 59990.00 x 50; asks 60001.00 x 5,
    60011.00 x 50 (enough depth for 1..50 BTC), as ring records stamped ``ts`` (ns)."""
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
