"""The Python orchestration layer end to end: tick-to-quote through ``rfqcore.engine.Engine``,
and replay throughput against bare parsing.

    .venv/bin/python bench/engine_py.py [--quick] [--json] [--only t2q|replay]

1. **tick-to-quote through the full engine** (``t2q``): an ``Engine`` (Rust core thread +
   Python output pump thread, as shipped) prices the BTC composite. A *separate sender process*
   (a stand-in for a handler process: its own GIL) replays the real Binance BTC messages
   (spot + USD-M + COIN-M merged, ``bench_data.py``) into the engine's input ring with the
   Cython ``RingProducer``, one whole venue message per push, at a FIXED offered message rate.
   Every record of message i carries its intended send time ``t0 + i/rate`` in ``ts_event``
   (the core copies the trigger's ``ts_event`` and ``ts_send`` onto the quotes it causes; it
   never reads either). A subscriber callback on the engine's pump thread records, once per
   quoting message, ``now - ts_event`` (from the intended send time: coordinated-omission
   correct, sender lateness counts against us) and ``now - ts_send`` (from the actual push).
   A probe splits the pump's share: ``ts_send`` -> the pump thread enters ``Engine.drain()``
   (core thread + output hop + the pump's wake-up) and ``drain()`` entered -> the callback runs
   (the engine's Python drain path before the subscriber).
   Only messages that change the published ladder produce a quote, so the sample count is the
   number of quoting messages. Scenarios: the configured registry (BTC composite over three
   venues, ladder 0.1/1/10/100 BTC), the same with a 0.1/1 BTC ladder (``btc3_shallow``: no
   deep sweeps), and a spot-only BTC composite (quotes change on most spot book messages). The
   engine runs as shipped (``pump_interval_s`` left at its default).
2. **replay vs bare parse** (``replay``), on the five Binance BTC files: (a) bare read
   (``read_messages``: gzip + line split), (b) bare parse (that + ``orjson.loads`` per message),
   (c) ``ReplayDriver(producer=None)``: merge + handler decode into records, no ring, (d) the same
   replay pushing into a running ``Engine`` (core thread consuming), as fast as possible.

Prints a human summary and one JSON line ``{"bench":"engine_py",...}``.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

import bench_common as bc
import bench_data as bd

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------- sender process

def sender_main(path: str, rate: int, n_msgs: int, t0: int) -> int:
    """Child process: push messages 0..n_msgs of btc_merged into ``path`` at ``rate`` msg/s."""
    from rfqcore._ring import RingProducer

    recs = bd.load("btc_merged")
    ends = np.flatnonzero(recs["flags"] & bd.END) + 1
    ends = ends[:n_msgs]
    recs = recs[: ends[-1]].copy()
    starts = np.concatenate(([0], ends[:-1]))
    period = 1_000_000_000 // rate
    msg_of = np.repeat(np.arange(len(ends), dtype=np.int64), ends - starts)
    recs["ts_event"] = t0 + msg_of * period  # intended send time of the record's message
    msgs = [recs[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
    prod = RingProducer(path)
    push = prod.push_batch_blocking
    clock = time.monotonic_ns
    sleep = time.sleep
    late = 0
    for i, m in enumerate(msgs):
        due = t0 + i * period
        now = clock()
        if due - now > 300_000:  # sleep (no CPU) until ~0.2 ms before, then spin
            sleep((due - now - 200_000) / 1e9)
        while clock() < due:
            pass
        if clock() - due > 100_000:
            late += 1
        push(m, "spin")
    prod.close()
    print(f"sender: {len(msgs)} messages, {late} sent > 100 us late", flush=True)
    return 0


# ---------------------------------------------------------------- tick-to-quote

def registry_for(scenario: str):
    from rfqcore.instruments import Registry

    path = bd.REPO / "src" / "rfqcore" / "defaults" / "instruments.toml"
    doc = tomllib.loads(path.read_text())
    if scenario == "spot1":
        btc = next(c for c in doc["composite"] if c["name"] == "BTC")
        one = copy.deepcopy(btc)
        one["members"] = ["binance-spot:BTCUSDT"]
        doc["composite"] = [one]
    elif scenario == "btc3_shallow":  # the shipped composite with a 0.1 / 1 BTC ladder only
        btc = next(c for c in doc["composite"] if c["name"] == "BTC")
        btc["sizes"] = ["0.1", "1"]
    elif scenario != "btc3":
        raise ValueError(scenario)
    return Registry.from_dict(doc, source=f"bench:{scenario}")


def tick_to_quote(scenario: str, rate: int, n_msgs: int, idle: str) -> dict:
    from rfqcore.engine import Engine
    from rfqcore.latency import LatencyRecorder
    from rfqcore.records import Kind

    warm_frac = 0.1
    lat_int, lat_send = LatencyRecorder(), LatencyRecorder()
    # Where the pump's share goes: ts_send -> the pump enters drain() (core + output hop + the
    # pump's wake-up), and drain() entered -> our callback runs (the engine's Python drain path).
    lat_wake, lat_drain = LatencyRecorder(), LatencyRecorder()
    state = {"t_warm": 0, "samples": 0, "t_drain": 0}

    def on_quotes(q: np.ndarray) -> None:
        now = time.monotonic_ns()
        ev, idx = np.unique(q["ts_event"], return_index=True)  # one sample per triggering message
        keep = ev >= state["t_warm"]
        lat_int.record_array(now - ev[keep])
        sent = q["ts_send"][idx][keep]
        lat_send.record_array(now - sent)
        if state["t_drain"] and len(sent):
            lat_wake.record_array(state["t_drain"] - sent)
            lat_drain.record(now - state["t_drain"])
        state["samples"] += int(keep.sum())

    with Engine(registry_for(scenario), idle=idle) as eng:
        eng.add_producer("bench")  # creates + registers the ring; the sender process writes it
        path = str(eng.ring_dir / "in-bench.ring")
        eng.subscribe(on_quotes, kinds=(Kind.QUOTE,))
        pump_interval = getattr(eng, "pump_interval_s", None)  # as shipped: not changed here
        # Probe: note when the pump thread enters drain() (an instance attribute shadows the
        # method for the pump's `self.drain()` call; one clock read per drain, nothing else).
        drain = eng.drain

        def probed_drain() -> int:
            state["t_drain"] = time.monotonic_ns()
            return drain()

        eng.drain = probed_drain
        eng.start()
        t0 = time.monotonic_ns() + 1_500_000_000  # the child needs ~1 s to load the records
        state["t_warm"] = t0 + int(warm_frac * n_msgs) * (1_000_000_000 // rate)
        p = subprocess.run([sys.executable, str(HERE), "--sender", path, str(rate), str(n_msgs), str(t0)],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"sender failed: {p.stderr[-2000:]}")
        time.sleep(0.3)
        eng.stop()
        stats = eng.stats()
        # The engine's own figure (all quotes, warm-up included): newer engines measure it on the
        # core thread (ts_send -> quotes published), older ones on the pump (ts_send -> drained).
        t2q = eng.tick_to_quote
        pump = _summ(t2q() if callable(t2q) else t2q.summary())
    s_int, s_send = lat_int.summary(), lat_send.summary()
    bc.export_hist(f"engine_py_tick_to_quote_{scenario}_{rate // 1000}k", lat_int)
    return {
        "scenario": scenario, "idle": idle, "pump_interval_s": pump_interval,
        "offered_msg_rate": rate, "messages": n_msgs,
        "sender": p.stdout.strip(), "samples": state["samples"],
        "core_records": stats.get("records"), "core_rejects": stats.get("rejects"),
        "quotes": stats["output"]["quotes"],
        "latency_intended": _summ(s_int),
        "latency_send": _summ(s_send),
        "engine_own_tick_to_quote_incl_warmup": pump,
        "probe_send_to_drain": _summ(lat_wake.summary()),
        "probe_drain_to_callback": _summ(lat_drain.summary()),
    }


def _summ(s) -> dict:
    return {"count": s.count, "p50": s.p50, "p99": s.p99, "p999": s.p999, "max": s.max}


# ---------------------------------------------------------------- replay vs bare parse

def replay_bench() -> dict:
    import orjson

    from rfqcore.engine import Engine
    from rfqcore.instruments import Registry
    from rfqcore.replay import ReplayDriver, default_data_files, read_messages

    files = [f for f in default_data_files(bd.data_dir()) if f.symbol and f.symbol.startswith("BTC")]
    out: dict = {"files": [str(f.path.relative_to(bd.data_dir())) for f in files]}

    t = time.perf_counter()
    n = sum(1 for f in files for _ in read_messages(f.path))
    out["bare_read"] = {"messages": n, "s": time.perf_counter() - t}

    loads = orjson.loads
    t = time.perf_counter()
    n = 0
    for f in files:
        for _, payload in read_messages(f.path):
            loads(payload)
            n += 1
    out["bare_parse"] = {"messages": n, "s": time.perf_counter() - t}

    reg = Registry.load()
    d = ReplayDriver(files, reg, producer=None)
    t = time.perf_counter()
    st = d.run()
    out["replay_decode"] = {"messages": st.messages, "records": st.records, "s": time.perf_counter() - t}

    with Engine(reg, idle="yield") as eng:
        prod = eng.add_producer("replay")
        eng.start()
        d = ReplayDriver(files, reg, producer=prod)
        t = time.perf_counter()
        st = d.run()
        eng.stop()  # returns once the core drained every input ring
        el = time.perf_counter() - t
        stats = eng.stats()
    out["replay_engine"] = {"messages": st.messages, "records": st.records, "s": el,
                            "core_records": stats.get("records"), "core_rejects": stats.get("rejects")}
    for k in ("bare_read", "bare_parse", "replay_decode", "replay_engine"):
        out[k]["msg_per_s"] = out[k]["messages"] / out[k]["s"]
    return out


# ---------------------------------------------------------------- main

def fmt(h: dict) -> str:
    return (f"p50 {h['p50'] / 1e3:,.1f} us  p99 {h['p99'] / 1e3:,.1f} us  p99.9 {h['p999'] / 1e3:,.1f} us  "
            f"max {h['max'] / 1e3:,.1f} us  ({h['count']} samples)")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--sender":
        path, rate, n, t0 = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        return sender_main(path, rate, n, t0)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", choices=("t2q", "replay"), default=None)
    a = ap.parse_args()
    say = (lambda *_: None) if a.json else print
    try:
        bd.prepare()
        from rfqcore.engine import Engine  # noqa: F401
    except bd.DataMissing as e:
        say(f"SKIP: {e}")
        bc.emit_json("engine_py", {"skipped": str(e)})
        return 0
    except ImportError as e:
        why = f"the Python orchestration layer is not importable ({e}); build with `make build`"
        say(f"SKIP: {why}")
        bc.emit_json("engine_py", {"skipped": why})
        return 0
    m = bc.machine()
    res: dict = {"quick": a.quick, "machine": m}
    scale = 10 if a.quick else 1
    if a.only in (None, "t2q"):
        say(f"tick-to-quote through rfqcore.engine.Engine (sender process -> ring -> core thread -> "
            f"out ring -> pump thread -> callback); {m['cpu']}, load avg {m['loadavg']}")
        res["t2q"] = []
        for scenario in ("btc3", "btc3_shallow", "spot1"):
            for rate, n in ((1_000, 10_000), (10_000, 60_000)):
                r = tick_to_quote(scenario, rate, max(n // scale, 2000), "yield")
                res["t2q"].append(r)
                say(f"  {scenario:<5} {rate:>6}/s offered, {r['messages']} msgs ({r['sender']}); "
                    f"core rejects {r['core_rejects']}, quotes {r['quotes']}")
                say(f"        from intended send: {fmt(r['latency_intended'])}")
                say(f"        from ts_send:       {fmt(r['latency_send'])}")
                if r["probe_drain_to_callback"]["count"]:
                    say(f"        ts_send -> pump enters drain(): {fmt(r['probe_send_to_drain'])}")
                    say(f"        drain() -> subscriber callback: {fmt(r['probe_drain_to_callback'])}")
    if a.only in (None, "replay"):
        say("replay vs bare parse (Binance BTC files: spot x2, USD-M, COIN-M x2):")
        r = replay_bench()
        res["replay"] = r
        for k in ("bare_read", "bare_parse", "replay_decode", "replay_engine"):
            say(f"  {k:<14} {r[k]['messages']:>8} msgs in {r[k]['s']:6.2f} s = {r[k]['msg_per_s'] / 1e3:7.1f} k msg/s"
                + (f", {r[k]['records']} records" if "records" in r[k] else ""))
    bc.emit_json("engine_py", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
