"""Depth search against the walking sweep, on every message of the real Binance BTC stream.

The core prices sweeps by searching each member book's cumulative depth (Fenwick trees over
the ladder's words; ``rfq_book::composite::sweep_search``) instead of walking merged levels.
Two engines with the packaged registry (BTC composite: spot, USD-M and the inverse COIN-M
book, basis normalisation on) take the merged real stream (~110k venue messages): one searches,
one walks every sweep (``set_depth_search(False)``). Every QUOTE either publishes must be the
same record (but for its send-time stamp), the state hashes equal, and at checkpoints the composite VWAP of sizes from one
satoshi to beyond the whole book, both sides, must agree. Random books and random hints are
covered by the Rust property tests (rfq-book ``composite``, rfq-engine ``market_cache_tests``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from rfqcore import Engine
from rfqcore.records import Kind

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_data  # noqa: E402

BTC = 100_000_000
SIZES = [1, 777, BTC // 100, BTC // 10 + 3, BTC, 7 * BTC + 1, 10 * BTC, 55 * BTC, 100 * BTC, 250 * BTC, 10**6 * BTC]


@pytest.mark.data
def test_search_equals_walk_on_every_real_message() -> None:
    try:
        recs = bench_data.load("btc_merged")
    except bench_data.DataMissing as e:
        pytest.skip(str(e))
    ends = np.flatnonzero(recs["flags"] & 1)  # END: last record of a venue message
    assert len(ends) > 100_000
    quotes: list[list[np.ndarray]] = [[], []]
    engines = [Engine(ring_capacity=1 << 17), Engine(ring_capacity=1 << 17)]
    try:
        engines[1].core.set_depth_search(False)
        btc = engines[0].registry.composite("BTC").id
        searched = 0
        for i, eng in enumerate(engines):
            eng.subscribe(lambda r, i=i: quotes[i].append(r.copy()), kinds=(Kind.QUOTE,))
        start = 0
        checked = 0
        for k, end in enumerate(ends[4095::4096].tolist() + [len(recs) - 1]):
            chunk = recs[start:end + 1]
            start = end + 1
            for eng in engines:
                eng.feed(chunk)
                eng.run_once()
            searched += bool(engines[0].core.depth_searchable(btc))
            assert engines[1].core.depth_searchable(btc) is False
            if k % 4 == 0:
                for side in (0, 1):
                    for q in SIZES:
                        got = [eng.composite_vwap_raw("BTC", side, q) for eng in engines]
                        assert got[0] == got[1], f"records ..{start}: side {side} size {q}: search {got[0]}, walk {got[1]}"
                        checked += got[0] is not None
        # every field but ts_send (the core's send-time stamp, a clock reading)
        fields = [f for f in quotes[0][0].dtype.names if f != "ts_send"]
        a, b = (np.concatenate(q)[fields] for q in quotes)
        assert len(a) > 10_000, "the stream should reprice the ladder thousands of times"
        assert len(a) == len(b)
        diff = np.flatnonzero(a != b)
        assert not len(diff), f"first differing QUOTE: search {a[diff[0]]}, walk {b[diff[0]]}"
        assert engines[0].state_hash() == engines[1].state_hash()
        assert checked > 100
        assert searched > 0.9 * (k + 1), f"the searching engine searched in only {searched} of {k + 1} chunks"
    finally:
        for eng in engines:
            eng.close()
