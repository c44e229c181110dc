"""Book micro-benchmarks from Python: rfqcore_core.Book vs NautilusTrader 1.231.0 OrderBook.

    .venv/bin/python -m pytest bench/test_bench_book.py --benchmark-enable

Same run, same delta sequence: the real Binance BTCUSDT depth diffs (spot: both recorded days;
USD-M perpetual) after the REST snapshot, in recorded order (``bench_data.py``). Each round
starts from a fresh book holding the snapshot (built in the untimed setup); only the apply
calls are timed. NautilusTrader ``OrderBookDelta`` / ``OrderBookDeltas`` objects are built
beforehand (not timed): ``UPDATE`` for qty > 0 (adds the level if absent), ``DELETE`` for qty 0,
L2_MBP book. ``test_same_final_book`` checks both books end identical, level by level.

Groups (ns per level update unless noted):
- ``book-update-percall``: one Python call per level (``Book.update`` / ``apply_delta``).
- ``book-batch-msg``: one call per venue message (``update_batch`` of numpy slices /
  ``apply_deltas`` of one ``OrderBookDeltas`` per message).
- ``book-batch-all``: one call for the whole stream.
- ``vwap-*``: one call (ns per call) on the final spot book: 1, 10, 100 BTC and the quantity that
  sweeps exactly 90 levels, buying (asks) and selling (bids).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest

import bench_data as bd

rfqcore_core = pytest.importorskip("rfqcore_core")
try:
    bd.data_dir()
except bd.DataMissing as e:
    pytest.skip(str(e), allow_module_level=True)

STREAMS = ("spot_btcusdt", "usdm_btcusdt")
DECIMALS = {"spot_btcusdt": (2, 6), "usdm_btcusdt": (2, 3)}
TICK = {"spot_btcusdt": 1, "usdm_btcusdt": 10}  # price units, as in defaults/instruments.toml
ROUNDS = 15
SPOT_QTY = 10**6  # one BTC in spot qty units


@dataclass
class Stream:
    snap: tuple[np.ndarray, np.ndarray, np.ndarray]
    diffs: tuple[np.ndarray, np.ndarray, np.ndarray]
    triples: list[tuple[int, int, int]]
    msgs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def _cols(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.ascontiguousarray(a["side"], dtype=np.uint8),
            np.ascontiguousarray(a["price"], dtype=np.int64),
            np.ascontiguousarray(a["qty"], dtype=np.int64))


@cache
def stream(name: str) -> Stream:
    snap, diffs, ends = bd.book_deltas(name)
    s, p, q = _cols(diffs)
    starts = [0, *ends[:-1]]
    return Stream(
        snap=_cols(snap),
        diffs=(s, p, q),
        triples=list(zip(s.tolist(), p.tolist(), q.tolist())),
        msgs=[(s[a:b], p[a:b], q[a:b]) for a, b in zip(starts, ends)],
    )


def rfq_book(name: str, with_diffs: bool = False):
    st = stream(name)
    try:
        b = rfqcore_core.Book(tick=TICK[name])  # as the core builds its books
    except TypeError:  # a binding without the tick parameter
        b = rfqcore_core.Book()
    b.update_batch(*st.snap)
    if with_diffs:
        b.update_batch(*st.diffs)
    return b


# ---------------------------------------------------------------- NautilusTrader side (bench-only)

@dataclass
class NtStream:
    snap: object                 # OrderBookDeltas
    deltas: list                 # OrderBookDelta per level
    msgs: list                   # OrderBookDeltas per venue message
    all: object                  # OrderBookDeltas of every diff


@cache
def nt():
    pytest.importorskip("nautilus_trader", reason="NautilusTrader (bench extra) not installed")
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas
    from nautilus_trader.model.enums import BookAction, BookType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import Price, Quantity
    return dict(OrderBook=OrderBook, BookOrder=BookOrder, OrderBookDelta=OrderBookDelta,
                OrderBookDeltas=OrderBookDeltas, BookAction=BookAction, BookType=BookType,
                OrderSide=OrderSide, InstrumentId=InstrumentId, Price=Price, Quantity=Quantity,
                iid=InstrumentId.from_str("BTCUSDT.BINANCE"))


def _dec(v: int, d: int) -> str:
    return f"{v // 10**d}.{v % 10**d:0{d}d}" if d else str(v)


@cache
def nt_stream(name: str) -> NtStream:
    n = nt()
    pd, qd = DECIMALS[name]
    st = stream(name)
    iid, Delta, Order = n["iid"], n["OrderBookDelta"], n["BookOrder"]
    UPDATE, DELETE = n["BookAction"].UPDATE, n["BookAction"].DELETE
    BUY, SELL = n["OrderSide"].BUY, n["OrderSide"].SELL
    Price, Quantity = n["Price"].from_str, n["Quantity"].from_str
    prices: dict[int, object] = {}

    def mk(s: int, p: int, q: int):
        px = prices.get(p)
        if px is None:
            px = prices[p] = Price(_dec(p, pd))
        return Delta(iid, UPDATE if q else DELETE,
                     Order(BUY if s == 0 else SELL, px, Quantity(_dec(q, qd)), 0), 0, 0, 0, 0)

    snap = [mk(*t) for t in zip(*(c.tolist() for c in st.snap))]
    deltas = [mk(*t) for t in st.triples]
    ends = np.cumsum([len(m[0]) for m in st.msgs]).tolist()
    starts = [0, *ends[:-1]]
    D = n["OrderBookDeltas"]
    return NtStream(snap=D(iid, snap), deltas=deltas,
                    msgs=[D(iid, deltas[a:b]) for a, b in zip(starts, ends)], all=D(iid, deltas))


def nt_book(name: str, with_diffs: bool = False):
    n = nt()
    ns = nt_stream(name)
    b = n["OrderBook"](n["iid"], n["BookType"].L2_MBP)
    b.apply_deltas(ns.snap)
    if with_diffs:
        b.apply_deltas(ns.all)
    return b


# ---------------------------------------------------------------- per-call updates

@pytest.mark.parametrize("name", STREAMS)
def test_update_percall_rfqcore(benchmark, per_op, name):
    st = stream(name)

    def run(b):
        upd = b.update
        for s, p, q in st.triples:
            upd(s, p, q)

    benchmark.group = f"book-update-percall[{name}]"
    benchmark.pedantic(run, setup=lambda: ((rfq_book(name),), {}), rounds=ROUNDS, warmup_rounds=1)
    per_op(benchmark.group, "rfqcore", len(st.triples))


@pytest.mark.parametrize("name", STREAMS)
def test_update_percall_nautilus(benchmark, per_op, name):
    ns = nt_stream(name)

    def run(b):
        apply = b.apply_delta
        for d in ns.deltas:
            apply(d)

    benchmark.group = f"book-update-percall[{name}]"
    benchmark.pedantic(run, setup=lambda: ((nt_book(name),), {}), rounds=ROUNDS, warmup_rounds=1)
    per_op(benchmark.group, "nautilus", len(ns.deltas))


# ---------------------------------------------------------------- batched updates

@pytest.mark.parametrize("name", STREAMS)
def test_batch_msg_rfqcore(benchmark, per_op, name):
    st = stream(name)

    def run(b):
        ub = b.update_batch
        for s, p, q in st.msgs:
            ub(s, p, q)

    benchmark.group = f"book-batch-msg[{name}]"
    benchmark.pedantic(run, setup=lambda: ((rfq_book(name),), {}), rounds=ROUNDS, warmup_rounds=1)
    per_op(benchmark.group, "rfqcore", len(st.triples), messages=len(st.msgs))


@pytest.mark.parametrize("name", STREAMS)
def test_batch_msg_nautilus(benchmark, per_op, name):
    ns = nt_stream(name)

    def run(b):
        ad = b.apply_deltas
        for m in ns.msgs:
            ad(m)

    benchmark.group = f"book-batch-msg[{name}]"
    benchmark.pedantic(run, setup=lambda: ((nt_book(name),), {}), rounds=ROUNDS, warmup_rounds=1)
    per_op(benchmark.group, "nautilus", len(ns.deltas), messages=len(ns.msgs))


@pytest.mark.parametrize("name", STREAMS)
def test_batch_all_rfqcore(benchmark, per_op, name):
    st = stream(name)
    benchmark.group = f"book-batch-all[{name}]"
    benchmark.pedantic(lambda b: b.update_batch(*st.diffs), setup=lambda: ((rfq_book(name),), {}),
                       rounds=ROUNDS, warmup_rounds=1)
    per_op(benchmark.group, "rfqcore", len(st.triples))


@pytest.mark.parametrize("name", STREAMS)
def test_batch_all_nautilus(benchmark, per_op, name):
    ns = nt_stream(name)
    benchmark.group = f"book-batch-all[{name}]"
    benchmark.pedantic(lambda b: b.apply_deltas(ns.all), setup=lambda: ((nt_book(name),), {}),
                       rounds=ROUNDS, warmup_rounds=1)
    per_op(benchmark.group, "nautilus", len(ns.deltas))


# ---------------------------------------------------------------- VWAP on the final spot book

@cache
def final_spot():
    return rfq_book("spot_btcusdt", with_diffs=True)


def _levels_for(book, side: int, qty: int) -> int:
    left, n = qty, 0
    for _, q in book.depth(side, 1 << 20):
        n += 1
        left -= min(left, q)
        if left == 0:
            return n
    raise AssertionError("book too thin")


def _qty_for_levels(book, side: int, levels: int) -> int:
    return sum(q for _, q in book.depth(side, levels))


VWAP_CASES = [(side, w) for side in (1, 0) for w in ("1", "10", "100", "90lv")]


def _vwap_case(side: int, what: str) -> tuple[str, int]:
    b = final_spot()
    qty = _qty_for_levels(b, side, 90) if what == "90lv" else int(what) * SPOT_QTY
    label = "90levels" if what == "90lv" else f"{what}BTC"
    return f"vwap-{label}-{'buy' if side == 1 else 'sell'}[spot_btcusdt]", qty


@pytest.mark.parametrize(("side", "what"), VWAP_CASES)
def test_vwap_rfqcore(benchmark, per_op, side, what):
    group, qty = _vwap_case(side, what)
    b = final_spot()
    benchmark.group = group
    px = benchmark(b.vwap, side, qty)
    assert px is not None
    per_op(group, "rfqcore", 1, qty_units=qty, levels=_levels_for(b, side, qty), vwap=px)


@pytest.mark.parametrize(("side", "what"), VWAP_CASES)
def test_vwap_nautilus(benchmark, per_op, side, what):
    group, qty = _vwap_case(side, what)
    n = nt()
    b = nt_book("spot_btcusdt", with_diffs=True)
    q = n["Quantity"](qty / SPOT_QTY, 6)
    order_side = n["OrderSide"].BUY if side == 1 else n["OrderSide"].SELL
    benchmark.group = group
    px = benchmark(b.get_avg_px_for_quantity, q, order_side)
    assert px > 0
    per_op(group, "nautilus", 1, vwap=px)


# ---------------------------------------------------------------- fairness check (not timed)

@pytest.mark.parametrize("name", STREAMS)
def test_same_final_book(name):
    """Both implementations end with the same book after the same deltas."""
    pd, qd = DECIMALS[name]
    ours = rfq_book(name, with_diffs=True)
    theirs = nt_book(name, with_diffs=True)
    for side, levels in ((0, theirs.bids()), (1, theirs.asks())):
        mine = ours.depth(side, 1 << 20)
        assert len(mine) == len(levels)
        for (p, q), lv in zip(mine, levels):
            assert (p, q) == (lv.price.as_decimal().scaleb(pd), round(lv.size() * 10**qd))
    for side, os_ in ((1, nt()["OrderSide"].BUY), (0, nt()["OrderSide"].SELL)):
        for units in (1, 10, 100):
            q = units * 10**qd
            ours_px = ours.vwap(side, q) / 10**pd
            theirs_px = theirs.get_avg_px_for_quantity(nt()["Quantity"](units, qd), os_)
            assert abs(ours_px - theirs_px) <= 10**-pd  # ours is rounded against the taker
