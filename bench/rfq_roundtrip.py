"""RFQ round trip through the Aeron gateway and the core, against the raw Aeron floor.

    .venv/bin/python bench/rfq_roundtrip.py [--quick] [--json] [--no-wait]
        [--only pingpong,closed,paced,throughput,cpu,replay]
        [--layout core|split|shared|free] [--core-idle spin|yield|park]
        [--gateway-idle spin|yield|sleep] [--gateway-spins N] [--client-wait spin|yield]

Every measurement runs its client in a process of its own, over Aeron IPC (``aeron:ipc``)
through one embedded C media driver in this process; latencies are HdrHistogram percentiles
(``rfqcore.latency``), never averages.

1. **ping-pong** (``pingpong``): raw pyaeron between two processes pinned to the two CPUs, the
   floor of any Python request/response over Aeron IPC: an 80-byte message (an RFQ's size) out,
   a 104-byte one (a quote's size) back, one in flight, both sides busy-polling, timed by the
   sender.
2. **closed loop** (``closed``): ``RfqClient.request_quote_raw`` (1 BTC, buy) from a client
   process → gateway process → gateway ring → Rust core thread (this process) → tap ring →
   gateway → client, one RFQ in flight; timed in the client around the call (the library's
   encode/decode included). Held against the targets: p50 ≤ 3 × ping-pong p50, p99 ≤ 50 µs.
3. **fixed rate** (``paced``): 10 k RFQ/s offered on a fixed schedule, each RFQ timed from its
   *intended* send time (a late send counts against us: no coordinated omission).
4. **throughput** (``throughput``): as many RFQs as the path takes, 256 in flight.
5. **Python work** (``cpu``): the client's and the gateway's code for one RFQ, called in this
   process with nothing else in between — what the path costs before any scheduling.
6. **quotes under market data** (``replay``): the throughput client again while the recorded
   Binance BTC+ETH data replays at full speed into the same core (``ReplayDriver``,
   ``live_clock``) — quotes/s and replay messages/s against each alone. Needs ../shared/data.

The core is the real engine (``rfqcore.Engine`` with a bench copy of ``rfq.toml``: acme's
throttles off and its open-quote limit raised so 10 k/s is not refused by design; RFQs ask for a
20 ms quote lifetime) over a synthetic BTC spot book refreshed every second. Also reported: the
core's own RFQ-to-quote histogram and the gateway's push → quote-read-back histogram.

CPU layout: the round trip has three busy actors (client, gateway, core thread) and this machine
two CPUs. ``core`` (default) pins the client to CPU 0 and the gateway and the engine process to
CPU 1, where the gateway (``--gateway-idle yield --gateway-spins 0``) and the core thread
(``--core-idle yield``) hand the CPU to each other with ``sched_yield`` whenever idle; ``shared``
puts client and gateway on CPU 0 and the engine on CPU 1; ``split`` pins client and gateway
apart and lets the engine float; ``free`` pins nothing. Three spinners on two CPUs (``split``
with spinning idles) lose whole scheduler slices: milliseconds per RFQ.

``run(quick) -> dict`` is the entry for ``bench/run_all.py``; the script waits for an idle
machine (``--no-wait`` skips), prints a report and one JSON line ``{"bench":"rfq_roundtrip",...}``
with ``foreign_cpus`` (CPU used by other processes meanwhile, see ``bench_common.ForeignLoad``).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import bench_common as bc

HERE = Path(__file__).resolve()
PING_SIZE, PONG_SIZE = 80, 104  # RFQ and QUOTE messages of schema v1
TARGET_RATIO = 3.0
TARGET_P99_NS = 50_000
PACED_RATE = 10_000
#: the second fixed offered rate (issue 11), reported beside the first
PACED_RATE_HIGH = 100_000
#: p99 at PACED_RATE offered, from the intended send time (issue 11)
TARGET_PACED_P99_NS = 100_000
#: saturated quotes/s through one gateway (issue 11)
TARGET_SATURATED_PER_S = 500_000
QUOTE_TTL_NS = 20_000_000


def _summary(rec: Any) -> dict[str, int]:
    s = rec.summary()
    return {"count": s.count, "p50": s.p50, "p99": s.p99, "p999": s.p999, "max": s.max}


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


# ---------------------------------------------------------------- 1. raw ping-pong


def _pong_main(aeron_dir: str, cpu: int | None, stop: Any) -> None:
    import pyaeron

    _pin(cpu)
    a = pyaeron.Aeron(dir=aeron_dir)
    sub = a.add_subscription("aeron:ipc", 9001)
    pub = a.add_exclusive_publication("aeron:ipc", 9002)
    reply = bytes(PONG_SIZE)

    def on(buf: Any, hdr: Any) -> None:
        while pub.offer(reply) is not True:
            pass

    i = 0
    while True:
        if sub.poll(on, 16) == 0:
            i += 1
            if i & 4095 == 0 and stop.is_set():
                break
    a.close()


def _ping_main(aeron_dir: str, cpu: int | None, n: int, warmup: int, conn: Any) -> None:
    import pyaeron

    from rfqcore.latency import LatencyRecorder

    _pin(cpu)
    a = pyaeron.Aeron(dir=aeron_dir)
    sub = a.add_subscription("aeron:ipc", 9002)
    pub = a.add_exclusive_publication("aeron:ipc", 9001)
    pub.await_connected(timeout=10)
    got = [0]

    def on(buf: Any, hdr: Any) -> None:
        got[0] += 1

    msg = bytes(PING_SIZE)
    rec = LatencyRecorder()
    now = time.perf_counter_ns
    poll = sub.poll
    deadline = time.monotonic() + 60
    for i in range(warmup + n):
        t = now()
        while pub.offer(msg) is not True:
            pass
        target = got[0] + 1
        while got[0] < target:
            poll(on, 16)
            if time.monotonic() > deadline:
                raise TimeoutError("ping-pong stalled")
        if i >= warmup:
            rec.record(now() - t)
    bc.export_hist("aeron_pingpong_rtt", rec)
    conn.send(_summary(rec))
    a.close()


def pingpong(aeron_dir: str, n: int, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    parent, child = ctx.Pipe()
    pong = ctx.Process(target=_pong_main, args=(aeron_dir, cpus[1], stop), daemon=True)
    pong.start()
    ping = ctx.Process(target=_ping_main, args=(aeron_dir, cpus[0], n, n // 10, child), daemon=True)
    ping.start()
    try:
        if not parent.poll(120):
            raise TimeoutError("ping process did not report")
        rtt = parent.recv()
    finally:
        stop.set()
        ping.join(10)
        pong.join(10)
        for p in (ping, pong):
            if p.is_alive():
                p.terminate()
    return {"rtt": rtt, "ping_bytes": PING_SIZE, "pong_bytes": PONG_SIZE, "cpus": list(cpus)}


# ---------------------------------------------------------------- 2-5. the RFQ client process


def _client_main(mode: str, aeron_dir: str, settings_path: str, params: dict[str, Any], cpu: int | None,
                 conn: Any) -> None:
    """One client process: ``closed``, ``paced`` or ``throughput`` (see the module doc)."""
    from rfqcore.client import RfqClient, RfqRejected
    from rfqcore.instruments import Registry
    from rfqcore.latency import LatencyRecorder
    from rfqcore.rfqconfig import RfqSettings

    _pin(cpu)
    reg = Registry.load()
    settings = RfqSettings.load(settings_path, reg)
    btc = reg.composite("BTC").id
    c = RfqClient("acme-capital", settings=settings, aeron_dir=aeron_dir)
    c.connect()
    c.logon()
    c.wait_idle = params.get("wait", "spin")
    idle_yield = c.wait_idle == "yield"
    gc.collect()
    gc.freeze()  # as the gateway process does: start-up objects out of the GC's scans
    rec = LatencyRecorder()
    rejects: dict[str, int] = {}
    out: dict[str, Any] = {}
    qty = 10**8
    try:
        if mode == "closed":
            n, warmup = params["n"], params["warmup"]
            clock = time.perf_counter_ns
            t_start = 0
            for i in range(warmup + n):
                if i == warmup:
                    t_start = time.perf_counter_ns()
                t = clock()
                try:
                    c.request_quote_raw(btc, 0, qty, ttl_ns=QUOTE_TTL_NS, timeout=5.0)
                except RfqRejected as e:
                    rejects[e.reason_name] = rejects.get(e.reason_name, 0) + 1
                    continue
                if i >= warmup:
                    rec.record(clock() - t)
            out["elapsed_s"] = (time.perf_counter_ns() - t_start) / 1e9
            out["rfq_per_s"] = n / out["elapsed_s"]
        else:
            intended: dict[int, int] = {}
            done = [0]

            def on_quote(q: Any) -> None:
                t0 = intended.pop(q.rfq_id, None)
                if t0 is not None:
                    done[0] += 1
                    if t0 >= 0:
                        rec.record(q.received_ns - t0)

            def on_reject(r: Any) -> None:
                if intended.pop(r.ref_id, None) is not None:
                    done[0] += 1
                rejects[r.reason_name] = rejects.get(r.reason_name, 0) + 1

            c.on_quote, c.on_reject = on_quote, on_reject
            mono = time.monotonic_ns
            send = c.send_rfq_raw
            poll = c.poll
            sent = 0
            if mode == "paced":
                n, warmup = params["n"], params["warmup"]
                total = n + warmup
                period = 1_000_000_000 // params["rate"]
                t0 = mono() + 1_000_000
                late_max = 0
                while done[0] < total:
                    now = mono()
                    due = t0 + sent * period
                    if sent < total and now >= due:
                        late_max = max(late_max, now - due)
                        rid = send(btc, 0, qty, ttl_ns=QUOTE_TTL_NS)
                        intended[rid] = due if sent >= warmup else -1
                        sent += 1
                    if poll() == 0 and idle_yield:
                        os.sched_yield()
                    if now - t0 > total * period + 30_000_000_000:
                        raise TimeoutError(f"paced run stalled: {done[0]} of {total} answered")
                out["offered_rate"] = params["rate"]
                out["elapsed_s"] = (mono() - t0) / 1e9
                out["achieved_rate"] = total / out["elapsed_s"]
                out["max_send_lateness_ns"] = late_max
            else:  # throughput: keep `window` RFQs in flight for `seconds`
                window, seconds = params["window"], params["seconds"]
                t0 = mono()
                t_end = t0 + int(seconds * 1e9)
                while True:
                    now = mono()
                    if now >= t_end:
                        break
                    while sent - done[0] < window:
                        rid = send(btc, 0, qty, ttl_ns=QUOTE_TTL_NS)
                        intended[rid] = mono()
                        sent += 1
                    if poll(256) == 0 and idle_yield:
                        os.sched_yield()
                drain_deadline = mono() + 10_000_000_000
                while done[0] < sent and mono() < drain_deadline:
                    poll(256)
                elapsed = (mono() - t0) / 1e9
                out["window"] = window
                out["elapsed_s"] = elapsed
                out["answered"] = done[0]
                out["quotes"] = rec.hist.get_total_count()
                out["quotes_per_s"] = rec.hist.get_total_count() / elapsed
                out["answers_per_s"] = done[0] / elapsed
        out["latency"] = _summary(rec)
        bc.export_hist(f"rfq_roundtrip_{mode}", rec)
        out["rejects"] = rejects
        out["client_dropped"] = c.dropped
        conn.send(("ok", out))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        c.close()


def _run_client(mode: str, aeron_dir: str, settings_path: str, params: dict[str, Any], cpu: int | None,
                timeout: float = 300.0) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_client_main, args=(mode, aeron_dir, settings_path, params, cpu, child), daemon=True)
    p.start()
    try:
        if not parent.poll(timeout):
            raise TimeoutError(f"{mode} client did not finish within {timeout:g} s")
        status, payload = parent.recv()
    finally:
        p.join(10)
        if p.is_alive():
            p.terminate()
    if status != "ok":
        raise RuntimeError(f"{mode} client failed: {payload}")
    return payload


# ---------------------------------------------------------------- the engine side


def bench_settings(path: str) -> None:
    """The packaged rfq.toml with acme-capital's RFQ/accept throttles off and room for many
    open quotes (a 10 k/s RFQ load is not refused by design limits)."""
    from importlib import resources

    text = resources.files("rfqcore").joinpath("defaults/rfq.toml").read_text("utf-8")
    block = re.search(r'\[\[client\]\]\nname = "acme-capital".*?(?=\n\[\[|\Z)', text, re.S)
    assert block, "acme-capital not found in the packaged rfq.toml"
    b = block.group(0)
    for key, value in (("max_open_quotes", "60000"), ("rfq_rate", "0"), ("rfq_burst", "0"), ("accept_rate", "0"),
                       ("accept_burst", "0"), ("credit_limit", '"1000000000"')):
        b = re.sub(rf"^{key} = .*$", f"{key} = {value}", b, flags=re.M)
    Path(path).write_text(text.replace(block.group(0), b), "utf-8")


class Stack:
    """Driver + engine (core thread in this process) + gateway process, torn down on exit."""

    def __init__(self, layout: str, core_idle: str, gateway_idle: str, synthetic_market: bool = True,
                 gateway_spins: int = 1000, client_wait: str = "spin", gateway: str = "native") -> None:
        from rfqcore.engine import Engine
        from rfqcore.gateway.aeron import EmbeddedDriver
        from rfqcore.gateway.native import NativeGateway
        from rfqcore.gateway.server import GatewayProcess
        from rfqcore.instruments import Registry
        from rfqcore.rfqconfig import RfqSettings
        from rfqcore.testing import spot_snapshot

        cpus = _cpus()
        c0, c1 = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
        e1 = {c1} if c1 is not None else None
        self.client_cpu, gw_cpu, engine_cpus = {
            "split": (c0, c1, None),  # client | gateway, engine floats
            "shared": (c0, c0, e1),  # client + gateway | engine
            "core": (c0, c1, e1),  # client | gateway + engine
            "free": (None, None, None),
        }[layout]
        self.layout = {"client": self.client_cpu, "gateway": gw_cpu,
                       "engine": sorted(engine_cpus) if engine_cpus else "any"}
        self._tmp = tempfile.mkdtemp(prefix="rfq-rt-bench-")
        self.settings_path = f"{self._tmp}/rfq.toml"
        bench_settings(self.settings_path)
        self.registry = Registry.load()
        self.driver = EmbeddedDriver()
        self._saved_affinity = os.sched_getaffinity(0)
        if engine_cpus:
            os.sched_setaffinity(0, engine_cpus)  # the core thread inherits it
        self.engine = Engine(self.registry, rfq=RfqSettings.load(self.settings_path, self.registry),
                             idle=core_idle)  # type: ignore[arg-type]
        self.engine.add_producer("gateway")
        tap = self.engine.add_tap("gateway")
        self.engine.add_producer("market")
        self.synthetic = synthetic_market
        if synthetic_market:
            self.engine.feed(spot_snapshot(self.registry, time.time_ns()), producer="market")
        self.engine.start(pump=False, heartbeat_ms=1)
        self._stop = threading.Event()
        self._drainer = threading.Thread(target=self._drain_loop, name="bench-drain", daemon=True)
        self._drainer.start()
        # native: a thread of this (the engine's) process; python: a process of its own
        gw_cls = NativeGateway if gateway == "native" else GatewayProcess
        self.gateway = gw_cls(self.engine.ring_path("gateway"), tap, aeron_dir=self.driver.dir,
                              settings_path=self.settings_path, cpu=gw_cpu, idle=gateway_idle,
                              idle_spins=gateway_spins, measure_core_hop=True)
        self.client_wait = client_wait
        self.gateway.start()

    def _drain_loop(self) -> None:
        # The out ring gets a copy of every output, which the gateway reads from the tap: empty
        # it raw, every 2 ms. (Engine.drain() would also decode every record into Python events
        # on this thread -- hundreds of µs per wake-up at these rates, on the CPU the gateway and
        # the core share; the engine's pump is measured by bench/engine_py.py, not here.)
        import numpy as np

        from rfqcore.records import RECORD_DTYPE
        from rfqcore.testing import spot_snapshot

        out_ring = self.engine._out  # noqa: SLF001 - raw drain, see above
        buf = np.zeros(1 << 14, dtype=RECORD_DTYPE)
        last = time.monotonic()
        while not self._stop.is_set():
            time.sleep(0.002)
            while out_ring.poll_into(buf) == len(buf):
                pass
            if self.synthetic and time.monotonic() - last > 1.0:
                last = time.monotonic()
                self.engine.feed(spot_snapshot(self.registry, time.time_ns()), producer="market")

    def client(self, mode: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one client process; adds the core's and the gateway's histograms of that run."""
        self.engine.rfq_to_quote(reset=True)
        self.gateway.stats(reset_histograms=True)
        res = _run_client(mode, self.driver.dir, self.settings_path, {"wait": self.client_wait, **params},
                          self.client_cpu)
        core = self.engine.rfq_to_quote(reset=True)
        res["core_rfq_to_quote"] = {"count": core.count, "p50": core.p50, "p99": core.p99, "p999": core.p999,
                                    "max": core.max}
        res["gateway_core_hop"] = self.gateway.stats(reset_histograms=True)["core_hop"]
        return res

    def close(self) -> dict[str, Any]:
        gw = self.gateway.stop() or {}
        self._stop.set()
        self._drainer.join(5)
        try:
            core = self.engine.rfq_to_quote()
            core_h = {"count": core.count, "p50": core.p50, "p99": core.p99, "p999": core.p999, "max": core.max}
        except Exception:  # noqa: BLE001 - optional figure
            core_h = None
        self.engine.close()
        self.driver.close()
        os.sched_setaffinity(0, self._saved_affinity)
        shutil.rmtree(self._tmp, ignore_errors=True)
        return {"gateway_stats": gw, "core_rfq_to_quote": core_h}


# ---------------------------------------------------------------- 5. replay under RFQ load


def replay_phase(quick: bool, layout: str, core_idle: str, gateway_idle: str, gateway_spins: int,
                 client_wait: str, gateway: str = "native") -> dict[str, Any]:
    """Replay alone, then replay again while the throughput client runs (one stack)."""
    from rfqcore.replay import ReplayDriver, default_data_files, default_data_root

    try:
        files = list(default_data_files(default_data_root()))
    except Exception as e:  # noqa: BLE001
        return {"skipped": f"no venue data: {e}"}
    if not files:
        return {"skipped": "no venue data in ../shared/data"}
    limit = 600_000 if quick else None
    seconds = 2.0 if quick else 6.0
    res: dict[str, Any] = {"files": [str(f) for f in files], "message_limit": limit}
    st = Stack(layout, core_idle, gateway_idle, synthetic_market=False, gateway_spins=gateway_spins,
               client_wait=client_wait, gateway=gateway)
    try:
        def replay() -> dict[str, Any]:
            sink: Any = st.engine.producer("replay")
            drv = ReplayDriver(files, st.registry, sink, live_clock=True, strict=False)
            t0 = time.monotonic()
            r = drv.run(limit=limit)
            return {"messages": r.messages, "records": r.records, "elapsed_s": r.elapsed_s,
                    "msg_per_s": r.messages / r.elapsed_s, "t0": t0, "t1": time.monotonic()}

        res["replay_alone"] = replay()
        box: dict[str, Any] = {}
        th = threading.Thread(target=lambda: box.update(replay()), name="bench-replay")
        th.start()
        time.sleep(1.0)  # the books come up from the first snapshots
        t0 = time.monotonic()
        res["rfq_under_replay"] = st.client("throughput", {"window": 256, "seconds": seconds})
        t1 = time.monotonic()
        th.join()
        res["replay_under_load"] = box
        # how much of the client's run (process start-up included) had the replay running
        overlap = max(0.0, min(t1, box["t1"]) - max(t0, box["t0"]))
        res["overlap_fraction_of_client_run"] = overlap / max(t1 - t0, 1e-9)
    finally:
        res["stack"] = st.close()
    return res


# ---------------------------------------------------------------- 6. Python work per RFQ


def cpu_costs(n: int) -> dict[str, float]:
    """The Python work of one RFQ round trip, in this process with no scheduling in between:
    mean ns per call of the client's send and receive paths and of the gateway's request and
    quote paths (the same code the processes run; Aeron offers into real publications)."""
    import hashlib
    import hmac

    import pyaeron

    from rfqcore._ring import RingConsumer, ring_create
    from rfqcore.client import RfqClient
    from rfqcore.gateway import schema as sch
    from rfqcore.gateway.aeron import EmbeddedDriver
    from rfqcore.gateway.server import Gateway
    from rfqcore.instruments import Registry
    from rfqcore.records import Flag, Kind
    from rfqcore.rfqconfig import RfqSettings

    class Hdr:
        session_id = 7

    out: dict[str, float] = {}
    tmp = tempfile.mkdtemp(prefix="rfq-rt-cpu-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        inp, tap = f"{tmp}/in.ring", f"{tmp}/tap.ring"
        ring_create(inp, 1 << 17)
        ring_create(tap, 1 << 10)
        settings = RfqSettings.load()
        acme = settings.client("acme-capital")
        btc = Registry.load().composite("BTC").id
        with EmbeddedDriver() as d:
            a = pyaeron.Aeron(dir=d.dir)
            resp = a.add_subscription("aeron:ipc", 2000 + acme.id)  # what the gateway sends the client
            sink = a.add_subscription("aeron:ipc", 1001)  # what the client sends
            gw = Gateway(settings, inp, tap, aeron=a)
            nonce, ts = 1, time.time_ns()
            mac = hmac.new(acme.secret, sch.logon_mac_input(acme.id, nonce, ts), hashlib.sha256).digest()
            gw._on_fragment(sch.encode(sch.LogonMsg(nonce, ts, mac), seq=1, id=acme.id), Hdr())
            got: list[bytes] = []
            while not got:
                resp.poll(lambda b, h: got.append(b.tobytes()), 10)
            token = sch.decode(got[0])[0].session  # LOGON_ACK carries the token in its header

            def drain(sub: Any) -> None:
                while sub.poll(lambda b, h: None, 1024):
                    pass

            key = sch.session_key(acme.secret, acme.id, nonce, token)
            msgs = []
            for i in range(n):  # signed as the client signs them (schema v2)
                m = bytearray(sch.encode(sch.RfqMsg(i, btc, 0, 0, 10**8, 0, 0, 0), seq=10 + i, id=acme.id))
                sch.seal(key, m, len(m))
                msgs.append(bytes(m))
            hdr = Hdr()
            t = time.perf_counter_ns()
            for m in msgs:
                gw._on_fragment(m, hdr)
            out["gateway_request_ns"] = (time.perf_counter_ns() - t) / n
            RingConsumer(inp).poll(n)
            now = time.time_ns()
            t = time.perf_counter_ns()
            for i in range(n):
                gw._on_record(Kind.RFQ_QUOTE, btc, 0, int(Flag.END), acme.id, i, now + 10**9, now, 6_000_100, 10**8,
                              i, 0)
                if i & 255 == 255:
                    drain(resp)
            out["gateway_quote_ns"] = (time.perf_counter_ns() - t) / n
            drain(resp)
            c = RfqClient(acme.id, acme.secret, settings=settings, aeron=a)
            c.connect()
            c.token, c._gw_session, c._key = token, 9, key
            c._enc.key = key  # the compiled encoder signs with it
            t = time.perf_counter_ns()
            for i in range(n):
                c._request("rfq", i, int(sch.MsgType.RFQ), i, btc, 0, 0, 10**8, 0, 0, time.time_ns())
                if i & 255 == 255:
                    drain(sink)
                    drain(gw.sub)
            out["client_send_ns"] = (time.perf_counter_ns() - t) / n
            quotes = [sch.encode(sch.QuoteMsg(i, i, btc, 1, 6_000_100, 10**8, 0, 0, now + 10**9, now), session=token,
                                 seq=i + 1, id=acme.id) for i in range(n)]

            class CHdr:
                session_id = 9

            ch = CHdr()
            t = time.perf_counter_ns()
            handler = c._handler  # the compiled Receiver (a QUOTE of the session never runs Python)
            for q in quotes:
                handler(q, ch)
            out["client_receive_ns"] = (time.perf_counter_ns() - t) / n
            out["total_python_ns"] = sum(out.values())
            c._pub.close()
            c._sub.close()
            c._logon_sub.close()
            gw.close()
            a.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------- orchestration


def run(quick: bool = False, only: set[str] | None = None, layout: str = "core", core_idle: str = "yield",
        gateway_idle: str = "yield", gateway_spins: int = 0, client_wait: str = "spin",
        gateway: str = "native") -> dict[str, Any]:
    """All measurements; returns the result dict (also the JSON line's payload)."""
    from rfqcore.gateway.aeron import EmbeddedDriver

    want = only or {"pingpong", "closed", "paced", "throughput", "replay", "cpu"}
    n = 20_000 if quick else 200_000
    out: dict[str, Any] = {"quick": quick, "layout_name": layout, "core_idle": core_idle, "gateway_idle": gateway_idle,
                           "gateway_spins": gateway_spins, "client_wait": client_wait, "gateway": gateway,
                           "machine": bc.machine()}
    cpus = _cpus()
    pair = (cpus[0], cpus[1]) if len(cpus) >= 2 and layout != "free" else (None, None)
    with bc.ForeignLoad() as fl:
        if "pingpong" in want:
            with EmbeddedDriver() as d:
                out["pingpong"] = pingpong(d.dir, n, pair)
        if want & {"closed", "paced", "throughput"}:
            st = Stack(layout, core_idle, gateway_idle, gateway_spins=gateway_spins, client_wait=client_wait,
                       gateway=gateway)
            out["layout"] = st.layout
            try:
                if "closed" in want:
                    out["closed"] = st.client("closed", {"n": n, "warmup": n // 10})
                if "paced" in want:
                    secs = 2 if quick else 20
                    out["paced"] = st.client("paced", {"rate": PACED_RATE, "n": PACED_RATE * secs,
                                                       "warmup": PACED_RATE // 2})
                    hi_secs = 1 if quick else 5
                    try:
                        out["paced_high"] = st.client("paced", {"rate": PACED_RATE_HIGH,
                                                                "n": PACED_RATE_HIGH * hi_secs,
                                                                "warmup": PACED_RATE_HIGH // 2})
                    except RuntimeError as e:  # e.g. a client too slow to read is cut off (slow consumer)
                        out["paced_high"] = {"offered_rate": PACED_RATE_HIGH, "failed": str(e)}
                if "throughput" in want:
                    out["throughput"] = st.client("throughput", {"window": 256, "seconds": 2.0 if quick else 8.0})
            finally:
                out["stack"] = st.close()
        if "cpu" in want:
            out["cpu"] = cpu_costs(20_000 if quick else 100_000)
        if "replay" in want:
            out["replay"] = replay_phase(quick, layout, core_idle, gateway_idle, gateway_spins, client_wait, gateway)
    out["foreign_cpus"] = round(fl.foreign_cpus, 3)
    out["wall_s"] = round(fl.wall_s, 1)
    pp = (out.get("pingpong") or {}).get("rtt")
    cl = (out.get("closed") or {}).get("latency")
    if pp and cl:
        out["ratio_p50"] = cl["p50"] / pp["p50"]
        out["targets"] = {
            "rfq_p50_over_pingpong_p50": {"measured": round(out["ratio_p50"], 2), "target": TARGET_RATIO,
                                          "met": out["ratio_p50"] <= TARGET_RATIO},
            "rfq_closed_loop_p99_ns": {"measured": cl["p99"], "target": TARGET_P99_NS, "met": cl["p99"] <= TARGET_P99_NS},
        }
    pc = (out.get("paced") or {}).get("latency")
    if pc:
        out.setdefault("targets", {})["rfq_paced_10k_p99_ns"] = {
            "measured": pc["p99"], "target": TARGET_PACED_P99_NS, "met": pc["p99"] <= TARGET_PACED_P99_NS}
    tp = (out.get("throughput") or {}).get("quotes_per_s")
    if tp:
        out.setdefault("targets", {})["rfq_saturated_quotes_per_s"] = {
            "measured": round(tp), "target": TARGET_SATURATED_PER_S, "met": tp >= TARGET_SATURATED_PER_S, "op": ">="}
    return out


def _us(v: float) -> str:
    return f"{v / 1e3:,.1f} µs"


def report(r: dict[str, Any]) -> None:
    print(f"RFQ round trip (Aeron IPC), layout {r['layout_name']} {r.get('layout', '')}, core idle {r['core_idle']}, "
          f"gateway idle {r['gateway_idle']}; other processes used {r['foreign_cpus']:.2f} CPUs on average")

    def h(name: str, d: dict[str, int]) -> None:
        print(f"  {name:<46} p50 {_us(d['p50']):>10}  p99 {_us(d['p99']):>10}  p99.9 {_us(d['p999']):>10}  "
              f"max {_us(d['max']):>11}  (n={d['count']:,})")

    if "pingpong" in r:
        h("1. raw pyaeron ping-pong RTT (floor)", r["pingpong"]["rtt"])
    def split(d: dict[str, Any]) -> None:
        if d.get("core_rfq_to_quote"):
            h("     of which core: RFQ pushed -> quote published", d["core_rfq_to_quote"])
        if d.get("gateway_core_hop"):
            h("     gateway: RFQ pushed -> quote read back", d["gateway_core_hop"])

    if "closed" in r:
        c = r["closed"]
        h("2. RFQ->quote closed loop (client-timed)", c["latency"])
        split(c)
        print(f"     {c['rfq_per_s']:,.0f} RFQ/s one in flight; rejects {c['rejects'] or 'none'}")
    for key in ("paced", "paced_high"):
        if key not in r:
            continue
        p = r[key]
        if "failed" in p:
            print(f"  3. RFQ->quote @ {p['offered_rate']:,}/s: FAILED ({p['failed']})")
            continue
        h(f"3. RFQ->quote @ {p['offered_rate']:,}/s (from intended send)", p["latency"])
        split(p)
        print(f"     achieved {p['achieved_rate']:,.0f}/s, worst send lateness {_us(p['max_send_lateness_ns'])}; "
              f"rejects {p['rejects'] or 'none'}")
    if "throughput" in r:
        t = r["throughput"]
        print(f"  4. throughput, {t['window']} in flight: {t['quotes_per_s']:,.0f} quotes/s "
              f"({t['answers_per_s']:,.0f} answers/s); rejects {t['rejects'] or 'none'}")
        h("     latency at saturation (from send)", t["latency"])
    rp = r.get("replay")
    if rp:
        if rp.get("skipped"):
            print(f"  5. quotes under market-data replay: SKIP ({rp['skipped']})")
        else:
            a, u, q = rp["replay_alone"], rp["replay_under_load"], rp["rfq_under_replay"]
            print(f"  5. replay alone {a['msg_per_s']:,.0f} msg/s; under RFQ load {u['msg_per_s']:,.0f} msg/s; "
                  f"quotes meanwhile {q.get('quotes_per_s', 0):,.0f}/s (alone: "
                  f"{r.get('throughput', {}).get('quotes_per_s', float('nan')):,.0f}/s), replay running during "
                  f"{rp['overlap_fraction_of_client_run']:.0%} of the client's run; rejects {q.get('rejects')}")
    cpu = r.get("cpu")
    if cpu:
        client = cpu['client_send_ns'] + cpu['client_receive_ns']
        gw = cpu['gateway_request_ns'] + cpu['gateway_quote_ns']
        on_path = client if r.get("gateway", "native") == "native" else client + gw
        print(f"  6. Python work per RFQ, no scheduling: client send {cpu['client_send_ns'] / 1e3:.1f} µs + client "
              f"receive {cpu['client_receive_ns'] / 1e3:.1f} µs; the Python fallback gateway's request "
              f"{cpu['gateway_request_ns'] / 1e3:.1f} µs + quote {cpu['gateway_quote_ns'] / 1e3:.1f} µs; on this "
              f"run's path ({r.get('gateway', 'native')} gateway): {on_path / 1e3:.1f} µs")
    if "ratio_p50" in r:
        for k, v in r["targets"].items():
            print(f"  {'MET   ' if v['met'] else 'MISSED'} {k}: {v['measured']} (target {v['target']})")
    for name, st in (("gateway", r.get("stack")), ("gateway (replay runs)", (r.get("replay") or {}).get("stack"))):
        gs = (st or {}).get("gateway_stats") or {}
        if gs:
            print(f"  {name}: in {gs['in']:,} out {gs['out']:,} pushed {gs['pushed']:,} ring_full {gs['ring_full']} "
                  f"offer_backlogged {gs['offer_backlogged']} slow_consumer_disconnects "
                  f"{gs['slow_consumer_disconnects']} no_session_drops {gs['no_session_drops']} "
                  f"not_connected_drops {gs['not_connected_drops']} rejects {gs['rejects']} "
                  f"unanswerable {gs['unanswerable']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--only", default=None, help="comma-separated: pingpong,closed,paced,throughput,replay")
    ap.add_argument("--layout", default="core", choices=["core", "split", "shared", "free"])
    ap.add_argument("--no-wait", action="store_true", help="do not wait for an idle machine first")
    ap.add_argument("--gateway-spins", type=int, default=0, help="idle cycles before the gateway yields")
    ap.add_argument("--client-wait", default="spin", choices=["spin", "yield"])
    ap.add_argument("--core-idle", default="yield", choices=["spin", "yield", "park"])
    ap.add_argument("--gateway-idle", default="yield", choices=["spin", "yield", "sleep"])
    ap.add_argument("--gateway", default="native", choices=["native", "python"],
                    help="the Rust gateway thread in the engine's process (default) or the Python gateway process")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    if not a.no_wait:
        bc.wait_quiet(0.9, 600.0)
    r = run(a.quick, only, a.layout, a.core_idle, a.gateway_idle, a.gateway_spins, a.client_wait, a.gateway)
    if not a.json:
        report(r)
    bc.emit_json("rfq_roundtrip", r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
