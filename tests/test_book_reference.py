"""The core's L2 book against a plain dict reference model.

1. Every message of every real Binance depth stream (spot, USD-M, COIN-M; BTC and ETH, ~110k
   diffs and 6 snapshots) is applied to ``rfqcore_core.Book`` (the core's book code) and to a
   dict per side; after each message the two agree on level counts, on the top 10 levels and on
   the quantity at every price the message touched; the whole book is compared every 2,000
   messages and at the end. The same records also go through the ring into the running core
   (``Engine``), whose books must equal the reference at the end.
2. Hypothesis: random update sequences, including far levels, against the same reference, with
   exact VWAP rounding checked against ``fractions.Fraction``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import rfqcore_core
from hypothesis import given, settings
from hypothesis import strategies as st

from rfqcore import Engine, Registry
from rfqcore.records import Kind
from rfqcore.replay import _DEFAULT_FILES, default_data_root, make_handler, read_f1

Ref = dict[int, dict[int, int]]


def ref_depth(ref: Ref, side: int, n: int | None = None) -> list[tuple[int, int]]:
    levels = sorted(ref[side].items(), reverse=(side == 0))
    return levels if n is None else levels[:n]


def apply(book: rfqcore_core.Book, ref: Ref, recs: np.ndarray) -> list[tuple[int, int]]:
    """Apply BOOK_CLEAR/BOOK_LEVEL records in order; return the touched (side, price)."""
    touched: list[tuple[int, int]] = []
    start = 0
    clears = np.flatnonzero(recs["kind"] == Kind.BOOK_CLEAR).tolist()
    for stop in clears + [len(recs)]:
        seg = recs[start:stop]
        seg = seg[seg["kind"] == Kind.BOOK_LEVEL]
        if len(seg):
            book.update_batch(
                np.ascontiguousarray(seg["side"]), np.ascontiguousarray(seg["price"]), np.ascontiguousarray(seg["qty"])
            )
            for side, px, q in zip(seg["side"].tolist(), seg["price"].tolist(), seg["qty"].tolist(), strict=True):
                if q == 0:
                    ref[side].pop(px, None)
                else:
                    ref[side][px] = q
                touched.append((side, px))
        if stop < len(recs):
            book.clear()
            ref[0].clear()
            ref[1].clear()
        start = stop + 1
    return touched


def assert_same(book: rfqcore_core.Book, ref: Ref, touched: list[tuple[int, int]], where: str) -> None:
    for side in (0, 1):
        assert book.levels(side) == len(ref[side]), f"{where}: level count side {side}"
        assert book.depth(side, 10) == ref_depth(ref, side, 10), f"{where}: top 10 side {side}"
    for side, px in touched:
        assert book.qty_at(side, px) == ref[side].get(px, 0), f"{where}: qty at {px} side {side}"


def data_root():
    root = default_data_root()
    if not (root / "binance").is_dir():
        pytest.skip(f"recorded venue data not found at {root} (set RFQCORE_DATA or place shared/data beside the repo)")
    return root


@pytest.mark.data
@pytest.mark.parametrize(("venue", "symbol", "rels"), _DEFAULT_FILES, ids=[f"{v}:{s}" for v, s, _ in _DEFAULT_FILES])
def test_every_real_diff_matches_reference(venue: str, symbol: str, rels: tuple[str, ...]) -> None:
    root = data_root()
    reg = Registry.load()
    ins = reg.lookup(venue, symbol)
    handler = make_handler(reg, venue, symbol)
    book = rfqcore_core.Book(capacity=65536)
    ref: Ref = {0: {}, 1: {}}
    messages = diffs = 0
    with Engine(reg, ring_capacity=1 << 16) as eng:
        for rel in rels:
            for ts, raw in read_f1(root / "binance" / rel):
                n = handler.on_message(ts, raw)
                if n == 0:
                    continue
                recs = handler.out[:n]
                eng.feed(recs)
                book_recs = recs[(recs["kind"] == Kind.BOOK_LEVEL) | (recs["kind"] == Kind.BOOK_CLEAR)]
                if not len(book_recs):
                    continue
                touched = apply(book, ref, book_recs)
                messages += 1
                diffs += len(touched)
                where = f"{rel} message {messages}"
                assert_same(book, ref, touched, where)
                if messages % 2000 == 0:
                    for side in (0, 1):
                        assert book.depth(side, 1 << 20) == ref_depth(ref, side), where
        eng.run_once()
        assert handler.stats.gaps == 0
        for side in (0, 1):
            want = ref_depth(ref, side)
            assert book.depth(side, 1 << 20) == want
            assert eng.depth_raw(ins.id, side, 1 << 20) == want, "core engine book differs from reference"
        assert eng.book_status(ins.id) == 0
        assert eng.stats()["rejects"] == 0
    assert messages > 3000 and diffs > 50_000
    # far levels are kept exactly: the book spans well beyond ±10% of the mid
    bid_lo = min(ref[0])
    ask_hi = max(ref[1])
    mid = (max(ref[0]) + min(ref[1])) / 2
    assert bid_lo < 0.9 * mid and ask_hi > 1.1 * mid


ops = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.one_of(st.integers(9_000, 11_000), st.integers(1, 10**12)),  # near the touch, and anywhere
        st.sampled_from([0, 0, 1, 7, 10**6, 3 * 10**9]),
    ),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 5 * 10**9))
def test_book_matches_reference_with_exact_vwap(seq: list[tuple[int, int, int]], want: int) -> None:
    book = rfqcore_core.Book(capacity=1024)
    ref: Ref = {0: {}, 1: {}}
    for side, px, q in seq:
        book.update(side, px, q)
        if q == 0:
            ref[side].pop(px, None)
        else:
            ref[side][px] = q
    for side in (0, 1):
        levels = ref_depth(ref, side)
        assert book.depth(side, 10_000) == levels
        assert len(book) == len(ref[0]) + len(ref[1])
        # exact VWAP: Fraction of the sweep, rounded up for asks (buying), down for bids
        left, notional = want, 0
        for px, q in levels:
            take = min(left, q)
            notional += px * take
            left -= take
            if left == 0:
                break
        got = book.vwap(side, want)
        if left > 0:
            assert got is None and book.sweep(side, want) is None
        else:
            avg = Fraction(notional, want)
            assert got == (math.ceil(avg) if side == 1 else math.floor(avg))
            assert book.sweep(side, want) == (want, notional)


def test_book_rejects_bad_updates_without_change() -> None:
    book = rfqcore_core.Book(capacity=2)
    book.update(0, 100, 5)
    for args in [(0, 0, 1), (0, -5, 1), (0, 100, -1), (2, 100, 1)]:
        with pytest.raises(rfqcore_core.BookError):
            book.update(*args)
    book.update(0, 101, 1)
    with pytest.raises(rfqcore_core.BookError, match="full"):
        book.update(0, 102, 1)
    assert book.depth(0, 10) == [(101, 1), (100, 5)]
    with pytest.raises(rfqcore_core.BookError, match="nothing applied"):
        book.update_batch(np.array([0, 0], np.uint8), np.array([99, -1], np.int64), np.array([1, 1], np.int64))
    with pytest.raises(rfqcore_core.BookError, match="differ in length"):
        book.update_batch(np.array([0], np.uint8), np.array([99, 98], np.int64), np.array([1, 1], np.int64))
    assert book.depth(0, 10) == [(101, 1), (100, 5)]
