"""``rfqcore demo``: an RFQ session end to end on the embedded defaults.

The desk process (this one) runs :class:`rfqcore.serve.Server` — embedded Aeron media driver,
the Rust core thread, the recorded Binance BTC/ETH streams replayed as a live feed, and the
gateway in its own process — plus a strategy hook that approves large RFQs. A **client
process** connects over Aeron IPC as ``acme-capital`` (and briefly ``beta-fund``), requests
quotes, hits some, runs into limit breaches and a kill switch set by an operator session, and
reports what it saw with round-trip times: under load (the desk replaying market data on the
same CPUs), then unloaded (the replay stopped). The desk then prints positions, P&L and exposures.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rfqcore.hooks import Strategy
from rfqcore.rfq import ApprovalPending, Execution
from rfqcore.stop_signals import StopSignals, Stopped, start_shielded

__all__ = ["run_demo", "client_session", "DEMO_CONSOLE_USERS", "DEMO_PORTAL_USERS"]

#: the demo's web RFQ portal users and their passwords (their argon2id hashes are in
#: defaults/rfq.toml; tests/test_portal.py checks that they match)
DEMO_PORTAL_USERS: dict[str, str] = {"acme-trader": "acme-demo-password", "beta-trader": "beta-demo-password"}
#: the demo's operator console users (viewer, trader, risk officer) and their passwords (hashes
#: in defaults/rfq.toml; tests/test_console.py checks that they match)
DEMO_CONSOLE_USERS: dict[str, str] = {"desk-viewer": "viewer-demo-password", "desk-trader": "trader-demo-password",
                                      "desk-risk": "risk-demo-password"}


def _us(t0: float) -> str:
    return f"{(time.perf_counter() - t0) * 1e6:,.0f} µs"


def client_session(aeron_dir: str, out: Any) -> None:
    """The client process: everything a co-located desk would do through ``rfqcore.client``
    (started by :func:`start_shielded`: Ctrl-C is the desk's, which ends this process)."""
    from rfqcore.client import OperatorClient, RequestRejected, RfqClient

    lines: list[str] = []

    def say(s: str) -> None:
        lines.append(s)

    def rejected(e: RequestRejected) -> str:
        return f"REJECTED {e.reason_name}" + (" (by the gateway)" if e.by_gateway else "")

    transient = {"CROSSED_MARKET", "STALE_MARKET", "NO_MARKET"}

    def rq(client: RfqClient, *a: Any, **kw: Any) -> Any:
        """request_quote, retrying briefly while the replayed market is crossed or stale (a real
        market condition the core refuses to quote through)."""
        kw.setdefault("timeout", 5.0)  # the journal's fdatasync on this disk can stall for 100s of ms
        for i in range(20):
            try:
                return client.request_quote(*a, **kw)
            except RequestRejected as e:
                if e.reason_name not in transient or i == 19:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def step(label: str, fn: Any) -> Any:
        try:
            return fn()
        except RequestRejected as e:
            say(f"{label} -> {rejected(e)}")
            return None

    acme = beta = op = None
    try:
        acme = RfqClient("acme-capital", aeron_dir=aeron_dir)
        acme.connect()
        t = time.perf_counter()
        acme.logon()
        say(f"acme-capital logged on (HMAC-SHA256 challenge) in {_us(t)}")
        for _ in range(20):  # warm the path up; quotes not wanted are cancelled (max 50 open)
            q = step("warm-up", lambda: rq(acme, "BTC", "two-way", "0.1"))
            if q is not None:
                acme.cancel(q)

        t = time.perf_counter()
        q = step("RFQ BTC two-way 1", lambda: rq(acme, "BTC", "two-way", "1"))
        if q is not None:
            say(f"RFQ BTC two-way 1        -> quote {q.quote_id}: bid {q.sell_price} / ask {q.buy_price}  ({_us(t)})")
            t = time.perf_counter()
            fill = step("  hit the ask", lambda: acme.accept(q, "buy", timeout=5.0))
            if fill is not None:
                ccy = fill.currency or "USDT"
                say(f"  hit the ask            -> trade {fill.trade_id}: bought {fill.qty} BTC at {fill.price} {ccy}, "
                    f"notional {_cents(fill.notional)} {ccy}, fee {_cents(fill.fee)} {ccy} ({_us(t)}; exact to "
                    f"{len(str(fill.fee).partition('.')[2])} decimals in the API)")

        t = time.perf_counter()
        q = step("RFQ ETH sell 25", lambda: rq(acme, "ETH", "sell", "25"))
        if q is not None:
            say(f"RFQ ETH sell 25          -> quote {q.quote_id}: bid {q.sell_price} for {q.sell_qty} ({_us(t)})")
            fill = step("  hit the bid", lambda: acme.accept(q, timeout=5.0))
            if fill is not None:
                say(f"  hit the bid            -> trade {fill.trade_id}: sold {fill.qty} ETH at {fill.price}")

        q = step("RFQ BTC buy 250,000 USDT", lambda: rq(acme, "BTC", "buy", "250000", quote_ccy=True))
        if q is not None:
            say(f"RFQ BTC buy 250,000 USDT -> quote {q.quote_id}: {q.buy_qty} BTC at {q.buy_price} "
                f"(= {(q.buy_qty or 0) * (q.buy_price or 0):.2f} USDT)")
            if step("  hit it", lambda: acme.accept(q, timeout=5.0)) is not None:
                say("  hit it")

        q = step("RFQ BTC two-way 2, TTL 50 ms", lambda: rq(acme, "BTC", "two-way", "2", ttl_ms=50))
        if q is not None:
            time.sleep(0.1)
            if step("RFQ BTC 2 with a 50 ms TTL, accepted 100 ms later", lambda: acme.accept(q, "buy", timeout=5.0)):
                say("  accept after expiry: FILLED?!")

        for what, kw in [
            ("BTC buy 300 (max 200)", dict(instrument="BTC", side="buy", qty="300")),
            ("BTC buy 1 limit 50,000", dict(instrument="BTC", side="buy", qty="1", limit="50000")),
        ]:
            if step(f"RFQ {what:<28}", lambda kw=kw: rq(acme, **kw)) is not None:
                say(f"RFQ {what}: quoted?!")

        t = time.perf_counter()
        p = step("RFQ BTC buy 60 (above the 50 BTC approval threshold)", lambda: rq(acme, "BTC", "buy", "60",
                                                                                  timeout=5.0))
        if p is not None:
            say(f"RFQ BTC buy 60 (above the 50 BTC approval threshold) -> quote {p.quote_id} at {p.buy_price} "
                f"after the desk's strategy hook approved it ({_us(t)})")
            if step("  hit it", lambda: acme.accept(p, timeout=5.0)) is not None:
                say("  hit it")

        beta = RfqClient("beta-fund", aeron_dir=aeron_dir)
        beta.connect()
        beta.logon()
        if step("beta-fund RFQ BTC buy 10 (credit 250,000 USDT)", lambda: rq(beta, "BTC", "buy", "10")):
            say("beta-fund RFQ BTC buy 10: quoted?!")
        op = OperatorClient("desk-operator", aeron_dir=aeron_dir)
        op.control_timeout = 5.0  # as for the RFQs above: a control's ack waits for the journal's fdatasync
        op.connect()
        op.logon()
        ack = op.operator().kill(client="beta-fund")
        say(f"operator session: kill switch on for beta-fund -> ack {ack.reason_name}")
        if step("beta-fund RFQ BTC buy 0.5 (adds to the desk's short)", lambda: rq(beta, "BTC", "buy", "0.5")):
            say("beta-fund buy under kill switch: quoted?!")
        q = step("beta-fund RFQ BTC sell 0.5", lambda: rq(beta, "BTC", "sell", "0.5"))
        if q is not None:
            say(f"beta-fund RFQ BTC sell 0.5 (risk-reducing for the desk) -> quoted {q.quote_id}, bid {q.sell_price}")
            beta.cancel(q)
        op.operator().kill(False, client="beta-fund")
        say("operator session: kill switch off for beta-fund")
        beta.send_raw(b"\x00" * 7)
        say("sent 7 garbage bytes on the request stream -> dropped and counted by the gateway, nothing reaches the core")

        def round_trips(n: int, budget_s: float | None = None) -> str:
            rtts: list[float] = []
            t0 = time.perf_counter()
            for _ in range(n):
                if budget_s is not None and time.perf_counter() - t0 > budget_s:
                    break  # the books go stale 5 s after the replay stopped: measure while they are fresh
                t1 = time.perf_counter()
                q = step("RFQ", lambda: rq(acme, "BTC", "two-way", "1"))
                rtts.append(time.perf_counter() - t1)
                if q is not None:
                    acme.cancel(q)
            rtts.sort()
            n = len(rtts)
            load = os.getloadavg()[0]
            return (f"{n} RFQs back to back: RFQ -> quote round trip p50 {rtts[n // 2] * 1e6:,.0f} µs, "
                    f"p99 {rtts[int(n * 0.99)] * 1e6:,.0f} µs (machine load {load:.1f} on {os.cpu_count()} CPUs; "
                    "each quote waits for its RFQ's journal fdatasync)")

        say(round_trips(200) + "\n    under load: the desk process replaying market data on the same CPUs")
        # the desk stops the market-data replay (the books stay fresh for seconds) and says go
        out.send(("loaded", lines))
        lines = []
        if not out.poll(120):
            say("the desk did not stop its market replay within 120 s: no unloaded figure")
        elif out.recv() == "go":
            say(round_trips(200, budget_s=3.0) + "\n    market replay stopped: client -> gateway process -> core -> back over "
                "Aeron IPC; isolated figures (no journal, pinned cores): bench/RESULTS.md")
    except Exception as e:  # noqa: BLE001 - reported by the desk process
        say(f"client error: {type(e).__name__}: {e}")
    finally:
        for c in (acme, beta, op):
            if c is not None:
                c.close()
    out.send(("done", lines))


class DemoDesk(Strategy):
    """The desk's strategy hook: approves large RFQs (0.5 bp wider), logs fills."""

    def __init__(self) -> None:
        self.fills: list[Execution] = []
        self.approved: list[int] = []

    def on_rfq(self, pending: ApprovalPending) -> None:
        self.ops.approve(pending.request_id, adjust_bps="0.5")
        self.approved.append(pending.request_id)

    def on_fill(self, fill: Execution) -> None:
        self.fills.append(fill)


def _fmt(v: int | None, decimals: int) -> str:
    if v is None:
        return "—"
    return f"{Decimal(v).scaleb(-decimals):,.{decimals}f}"  # exact: every digit of the scale


def _cents(v: Decimal | None) -> str:
    """Money for people: rounded to the cent (the API's values are exact)."""
    return "—" if v is None else f"{v.quantize(Decimal('0.01')):,}"


def _scraped(url: str) -> str:
    """A few of the desk's Prometheus metrics, fetched and parsed as a scraper would."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    got: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name in ("rfqcore_rfqs_total", "rfqcore_rfq_quotes_total", "rfqcore_fills_total",
                          "rfqcore_rejects_total", "rfqcore_gateway_messages_total"):
                got[s.name] = got.get(s.name, 0.0) + s.value
    return ", ".join(f"{name} {v:,.0f}" for name, v in got.items())


def run_demo(files: Sequence[os.PathLike[str]], speed: float | None = 10.0) -> int:
    """The RFQ session demo. SIGINT (Ctrl-C) or SIGTERM stops it in order: the client process
    ended, the desk stopped (gateway, core, journal, settlement writer, media driver), its
    shared-memory files and temporary folder removed, no traceback; exit code 130."""
    import tempfile

    print("rfqcore demo: an RFQ session over Aeron IPC (client process -> gateway process -> Rust core)")
    if files:
        print(f"market data: {len(files)} recorded Binance BTC/ETH files replayed as a live feed at {speed}x")
    work = Path(tempfile.mkdtemp(prefix="rfqcore-demo-"))
    with StopSignals() as stop:
        try:
            return _run_demo(files, speed, work, stop)
        except Stopped as e:
            shutil.rmtree(work, ignore_errors=True)
            print(f"rfqcore demo: stopped ({e}) before the end; the desk shut down in order and left nothing behind",
                  flush=True)
            return 130


def _client_lines(parent: Any, srv: Any, stop: StopSignals) -> list[str]:
    """What the client process reports, phase by phase (the market replay is stopped between the
    loaded and the unloaded round trips)."""
    lines: list[str] = []
    while True:
        deadline = time.monotonic() + 120
        while not parent.poll(0.1):
            stop.check()
            if time.monotonic() > deadline:
                return [*lines, "client process timed out"]
        phase, got = parent.recv()
        lines += got
        if phase == "done":
            return lines
        srv.stop_market_replay()   # then the unloaded round trips
        parent.send("go")


def _run_demo(files: Sequence[os.PathLike[str]], speed: float | None, work: Path, stop: StopSignals) -> int:
    from rfqcore.journal import JournalSettings
    from rfqcore.serve import Server

    jdir, store = work / "journal", f"sqlite:///{work / 'settlement.db'}"
    with Server(market_files=files, speed=speed, journal=JournalSettings(str(jdir)),
                settlement_store=store, http="127.0.0.1:0") as srv:
        assert srv.engine is not None
        desk = DemoDesk()
        srv.engine.add_strategy(desk, book_events=False)
        live_by = time.monotonic() + 60
        while not srv.wait_live(timeout=0.1):
            stop.check()
            if time.monotonic() > live_by:
                print("market data did not go live in 60 s", file=sys.stderr)
                return 1
        print(f"desk up: media driver at {srv.aeron_dir}, rings in {srv.ring_dir}, journal and settlement store in "
              f"{work}; books live, gateway in its own process", flush=True)
        assert srv.web is not None
        print(f"metrics: {srv.web.url}/metrics (Prometheus), health: {srv.web.url}/healthz (docs/web.md)", flush=True)
        users = ", ".join(f"{u} / {p}" for u, p in DEMO_PORTAL_USERS.items())
        print(f"RFQ portal: {srv.web.url}/portal/ while the demo runs (users: {users})", flush=True)
        roles = {u.name: u.role for u in srv.settings.console_users}
        ops = ", ".join(f"{u} / {p} ({roles.get(u, 'not configured')})" for u, p in DEMO_CONSOLE_USERS.items())
        print(f"operator console: {srv.web.url}/console/ while the demo runs (users: {ops})\n", flush=True)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=client_session, args=(srv.aeron_dir, child), name="rfqcore-demo-client")
        start_shielded(proc)  # Ctrl-C is the desk's to handle, even while the client imports
        try:
            lines = _client_lines(parent, srv, stop)
        finally:
            if stop.received is not None:
                proc.terminate()
            proc.join(10)
        print("client process (acme-capital, beta-fund, desk-operator):")
        for s in lines:
            print("  " + s)
        eng = srv.engine
        time.sleep(0.2)
        print(f"\ndesk strategy hook: approved {len(desk.approved)} large RFQ(s), saw {len(desk.fills)} fill(s)")
        print("\ndesk positions and P&L (marked to the composite mid):")
        positions = eng.positions()
        for name, p in positions.items():
            ccy = p.currency
            print(f"  {name:<4} position {p.qty:>14,f} {p.base}  avg {_fmt(p.avg_price_raw, p.price_decimals):>12} {ccy}"
                  f"  realised {_cents(p.realised)} {ccy}  unrealised {_cents(p.unrealised)} {ccy}"
                  f"  fees {_cents(p.fees)} {ccy}  trades {p.trades}")
        bases = {p.base for p in positions.values()}
        ex = eng.exposures()
        print("  exposure: " + ", ".join(f"{k} {v:,f}" if k in bases else f"{k} {_cents(v)}" for k, v in ex.items())
              + "  (money rounded to the cent here; exact in the API)")
        for client in ("acme-capital", "beta-fund"):
            r = eng.client_risk(client)
            print(f"  {client:<13} credit {r.credit_limit:>14,f} {r.currency}  used {r.utilised:>14,f} {r.currency}  "
                  f"available {r.available:>14,f} {r.currency}  open quotes {r.open_quotes}")
        st = eng.rfq_stats()
        from rfqcore.rfq import reason_name

        rej = ", ".join(f"{reason_name(int(k))} {v}" for k, v in sorted(st["rejects"].items()))
        print(f"\ncore: {st['rfqs']} RFQs, {st['quotes']} quotes, {st['fills']} fills, {st['expiries']} expired, "
              f"{st['approvals']} sent for approval; rejects: {rej}")
        print(f"core RFQ -> answer (core thread, from the gateway's push): {eng.rfq_to_quote().format('µs')}")
        js = eng.journal_stats() or {}
        print(f"journal: {js.get('committed_seq', 0):,} input records, {js.get('syncs', 0):,} fdatasyncs (group commit; "
              f"outputs published only once durable) in {jdir}")
        assert srv.gateway is not None
        stop.check()  # a Ctrl-C has stopped the gateway process too: nothing left to ask it
        gs = srv.gateway.stats()
        print(f"gateway: {gs['in']} messages in, {gs['out']} out, {gs['pushed']} records pushed to the core, "
              f"refused {gs['rejects'] or 'none'}, unanswerable (dropped, counted) {gs['unanswerable'] or 'none'}")
        print(f"metrics scraped from {srv.web.url}/metrics: {_scraped(srv.web.url)}")
    import argparse

    from rfqcore.settlement import cli as settlement_cli

    parser = argparse.ArgumentParser(prog="rfqcore")
    settlement_cli.add_parser(parser.add_subparsers(dest="command"))
    print(f"\nsettlement store {store} (trades captured off the core's path):")
    for argv in (["report", "blotter", "--format", "table"], ["net", "--generate", "--force"]):
        print(f"$ rfqcore settlement --store {store} {' '.join(argv)}")
        args = parser.parse_args(["settlement", "--store", store, *argv])
        args.func(args)
    print(f"\nverify determinism: rfqcore replay-journal {jdir}")
    return 0
