"""Not a tick-to-quote measurement: what one pass of the engine's Python output pump costs, piece
by piece, on a small batch of quotes (the pump's share of ``engine_py.py``'s figures).

    .venv/bin/python bench/pump_profile.py [--json]

Times, single-threaded and warm (median of 2,000 calls each, ``time.perf_counter_ns`` around
every call): ``Engine._account`` on a batch of 4 QUOTE records (what ``Engine.drain`` does for
every batch before any subscriber runs), and its parts - ``LatencyRecorder.record_array`` of 4
values, ``QuoteLevel.from_record``, ``np.unique`` - plus the per-subscriber ``np.isin`` kind filter of
``drain``, the batch copy handed to a subscriber, and ``time.sleep(0)`` (a syscall-bound
reference for this VM). The engine is constructed but never started. Prints a table and one
JSON line ``{"bench":"pump_profile",...}``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import bench_common as bc


def median_us(f, n: int = 2000) -> float:
    xs = np.empty(n, dtype=np.int64)
    for i in range(n):
        t = time.perf_counter_ns()
        f()
        xs[i] = time.perf_counter_ns() - t
    return float(np.median(xs)) / 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    say = (lambda *_: None) if a.json else print
    try:
        from rfqcore.engine import Engine, QuoteLevel
        from rfqcore.instruments import Registry
        from rfqcore.latency import LatencyRecorder
        from rfqcore.records import RECORD_DTYPE, Kind
    except ImportError as e:
        why = f"the Python orchestration layer is not importable ({e}); build with `make build`"
        say(f"SKIP: {why}")
        bc.emit_json("pump_profile", {"skipped": why})
        return 0
    batch = np.zeros(4, dtype=RECORD_DTYPE)
    batch["kind"] = Kind.QUOTE
    batch["instrument"] = 1
    batch["source"] = np.arange(4)
    batch["ts_send"] = time.monotonic_ns() - 100_000
    kinds = [int(Kind.QUOTE)]
    rec = LatencyRecorder()
    lat = np.array([100_000, 120_000, 140_000, 160_000], dtype=np.int64)
    eng = Engine(Registry.load())
    try:
        res = {
            "Engine._account (4 quotes)": median_us(lambda: eng._account(batch, time.monotonic_ns())),
            "LatencyRecorder.record_array (4 values)": median_us(lambda: rec.record_array(lat)),
            "QuoteLevel.from_record (1 record)": median_us(lambda: QuoteLevel.from_record(batch[0])),
            "np.unique (4 keys, return_index)": median_us(lambda: np.unique(batch["ts_send"], return_index=True)),
            "np.isin kind filter (drain, per subscriber)": median_us(lambda: batch[np.isin(batch["kind"], kinds)]),
            "batch.copy() (drain, per subscriber)": median_us(lambda: batch.copy()),
            "time.sleep(0)": median_us(lambda: time.sleep(0), 500),
        }
    finally:
        eng.close()
    m = bc.machine()
    say(f"Python output pump pieces (median of warm single-threaded calls); {m['cpu']}, load avg {m['loadavg']}")
    for k, v in res.items():
        say(f"  {k:<46} {v:8.1f} us")
    bc.emit_json("pump_profile", {"machine": m, "median_us": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
