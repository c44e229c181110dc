"""FIX 4.4 QuoteRequest -> Quote round trip over TCP loopback, against a TCP echo floor.

    .venv/bin/python bench/fix_roundtrip.py [--quick] [--json] [--no-wait]
        [--only echo,closed,paced,throughput,quickfix,quickfix_tls,breakdown]

The desk runs in this process: the real engine (``rfqcore.Engine``, the core thread in Rust, the
output pump started) with the FIX acceptor (``rfqcore.fix.acceptor.FixGateway``, QuickFIX,
file store in a temporary directory) over a synthetic BTC spot book refreshed every second, and
acme-capital's throttles off (``rfq_roundtrip.bench_settings``). Every client is a process of its
own; latencies are HdrHistogram percentiles (``rfqcore.latency``), never averages.

1. **TCP echo** (``echo``): a QuoteRequest-sized message to an echo process and back over the
   same loopback, one in flight, both ends plain blocking sockets in Python: the transport floor
   of any Python request/response over TCP here.
2. **closed loop** (``closed``): a minimal raw-socket FIX client (logon, then QuoteRequests built
   from a pre-encoded template: only MsgSeqNum, SendingTime, QuoteReqID, ValidUntilTime, BodyLength
   and CheckSum change) sends one QuoteRequest (BTC, 0.01, buy, ValidUntilTime 1 s) and waits for
   its Quote; timed in the client from before encoding to the Quote read and matched.
3. **fixed rate** (``paced``): the raw client offers QuoteRequests on a fixed schedule, each timed
   from its *intended* send time (a late send counts against us: no coordinated omission).
4. **throughput** (``throughput``): the raw client keeps 256 QuoteRequests in flight; quotes/s.
5. **QuickFIX client** (``quickfix``): ``rfqcore.fix.client.FixClient`` (a QuickFIX initiator
   with FIX 4.4 data dictionary validation), closed loop: what a client on QuickFIX sees.
6. **QuickFIX client over TLS** (``quickfix_tls``): the same against a desk serving TLS only
   (``[fix] tls_cert``, the tests' throwaway certificate; the client a QuickFIX
   ``SSLSocketInitiator`` verifying it): what the TLS relay in front of the acceptor costs,
   as a ratio to 5. in the same run.
7. **where the time goes** (``breakdown``): the raw client's closed loop again, the desk's
   gateway wrapped to stamp (``time.perf_counter_ns``) each QuoteRequest on its way: the
   QuickFIX callback from its entry until the RFQ is in the core's ring (``fix_in``), from then
   until the output pump hands the gateway the Quote (``core_and_pump``: the core thread waking,
   pricing, publishing; the pump waking from its 50 µs sleeps and decoding), and building and
   sending the Quote through QuickFIX (``fix_out``). The rest of the round trip is the client, the
   sockets, QuickFIX's parsing and validation and its thread waking. The wrappers cost a few µs.

Rejects (QuoteRequestReject) are counted by reason and never timed as quotes. ``run(quick) ->
dict`` is the entry for ``bench/run_all.py``; the script waits for an idle machine
(``--no-wait`` skips), prints a report and one JSON line ``{"bench":"fix_roundtrip",...}`` with
``foreign_cpus`` (CPU used by other processes meanwhile, see ``bench_common.ForeignLoad``).
"""

from __future__ import annotations

import argparse
import select
import multiprocessing as mp
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import bench_common as bc

TARGET_P50_NS = 20_000  # the target, raw client closed loop
TARGET_QPS = 50_000  # quotes/s on one session
CLIENT = "acme-capital"
IDLE = "park"  # the core thread parks when idle: spinning takes one of the 2 CPUs the three processes need
SOH = "\x01"
# ValidUntilTime (62) of every QuoteRequest: long enough that a queue at the desk (256 in flight)
# is not refused as BAD_TTL, short enough that open quotes stay far below the bench limit
VALID_NS = 1_000_000_000
# the tests' throwaway certificate for 127.0.0.1 (tests/tls/README.md): TLS here only measures
TLS_CERT = str(Path(__file__).resolve().parent.parent / "tests" / "tls" / "test-only-cert.pem")
TLS_KEY = str(Path(__file__).resolve().parent.parent / "tests" / "tls" / "test-only-key.pem")


def _summary(rec: Any) -> dict[str, int]:
    s = rec.summary()
    return {"count": s.count, "p50": s.p50, "p99": s.p99, "p999": s.p999, "max": s.max}


# ---------------------------------------------------------------- the raw FIX client


class RawFix:
    """A FIX 4.4 session on a plain socket: just enough for the benchmark (no resend, no gap
    fill: a fresh desk store per run, and each session goes on from the last one's ``seq``)."""

    def __init__(self, port: int, password: str, seq: int = 0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seq = seq
        self.buf = b""
        self._sec = -1
        self._sec_text = ""
        self.send_msg("A", f"98=0{SOH}108=30{SOH}554={password}{SOH}")
        m = self.read_msg(10.0)
        if m.get("35") != "A":
            raise RuntimeError(f"raw FIX logon refused: {m}")

    def _time(self, ns: int) -> str:
        sec = ns // 1_000_000_000
        if sec != self._sec:
            self._sec, self._sec_text = sec, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(sec))
        return f"{self._sec_text}.{ns // 1_000_000 % 1000:03d}"

    def encode(self, mtype: str, body: str) -> bytes:
        self.seq += 1
        rest = (f"35={mtype}{SOH}34={self.seq}{SOH}49={CLIENT}{SOH}52={self._time(time.time_ns())}{SOH}"
                f"56=RFQCORE{SOH}{body}").encode()
        head = f"8=FIX.4.4{SOH}9={len(rest)}{SOH}".encode()
        msg = head + rest
        return msg + b"10=%03d\x01" % (sum(msg) & 255)

    def quote_request(self, req_id: str) -> bytes:
        valid = self._time(time.time_ns() + VALID_NS)
        return self.encode("R", f"131={req_id}{SOH}146=1{SOH}55=BTC{SOH}54=1{SOH}38=0.01{SOH}62={valid}{SOH}")

    def send_msg(self, mtype: str, body: str) -> None:
        self.sock.sendall(self.encode(mtype, body))

    def messages(self) -> list[dict[str, str]]:
        """Every complete message in what one recv returns (blocks for the first bytes)."""
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the desk closed the connection")
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\x0110=")
            if end < 0 or len(self.buf) < end + 8:
                break
            raw, self.buf = self.buf[:end + 8], self.buf[end + 8:]
            out.append(dict(f.split("=", 1) for f in raw.decode().split(SOH) if "=" in f))
        return out

    def read_msg(self, timeout: float) -> dict[str, str]:
        self.sock.settimeout(timeout)
        try:
            while True:
                for m in self.messages():
                    return m  # the bench reads only the logon answer this way
        finally:
            self.sock.settimeout(None)

    def logout(self) -> None:
        self.send_msg("5", "")
        self.sock.settimeout(5.0)
        try:
            while not any(m.get("35") == "5" for m in self.messages()):
                pass
        except (OSError, ConnectionError):
            pass
        self.sock.close()


def _raw_main(mode: str, port: int, password: str, params: dict[str, Any], conn: Any) -> None:
    from rfqcore.latency import LatencyRecorder

    c = RawFix(port, password, params.get("seq", 0))
    rec = LatencyRecorder()
    rejects: Counter[str] = Counter()
    tag = params["tag"]
    n, warmup = params.get("n", 0), params.get("warmup", 0)
    res: dict[str, Any] = {}
    if mode == "closed":
        for i in range(n + warmup):
            t0 = time.perf_counter_ns()
            c.sock.sendall(c.quote_request(f"{tag}{i}"))
            got = None
            while got is None:
                for m in c.messages():
                    if m.get("35") in ("S", "AG"):
                        got = m
            t1 = time.perf_counter_ns()
            if got["35"] == "AG":
                rejects[got.get("58", "?").split(":")[0]] += 1
            elif i >= warmup:
                rec.record(t1 - t0)
        res["rfq_per_s"] = 0.0
    elif mode == "paced":
        rate = params["rate"]
        period = 1_000_000_000 // rate
        intended: dict[str, int] = {}
        done = 0
        start = time.perf_counter_ns() + 10_000_000
        i = 0
        lateness = 0
        c.sock.setblocking(False)
        while done < n + warmup:
            now = time.perf_counter_ns()
            while i < n + warmup and start + i * period <= now:
                rid = f"{tag}{i}"
                intended[rid] = start + i * period
                lateness = max(lateness, now - intended[rid])
                msg = c.quote_request(rid)
                c.sock.setblocking(True)
                c.sock.sendall(msg)
                c.sock.setblocking(False)
                i += 1
                now = time.perf_counter_ns()
            # wait (not spin: 2 CPUs) for an answer or the next send time
            wait_s = max(0.0, (start + i * period - time.perf_counter_ns()) / 1e9) if i < n + warmup else 0.1
            msgs = c.messages() if select.select([c.sock], [], [], wait_s)[0] else []
            t1 = time.perf_counter_ns()
            for m in msgs:
                if m.get("35") not in ("S", "AG"):
                    continue
                rid = m.get("131", "")
                t0 = intended.pop(rid, None)
                if t0 is None:
                    continue
                done += 1
                seq = int(rid[len(tag):])
                if m["35"] == "AG":
                    rejects[m.get("58", "?").split(":")[0]] += 1
                elif seq >= warmup:
                    rec.record(t1 - t0)
        c.sock.setblocking(True)
        res.update(offered_rate=rate, max_send_lateness_ns=lateness,
                   achieved_rate=round((n + warmup) / max((time.perf_counter_ns() - start) / 1e9, 1e-9)))
    elif mode == "throughput":
        window, seconds = params["window"], params["seconds"]
        sent = quotes = 0
        inflight = 0
        t_end = time.perf_counter() + seconds
        t_start = time.perf_counter()
        while True:
            now = time.perf_counter()
            if now < t_end:
                batch = []
                while inflight < window:
                    batch.append(c.quote_request(f"{tag}{sent}"))
                    sent += 1
                    inflight += 1
                if batch:
                    c.sock.sendall(b"".join(batch))
            elif inflight == 0:
                break
            for m in c.messages():
                if m.get("35") == "S":
                    quotes += 1
                    inflight -= 1
                elif m.get("35") == "AG":
                    rejects[m.get("58", "?").split(":")[0]] += 1
                    inflight -= 1
        elapsed = time.perf_counter() - t_start
        res.update(window=window, seconds=round(elapsed, 2), quotes=quotes, requests=sent,
                   quotes_per_s=round(quotes / elapsed))
    c.logout()
    res["seq"] = c.seq
    if rec.hist.get_total_count():
        res["latency"] = _summary(rec)
    res["rejects"] = dict(rejects)
    conn.send(res)


# ---------------------------------------------------------------- the echo floor


def _echo_server(port_conn: Any) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port_conn.send(srv.getsockname()[1])
    s, _ = srv.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = s.recv(65536)
        if not data:
            break
        s.sendall(data)
    s.close()
    srv.close()


def _echo_client(port: int, n: int, warmup: int, conn: Any) -> None:
    from rfqcore.latency import LatencyRecorder

    msg = bytes(150)  # about a QuoteRequest's size (the Quote back is ~210 bytes)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rec = LatencyRecorder()
    for i in range(n + warmup):
        t0 = time.perf_counter_ns()
        s.sendall(msg)
        got = 0
        while got < len(msg):
            got += len(s.recv(65536))
        if i >= warmup:
            rec.record(time.perf_counter_ns() - t0)
    s.close()
    conn.send({"rtt": _summary(rec)})


def echo(n: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    srv = ctx.Process(target=_echo_server, args=(b,), daemon=True)
    srv.start()
    port = a.recv()
    c1, c2 = ctx.Pipe()
    cl = ctx.Process(target=_echo_client, args=(port, n, n // 10, c2), daemon=True)
    cl.start()
    res = c1.recv()
    cl.join(10)
    srv.join(10)
    return res


# ---------------------------------------------------------------- the QuickFIX client


def _quickfix_main(port: int, password: str, store: str, n: int, warmup: int, tls_ca: str | None,
                   conn: Any) -> None:
    from rfqcore.fix import fix_time
    from rfqcore.fix.client import FixClient
    from rfqcore.latency import LatencyRecorder

    rec = LatencyRecorder()
    rejects: Counter[str] = Counter()
    with FixClient(CLIENT, password, port, store, tls_ca=tls_ca) as c:
        c.start(wait_logon=15)
        for i in range(n + warmup):
            valid = fix_time(time.time_ns() + VALID_NS)
            t0 = time.perf_counter_ns()
            m = c.quote_request(f"qf{i}", "BTC", "0.01", "1", extra=((62, valid),))
            t1 = time.perf_counter_ns()
            if m[35] == "S":
                if i >= warmup:
                    rec.record(t1 - t0)
            else:
                rejects[m.get(58, "?").split(":")[0]] += 1
    conn.send({"latency": _summary(rec) if rec.hist.get_total_count() else None, "rejects": dict(rejects)})


def _child(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    p = ctx.Process(target=target, args=(*args, b), daemon=True)
    p.start()
    if not a.poll(600):
        p.kill()
        raise RuntimeError(f"{target.__name__} gave no result within 600 s")
    res = a.recv()
    p.join(30)
    return res


# ---------------------------------------------------------------- the desk


class Desk:
    """Engine (core thread + output pump) + FIX acceptor in this process, a fresh store."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        from rfq_roundtrip import bench_settings

        from rfqcore.engine import Engine
        from rfqcore.fix.acceptor import FixGateway
        from rfqcore.instruments import Registry
        from rfqcore.rfqconfig import RfqSettings
        from rfqcore.testing import spot_snapshot

        self._tmp = tempfile.mkdtemp(prefix="rfq-fix-bench-")
        path = f"{self._tmp}/rfq.toml"
        bench_settings(path)
        self.registry = Registry.load()
        self.settings = RfqSettings.load(path, self.registry)
        self.engine = Engine(self.registry, rfq=self.settings, idle=IDLE)
        self.engine.add_producer("market")
        self.engine.feed(spot_snapshot(self.registry, time.time_ns()), producer="market")
        self.engine.start()
        self._stop = threading.Event()
        self._market = threading.Thread(target=self._refresh, args=(spot_snapshot,), daemon=True)
        self._market.start()
        self.password = self.settings.client(CLIENT).secret.hex()
        self.fix = FixGateway(self.engine, self.settings, port=0, store_dir=f"{self._tmp}/store", tls=tls).start()

    def stamp(self) -> dict[str, Any]:
        """Wrap the gateway's QuoteRequest path to time its three desk-side segments (7.)."""
        from rfqcore.latency import LatencyRecorder

        gw, eng = self.fix, self.engine
        segs = {k: LatencyRecorder() for k in ("fix_in", "core_and_pump", "fix_out")}
        entered: dict[int, int] = {}
        submitted: dict[int, int] = {}
        clock = time.perf_counter_ns
        on_request, submit, answer, send_quote = (gw._on_quote_request, eng.submit_quote_request, gw._answer,
                                                  gw._send_quote)
        state = {"t_in": 0}

        def on_request_w(*a: Any, **k: Any) -> Any:
            state["t_in"] = clock()
            return on_request(*a, **k)

        def submit_w(*a: Any, **k: Any) -> Any:
            r = submit(*a, **k)
            t = clock()
            submitted[k["rfq_id"]] = t
            segs["fix_in"].record(t - state["t_in"])
            return r

        def answer_w(ev: Any, key: Any) -> Any:
            t = clock()
            t_sub = submitted.pop(key[2], None)
            if t_sub is not None and key[0] == "rfq":
                segs["core_and_pump"].record(t - t_sub)
                entered[key[2]] = t
            return answer(ev, key)

        def send_quote_w(q: Any, *a: Any) -> Any:
            r = send_quote(q, *a)
            t0 = entered.pop(q.rfq_id, None)
            if t0 is not None:
                segs["fix_out"].record(clock() - t0)
            return r

        gw._on_quote_request, eng.submit_quote_request, gw._answer, gw._send_quote = (
            on_request_w, submit_w, answer_w, send_quote_w)
        return segs

    def _refresh(self, spot_snapshot: Any) -> None:
        while not self._stop.wait(1.0):
            self.engine.feed(spot_snapshot(self.registry, time.time_ns()), producer="market")

    def close(self) -> dict[str, Any]:
        stats = self.fix.stats().get(CLIENT, {})
        self.fix.stop()
        self._stop.set()
        self._market.join(5)
        self.engine.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
        return stats


def run(quick: bool = False, only: set[str] | None = None) -> dict[str, Any]:
    """All measurements; returns the result dict (also the JSON line's payload)."""
    want = only or {"echo", "closed", "paced", "throughput", "quickfix", "quickfix_tls", "breakdown"}
    n = 2_000 if quick else 20_000
    rate = 1_000  # within what one session takes here (the closed loop: ~1,600/s)
    out: dict[str, Any] = {"quick": quick, "machine": bc.machine()}
    with bc.ForeignLoad() as fl:
        if "echo" in want:
            out["echo"] = echo(n)
        if want & {"closed", "paced", "throughput", "quickfix", "quickfix_tls", "breakdown"}:
            desk = Desk()
            try:
                port, pw = desk.fix.port, desk.password
                seq = 0
                if "closed" in want:
                    out["closed"] = _child(_raw_main, "closed", port, pw,
                                           {"tag": "c", "n": n, "warmup": n // 10, "seq": seq})
                    seq = out["closed"]["seq"]
                if "paced" in want:
                    secs = 1 if quick else 10
                    out["paced"] = _child(_raw_main, "paced", port, pw, {"tag": "p", "rate": rate, "n": rate * secs,
                                                                          "warmup": rate // 2, "seq": seq})
                    seq = out["paced"]["seq"]
                if "throughput" in want:
                    out["throughput"] = _child(_raw_main, "throughput", port, pw,
                                               {"tag": "t", "window": 256, "seconds": 1.0 if quick else 5.0,
                                                "seq": seq})
                    seq = out["throughput"]["seq"]
                if "breakdown" in want:
                    segs = desk.stamp()
                    bn = n // 4
                    rtt = _child(_raw_main, "closed", port, pw, {"tag": "b", "n": bn, "warmup": bn // 10, "seq": seq})
                    out["breakdown"] = {"rtt": rtt.get("latency"),
                                        **{k: _summary(r) for k, r in segs.items() if r.hist.get_total_count()}}
                    seq = rtt["seq"]
                if "quickfix" in want:
                    store = tempfile.mkdtemp(prefix="rfq-fix-bench-client-")
                    # a fresh client store starts at 1, where the raw sessions left the desk's far
                    # ahead: the QuickFIX client runs on a desk of its own
                    desk.close()
                    desk = Desk()
                    port, pw = desk.fix.port, desk.password
                    qn = n // 4
                    out["quickfix"] = _child(_quickfix_main, port, pw, store, qn, qn // 10, None)
                    shutil.rmtree(store, ignore_errors=True)
                if "quickfix_tls" in want:
                    store = tempfile.mkdtemp(prefix="rfq-fix-bench-client-")
                    desk.close()
                    desk = Desk(tls=(TLS_CERT, TLS_KEY))
                    qn = n // 4
                    out["quickfix_tls"] = _child(_quickfix_main, desk.fix.port, desk.password, store, qn, qn // 10,
                                                 TLS_CERT)
                    shutil.rmtree(store, ignore_errors=True)
            finally:
                out["desk_counters"] = desk.close()
    out["foreign_cpus"] = round(fl.foreign_cpus, 3)
    out["wall_s"] = round(fl.wall_s, 1)
    cl = (out.get("closed") or {}).get("latency")
    tp = out.get("throughput")
    qf_p50 = ((out.get("quickfix") or {}).get("latency") or {}).get("p50")
    tls_p50 = ((out.get("quickfix_tls") or {}).get("latency") or {}).get("p50")
    if qf_p50 and tls_p50:
        out["tls_over_plain_p50"] = round(tls_p50 / qf_p50, 3)
    out["targets"] = {}
    if cl:
        out["targets"]["raw_closed_p50_ns"] = {"measured": cl["p50"], "target": TARGET_P50_NS,
                                               "met": cl["p50"] <= TARGET_P50_NS}
    if tp:
        out["targets"]["quotes_per_s_one_session"] = {"measured": tp["quotes_per_s"], "target": TARGET_QPS,
                                                      "met": tp["quotes_per_s"] >= TARGET_QPS}
    return out


def _us(v: float) -> str:
    return f"{v / 1e3:,.1f} µs"


def report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"FIX QuoteRequest -> Quote round trip (TCP loopback), {m['cpus']} CPUs, load average {m['loadavg']}; "
          f"other processes used {r['foreign_cpus']:.2f} CPUs on average")

    def h(name: str, d: dict[str, int] | None) -> None:
        if not d:
            print(f"  {name:<46} (no samples)")
            return
        print(f"  {name:<46} p50 {_us(d['p50']):>10}  p99 {_us(d['p99']):>10}  p99.9 {_us(d['p999']):>10}  "
              f"max {_us(d['max']):>11}  (n={d['count']:,})")

    if "echo" in r:
        h("1. TCP echo RTT, Python both ends (floor)", r["echo"]["rtt"])
    if "closed" in r:
        h("2. raw FIX client, closed loop", r["closed"].get("latency"))
        print(f"     rejects {r['closed']['rejects'] or 'none'}")
    if "paced" in r:
        p = r["paced"]
        h(f"3. raw FIX client @ {p['offered_rate']:,}/s (from intended send)", p.get("latency"))
        print(f"     achieved {p['achieved_rate']:,}/s, worst send lateness {_us(p['max_send_lateness_ns'])}; "
              f"rejects {p['rejects'] or 'none'}")
    if "throughput" in r:
        t = r["throughput"]
        print(f"  4. throughput, {t['window']} in flight: {t['quotes_per_s']:,} quotes/s ({t['quotes']:,} quotes, "
              f"{t['requests']:,} requests in {t['seconds']} s); rejects {t['rejects'] or 'none'}")
    if "quickfix" in r:
        h("5. QuickFIX client (FixClient), closed loop", r["quickfix"]["latency"])
        print(f"     rejects {r['quickfix']['rejects'] or 'none'}")
    if "breakdown" in r:
        b = r["breakdown"]
        h("7. raw client, closed loop, desk stamped", b.get("rtt"))
        h("   desk: QuickFIX callback -> RFQ in the ring", b.get("fix_in"))
        h("   desk: ring -> Quote at the gateway (core+pump)", b.get("core_and_pump"))
        h("   desk: build and send the Quote (QuickFIX)", b.get("fix_out"))
    if "quickfix_tls" in r:
        h("6. QuickFIX client over TLS, closed loop", r["quickfix_tls"]["latency"])
        print(f"     rejects {r['quickfix_tls']['rejects'] or 'none'}"
              + (f"; p50 TLS / plain (5.) {r['tls_over_plain_p50']}x" if "tls_over_plain_p50" in r else ""))
    for name, t in r.get("targets", {}).items():
        print(f"  target {name}: measured {t['measured']:,} vs {t['target']:,}: {'met' if t['met'] else 'NOT met'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--only", default=None,
                    help="comma-separated: echo,closed,paced,throughput,quickfix,quickfix_tls,breakdown")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for an idle machine first")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    if not a.no_wait:
        bc.wait_quiet(0.9, 600.0)
    r = run(a.quick, only)
    if not a.json:
        report(r)
    bc.emit_json("fix_roundtrip", r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
