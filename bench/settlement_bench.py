"""Settlement writer: what a producer pays to hand trades to ``rfqcore.settlement.SettlementWriter``
(the engine's tap reader or pump calls ``offer_*``), whether the store is up or down, and how fast
the writer drains a backlog into a real store.

    .venv/bin/python bench/settlement_bench.py [--rate 1000] [--seconds 10] [--batch 7] [--quick] [--json]

Every phase uses a fresh SQLite store (``open_store("sqlite:///<tmp>/s.db")``) and a fresh writer:

- ``store_up``: one sender thread calls ``offer_trades`` with ``--batch`` trades and a watermark at
  a fixed offered rate (``--rate`` calls/s) while the writer commits to SQLite. Latency of each
  call from its **intended** send time (a late sender is charged) and the call alone (service time).
- ``store_down``: the same while every ``capture`` raises ``StoreUnavailable`` (the writer retries
  with back-off, the queue passes ``max_memory`` and spills to its file): a producer must still
  never wait for the store. (This was the ``slowest < 0.5 s`` check of
  tests/test_settlement_writer.py; speed belongs here.)
- ``drain``: the store of ``store_down`` comes back; trades/s until the backlog (memory + spill
  file) is committed. Every trade must be in the store exactly once, or the bench fails.
- ``unpaced``: ``offer_trades`` back to back, store up: calls/s and trades/s.

The sender sleeps until ~0.3 ms before each send, then spins (a spinning Python thread would hold
the GIL the writer thread needs). HdrHistogram percentiles (``rfqcore.latency``), in ns.
Prints a human summary and one JSON line ``{"bench":"settlement",...}``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import bench_common as bc

from rfqcore.latency import LatencyRecorder
from rfqcore.records import ClientSide
from rfqcore.settlement import Catalog, SettlementWriter, StoreUnavailable, Trade, open_store

T0 = 1_723_075_200 * 10**9
BTC = 10**8
SPIN_NS = 300_000


def trade(tid: int) -> Trade:
    price, qty = 6_000_000 + tid % 1000, BTC // 10
    return Trade(trade_id=tid, client_id=1 + tid % 3, client=f"client-{1 + tid % 3}", composite_id=1,
                 composite="BTC", base="BTC", quote="USDT", side=ClientSide.BUY if tid % 3 else ClientSide.SELL,
                 price=price, qty=qty, notional=price * qty, fee=tid % 97, price_decimals=2, qty_decimals=8,
                 quote_id=tid, rfq_id=tid, accept_id=tid, core_time_ns=T0 + tid * 1000)


class Switch:
    """A real store that raises StoreUnavailable while ``down``."""

    def __init__(self, inner) -> None:
        self.inner, self.down = inner, False

    def capture(self, trades, watermark_ns=None):
        if self.down:
            raise StoreUnavailable("bench: store down")
        return self.inner.capture(trades, watermark_ns)

    def close(self) -> None:
        pass


def paced(w: SettlementWriter, batches: list[list[Trade]], rate: float) -> dict:
    """Offer each batch at its intended time; latency from the intended time and of the call."""
    intended, call = LatencyRecorder(), LatencyRecorder()
    period = 1e9 / rate
    start = time.monotonic_ns() + 10_000_000
    late = 0
    for k, b in enumerate(batches):
        due = int(start + k * period)
        left = due - time.monotonic_ns()
        if left > SPIN_NS:
            time.sleep((left - SPIN_NS) / 1e9)
        while (now := time.monotonic_ns()) < due:
            pass
        late += now - due > 100_000
        w.offer_trades(b, watermark_ns=b[-1].core_time_ns + 1)
        end = time.monotonic_ns()
        intended.record(end - due)
        call.record(end - now)
    wall = (time.monotonic_ns() - start) / 1e9
    return {"calls": len(batches), "trades": sum(map(len, batches)), "offered_rate": rate,
            "achieved_rate": round(len(batches) / wall, 1), "sent_late_100us": late,
            "from_intended": vars_of(intended), "call": vars_of(call)}


def vars_of(r: LatencyRecorder) -> dict:
    s = r.summary()
    return {"count": s.count, "p50": s.p50, "p99": s.p99, "p999": s.p999, "max": s.max}


def writer(store, work: Path, **kw) -> SettlementWriter:
    return SettlementWriter(store, Catalog(), spill_path=work / "spill.jsonl", flush_interval_s=0.005,
                            retry_initial_s=0.01, retry_max_s=0.05, **kw)


def chunks(first: int, n_calls: int, batch: int) -> list[list[Trade]]:
    return [[trade(first + k * batch + i) for i in range(batch)] for k in range(n_calls)]


def run(rate: float, seconds: float, batch: int, work: Path) -> dict:
    n = max(1, int(rate * seconds))
    out: dict = {"rate": rate, "seconds": seconds, "batch": batch}

    store = open_store(f"sqlite:///{work / 'up.db'}")
    w = writer(store, work / "up")
    w.start()
    out["store_up"] = paced(w, chunks(1, n, batch), rate)
    assert w.flush(60) and store.trade_count() == n * batch, "store_up: trades missing from the store"
    out["store_up"]["writer"] = {k: w.stats[k] for k in ("inserted", "batches", "failures", "spilled")}
    w.stop()
    store.close()

    store = open_store(f"sqlite:///{work / 'down.db'}")
    sw = Switch(store)
    sw.down = True
    w = writer(sw, work / "down", max_memory=1000)
    w.start()
    out["store_down"] = paced(w, chunks(1, n, batch), rate)
    out["store_down"]["writer"] = {k: w.stats[k] for k in ("failures", "spilled")}
    backlog = w.backlog
    sw.down = False
    t = time.perf_counter()
    ok = w.flush(600)
    dt = time.perf_counter() - t
    got = store.trade_count()
    assert ok and got == n * batch and w.stats["duplicates"] == 0, f"drain: {got} of {n * batch} trades in the store"
    out["drain"] = {"backlog_items": backlog, "trades": got, "seconds": round(dt, 3),
                    "trades_per_s": round(got / dt, 1), "spilled": w.stats["spilled"]}
    w.stop()
    store.close()

    store = open_store(f"sqlite:///{work / 'unpaced.db'}")
    w = writer(store, work / "unpaced")
    w.start()
    bs = chunks(1, n, batch)
    t = time.perf_counter()
    for b in bs:
        w.offer_trades(b, watermark_ns=b[-1].core_time_ns + 1)
    dt = time.perf_counter() - t
    out["unpaced"] = {"calls": n, "calls_per_s": round(n / dt, 1), "trades_per_s": round(n * batch / dt, 1)}
    assert w.flush(600) and store.trade_count() == n * batch, "unpaced: trades missing from the store"
    w.stop()
    store.close()
    return out


def line(h: dict) -> str:
    return " ".join(f"{k} {h[k] / 1e3:,.1f} us" for k in ("p50", "p99", "p999", "max"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="offer_trades calls per second (default 1000)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=7, help="trades per call (default 7)")
    ap.add_argument("--quick", action="store_true", help="1 s per phase")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    a = ap.parse_args()
    seconds = 1.0 if a.quick else a.seconds
    with tempfile.TemporaryDirectory(prefix="rfqcore-settlement-bench-") as d:
        r = run(a.rate, seconds, a.batch, Path(d))
    if not a.json:
        print(f"settlement writer: {a.batch} trades per offer_trades call at {a.rate:g} calls/s for {seconds:g} s")
        for ph in ("store_up", "store_down"):
            p = r[ph]
            print(f"  {ph:<10} {p['calls']} calls ({p['achieved_rate']:.0f}/s achieved, {p['sent_late_100us']} sent "
                  f">100 us late): from intended {line(p['from_intended'])}; call alone p50 "
                  f"{p['call']['p50'] / 1e3:,.1f} us p99 {p['call']['p99'] / 1e3:,.1f} us; writer {p['writer']}")
        d = r["drain"]
        print(f"  drain      {d['trades']} trades ({d['spilled']} spilled) committed in {d['seconds']} s: "
              f"{d['trades_per_s']:,.0f} trades/s")
        u = r["unpaced"]
        print(f"  unpaced    {u['calls_per_s']:,.0f} calls/s, {u['trades_per_s']:,.0f} trades/s offered")
    bc.emit_json("settlement", r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
