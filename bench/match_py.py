"""The matching core from Python, batched: ``rfqcore.matching.MatchingBook.process`` on the
exchange-core mix, and NautilusTrader 1.231.0's ``OrderMatchingEngine`` on the same order stream
in the same run when ``nautilus_trader`` is importable (``make bench`` installs it).

    .venv/bin/python bench/match_py.py [--n 1000000] [--runs 5] [--quick] [--no-nautilus]

Workload (the mix of ``rfq-match``'s ``match_bench``, generated with numpy): 9% new GTC limit
orders (10% of them aggressive, crossing the mid by 0-3 ticks), 3% IOC (crossing by 1-3 ticks),
6% cancels, 82% moves (replace to the order's price ±8 ticks, same size); 1,000 resting orders
prefilled on up to 750 ticks each side of the mid; 1,000 accounts with STP cancel-newest and
fees (maker -10, taker 40 cbps), as in ``match_bench``. The stream is generated in chunks of
128 requests against a generator book (untimed): each chunk draws its cancel/move targets from
the orders resting at the chunk start (cancel targets distinct and never also moved in the
chunk), so a few name an order that traded away earlier in the same chunk; those come back as
``unknown_order`` rejects, counted and reported (``stale_pct``). Every timed run replays the whole
stream from a fresh book prefilled with the same orders (prefill untimed).

rfqcore is timed as one ``process`` call for the whole stream and as calls of ``--batch``
requests (numpy slices), so the per-call overhead shows.

NautilusTrader: see ``nautilus_part`` for exactly what was comparable (requests yes, trades no).

Prints a human summary and one JSON line ``{"bench":"match_py",...}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from rfqcore.matching import (  # noqa: E402
    EV_ACCEPTED,
    EV_REJECTED,
    EV_TRADE,
    OP_CANCEL,
    OP_NEW,
    OP_REPLACE,
    REJECT_REASONS,
    REQUEST_DTYPE,
    MatchingBook,
)

MID = 500_000
RESTING = 1_000
ACCOUNTS = 1_000
CHUNK = 128
BID, ASK = 0, 1
TIF_GTC, TIF_IOC = 0, 1


def new_book() -> MatchingBook:
    b = MatchingBook(tick=1, lot=1, max_qty=1_000_000, min_price=1, max_price=1 << 20,
                     max_orders=1 << 16, max_accounts=ACCOUNTS)
    for a in range(ACCOUNTS):
        b.set_account(a, "cancel_newest", -10, 40)
    return b


def generate(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, dict]:
    """(prefill requests, stream requests, stats); see the module docstring."""
    rng = np.random.default_rng(seed)
    book = new_book()
    pre = np.zeros(RESTING, REQUEST_DTYPE)
    pre["op"] = OP_NEW
    pre["id"] = np.arange(1, RESTING + 1)
    pre["side"] = rng.integers(0, 2, RESTING)
    off = 1 + rng.integers(0, 750, RESTING)
    pre["price"] = np.where(pre["side"] == BID, MID - off, MID + off)
    pre["qty"] = 1 + rng.integers(0, 100, RESTING)
    pre["account"] = rng.integers(0, ACCOUNTS, RESTING)
    book.process(pre)
    next_id = RESTING + 1
    out = np.zeros(n, REQUEST_DTYPE)
    mix = np.zeros(4, np.int64)
    orders_sum = levels_sum = samples = 0
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        rows = out[start:start + m]
        live = book.orders(BID) + book.orders(ASK)
        bb, ba = book.best_bid(), book.best_ask()
        mid = (bb[0] + ba[0]) // 2 if bb and ba else MID
        nlive = len(live)
        orders_sum += nlive
        levels_sum += len({(o[2]) for o in live})
        samples += 1
        r = rng.integers(0, 100, m)
        kind = np.where(r < 9, 0, np.where(r < 12, 1, np.where(r < 18, 2, 3)))
        if nlive <= RESTING - 200:
            kind[kind == 2] = 3  # as match_bench: no cancels while the book is short
        if nlive == 0:
            kind[:] = 0
        mix += np.bincount(kind, minlength=4)
        side = rng.integers(0, 2, m)
        sign = np.where(side == BID, 1, -1)
        aggressive = (rng.integers(0, 10, m) == 0) | (nlive > RESTING + 200)
        gtc_price = np.where(aggressive, mid + sign * rng.integers(0, 4, m),
                             mid - sign * (1 + rng.integers(0, 750, m)))
        ioc_price = mid + sign * (1 + rng.integers(0, 3, m))
        is_new = kind <= 1
        k_new = int(is_new.sum())
        rows["op"] = np.where(is_new, OP_NEW, np.where(kind == 2, OP_CANCEL, OP_REPLACE))
        rows["side"] = side
        rows["tif"] = np.where(kind == 1, TIF_IOC, TIF_GTC)
        rows["account"] = rng.integers(0, ACCOUNTS, m)
        rows["qty"] = 1 + rng.integers(0, 100, m)
        rows["price"] = np.where(kind == 0, gtc_price, ioc_price)
        ids = np.zeros(m, np.uint64)
        ids[is_new] = np.arange(next_id, next_id + k_new, dtype=np.uint64)
        next_id += k_new
        if nlive:
            live_ids = np.array([o[0] for o in live], np.uint64)
            live_px = np.array([o[2] for o in live], np.int64)
            live_qty = np.array([o[3] for o in live], np.int64)
            perm = rng.permutation(nlive)
            cancels = np.flatnonzero(kind == 2)
            nc = min(len(cancels), nlive - 1)
            kind[cancels[nc:]] = 3
            rows["op"][cancels[nc:]] = OP_REPLACE
            ids[cancels[:nc]] = live_ids[perm[:nc]]
            moves = np.flatnonzero(kind == 3)
            pick = perm[nc:][rng.integers(0, nlive - nc, len(moves))]
            ids[moves] = live_ids[pick]
            rows["price"][moves] = np.maximum(live_px[pick] + rng.integers(-8, 9, len(moves)), 1)
            rows["qty"][moves] = live_qty[pick]
        rows["id"] = ids
        book.process(rows)
    stats = {"mix_pct": {k: round(100 * float(v) / n, 2) for k, v in zip(("gtc", "ioc", "cancel", "move"), mix)},
             "avg_resting_orders": round(orders_sum / samples), "avg_bid_ask_levels": round(levels_sum / samples)}
    return pre, out, stats


def fresh(pre: np.ndarray) -> MatchingBook:
    b = new_book()
    b.process(pre)
    return b


def bench_rfqcore(pre, reqs, runs: int, batch: int) -> dict:
    whole, sliced = [], []
    ev = None
    for _ in range(runs):
        b = fresh(pre)
        t0 = time.perf_counter()
        ev = b.process(reqs)
        whole.append(time.perf_counter() - t0)
        b = fresh(pre)
        t0 = time.perf_counter()
        for s in range(0, len(reqs), batch):
            b.process(reqs[s:s + batch])
        sliced.append(time.perf_counter() - t0)
    assert ev is not None
    n = len(reqs)
    rej = ev[ev["kind"] == EV_REJECTED]
    reasons = {REJECT_REASONS[c]: int(k) for c, k in zip(*np.unique(rej["reason"], return_counts=True))}
    return {
        "requests": n,
        "events": len(ev),
        "trades": int((ev["kind"] == EV_TRADE).sum()),
        "accepted": int((ev["kind"] == EV_ACCEPTED).sum()),
        "rejects": reasons,
        "stale_pct": round(100 * reasons.get("unknown_order", 0) / n, 2),
        "whole_best_mops": round(n / min(whole) / 1e6, 2),
        "whole_median_mops": round(n / statistics.median(whole) / 1e6, 2),
        "whole_best_ns_per_req": round(min(whole) / n * 1e9, 1),
        "batch": batch,
        "batched_best_mops": round(n / min(sliced) / 1e6, 2),
        "batched_median_mops": round(n / statistics.median(sliced) / 1e6, 2),
    }


def nautilus_part(pre, reqs, n_orders: int) -> dict:
    """NautilusTrader 1.231.0 ``OrderMatchingEngine`` on the same stream (its first ``n_orders``).

    What is comparable, exactly: Nautilus's engine is a *simulated venue* that fills orders
    against market data (its book is fed by ``process_order_book_delta``/quotes/trades); it does
    **not** match the submitted orders against each other. So the same requests go through it —
    new GTC/IOC limits as ``process_order(LimitOrder)``, cancels as ``process_cancel(CancelOrder)``,
    moves as ``process_modify(ModifyOrder)`` with the same price and quantity — with no market
    data: every GTC limit is accepted and rests in its matching core (no trades, so orders that
    traded away in rfqcore stay and are cancelled/modified there), IOC limits are accepted then
    cancelled. Timed: the calls only; ``LimitOrder``/``CancelOrder``/``ModifyOrder`` objects are
    built beforehand (untimed), events go to a no-op ``ExecEngine.process`` endpoint. One run
    (orders are stateful objects). BTCUSDT test instrument (price 0.01, size 0.000001); an
    rfqcore price p is ``p / 100``, a quantity q is ``q / 1000``. No STP, no fees comparison.
    Caveat: since nothing trades, Nautilus's resting set keeps growing (~1,000 + every GTC: about
    3,400 orders after 20,000 requests, 13,000 after 100,000) while rfqcore's stays ~1,200, and its
    per-request cost grows with it (measured 17.9 us at 20 k requests, 90 us at 100 k): quote the
    ``--quick`` (20 k) figure as the closer comparison.
    """
    from nautilus_trader.backtest.engine import OrderMatchingEngine
    from nautilus_trader.backtest.models import FillModel, MakerTakerFeeModel
    from nautilus_trader.cache.cache import Cache
    from nautilus_trader.common.component import MessageBus, TestClock
    from nautilus_trader.common.factories import OrderFactory
    from nautilus_trader.core.uuid import UUID4
    from nautilus_trader.execution.messages import CancelOrder, ModifyOrder
    from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide, TimeInForce
    from nautilus_trader.model.identifiers import AccountId, ClientOrderId, StrategyId, TraderId
    from nautilus_trader.model.objects import Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    inst = TestInstrumentProvider.btcusdt_binance()
    clock, trader, strat = TestClock(), TraderId("TESTER-001"), StrategyId("S-001")
    bus = MessageBus(trader_id=trader, clock=clock)
    cache = Cache()
    cache.add_instrument(inst)
    n_events = [0]

    def sink(_e) -> None:
        n_events[0] += 1

    bus.register("ExecEngine.process", sink)
    eng = OrderMatchingEngine(instrument=inst, raw_id=0, fill_model=FillModel(), fee_model=MakerTakerFeeModel(),
                              book_type=BookType.L3_MBO, oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                              msgbus=bus, cache=cache, clock=clock)
    fac = OrderFactory(trader_id=trader, strategy_id=strat, clock=clock)
    acc = AccountId("SIM-001")
    px = lambda p: Price(int(p) / 100, 2)  # noqa: E731
    qx = lambda q: Quantity(int(q) / 1000, 6)  # noqa: E731

    def limit(r):
        return fac.limit(inst.id, OrderSide.BUY if r["side"] == BID else OrderSide.SELL, qx(r["qty"]), px(r["price"]),
                         time_in_force=TimeInForce.IOC if r["tif"] == TIF_IOC else TimeInForce.GTC,
                         client_order_id=ClientOrderId(f"O-{int(r['id'])}"))

    t0 = time.perf_counter()
    for r in pre:
        eng.process_order(limit(r), acc)
    calls = []
    kinds = np.zeros(3, np.int64)
    for r in reqs[:n_orders]:
        op = int(r["op"])
        kinds[op] += 1
        cid = ClientOrderId(f"O-{int(r['id'])}")
        if op == OP_NEW:
            calls.append((eng.process_order, limit(r)))
        elif op == OP_CANCEL:
            calls.append((eng.process_cancel, CancelOrder(trader, strat, inst.id, cid, None, UUID4(), 0)))
        else:
            calls.append((eng.process_modify, ModifyOrder(trader, strat, inst.id, cid, None, qx(r["qty"]),
                                                           px(r["price"]), None, UUID4(), 0)))
    build_s = time.perf_counter() - t0
    ev0 = n_events[0]
    t0 = time.perf_counter()
    for fn, arg in calls:
        fn(arg, acc)
    dt = time.perf_counter() - t0
    n = len(calls)
    return {"requests": n, "new": int(kinds[0]), "cancel": int(kinds[1]), "modify": int(kinds[2]),
            "events": n_events[0] - ev0, "us_per_req": round(dt / n * 1e6, 3),
            "kreq_per_s": round(n / dt / 1e3, 1), "build_s_untimed": round(build_s, 1), "runs": 1,
            "comparable": "same requests as process_order/process_cancel/process_modify; no market data, "
                          "so no trades (Nautilus fills against market data, not between submitted orders)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--nautilus-n", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-nautilus", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n, a.runs, a.nautilus_n = 100_000, 3, 20_000
    t0 = time.perf_counter()
    pre, reqs, stats = generate(a.n)
    gen_s = time.perf_counter() - t0
    rq = bench_rfqcore(pre, reqs, a.runs, a.batch)
    print(f"workload: {a.n} requests, mix {stats['mix_pct']}, ~{stats['avg_resting_orders']} resting orders "
          f"on ~{stats['avg_bid_ask_levels']} levels (generated in {gen_s:.1f} s, untimed)")
    print(f"rfqcore MatchingBook.process, one call: best {rq['whole_best_mops']} M req/s "
          f"({rq['whole_best_ns_per_req']} ns/req), median {rq['whole_median_mops']} M req/s over {a.runs} runs; "
          f"in calls of {a.batch}: best {rq['batched_best_mops']} M, median {rq['batched_median_mops']} M")
    print(f"  {rq['events']} events, {rq['trades']} trades, rejects {rq['rejects']} "
          f"(unknown_order = stale chunk targets: {rq['stale_pct']}% of requests)")
    try:
        import nautilus_trader  # noqa: F401
        have_nt = not a.no_nautilus
    except ImportError:
        have_nt = False
    if have_nt:
        nt = nautilus_part(pre, reqs, a.nautilus_n)
    else:
        nt = {"skipped": "nautilus_trader not importable (install with `make bench`)" if not a.no_nautilus
              else "--no-nautilus"}
    if "skipped" in nt:
        print(f"NautilusTrader: skipped: {nt['skipped']}")
    else:
        rq_us = rq["whole_best_ns_per_req"] / 1e3
        nt["nautilus_over_rfqcore"] = round(nt["us_per_req"] / rq_us, 1)
        print(f"NautilusTrader 1.231.0 OrderMatchingEngine, first {nt['requests']} requests one call each "
              f"({nt['new']} process_order, {nt['cancel']} process_cancel, {nt['modify']} process_modify; "
              f"no market data, so no trades): {nt['us_per_req']} us/req vs rfqcore {rq_us:.3f} us/req "
              f"batched -> x{nt['nautilus_over_rfqcore']}")
    out = {"bench": "match_py", "workload": stats, "rfqcore": rq, "nautilus": nt}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
