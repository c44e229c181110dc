"""The RFQ client library's Python cost per RFQ (send + receive, no scheduling), before and after
the compiled wire codec (rfqcore._wire), in one run and one process.

    .venv/bin/python bench/client_codec.py [--before REV] [--quick]

Three measurements, each run for the "before" and the "after" code alternately in rounds (so drift
of the machine falls on both alike), median ns per RFQ over batches of 256:

1. ``codec``: encode and sign one RFQ into a buffer + decode one QUOTE frame. Before: the
   ``struct.Struct`` path of ``rfqcore.gateway.schema`` as the client used it (``pack_into``,
   BLAKE2b into the session field, header and body ``unpack_from``); after: ``Encoder.rfq`` +
   ``try_decode``.
2. ``blocking``: ``RfqClient.request_quote_raw`` whole (request, encode, sign, offer into a real
   Aeron IPC publication, wait, decode the QUOTE, build the ``Quote``), its response subscription
   replaced by a stub whose ``poll`` hands over that RFQ's QUOTE frame at once. ``harness`` is the
   stub's own cost (a poll into a no-op handler); ``blocking_net`` is the figure less it.
3. ``callback``: ``send_rfq_raw`` + the fragment handler on the QUOTE frame (``on_quote`` set).

Before is ``src/rfqcore/client.py`` as of ``--before`` (default ``ce7ab6d``, the last commit
before the compiled codec), loaded from git beside today's modules; after is the working tree's.
Prints a table and one JSON line ``{"bench": "client_codec", ...}``. Target (issue 11): the
Python client cost per RFQ (send + receive) <= 2 us.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import statistics
import struct
import subprocess
import sys
import time
from typing import Any

import bench_common as bc

BEFORE = "ce7ab6d"
BATCH = 256
TARGET_NS = 2_000


def load_before(rev: str) -> Any:
    """The client module at ``rev`` (its imports resolve to today's rfqcore), or None."""
    try:
        src = subprocess.run(["git", "show", f"{rev}:src/rfqcore/client.py"], cwd=bc.REPO, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("rfqcore._client_before", loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "rfqcore"
    sys.modules[spec.name] = mod
    exec(compile(src, f"{rev}:src/rfqcore/client.py", "exec"), mod.__dict__)  # noqa: S102 - our own file at rev
    return mod


class Hdr:
    session_id = 77


class StubSub:
    """Stands in for the response subscription: each poll hands the next frame to the handler."""

    def __init__(self) -> None:
        self.frames: list[memoryview] = []
        self.i = 0
        self.hdr = Hdr()

    def poll(self, handler: Any, limit: int) -> int:
        f = self.frames[self.i]
        self.i += 1
        handler(f, self.hdr)
        return 1

    def close(self) -> None:
        pass


def median_batch(run_batch: Any, batches: int) -> float:
    xs = []
    for _ in range(batches):
        xs.append(run_batch())
    return statistics.median(xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", default=BEFORE, help="revision of the 'before' client (default %(default)s)")
    ap.add_argument("--quick", action="store_true", help="a few batches (smoke test)")
    a = ap.parse_args()
    rounds, batches = (2, 4) if a.quick else (7, 40)

    import pyaeron

    from rfqcore import client as after_mod
    from rfqcore._wire import Encoder, try_decode
    from rfqcore.gateway import schema as s
    from rfqcore.gateway.aeron import EmbeddedDriver
    from rfqcore.instruments import Registry
    from rfqcore.rfqconfig import RfqSettings

    before_mod = load_before(a.before)
    settings = RfqSettings.load()
    acme = settings.client("acme-capital")
    btc = Registry.load().composite("BTC").id
    token = 0x1234_5678_9ABC
    key = s.session_key(acme.secret, acme.id, 1, token)
    now = time.time_ns()

    def quote(rfq_id: int, seq: int) -> bytes:
        return s.encode(s.QuoteMsg(rfq_id, rfq_id, btc, 1, 6_000_100, 10**8, 0, 0, now + 10**9, now), session=token,
                        seq=seq, id=acme.id)

    # ---- 1. codec alone
    spec = s.SPECS[int(s.MsgType.RFQ)]
    body_q = struct.Struct("<" + s.SPECS[int(s.MsgType.QUOTE)].body_fmt)
    buf = bytearray(256)
    view = memoryview(buf)[: spec.struct.size]
    frame = memoryview(quote(5, 5))
    enc = Encoder(acme.id, 0)
    enc.key = key
    blake = hashlib.blake2b

    def codec_before() -> float:
        t0 = time.perf_counter_ns()
        for i in range(BATCH):
            spec.struct.pack_into(buf, 0, s.MAGIC, s.VERSION, 3, spec.body_len, 0, i, acme.id, 0, i, btc, 0, 0, 10**8,
                                  0, 0, now)
            buf[8:16] = blake(view, key=key, digest_size=8).digest()
            s.HEADER.unpack_from(frame)
            body_q.unpack_from(frame, 32)
        return (time.perf_counter_ns() - t0) / BATCH

    def codec_after() -> float:
        t0 = time.perf_counter_ns()
        for i in range(BATCH):
            enc.rfq(i, i, btc, 0, 0, 10**8, 0, 0, now)
            try_decode(frame)
        return (time.perf_counter_ns() - t0) / BATCH

    # ---- 2./3. the client, against a real IPC publication
    res: dict[str, dict[str, list[float]]] = {}
    with EmbeddedDriver() as d:
        aeron = pyaeron.Aeron(dir=d.dir)
        sink = aeron.add_subscription("aeron:ipc", settings.gateway.request_stream)

        def drain() -> None:
            while sink.poll(lambda b, h: None, 1024):
                pass

        def make_client(mod: Any) -> Any:
            c = mod.RfqClient(acme.id, acme.secret, settings=settings, aeron=aeron)
            c.connect()
            c._sub.close()
            c._sub = StubSub()
            c.token, c._gw_session, c._key = token, Hdr.session_id, key
            if hasattr(c, "_enc"):
                c._enc.key = key
            c.on_quote = lambda q: None
            return c

        clients = {"after": make_client(after_mod)}
        if before_mod is not None:
            clients["before"] = make_client(before_mod)
        seqs = {name: 0 for name in clients}

        def frames_for(name: str, c: Any) -> None:
            start = c._rfq_id
            c._sub.frames = [memoryview(quote(start + k + 1, seqs[name] + k + 1)) for k in range(BATCH)]
            c._sub.i = 0
            seqs[name] += BATCH

        def blocking(name: str) -> float:
            c = clients[name]
            frames_for(name, c)
            rq = c.request_quote_raw
            t0 = time.perf_counter_ns()
            for _ in range(BATCH):
                rq(btc, 0, 10**8)
            dt = (time.perf_counter_ns() - t0) / BATCH
            drain()
            return dt

        def callback(name: str) -> float:
            c = clients[name]
            frames_for(name, c)
            send, on, frames, hdr = c.send_rfq_raw, c._handler, c._sub.frames, c._sub.hdr
            t0 = time.perf_counter_ns()
            for k in range(BATCH):
                send(btc, 0, 10**8)
                on(frames[k], hdr)
            dt = (time.perf_counter_ns() - t0) / BATCH
            drain()
            return dt

        stub = StubSub()
        stub.frames = [frame] * BATCH

        def harness() -> float:
            stub.i = 0
            noop = lambda b, h: None  # noqa: E731
            t0 = time.perf_counter_ns()
            for _ in range(BATCH):
                stub.poll(noop, 16)
            return (time.perf_counter_ns() - t0) / BATCH

        names = [n for n in ("before", "after") if n in clients]
        for _ in range(rounds):
            for name in (names if _ % 2 == 0 else names[::-1]):
                r = res.setdefault(name, {})
                r.setdefault("codec", []).append(median_batch(codec_before if name == "before" else codec_after, batches))
                r.setdefault("blocking", []).append(median_batch(lambda: blocking(name), batches))
                r.setdefault("callback", []).append(median_batch(lambda: callback(name), batches))
            res.setdefault("harness", {}).setdefault("stub_poll", []).append(median_batch(harness, batches))
        for c in clients.values():
            c._sub, c.token = None, 0  # no gateway to log out from
            c.close()
        sink.close()
        aeron.close()

    def med(name: str, what: str) -> float | None:
        xs = res.get(name, {}).get(what)
        return round(statistics.median(xs), 1) if xs else None

    stub_ns = med("harness", "stub_poll") or 0.0
    out: dict[str, Any] = {"machine": bc.machine(), "before_rev": a.before if before_mod is not None else None,
                           "batch": BATCH, "rounds": rounds, "batches_per_round": batches, "harness_ns": stub_ns}
    m = out["machine"]
    print(f"RFQ client Python cost per RFQ, median ns ({rounds} rounds x {batches} batches of {BATCH}); "
          f"{m['cpu']}, load avg {m['loadavg']}")
    if before_mod is None:
        print(f"  (no 'before' client: git show {a.before}:src/rfqcore/client.py failed)")
    print(f"  {'':<46} {'before':>9} {'after':>9} {'before/after':>13}")
    for what, label in (("codec", "codec: encode+sign RFQ, decode QUOTE"),
                        ("blocking", "request_quote_raw (send + receive)"),
                        ("callback", "send_rfq_raw + QUOTE fragment -> on_quote")):
        b, f = med("before", what), med("after", what)
        ratio = round(b / f, 2) if b and f else None
        out[what] = {"before_ns": b, "after_ns": f, "ratio": ratio}
        print(f"  {label:<46} {b if b is not None else 'n/a':>9} {f:>9} {ratio if ratio else 'n/a':>13}")
    net = {k: (round(v - stub_ns, 1) if v is not None else None) for k, v in
           (("before_ns", med("before", "blocking")), ("after_ns", med("after", "blocking")))}
    out["blocking_net"] = net
    print(f"  {'request_quote_raw less the stub poll (' + str(stub_ns) + ' ns)':<46} "
          f"{net['before_ns'] if net['before_ns'] is not None else 'n/a':>9} {net['after_ns']:>9}")
    after_net = net["after_ns"]
    out["target"] = {"measured": after_net, "target": TARGET_NS, "met": after_net is not None and after_net <= TARGET_NS}
    print(f"  target: Python client cost per RFQ <= {TARGET_NS} ns: {'MET' if out['target']['met'] else 'MISSED'} "
          f"({after_net} ns)")
    bc.emit_json("client_codec", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
