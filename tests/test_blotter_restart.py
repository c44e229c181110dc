"""A client's portal blotter survives a desk restart (docs/web.md, "Blotters survive a restart"):
a real journaled desk (rfqcore.serve.Server, what ``rfqcore serve --http --journal`` runs) books
quotes, fills, RFQ and accept rejects and an expired quote for two clients, is stopped and started
again on the same journal directory; each client's blotter and CSV export are then the same, field
for field and byte for byte, the other client's rows are nowhere in them, and the run goes on with
new rows after the old ones."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from desk_market import feed_market, free_port, journaled_web_desk, serve_http, web_desk
from web_client import WebClient

from rfqcore.demo import DEMO_PORTAL_USERS


def _portal(base: str) -> WebClient:
    return WebClient(base, api="/api", login_path="/login", cookie_name="rfqcore_session",
                     passwords=DEMO_PORTAL_USERS)


def _rfq(srv: Any, who: WebClient, side: str, size: str = "1") -> dict[str, Any]:
    feed_market(srv.engine)  # a fresh book: the core refuses to quote off a stale one
    r = who.call("POST", "/rfq", {"instrument": "BTC", "side": side, "size": size})
    assert r.status == 200, r.body
    return r.json  # type: ignore[no-any-return]


def _until(who: WebClient, pred: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The blotter once ``pred(rows)`` holds (rows pushed by the engine's output pump arrive a
    little after the HTTP answer)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = who.call("GET", "/blotter").json["rows"]
        if pred(rows) or time.monotonic() > deadline:
            assert pred(rows), rows
            return rows  # type: ignore[no-any-return]
        time.sleep(0.05)


def _ids(rows: list[dict[str, Any]]) -> set[str]:
    """The desk-wide ids in ``rows`` (quote and trade ids; RFQ ids are the client's own)."""
    return {f"{k}={r[k]}" for r in rows for k in ("quote_id", "trade_id") if r[k]}


def test_each_clients_blotter_and_csv_come_back_after_a_restart_and_only_its_own(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    with journaled_web_desk(jdir) as srv:
        acme, beta = _portal(srv.web.url), _portal(srv.web.url)
        assert acme.login("acme-trader").status == 200 and beta.login("beta-trader").status == 200
        # acme: a two-way quote filled on its buy side, the same hit again (refused), an RFQ too big
        q = _rfq(srv, acme, "two-way")["quote"]
        fill = acme.call("POST", "/accept", {"quote_id": q["quote_id"], "side": "buy"}).json
        assert fill["status"] == "filled", fill
        again = acme.call("POST", "/accept", {"quote_id": q["quote_id"], "side": "buy"}).json
        assert again["status"] == "rejected", again
        big = _rfq(srv, acme, "buy", "100000")
        assert big["status"] == "rejected", big
        # beta: a sell quote filled, a buy quote left to expire (its tier quotes for 1 s) and hit late
        sold = _rfq(srv, beta, "sell")["quote"]
        assert beta.call("POST", "/accept", {"quote_id": sold["quote_id"]}).json["status"] == "filled"
        late_q = _rfq(srv, beta, "buy")["quote"]
        time.sleep(late_q["expires_in_ms"] / 1000 + 0.3)
        late = beta.call("POST", "/accept", {"quote_id": late_q["quote_id"]}).json
        assert (late["status"], late["reason"]) == ("rejected", "TOO_LATE"), late

        a_rows = _until(acme, lambda rows: {"quote", "fill", "accept_rejected", "rfq_rejected"}
                        <= {r["type"] for r in rows})
        b_rows = _until(beta, lambda rows: any(r["type"] == "quote_expired" and r["quote_id"] == late_q["quote_id"]
                                               for r in rows))
        time.sleep(0.5)  # nothing more is on its way: read the final views
        a_rows, b_rows = acme.call("GET", "/blotter").json["rows"], beta.call("GET", "/blotter").json["rows"]
        a_csv, b_csv = acme.call("GET", "/blotter.csv").body, beta.call("GET", "/blotter.csv").body
        assert {r["type"] for r in b_rows} >= {"quote", "fill", "accept_rejected", "quote_expired"}
        assert not _ids(a_rows) & _ids(b_rows)
    with sqlite3.connect(jdir / "portal-blotter.sqlite") as con:
        assert con.execute("SELECT count(*) FROM portal_blotter").fetchone()[0] == len(a_rows) + len(b_rows)

    with journaled_web_desk(jdir) as srv:  # the same journal: a restart of the desk
        for who in (acme, beta):
            who.base = srv.web.url
            assert who.login(who is acme and "acme-trader" or "beta-trader").status == 200  # a new session too
        after_a, after_b = acme.call("GET", "/blotter").json, beta.call("GET", "/blotter").json
        assert after_a == {"client": "acme-capital", "rows": a_rows}
        assert after_b == {"client": "beta-fund", "rows": b_rows}
        assert acme.call("GET", "/blotter.csv").body == a_csv and beta.call("GET", "/blotter.csv").body == b_csv
        table = list(csv.DictReader(io.StringIO(a_csv.decode())))
        filled = [r for r in table if r["type"] == "fill"]
        assert [(r["trade_id"], r["price"], r["qty"], r["notional"]) for r in filled] == \
            [(fill["fill"]["trade_id"], fill["fill"]["price"], fill["fill"]["qty"], fill["fill"]["notional"])]
        for mine, theirs in ((acme, b_rows), (beta, a_rows)):  # nothing of the other client, restored or not
            seen = mine.call("GET", "/blotter").json["rows"] + \
                list(csv.DictReader(io.StringIO(mine.call("GET", "/blotter.csv").body.decode())))
            assert _ids(theirs) and not _ids(seen) & _ids(theirs), seen

        # the run goes on: a new quote after the old rows, its id not one of theirs
        q2 = _rfq(srv, acme, "sell")["quote"]
        assert f"quote_id={q2['quote_id']}" not in _ids(a_rows) | _ids(b_rows)
        rows = _until(acme, lambda rows: rows[-1]["quote_id"] == q2["quote_id"])
        assert rows[:len(a_rows)] == a_rows and [r["type"] for r in rows[len(a_rows):]] == ["quote"]
        assert beta.call("GET", "/blotter").json["rows"] == b_rows


def test_a_desk_without_a_journal_keeps_no_blotter_file(tmp_path: Path) -> None:
    with web_desk() as srv:
        assert srv.blotter_store is None and srv.portal.blotter.store is None


def test_rfqcore_serve_killed_keeps_the_blotter_rows_it_had_written(tmp_path: Path) -> None:
    """``rfqcore serve --journal`` killed (SIGKILL: no orderly stop) once its blotter file holds
    the rows, started again: each client's blotter is as it was, with no row twice (should
    recovery publish outputs again, their rows are already there), and only its own. No market data: the RFQs are refused
    (NO_MARKET), each a row."""
    port, jdir = free_port(), tmp_path / "journal"
    aeron, base = f"/dev/shm/rfqcore-test-blotter-{os.getpid()}", f"http://127.0.0.1:{port}"
    proc = serve_http(aeron, port, "--journal", str(jdir))
    try:
        acme, beta = _portal(base), _portal(base)
        assert acme.login("acme-trader").status == 200 and beta.login("beta-trader").status == 200
        for who, size in ((acme, "1"), (beta, "2"), (acme, "3")):
            r = who.call("POST", "/rfq", {"instrument": "BTC", "side": "buy", "size": size}).json
            assert (r["status"], r["reason"]) == ("rejected", "NO_MARKET"), r
        a_rows, b_rows = acme.call("GET", "/blotter").json["rows"], beta.call("GET", "/blotter").json["rows"]
        assert [r["type"] for r in a_rows] == ["rfq_rejected"] * 2 and [r["type"] for r in b_rows] == ["rfq_rejected"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the store's thread commits them a moment after
            with sqlite3.connect(jdir / "portal-blotter.sqlite") as con:
                if con.execute("SELECT count(*) FROM portal_blotter").fetchone()[0] == 3:
                    break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    proc = serve_http(aeron, port, "--journal", str(jdir))
    try:
        assert acme.call("GET", "/blotter").json == {"client": "acme-capital", "rows": a_rows}  # the session came back
        assert beta.call("GET", "/blotter").json == {"client": "beta-fund", "rows": b_rows}
        r = beta.call("POST", "/rfq", {"instrument": "BTC", "side": "sell", "size": "4"}).json
        assert r["status"] == "rejected" and r["rfq_id"] not in {x["rfq_id"] for x in b_rows}, r
        assert beta.call("GET", "/blotter").json["rows"][:-1] == b_rows
        assert acme.call("GET", "/blotter").json["rows"] == a_rows
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.communicate()[1]
