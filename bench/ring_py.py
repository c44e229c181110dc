"""Python/Cython producer -> Rust consumer over a ring file: throughput and one-way latency.

    .venv/bin/python bench/ring_py.py [--quick] [--json]

Producer: the Cython ``rfqcore._ring.RingProducer`` on the main thread. Consumer:
``rfqcore_core.bench_ring_drain`` (Rust, GIL released) on a second thread, busy-spinning. The
ring is a 64Ki-record file in /dev/shm. Clocks: CLOCK_MONOTONIC on both sides
(``time.monotonic_ns`` here, ``clock_gettime`` in Cython and in Rust).

1. ``numpy batch -> Rust`` throughput: ``push_batch_blocking`` of ``RECORD_DTYPE`` chunks
   (views of one pre-filled array, seq checked by the consumer), for several chunk sizes.
   Throughput = records / (time the last record was consumed - time the first push started).
   ``latency_send`` = consume time - ts_send (stamped once per batch by Cython, after the copy).
2. single ``try_push`` -> Rust one-way latency at a FIXED offered rate: record i has an intended
   send time t0 + i/rate (stored in ``aux``); the sender spins until then and pushes (late
   records go out at once, back-to-back). ``latency_intended`` = consume time - intended send
   time is the coordinated-omission-correct figure (sender stalls count against us);
   ``latency_send`` = consume time - ts_send (stamped inside try_push) isolates the ring hop.
3. unpaced ``try_push`` loop: the most records/s one Python thread can push one at a time.

Prints a human summary and one JSON line ``{"bench":"ring_py",...}``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time

import numpy as np

import bench_common as bc

CAPACITY = 1 << 16
BOOK_LEVEL = 2


def _imports():
    try:
        import rfqcore_core
        from rfqcore._ring import RingProducer, ring_create
        from rfqcore.records import RECORD_DTYPE
    except ImportError as e:  # Cython modules not built (yet)
        return None, f"cannot import the ring modules ({e}); build with `make build`"
    if not hasattr(rfqcore_core, "bench_ring_drain"):
        return None, "rfqcore_core has no bench_ring_drain (the benchmark helpers are in the bench build only): run `make bench`"
    return (rfqcore_core, RingProducer, ring_create, RECORD_DTYPE), None


class Drainer:
    """Runs ``bench_ring_drain`` on its own thread (the GIL is released inside)."""

    def __init__(self, core, path: str, n: int, **kw) -> None:
        self.result: dict | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = core.bench_ring_drain(path, n, **kw)
            except BaseException as e:  # noqa: BLE001 - re-raised in join()
                self.error = e

        self.thread = threading.Thread(target=run, name="bench-drain", daemon=True)
        self.thread.start()
        time.sleep(0.05)  # let it reach its spin loop

    def join(self) -> dict:
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        if self.result["timed_out"]:
            raise RuntimeError(f"consumer timed out: {self.result}")
        return self.result


def batch_throughput(mods, n: int, chunk: int, source_len: int) -> dict:
    core, RingProducer, ring_create, RECORD_DTYPE = mods
    path = bc.shm_path(f"batch{chunk}")
    ring_create(path, CAPACITY)
    try:
        src = np.zeros(source_len, dtype=RECORD_DTYPE)
        src["kind"] = BOOK_LEVEL
        src["instrument"] = 1
        src["seq"] = np.arange(source_len, dtype=np.uint64)
        src["price"] = 6_000_000
        src["qty"] = 100
        views = [src[i:i + chunk] for i in range(0, source_len, chunk)]
        nviews = len(views)
        assert n % source_len == 0 and source_len % chunk == 0
        prod = RingProducer(path)
        d = Drainer(core, path, n, timeout_s=120.0, seq_period=source_len)
        push = prod.push_batch_blocking
        t0 = time.monotonic_ns()
        for i in range(n // chunk):
            push(views[i % nviews], "spin")
        t_push_end = time.monotonic_ns()
        r = d.join()
        prod.close()
    finally:
        os.unlink(path)
    if r["seq_errors"]:
        raise RuntimeError(f"{r['seq_errors']} sequence errors in batch run")
    return {
        "chunk": chunk,
        "records": n,
        "rec_per_s": n / ((r["t_last_ns"] - t0) / 1e9),
        "producer_rec_per_s": n / ((t_push_end - t0) / 1e9),
        "latency_send": r["latency_send"],
    }


def paced_latency(mods, rate: int, n: int, warmup: int) -> dict:
    """Fixed offered rate, one try_push per record, intended send time in ``aux``."""
    core, RingProducer, ring_create, _ = mods
    path = bc.shm_path(f"paced{rate}")
    ring_create(path, CAPACITY)
    try:
        prod = RingProducer(path)
        d = Drainer(core, path, n, timeout_s=60.0 + 2 * n / rate, intended_field="aux",
                    warmup=warmup, seq_period=1 << 62)
        push = prod.try_push
        clock = time.monotonic_ns
        period = 1_000_000_000 // rate
        full = 0
        gc.disable()
        try:
            t0 = clock() + 1_000_000
            for i in range(n):
                intended = t0 + i * period
                while clock() < intended:
                    pass
                while not push(BOOK_LEVEL, 1, 0, 0, 0, i, 0, 0, 6_000_000, 100, intended):
                    full += 1
            t_end = clock()
        finally:
            gc.enable()
        r = d.join()
        prod.close()
    finally:
        os.unlink(path)
    if r["seq_errors"]:
        raise RuntimeError(f"{r['seq_errors']} sequence errors in paced run")
    return {
        "offered_rate": rate,
        "achieved_rate": n / ((t_end - t0) / 1e9),
        "records": n,
        "warmup": warmup,
        "ring_full_retries": full,
        "latency_intended": r["latency_intended"],
        "latency_send": r["latency_send"],
    }


def unpaced_try_push(mods, n: int) -> dict:
    core, RingProducer, ring_create, _ = mods
    path = bc.shm_path("unpaced")
    ring_create(path, CAPACITY)
    try:
        prod = RingProducer(path)
        d = Drainer(core, path, n, timeout_s=120.0, seq_period=1 << 62)
        push = prod.try_push
        t0 = time.monotonic_ns()
        for i in range(n):
            while not push(BOOK_LEVEL, 1, 0, 0, 0, i, 0, 0, 6_000_000, 100, 0):
                pass
        r = d.join()
        prod.close()
    finally:
        os.unlink(path)
    return {"records": n, "rec_per_s": n / ((r["t_last_ns"] - t0) / 1e9),
            "ns_per_push": (r["t_last_ns"] - t0) / n}


def fmt_lat(h: dict) -> str:
    return (f"p50 {h['p50']} ns  p99 {h['p99']} ns  p99.9 {h['p999']} ns  "
            f"max {h['max']} ns  ({h['count']} samples)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    a = ap.parse_args()
    say = (lambda *_: None) if a.json else print
    mods, why = _imports()
    if mods is None:
        say(f"SKIP: {why}")
        bc.emit_json("ring_py", {"skipped": why})
        return 0
    scale = 10 if a.quick else 1
    runs = 1 if a.quick else 3
    m = bc.machine()
    say(f"ring_py: Cython producer -> Rust consumer, ring {CAPACITY} x 64 B in /dev/shm; "
        f"{m['cpu']}, {m['cpus']} CPUs, load avg {m['loadavg']}")

    say("numpy batch -> Rust throughput (push_batch_blocking, spin; consumer checks every seq):")
    batches = []
    source_len = 1 << 18
    for chunk in (256, 1024, 4096):
        n = (20_000_000 // scale) // source_len * source_len or source_len
        batch_throughput(mods, source_len * 4, chunk, source_len)  # warm-up
        rs = [batch_throughput(mods, n, chunk, source_len) for _ in range(runs)]
        rs.sort(key=lambda r: r["rec_per_s"])
        med = rs[len(rs) // 2]
        med["runs_rec_per_s"] = [r["rec_per_s"] for r in rs]
        batches.append(med)
        say(f"  chunk {chunk:>5}: {med['rec_per_s'] / 1e6:6.1f} M rec/s median of {runs} "
            f"(runs {', '.join(f'{r / 1e6:.1f}' for r in med['runs_rec_per_s'])}); "
            f"latency from ts_send: {fmt_lat(med['latency_send'])}")

    say("single try_push -> Rust one-way latency at a fixed offered rate "
        "(from intended send time; from ts_send):")
    paced = []
    for rate, secs in ((10_000, 5), (100_000, 3), (1_000_000, 2)):
        n = max(rate * secs // scale, 1000)
        r = paced_latency(mods, rate, n, n // 10)
        paced.append(r)
        say(f"  {rate:>9,}/s offered ({r['achieved_rate']:,.0f}/s achieved): "
            f"intended: {fmt_lat(r['latency_intended'])}")
        say(f"  {'':>9}                                     ts_send:  {fmt_lat(r['latency_send'])}")

    up = unpaced_try_push(mods, 2_000_000 // scale)
    say(f"unpaced try_push loop: {up['rec_per_s'] / 1e6:.2f} M rec/s ({up['ns_per_push']:.0f} ns/push incl. loop)")
    bc.emit_json("ring_py", {"quick": a.quick, "machine": m, "capacity": CAPACITY,
                             "batch": batches, "paced": paced, "unpaced_try_push": up})
    return 0


if __name__ == "__main__":
    sys.exit(main())
