"""``rfqcore fix-demo``: a real FIX 4.4 client session against the desk (docs/fix.md).

Starts the desk (:class:`rfqcore.serve.Server`) on the recorded Binance BTC/ETH streams with the
FIX acceptor on a free port, waits for the BTC books, then logs on as ``acme-capital`` with a
QuickFIX initiator (FIX 4.4 dictionary validation on) and shows: a two-way quote, a one-sided
quote hit and filled, a request the core refuses, one that waits for the operator's approval, and
a quote that expires unhit.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rfqcore.fix import fix_time
from rfqcore.fix.client import FixClient
from rfqcore.stop_signals import StopSignals, Stopped

__all__ = ["run_fix_demo"]


def _msg(m: dict[int, str]) -> str:
    names = {"S": "Quote", "AG": "QuoteRequestReject", "8": "ExecutionReport", "AI": "QuoteStatusReport",
             "Z": "QuoteCancel"}
    return names.get(m[35], m[35])


def _approval(desk: Any, c: FixClient, client_id: int) -> None:
    """A request above BTC's approval threshold: pending, then quoted once the desk's operator
    (here the demo itself, through the engine's operator API) approves it."""
    c.send("R", [(131, "demo-approval")], [(55, "BTC"), (54, "1"), (38, "60")])
    deadline = time.monotonic() + 10
    while (st := c.status.get(timeout=max(0.01, deadline - time.monotonic()))).get(131) != "demo-approval":
        pass
    print(f"  QuoteRequest BTC 60 buy (above the approval threshold) -> {_msg(st)}: QuoteStatus {st.get(297)} "
          f"(pending until {st.get(126)})", flush=True)
    while not (mine := [p for p in desk.engine.pending_approvals() if p.client == client_id]):
        if time.monotonic() > deadline:
            print("  ... the desk saw no pending approval", flush=True)
            return
        time.sleep(0.01)
    desk.engine.operator.approve(mine[0])
    q = c.next()
    print(f"  ... the desk's operator approves -> {_msg(q)} {q.get(117, '')}: offer {q.get(133)} x {q.get(135)}"
          f"{(' ' + q[58]) if 58 in q else ''}", flush=True)


def run_fix_demo(files: Sequence[os.PathLike[str]], speed: float = 10.0) -> int:
    """The demo. SIGINT (Ctrl-C) or SIGTERM stops it in order (the client logged out, the desk
    stopped, the temporary folder removed), one line, no traceback; exit code 130."""
    with StopSignals() as stop:
        try:
            return _run(files, speed, stop)
        except Stopped as e:
            print(f"rfqcore fix-demo: stopped ({e}) before the end; the FIX session and the desk shut down in order",
                  flush=True)
            return 130


def _run(files: Sequence[os.PathLike[str]], speed: float, stop: StopSignals) -> int:
    from rfqcore.serve import Server

    with tempfile.TemporaryDirectory(prefix="rfqcore-fix-demo-") as tmp:
        with Server(market_files=files, speed=speed, fix_port=0, fix_store=str(Path(tmp, "desk"))) as desk:
            assert desk.fix is not None
            print(f"desk: FIX 4.4 acceptor on 127.0.0.1:{desk.fix.port}; replaying {len(files)} recorded files "
                  f"at {speed}x", flush=True)
            deadline = time.monotonic() + 60
            while not desk.wait_live(["BTC"], timeout=0.1):
                stop.check()
                if time.monotonic() > deadline:
                    print("rfqcore fix-demo: the BTC books did not go live within 60 s", flush=True)
                    return 1
            stop.check()
            acme = desk.settings.client("acme-capital")
            with FixClient(acme.name, acme.secret.hex(), desk.fix.port, Path(tmp, "client")) as c:
                c.start(wait_logon=15)
                stop.check()
                print(f"client {acme.name}: logged on (SenderCompID {acme.name}, TargetCompID RFQCORE)", flush=True)
                q = c.quote_request("demo-two-way", "BTC", "1")
                if q[35] == "S":
                    print(f"  QuoteRequest BTC 1 two-way -> Quote {q[117]}: bid {q[132]} x {q[134]}, "
                          f"offer {q[133]} x {q[135]}, valid until {q[62]}", flush=True)
                else:
                    print(f"  QuoteRequest BTC 1 two-way -> {_msg(q)}: {q.get(58)}", flush=True)
                stop.check()
                one = c.quote_request("demo-buy", "BTC", "0.5", side="1")
                print(f"  QuoteRequest BTC 0.5 buy -> {_msg(one)} {one.get(117, '')}: offer {one.get(133)} "
                      f"x {one.get(135)}{(' ' + one[58]) if 58 in one else ''}", flush=True)
                if one[35] == "S":
                    er = c.order("demo-order-1", one, "1", "0.5")
                    what = "fill" if er[150] == "F" else f"reject {er.get(58)}"
                    print(f"  NewOrderSingle on quote {one[117]} -> ExecutionReport {what}: LastQty {er.get(32)} "
                          f"LastPx {er.get(31)}, notional {er.get(381)}, fee {er.get(12)} (ExecID {er[17]})",
                          flush=True)
                stop.check()
                big = c.quote_request("demo-too-big", "BTC", "100000", side="1")
                print(f"  QuoteRequest BTC 100000 buy -> {_msg(big)}: reason {big.get(658)}, {big.get(58)}",
                      flush=True)
                stop.check()
                _approval(desk, c, acme.id)
                stop.check()
                short = c.quote_request("demo-expiring", "BTC", "1", side="2",
                                        extra=((62, fix_time(time.time_ns() + 300_000_000)),))
                if short[35] == "S":
                    print(f"  QuoteRequest BTC 1 sell, ValidUntilTime in 300 ms -> Quote {short[117]}: bid "
                          f"{short[132]}", flush=True)
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        stop.check()
                        st = c.status.get(timeout=max(0.01, deadline - time.monotonic()))
                        if st.get(117) == short[117]:
                            print(f"  ... not hit: {_msg(st)} for quote {st[117]}, QuoteStatus {st.get(297)} "
                                  f"(expired)", flush=True)
                            break
            print(f"desk: {desk.fix.status_line()}", flush=True)
    return 0
