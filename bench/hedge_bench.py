"""Client fill -> hedge order on the wire (issue 4), at a fixed offered rate of client fills.

    .venv/bin/python bench/hedge_bench.py [--rates 20,100] [--seconds 10] [--quick] [--size 0.01] [--json OUT]

The hedging desk of ``rfqcore.hedge_desk`` (two simulated venues as real processes on
loopback, the engine with the packaged hedging configuration, the venue link). A refill
thread keeps a pool of live firm quotes (RFQs over the Python API, 10 s TTL); the main thread
hits one every ``1/rate`` s at its **intended send time**, alternating client buys and sells of
``--size`` BTC so the position stays small. Every fill makes the core route a hedge (one IOC
order per venue it splits across). Per hedge order, from the accept's intended send time:

- ``to_link``: the venue link has the core's ``HEDGE_ORDER`` and hands it to the venue
  adapter (core -> out ring -> engine pump -> asyncio loop of the venue link);
- ``on_wire``: the simulated venue has received the order request (its receive stamp,
  CLOCK_MONOTONIC, the same clock on this host) — Binance-style: the signed REST request,
  OKX-style: the WebSocket ``order`` op;
- ``place_returned``: the adapter's ``place`` returned (Binance-style: the venue's HTTP answer
  is back; OKX-style: the op was written).

HdrHistogram percentiles (``rfqcore.latency``); the sender's own lateness is charged
(intended send time, not the actual push).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from collections import deque
from decimal import Decimal
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import bench_common as bc  # noqa: E402

from rfqcore._ring import monotonic_ns  # noqa: E402
from rfqcore.latency import LatencyRecorder  # noqa: E402
from rfqcore.records import RECORD_DTYPE, ClientSide, Flag, Kind  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="20,100", help="client fills per second, one run each (default 20,100)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="3 s per rate")
    ap.add_argument("--size", default="0.01", help="BTC per client fill (default 0.01)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--switch-interval-us", type=float, default=500.0,
                    help="sys.setswitchinterval for this process (default 500 us; Python's default is 5 ms)")
    ap.add_argument("--idle", default="yield", choices=("spin", "yield", "park"),
                    help="the core thread's idle strategy (default yield)")
    args = ap.parse_args(argv)
    sys.setswitchinterval(args.switch_interval_us / 1e6)

    runs = [measure(float(r), 3.0 if args.quick else args.seconds, args) for r in args.rates.split(",")]
    for r in runs:
        print(f"rate {r['rate']:g}/s: {r['fills_sent']} fills -> {r['hedge_orders']} hedge orders "
              f"({r['orders_filled']} filled)")
        for k, v in r["latency_ns"].items():
            print(f"  {k:<15} p50 {v['p50'] / 1e3:8.1f} us  p99 {v['p99'] / 1e3:8.1f} us  "
                  f"p99.9 {v['p999'] / 1e3:8.1f} us  max {v['max'] / 1e3:8.1f} us  (n={v['count']})")
    out = {"bench": "hedge", "runs": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out, separators=(",", ":"), default=str))
    return 0


def measure(rate: float, seconds: float, args: argparse.Namespace) -> dict:
    from rfqcore.hedge_desk import desk_registry, desk_settings, hedging_desk

    reg = desk_registry()
    # the bench hits quotes faster than the desk's repeated-execution throttle allows
    text = (REPO / "src/rfqcore/defaults/hedge-rfq.toml").read_text().replace("exec_count = 20", "exec_count = 0")
    from rfqcore.rfqconfig import RfqSettings

    settings = RfqSettings.from_toml(text, reg, "hedge-rfq.toml (exec_count = 0)")
    del desk_settings
    comp = reg.composite("BTC")
    qty = int(Decimal(args.size).scaleb(comp.qty_decimals))
    n = int(rate * seconds)
    period = int(1e9 / rate)
    with hedging_desk(settings=settings, idle=args.idle) as desk:
        eng = desk.engine
        desk.wait(lambda: all(eng.best(k) is not None for k in ("binance-spot:BTCUSDT", "okx:BTC-USDT")),
                  15, "both venues' books")
        desk.hedger.trace = []
        pool: deque = deque()
        stop = threading.Event()
        refill_errors: list[str] = []

        def refill() -> None:
            k = 0
            while not stop.is_set():
                if len(pool) >= 30:
                    time.sleep(0.002)
                    continue
                side = ClientSide.BUY if k % 2 == 0 else ClientSide.SELL
                k += 1
                try:
                    pool.append(eng.request_quote_raw("acme-capital", "BTC", side, qty, ttl_ns=10_000_000_000))
                except Exception as e:  # noqa: BLE001 - counted and reported
                    refill_errors.append(str(e))
                    time.sleep(0.01)

        th = threading.Thread(target=refill, daemon=True)
        th.start()
        desk.wait(lambda: len(pool) >= 30, 20, "quote pool")
        rec = np.zeros(1, dtype=RECORD_DTYPE)
        intended: list[int] = []
        pushed: list[int] = []
        starved = 0
        t0 = monotonic_ns() + 50_000_000
        for i in range(n):
            t_int = t0 + i * period
            # sleep, then spin only the last 200 us: a Python busy-wait holds the GIL, which the
            # engine's pump and the venue link's loop (same process) need
            ahead = t_int - monotonic_ns() - 200_000
            if ahead > 0:
                time.sleep(ahead / 1e9)
            while monotonic_ns() < t_int:
                pass
            if not pool:
                starved += 1
                continue
            q = pool.popleft()
            s = q.sides[0]
            now = time.time_ns()
            rec[0] = (Kind.ACCEPT, q.composite, int(s.side), Flag.END, q.client, q.quote_id, now, now, s.price_raw, s.qty_raw,
                      i + 1, 0)
            intended.append(t_int)
            pushed.append(monotonic_ns())
            eng.feed(rec, producer="bench")
        stop.set()
        th.join(5)
        try:
            desk.wait_hedged(timeout=20)
        except TimeoutError as e:
            print(f"warning: {e}", file=sys.stderr)
        time.sleep(0.5)
        trace = list(desk.hedger.trace)
        # venue receive stamps (CLOCK_MONOTONIC) by client order id
        recv: dict[str, int] = {}
        for v in desk.venues.values():
            recv.update({k: int(t) for k, t in v.state().get("order_recv_ns", {}).items()})
        prefix = desk.hedger.id_prefix
        status = desk.status()
        hedge_orders = eng.hedge_orders_raw()
    # match each hedge order to its accept: the accept's ring stamp (ts_send) is >= its push
    # time and < the next accept's push time
    push_arr = np.array(pushed, dtype=np.int64)
    lat = {k: LatencyRecorder() for k in ("to_link", "on_wire", "place_returned")}
    unmatched = 0
    for cl, _venue, ts_send, t_disp, t_ret in trace:
        k = int(np.searchsorted(push_arr, ts_send, side="right")) - 1
        if k < 0:
            unmatched += 1
            continue
        t_int = intended[k]
        lat["to_link"].record(t_disp - t_int)
        lat["place_returned"].record(t_ret - t_int)
        r = recv.get(f"{prefix}{cl}")
        if r is not None:
            lat["on_wire"].record(r - t_int)
    for k, r in lat.items():
        bc.export_hist(f"hedge_{k}_{rate:g}_per_s", r)
    return {
        "switch_interval_us": args.switch_interval_us, "idle": args.idle,
        "rate": rate, "seconds": seconds, "fills_offered": n, "fills_sent": len(intended),
        "starved": starved, "hedge_orders": len(trace), "unmatched": unmatched,
        "refill_errors": refill_errors[:5], "hedge_status": {k: v for k, v in status.items() if k != "venues"},
        "orders_filled": sum(1 for o in hedge_orders if o["state"] == 5),
        "latency_ns": {k: dataclasses.asdict(r.summary()) for k, r in lat.items()},
    }


if __name__ == "__main__":
    raise SystemExit(main())
