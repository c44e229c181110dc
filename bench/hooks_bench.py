"""A slow Python strategy hook never delays quoting.

    .venv/bin/python bench/hooks_bench.py [--quick] [--json]

An ``Engine`` (Rust core thread + Python output pump, as shipped) prices the BTC composite
from the real Binance BTC streams (spot + USD-M + COIN-M, ``bench_data.py``; a synthetic book
stream when ``../shared/data`` is absent) while a *separate sender process* (its own GIL, like a
handler process) pushes, at FIXED offered rates, the market-data messages (receive times
restamped to the wall clock) into one ring and RFQs (1 BTC, alternating sides) into another.

The core thread measures, from each record's push (``ts_send``) to the publication of what it
caused: tick-to-quote (ladder quotes) and RFQ-to-answer (firm quote or reject). Three phases
run back to back in one process, same load:

- ``baseline``: no strategy attached;
- ``slow_hook``: a strategy whose every callback sleeps 2 ms (``on_book`` fires for every ladder
  change, so it falls behind by orders of magnitude; its queue overflows and batches are
  dropped and counted, never waited for);
- ``baseline_again``.

Reported: p50/p99/p99.9/max of both latencies per phase, the slow/baseline ratios, hook
deliveries and drops, and the runner's output-ring back-pressure waits (must stay 0: the pump
keeps draining while the hook sleeps on its own thread).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data as bd  # noqa: E402

BENCH_RFQ = """
[desk]
quote_table = 65536
[[tier]]
name = "bench"
markup_bps = "0.25"
fee_bps = "0.5"
ttl_ms = 200
max_ttl_ms = 1000
[[client]]
name = "bench-client"
id = 1
tier = "bench"
secret = "62656e63682d62656e63682d62656e6368"
credit_limit = "100000000000"
max_open_quotes = 100000
[[risk]]
composite = "BTC"
min_qty = "0.0001"
max_qty = "1000"
max_notional = "10000000000"
long_limit = "1000000"
short_limit = "1000000"
collar_bps = "500"
approval_qty = "0"
approval_notional = "0"
approval_timeout_ms = 1000
"""


def market_records() -> np.ndarray:
    """Real merged BTC records if the data is there, else a synthetic spot stream."""
    try:
        return bd.load("btc_merged")
    except bd.DataMissing as e:
        print(f"note: {e}; using a synthetic book stream", file=sys.stderr)
        from rfqcore.records import RECORD_DTYPE, Flag, Kind

        n = 200_000
        rng = np.random.default_rng(7)
        a = np.zeros(n, dtype=RECORD_DTYPE)
        a["kind"] = Kind.BOOK_LEVEL
        a["instrument"] = 1
        a["flags"] = Flag.END
        a["side"] = rng.integers(0, 2, n)
        a["price"] = np.where(a["side"] == 0, 6_000_000 - rng.integers(0, 500, n), 6_000_010 + rng.integers(0, 500, n))
        a["qty"] = rng.integers(0, 5, n) * 100_000
        snap = np.zeros(1001, dtype=RECORD_DTYPE)
        snap["kind"] = Kind.BOOK_LEVEL
        snap["instrument"] = 1
        snap["flags"] = Flag.SNAPSHOT
        snap[0]["kind"] = Kind.BOOK_CLEAR
        for i in range(1, 1001):
            side = i % 2
            snap[i]["side"] = side
            snap[i]["price"] = 6_000_000 - i if side == 0 else 6_000_010 + i
            snap[i]["qty"] = 1_000_000
        snap[-1]["flags"] |= Flag.END
        return np.concatenate([snap, a])


def sender_main(md_path: str, rfq_path: str, md_rate: int, rfq_rate: int, seconds: float, start_ns: int,
                first_rfq_id: int) -> None:
    """Child process: market data at md_rate msg/s and RFQs at rfq_rate/s, for `seconds`."""
    from rfqcore._ring import RingProducer, monotonic_ns
    from rfqcore.records import RECORD_DTYPE, Flag, Kind

    recs = market_records()
    ends = np.flatnonzero(recs["flags"] & Flag.END) + 1
    starts = np.concatenate([[0], ends[:-1]])
    md, rfq = RingProducer(md_path), RingProducer(rfq_path)
    r = np.zeros(1, dtype=RECORD_DTYPE)
    r["kind"], r["instrument"], r["flags"], r["source"], r["qty"] = Kind.RFQ, 1, Flag.END, 1, 10**8
    # a snapshot first (everything up to the first non-snapshot message) so books are live
    first_live = int(np.argmax((recs["flags"][starts] & Flag.SNAPSHOT) == 0))
    head = recs[: starts[max(first_live, 1)]].copy()
    head["ts_recv"] = time.time_ns()
    md.push_batch_blocking(head)
    i_md = max(first_live, 1)
    n_rfq = first_rfq_id
    t0 = time.monotonic_ns()
    while time.monotonic_ns() < start_ns:
        pass
    t0 = time.monotonic_ns()
    end = t0 + int(seconds * 1e9)
    next_md, next_rfq = t0, t0
    md_gap, rfq_gap = 1e9 / md_rate, 1e9 / rfq_rate
    k_md = k_rfq = 0
    while True:
        now = time.monotonic_ns()
        if now >= end:
            break
        due = min(next_md, next_rfq)
        if due - now > 120_000:  # sleep (leave the CPU to the core) unless the next send is close
            time.sleep((due - now - 100_000) / 1e9)
            continue
        if now >= next_md and i_md < len(starts):
            m = recs[starts[i_md]:ends[i_md]].copy()
            m["ts_recv"] = time.time_ns()
            m["ts_send"] = monotonic_ns()
            md.push_batch_blocking(m)
            i_md += 1
            k_md += 1
            next_md = t0 + int(k_md * md_gap)
        if now >= next_rfq:
            n_rfq += 1
            r["seq"] = n_rfq
            r["side"] = n_rfq & 1
            r["ts_recv"] = r["ts_event"] = time.time_ns()
            r["ts_send"] = monotonic_ns()
            rfq.push_batch_blocking(r)
            k_rfq += 1
            next_rfq = t0 + int(k_rfq * rfq_gap)


def summary(h: dict) -> dict:
    return {k: int(h[k]) for k in ("count", "p50", "p99", "p999", "max")}


def run(quick: bool = False) -> dict:
    from rfqcore.engine import Engine
    from rfqcore.hooks import Strategy
    from rfqcore.instruments import Registry
    from rfqcore.rfqconfig import RfqSettings

    registry = Registry.load()
    settings = RfqSettings.from_toml(BENCH_RFQ, registry, "bench")
    seconds = 3.0 if quick else 10.0
    md_rate, rfq_rate = 5_000, 1_000
    calls = {"n": 0}

    class SlowHook(Strategy):
        def _slow(self, _ev: object) -> None:
            calls["n"] += 1
            time.sleep(0.002)

        on_book = on_quote = on_reject = on_quote_end = _slow

    out: dict = {"bench": "hooks", "md_rate": md_rate, "rfq_rate": rfq_rate, "seconds": seconds, "phases": {}}
    ctx = mp.get_context("spawn")
    with Engine(registry, rfq=settings, out_capacity=1 << 18) as eng:
        eng.add_producer("md")
        eng.add_producer("rfq")
        eng.start(heartbeat_ms=1)
        for i, phase in enumerate(("baseline", "slow_hook", "baseline_again")):
            runner = eng.add_strategy(SlowHook(), max_batches=64) if phase == "slow_hook" else None
            eng.core.tick_to_quote(True)
            eng.core.rfq_to_quote(True)
            waits0 = eng.stats().get("out_waits", 0)
            p = ctx.Process(target=sender_main, args=(eng.ring_path("md"), eng.ring_path("rfq"), md_rate, rfq_rate,
                                                     seconds, time.monotonic_ns() + 1_500_000_000,
                                                     i * 10_000_000))
            p.start()
            p.join()
            time.sleep(0.2)
            t2q, r2q = eng.core.tick_to_quote(False), eng.core.rfq_to_quote(False)
            ph = {"tick_to_quote": summary(t2q), "rfq_to_quote": summary(r2q),
                  "out_waits": int(eng.stats().get("out_waits", 0)) - int(waits0)}
            if runner is not None:
                ph["hook_calls"] = calls["n"]
                ph["hook_dropped_records"] = runner.dropped
                ph["hook_backlog_batches"] = runner.backlog()
                eng.remove_strategy(runner)
            out["phases"][phase] = ph
        eng.stop()
        out["rfq_stats"] = eng.rfq_stats()
    base = out["phases"]["baseline"]
    slow = out["phases"]["slow_hook"]
    out["ratios_slow_over_baseline"] = {
        k: {p: round(slow[k][p] / max(1, base[k][p]), 2) for p in ("p50", "p99", "p999")}
        for k in ("tick_to_quote", "rfq_to_quote")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 s per phase instead of 10 s")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args()
    res = run(args.quick)
    if not args.json:
        print(f"hooks bench: market data {res['md_rate']} msg/s + RFQs {res['rfq_rate']}/s, "
              f"{res['seconds']} s per phase (latency from push, measured on the core thread, ns)")
        for name, ph in res["phases"].items():
            t, r = ph["tick_to_quote"], ph["rfq_to_quote"]
            extra = ""
            if "hook_calls" in ph:
                extra = f"  hook calls {ph['hook_calls']}, dropped records {ph['hook_dropped_records']}"
            print(f"  {name:15s} tick->quote p50 {t['p50']:>7} p99 {t['p99']:>8} p99.9 {t['p999']:>8} "
                  f"max {t['max']:>9} (n={t['count']})  rfq->answer p50 {r['p50']:>7} p99 {r['p99']:>8} "
                  f"p99.9 {r['p999']:>8} max {r['max']:>9} (n={r['count']})  out-ring waits {ph['out_waits']}"
                  f"{extra}")
        print(f"  slow/baseline ratios: {res['ratios_slow_over_baseline']}")
    print(json.dumps(res, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
