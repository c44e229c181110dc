"""OKX-style venue: the simulated venue as a real subprocess on loopback, and OkxAdapter against it.

Login, order entry over the private WebSocket (IOC sweeps with exact fills, fees and balances,
partial fills, FOK, duplicate clOrdId, cancel), the ``books`` feed decoded by the unchanged
``OkxHandler`` (checksums verified), bad input on every message type (OKX's code, state hash
unchanged), and the venue faults (disconnect, slow ack, reject, sequence gap).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import ROUND_CEILING, Decimal
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from rfqcore.handlers.okx import OkxHandler, okx_checksum
from rfqcore.instruments import Registry
from rfqcore.records import Kind, StaleReason
from rfqcore.venues.base import (
    ExecReport,
    OrderRequest,
    OrderSide,
    OrdStatus,
    TimeInForce,
    VenueError,
    VenueStatus,
)
from rfqcore.venues.okx import OkxAdapter, iso_ms, login_prehash, okx_sign, parse_iso_ms, rest_prehash
from rfqcore.venuesim.okx_sim import LOT, SEED_SOURCE, SEED_SYMBOL, SYMBOL, TICK
from rfqcore.venuesim.seed import SeedDataMissing, seed_files

from aiotools import run
from aiotools import until as wait_until

TAKER_CBPS = 750   # 0.075 %
MAKER_CBPS = 200
# name -> (api key, secret, passphrase, balances)
ACCOUNTS = {
    "alice": ("alice-key", "alice-secret", "alice-pass", {"BTC": "50", "USDT": "5000000"}),
    "bob": ("bob-key", "bob-secret", "bob-pass", {"BTC": "1", "USDT": "1000"}),
    "carol": ("carol-key", "carol-secret", "carol-pass", {"BTC": "50", "USDT": "5000000"}),
    "dave": ("dave-key", "dave-secret", "dave-pass", {"BTC": "50", "USDT": "5000000"}),
}


def _fee(amount: Decimal, cbps: int = TAKER_CBPS) -> Decimal:
    return (amount * cbps / Decimal(10**6)).quantize(Decimal("1e-8"), rounding=ROUND_CEILING)


# -- fixtures and helpers ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim():
    try:
        seed_files(SEED_SOURCE, SEED_SYMBOL)
    except SeedDataMissing as e:
        pytest.skip(f"recorded data absent: {e}")
    from rfqcore.venuesim.sim import SimConfig, SimProcess
    from rfqcore.venuesim.simbook import SimAccount
    accounts = [SimAccount(n, k, s, p, {a: Decimal(v) for a, v in bal.items()}, MAKER_CBPS, TAKER_CBPS)
                for n, (k, s, p, bal) in ACCOUNTS.items()]
    cfg = SimConfig(style="okx", symbol=SYMBOL, seed=SEED_SOURCE, seed_symbol=SEED_SYMBOL, tick=TICK, lot=LOT,
                    accounts=accounts)
    with SimProcess(cfg) as proc:
        yield proc



async def state(sim: Any) -> dict[str, Any]:
    return await asyncio.to_thread(sim.state)


async def admin(sim: Any, op: str, **kw: Any) -> None:
    await asyncio.to_thread(sim.admin, op, **kw)


class Session:
    """An adapter on the sim for one account, its reports, statuses and an OkxHandler on its books."""

    def __init__(self, sim: Any, account: str, **kw: Any) -> None:
        key, secret, pw, _ = ACCOUNTS[account]
        self.reports: list[ExecReport] = []
        self.statuses: list[VenueStatus] = []
        self.handler = OkxHandler(Registry.load(), [SYMBOL])
        self.records: list[Any] = []
        self.md_errors: list[Exception] = []
        self.adapter = OkxAdapter(on_report=self.reports.append, on_status=self.statuses.append,
                                  on_market_data=self._md, public_url=sim.ws + "/ws/v5/public",
                                  private_url=sim.ws + "/ws/v5/private", rest_url=sim.http,
                                  api_key=key, secret=secret, passphrase=pw, symbols=[SYMBOL], **kw)

    def _md(self, raw: bytes, ts: int) -> None:
        try:
            n = self.handler.on_message(ts, raw)
        except Exception as e:  # noqa: BLE001 - recorded, asserted empty by the tests
            self.md_errors.append(e)
            return
        self.records.extend(self.handler.out[:n].tolist())

    def of(self, cl: str) -> list[ExecReport]:
        return [r for r in self.reports if r.cl_ord_id == cl]

    def final(self, cl: str) -> ExecReport | None:
        done = [r for r in self.of(cl) if r.status in (OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.EXPIRED,
                                                        OrdStatus.REJECTED)]
        return done[-1] if done else None

    async def done(self, cl: str, timeout: float = 5.0) -> ExecReport:
        await wait_until(lambda: self.final(cl) is not None, timeout, f"a final report of {cl}")
        rep = self.final(cl)
        assert rep is not None
        return rep


@asynccontextmanager
async def session(sim: Any, account: str, **kw: Any) -> AsyncIterator[Session]:
    s = Session(sim, account, **kw)
    await s.adapter.start()
    await wait_until(lambda: s.handler.is_live(SYMBOL), what="books snapshot")
    try:
        yield s
    finally:
        await s.adapter.stop()


@asynccontextmanager
async def raw_ws(sim: Any, path: str) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws + path) as ws:
        yield ws


async def ask(ws: Any, msg: Any, timeout: float = 3.0) -> Any:
    """Send (a dict as JSON, a str as is) and return the next answer that is not a books push."""
    await ws.send_str(msg if isinstance(msg, str) else orjson.dumps(msg).decode())
    while True:
        m = await ws.receive(timeout=timeout)
        assert m.type == aiohttp.WSMsgType.TEXT, m
        if m.data == "pong":
            return "pong"
        obj = orjson.loads(m.data)
        if obj.get("arg", {}).get("channel") in ("books", "orders") and "data" in obj:
            continue
        return obj


def login_msg(account: str, *, secret: str | None = None, ts: str | None = None, key: str | None = None,
              passphrase: str | None = None) -> dict[str, Any]:
    k, s, p, _ = ACCOUNTS[account]
    ts = ts if ts is not None else str(int(time.time()))
    return {"op": "login", "args": [{"apiKey": key or k, "passphrase": passphrase or p, "timestamp": ts,
                                     "sign": okx_sign(secret or s, login_prehash(ts))}]}


async def snapshot(sim: Any) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]], dict]:
    """A fresh ``books`` snapshot of the sim: (bids, asks) as decimals best first, and the raw data."""
    async with raw_ws(sim, "/ws/v5/public") as ws:
        await ws.send_str(orjson.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": SYMBOL}]}).decode())
        while True:
            obj = orjson.loads((await ws.receive(timeout=3)).data)
            if obj.get("action") == "snapshot":
                d = obj["data"][0]
                return ([(Decimal(p), Decimal(q)) for p, q, *_ in d["bids"]],
                        [(Decimal(p), Decimal(q)) for p, q, *_ in d["asks"]], d)


def fills(reps: list[ExecReport]) -> list[ExecReport]:
    return [r for r in reps if r.last_qty > 0]


# -- signing helpers (no sim needed) ------------------------------------------------------------

def test_signatures_match_okx_definition() -> None:
    ts = "1538054050"
    want = base64.b64encode(hmac.new(b"secret", b"1538054050GET/users/self/verify", hashlib.sha256).digest())
    assert okx_sign("secret", login_prehash(ts)) == want.decode()
    iso = "2020-12-08T09:08:57.715Z"
    assert rest_prehash(iso, "get", "/api/v5/account/balance?ccy=BTC") == \
        "2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC"
    assert parse_iso_ms(iso) == 1607418537715 and iso_ms(1607418537715) == iso
    assert parse_iso_ms("2020-12-08T09:08:57Z") is None and parse_iso_ms(12) is None


# -- login ---------------------------------------------------------------------------------------

def test_login_success_and_failures(sim: Any) -> None:
    async def go() -> None:
        async with raw_ws(sim, "/ws/v5/private") as ws:
            ans = await ask(ws, login_msg("alice"))
            assert ans["event"] == "login" and ans["code"] == "0" and ans["connId"]
            assert (await ask(ws, login_msg("alice")))["code"] == "60030"       # repeated login
            assert await ask(ws, "ping") == "pong"
        cases = [
            (login_msg("alice", secret="wrong"), "60007"),
            (login_msg("alice", key="nobody"), "60005"),
            (login_msg("alice", passphrase="wrong"), "60024"),
            (login_msg("alice", ts=str(int(time.time()) - 120)), "60006"),
            (login_msg("alice", ts="yesterday"), "60004"),
            ({"op": "login", "args": [{"apiKey": "alice-key"}]}, "60013"),
            ({"op": "login", "args": "x"}, "60013"),
        ]
        for msg, code in cases:
            async with raw_ws(sim, "/ws/v5/private") as ws:
                ans = await ask(ws, msg)
                assert ans["event"] == "error" and ans["code"] == code, (msg, ans)
                # still not logged in: order ops are refused
                ans = await ask(ws, {"id": "1", "op": "order", "args": [{"instId": SYMBOL}]})
                assert ans["code"] == "60011" and ans["id"] == "1"
        # the adapter refuses to start with wrong credentials, naming the venue's code
        s = Session(sim, "alice")
        s.adapter._secret = "wrong"
        with pytest.raises(VenueError, match="60007"):
            await s.adapter.start()
    run(go())


# -- order entry ---------------------------------------------------------------------------------

def test_ioc_sweep_fills_fees_and_balances_exact(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "alice") as s:
            a = s.adapter
            before = await a.balances()
            _, asks, _ = await snapshot(sim)
            (p1, q1), (p2, q2), (p3, q3) = asks[:3]
            part = (q3 / 2).quantize(LOT)
            qty = q1 + q2 + part
            await a.place(OrderRequest("sweep1", SYMBOL, OrderSide.BUY, qty, p3, TimeInForce.IOC))
            final = await s.done("sweep1")
            assert final.status is OrdStatus.FILLED and final.cum_qty == qty
            fl = fills(s.of("sweep1"))
            assert [(r.last_price, r.last_qty) for r in fl] == [(p1, q1), (p2, q2), (p3, part)]
            assert [r.commission for r in fl] == [_fee(q1), _fee(q2), _fee(part)]
            assert all(r.commission_asset == "BTC" and r.side is OrderSide.BUY for r in fl)
            assert len({r.trade_id for r in fl}) == 3 and all(r.trade_id > 0 for r in fl)
            assert [r.cum_qty for r in fl] == [q1, q1 + q2, qty]
            cost = p1 * q1 + p2 * q2 + p3 * part
            after = await a.balances()
            assert after["USDT"] == before["USDT"] - cost
            assert after["BTC"] == before["BTC"] + qty - sum(r.commission for r in fl)
            st = (await state(sim))["accounts"]["alice"]
            assert Decimal(st["balances"]["USDT"]) == after["USDT"] and Decimal(st["locked"]["USDT"]) == 0
            # the REST view agrees
            rest = await a.order_status(SYMBOL, "sweep1")
            assert rest is not None and rest.status is OrdStatus.FILLED and rest.cum_qty == qty
            assert rest.commission == sum(r.commission for r in fl)
            assert await a.order_status(SYMBOL, "neverplaced") is None
            assert not s.md_errors and s.handler.stats.checksum_failures == 0
    run(go())


def test_partial_fill_fok_duplicate_and_cancel(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "dave") as s:
            a = s.adapter
            before = await a.balances()
            bids, asks, _ = await snapshot(sim)
            # IOC sell at the best bid for more than it holds: partial fill, rest canceled
            (bp, bq) = bids[0]
            await a.place(OrderRequest("part1", SYMBOL, OrderSide.SELL, bq + Decimal("0.5"), bp, TimeInForce.IOC))
            final = await s.done("part1")
            assert final.status is OrdStatus.CANCELED and final.cum_qty == bq
            fl = fills(s.of("part1"))
            assert sum(r.last_qty for r in fl) == bq and all(r.last_price == bp for r in fl)
            assert all(r.commission_asset == "USDT" for r in fl)
            assert fl[0].commission == _fee(bp * bq)
            mid = await a.balances()
            assert mid["BTC"] == before["BTC"] - bq
            assert mid["USDT"] == before["USDT"] + bp * bq - _fee(bp * bq)
            # FOK that cannot fill at its price: expired, nothing filled, nothing moved
            (ap, aq) = asks[0]
            await a.place(OrderRequest("fok1", SYMBOL, OrderSide.BUY, aq + Decimal("0.001"), ap, TimeInForce.FOK))
            final = await s.done("fok1")
            assert final.status is OrdStatus.EXPIRED and final.cum_qty == 0 and not fills(s.of("fok1"))
            assert await a.balances() == mid
            # a resting limit order, its duplicate, its cancel
            px = (bp - 50).quantize(TICK)
            await a.place(OrderRequest("rest1", SYMBOL, OrderSide.BUY, Decimal("0.01"), px, TimeInForce.GTC))
            await wait_until(lambda: any(r.status is OrdStatus.NEW for r in s.of("rest1")), what="rest1 NEW")
            opens = await a.open_orders(SYMBOL)
            assert [o.cl_ord_id for o in opens] == ["rest1"] and opens[0].price == px
            assert (await a.balances())["USDT"] == mid["USDT"]  # cashBal includes the frozen amount
            h0 = (await state(sim))["state_hash"]
            await a.place(OrderRequest("rest1", SYMBOL, OrderSide.BUY, Decimal("0.02"), px, TimeInForce.GTC))
            await wait_until(lambda: any(r.status is OrdStatus.REJECTED for r in s.of("rest1")), what="dup reject")
            dup = [r for r in s.of("rest1") if r.status is OrdStatus.REJECTED]
            assert len(dup) == 1 and dup[0].reason.startswith("51016")
            assert (await state(sim))["state_hash"] == h0
            await a.cancel(SYMBOL, "rest1")
            await wait_until(lambda: s.of("rest1")[-1].status is OrdStatus.CANCELED, what="rest1 canceled")
            assert s.of("rest1")[-1].cum_qty == 0
            assert await a.open_orders(SYMBOL) == []
            st = (await state(sim))["accounts"]["dave"]
            assert Decimal(st["locked"].get("USDT", "0")) == 0 and Decimal(st["balances"]["USDT"]) == mid["USDT"]
            # cancel of an order that is no longer open: the venue's code
            await a.cancel(SYMBOL, "rest1")
            await wait_until(lambda: any("51400" in r.reason for r in s.of("rest1")), what="cancel reject")
    run(go())


def test_books_feed_decoded_by_okx_handler_tracks_the_sim(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "alice") as s:
            a = s.adapter
            bids, asks, _ = await snapshot(sim)
            await a.place(OrderRequest("bk1", SYMBOL, OrderSide.BUY, asks[0][1] + asks[1][1], asks[1][0],
                                       TimeInForce.IOC))
            await a.place(OrderRequest("bk2", SYMBOL, OrderSide.SELL, bids[0][1] / 2, bids[0][0], TimeInForce.IOC))
            await a.place(OrderRequest("bk3", SYMBOL, OrderSide.SELL, Decimal("0.123"), asks[0][0] + 1,
                                       TimeInForce.GTC))
            for cl in ("bk1", "bk2"):
                await s.done(cl)
            await wait_until(lambda: any(r.status is OrdStatus.NEW for r in s.of("bk3")), what="bk3 live")
            await a.cancel(SYMBOL, "bk3")
            await s.done("bk3")
            uid = (await state(sim))["update_id"]
            await wait_until(lambda: s.handler._books[SYMBOL].seq_id == uid, what="handler at the sim's update id")
            hs = s.handler.stats
            assert not s.md_errors and hs.checksum_failures == 0 and hs.gaps == 0 and s.handler.is_live(SYMBOL)
            assert hs.messages >= 5
            nb, na, d = await snapshot(sim)
            hb, ha = s.handler.book_top(SYMBOL, 25)
            book = s.handler._books[SYMBOL]
            assert [Decimal(book.bids[p][0]) for p in hb] == [p for p, _ in nb[:25]]
            assert [Decimal(book.asks[p][1]) for p in ha] == [q for _, q in na[:25]]
            assert okx_checksum(book.bids, book.asks) == d["checksum"]
            assert len(book.bids) == len(nb) and len(book.asks) == len(na)
    run(go())


# -- bad input on every message type ------------------------------------------------------------

def _order(**over: Any) -> dict[str, Any]:
    base = {"instId": SYMBOL, "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01",
            "px": "60000.0", "clOrdId": "badin1"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_bad_input_gets_okx_code_and_changes_nothing(sim: Any) -> None:
    async def go() -> None:
        _, asks, _ = await snapshot(sim)
        best_ask = asks[0][0]
        # one real order of bob first, so that its clOrdId exists for the duplicate case
        async with raw_ws(sim, "/ws/v5/private") as ws:
            assert (await ask(ws, login_msg("bob")))["code"] == "0"
            ok = await ask(ws, {"id": "r1", "op": "order", "args": [_order(clOrdId="bobfirst", px="59000.0")]})
            assert ok["code"] == "0" and ok["data"][0]["sCode"] == "0", ok
        h0 = (await state(sim))["state_hash"]
        ws_events = [  # (message, code) answered with {"event": "error"}
            ("not json", "60012"), ("[1, 2]", "60012"), ({"args": []}, "60012"), ({"op": 7}, "60012"),
            ({"op": "nope"}, "60019"), ({"op": "subscribe", "args": "x"}, "60013"),
            ({"op": "subscribe", "args": [{"channel": "nochan"}]}, "60018"),
            ({"op": "subscribe", "args": [{"channel": "books", "instId": SYMBOL}]}, "60018"),
            ({"op": "subscribe", "args": [{"channel": "orders", "instType": "FUTURES"}]}, "60018"),
            ({"id": "x" * 40, "op": "order", "args": [_order()]}, "60013"),
            ({"id": "a-b", "op": "order", "args": [_order()]}, "60013"),
        ]
        op_codes = [  # (op, args, top-level code, sCode or None)
            ("order", "x", "60013", None), ("order", [_order(), _order()], "60013", None), ("order", [], "60013", None),
            ("order", [_order(instId=None)], "1", "51000"), ("order", [_order(instId="ETH-USDT")], "1", "51001"),
            ("order", [_order(tdMode="cross")], "1", "51000"), ("order", [_order(side="long")], "1", "51000"),
            ("order", [_order(ordType="stop")], "1", "51000"), ("order", [_order(clOrdId=None)], "1", "51000"),
            ("order", [_order(clOrdId="bad-id!")], "1", "51000"), ("order", [_order(sz="abc")], "1", "51000"),
            ("order", [_order(sz="0")], "1", "51000"), ("order", [_order(sz="1e-3")], "1", "51000"),
            ("order", [_order(sz=5)], "1", "51000"), ("order", [_order(sz="0.000000001")], "1", "51121"),
            ("order", [_order(px=None)], "1", "51000"), ("order", [_order(px="60000.05")], "1", "51000"),
            ("order", [_order(px="-1")], "1", "51000"), ("order", [_order(px="1000.0")], "1", "51006"),
            ("order", [_order(ordType="market", px="60000.0", tgtCcy="base_ccy")], "1", "51000"),
            ("order", [_order(ordType="market", px=None)], "1", "51000"),
            ("order", [_order(ordType="market", px=None, tgtCcy="quote_ccy")], "1", "51000"),
            ("order", [_order(sz="1", px="60000.0")], "1", "51008"),                       # bob has 1000 USDT
            ("order", [_order(side="sell", sz="2", px=str(best_ask + 100))], "1", "51008"),  # and 1 BTC
            ("order", [_order(ordType="post_only", px=str(best_ask + 10), sz="0.001")], "1", "51019"),
            ("order", [_order(clOrdId="bobfirst")], "1", "51016"),
            ("cancel-order", [{"instId": SYMBOL, "clOrdId": "nosuch"}], "1", "51400"),
            ("cancel-order", [{"instId": SYMBOL, "ordId": "999999999"}], "1", "51400"),
            ("cancel-order", [{"instId": SYMBOL}], "1", "51000"),
            ("cancel-order", [{"instId": SYMBOL, "ordId": "abc"}], "1", "51000"),
            ("cancel-order", [{"instId": "ETH-USDT", "clOrdId": "bobfirst"}], "1", "51001"),
            ("cancel-order", "x", "60013", None),
        ]
        async with raw_ws(sim, "/ws/v5/private") as ws:
            assert (await ask(ws, login_msg("bob")))["code"] == "0"
            for msg, code in ws_events:
                ans = await ask(ws, msg)
                assert ans.get("event") == "error" and ans["code"] == code, (msg, ans)
            for i, (op, args, code, s_code) in enumerate(op_codes):
                ans = await ask(ws, {"id": f"b{i}", "op": op, "args": args})
                assert ans["id"] == f"b{i}" and ans["op"] == op and ans["code"] == code, (op, args, ans)
                if s_code is not None:
                    assert ans["data"][0]["sCode"] == s_code and ans["data"][0]["sMsg"], (op, args, ans)
        async with raw_ws(sim, "/ws/v5/private") as ws:  # not logged in
            assert (await ask(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}))["code"] \
                == "60011"
            ans = await ask(ws, {"id": "n1", "op": "cancel-order", "args": [{"instId": SYMBOL, "clOrdId": "x"}]})
            assert ans["code"] == "60011"
        async with raw_ws(sim, "/ws/v5/public") as ws:
            for msg, code in [(login_msg("bob"), "60028"), ({"id": "1", "op": "order", "args": [_order()]}, "60028"),
                              ({"op": "subscribe", "args": [{"channel": "books", "instId": "ETH-USDT"}]}, "60018"),
                              ({"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}, "60018"),
                              ("{", "60012")]:
                ans = await ask(ws, msg)
                assert ans.get("event") == "error" and ans["code"] == code, (msg, ans)
            assert await ask(ws, "ping") == "pong"
        # REST
        key, secret, pw, _ = ACCOUNTS["bob"]

        async def rest(path: str, *, drop: str = "", ts: str | None = None, k: str = key, sec: str = secret,
                       p: str = pw) -> tuple[int, dict[str, Any]]:
            ts = ts if ts is not None else iso_ms(time.time_ns() // 1_000_000)
            hdr = {"OK-ACCESS-KEY": k, "OK-ACCESS-SIGN": okx_sign(sec, rest_prehash(ts, "GET", path)),
                   "OK-ACCESS-TIMESTAMP": ts, "OK-ACCESS-PASSPHRASE": p}
            hdr.pop(drop, None)
            async with aiohttp.ClientSession() as http, http.get(sim.http + path, headers=hdr) as r:
                return r.status, orjson.loads(await r.read())

        order_path = f"/api/v5/trade/order?instId={SYMBOL}&clOrdId=bobfirst"
        status, ok = await rest(order_path)
        assert status == 200 and ok["code"] == "0" and ok["data"][0]["state"] == "live"
        rest_cases = [
            (dict(drop="OK-ACCESS-KEY"), "50103"), (dict(drop="OK-ACCESS-PASSPHRASE"), "50104"),
            (dict(drop="OK-ACCESS-SIGN"), "50106"), (dict(drop="OK-ACCESS-TIMESTAMP"), "50107"),
            (dict(ts="1607418537"), "50112"), (dict(ts=iso_ms(time.time_ns() // 1_000_000 - 120_000)), "50102"),
            (dict(k="nobody"), "50111"), (dict(p="wrong"), "50105"), (dict(sec="wrong"), "50113"),
        ]
        for kw, code in rest_cases:
            status, ans = await rest(order_path, **kw)
            assert status == 401 and ans["code"] == code and ans["data"] == [], (kw, ans)
        for path, code in [("/api/v5/trade/order?clOrdId=bobfirst", "50014"),
                           ("/api/v5/trade/order?instId=ETH-USDT&clOrdId=bobfirst", "51001"),
                           (f"/api/v5/trade/order?instId={SYMBOL}", "50014"),
                           (f"/api/v5/trade/order?instId={SYMBOL}&clOrdId=nosuch", "51603"),
                           (f"/api/v5/trade/order?instId={SYMBOL}&ordId=abc", "51000"),
                           ("/api/v5/trade/orders-pending?instType=FUTURES", "51000"),
                           (f"/api/v5/trade/fills?instId={SYMBOL}&ordId=x1", "51000")]:
            _, ans = await rest(path)
            assert ans["code"] == code, (path, ans)
        assert (await state(sim))["state_hash"] == h0
    run(go())


# -- keep-alive and malformed venue messages ----------------------------------------------------

def test_ping_keepalive(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "alice", ping_interval=0.2) as s:
            await asyncio.sleep(0.8)
            assert s.adapter.stats["pings"] >= 2 and s.adapter.up
            assert [st.up for st in s.statuses] == [True]
    run(go())


@asynccontextmanager
async def fake_private(after_subscribe: Callable[[web.WebSocketResponse], Any], *,
                       pong: bool) -> AsyncIterator[OkxAdapter]:
    """A fake OKX private endpoint (login and subscribe always succeed, then ``after_subscribe``;
    "ping" answered only if ``pong``) and an adapter started on it (no public link, 0.15 s ping
    interval). Yields the adapter; counts connections."""
    conns = [0]

    async def private(request: web.Request) -> web.WebSocketResponse:
        conns[0] += 1
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async for m in ws:
            if m.data == "ping":
                if pong:
                    await ws.send_str("pong")
                continue
            obj = orjson.loads(m.data)
            if obj["op"] == "login":
                await ws.send_str('{"event": "login", "code": "0", "msg": ""}')
            elif obj["op"] == "subscribe":
                await ws.send_str(orjson.dumps({"event": "subscribe", "arg": obj["args"][0]}).decode())
                await after_subscribe(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws/v5/private", private)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    statuses: list[VenueStatus] = []
    reports: list[ExecReport] = []
    a = OkxAdapter(on_report=reports.append, on_status=statuses.append, public_url="",
                   private_url=f"ws://127.0.0.1:{port}/ws/v5/private", rest_url=f"http://127.0.0.1:{port}",
                   api_key="k", secret="s", passphrase="p", ping_interval=0.15, backoff_initial=0.05)
    a.test_statuses, a.test_reports, a.test_conns = statuses, reports, conns  # type: ignore[attr-defined]
    try:
        await a.start()
        yield a
    finally:
        await a.stop()
        await runner.cleanup()


def test_unanswered_ping_drops_and_reconnects_the_link() -> None:
    async def go() -> None:
        async def nothing(ws: web.WebSocketResponse) -> None:
            return None

        async with fake_private(nothing, pong=False) as a:
            st: list[VenueStatus] = a.test_statuses  # type: ignore[attr-defined]
            await wait_until(lambda: len(st) >= 3, what="down and up again")
            assert [x.up for x in st[:3]] == [True, False, True] and a.stats["pings"] >= 1
            assert a.test_conns[0] >= 2  # type: ignore[attr-defined]
    run(go())


def test_malformed_venue_messages_are_counted_not_fatal() -> None:
    """A fake private endpoint that logs in, then sends garbage: counted, logged, link stays up."""
    bad = ["not json", "[1]", '{"arg": {"channel": "orders"}, "data": "x"}',
           '{"arg": {"channel": "orders"}, "data": [{"clOrdId": "z1", "state": "weird", "ordId": "1"}]}',
           '{"arg": {"channel": "orders"}, "data": [{"clOrdId": "z2", "state": "filled", "fillSz": "1",'
           ' "tradeId": "abc", "ordId": "2"}]}',
           '{"id": "999", "op": "order", "code": "0", "data": []}']

    async def go() -> None:
        async def garbage(ws: web.WebSocketResponse) -> None:
            for b in bad:
                await ws.send_str(b)

        async with fake_private(garbage, pong=True) as a:
            await wait_until(lambda: a.stats["malformed"] >= len(bad), what="malformed count")
            await asyncio.sleep(0.4)   # pings answered meanwhile: the link stays, nothing is resent
            assert a.stats["malformed"] == len(bad) and a.up and a.stats["pings"] >= 1
            assert a.test_conns[0] == 1  # type: ignore[attr-defined]
            assert a.test_reports == []  # type: ignore[attr-defined]
    run(go())


# -- faults --------------------------------------------------------------------------------------

def test_fault_slow_ack_and_reject_next(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "carol", request_timeout=3.0) as s:
            a = s.adapter
            _, asks, _ = await snapshot(sim)
            await admin(sim, "slow_ack", ms=400)
            try:
                t0 = time.monotonic()
                await a.place(OrderRequest("slow1", SYMBOL, OrderSide.BUY, Decimal("0.01"), asks[0][0],
                                           TimeInForce.IOC))
                final = await s.done("slow1")
                assert time.monotonic() - t0 >= 0.35
                assert final.status is OrdStatus.FILLED and not any(r.status is OrdStatus.UNKNOWN for r in s.reports)
            finally:
                await admin(sim, "slow_ack", ms=0)
            assert a.stats["late_answers"] == 0
            h0 = (await state(sim))["state_hash"]
            await admin(sim, "reject_next", n=1)
            await a.place(OrderRequest("rej1", SYMBOL, OrderSide.BUY, Decimal("0.01"), asks[0][0], TimeInForce.IOC))
            final = await s.done("rej1")
            assert final.status is OrdStatus.REJECTED and final.reason.startswith("50001")
            assert (await state(sim))["state_hash"] == h0
            await a.place(OrderRequest("rej2", SYMBOL, OrderSide.BUY, Decimal("0.01"), asks[0][0] + 100,
                                       TimeInForce.IOC))
            assert (await s.done("rej2")).status is OrdStatus.FILLED
    run(go())


def test_fault_ack_slower_than_timeout_unknown_then_reconciled(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "carol", request_timeout=0.3) as s:
            a = s.adapter
            _, asks, _ = await snapshot(sim)
            await admin(sim, "slow_ack", ms=800)
            try:
                await a.place(OrderRequest("late1", SYMBOL, OrderSide.BUY, Decimal("0.003"), asks[0][0] + 50,
                                           TimeInForce.IOC))
                await wait_until(lambda: any(r.status is OrdStatus.UNKNOWN for r in s.of("late1")), what="UNKNOWN")
                final = await s.done("late1")   # reconciled over REST before the late answer
                assert final.status is OrdStatus.FILLED and final.cum_qty == Decimal("0.003")
                await wait_until(lambda: a.stats["late_answers"] == 1, what="the late answer")
                await asyncio.sleep(0.2)
            finally:
                await admin(sim, "slow_ack", ms=0)
            # the delayed pushes repeat the fills already reported: one report per trade id
            trade_ids = [r.trade_id for r in fills(s.of("late1"))]
            assert len(trade_ids) == len(set(trade_ids)) and sum(r.last_qty for r in fills(s.of("late1"))) == \
                Decimal("0.003")
            assert a.stats["duplicate_fills"] >= 1 and a.stats["malformed"] == 0 and a.up
            # and the order never goes back from its final state
            assert [r.status for r in s.of("late1")][-1] is OrdStatus.FILLED
    run(go())


def test_fault_disconnect_unknown_then_reconciled(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "carol", request_timeout=3.0, backoff_initial=0.05, backoff_max=0.2) as s:
            a = s.adapter
            before = await a.balances()
            _, asks, _ = await snapshot(sim)
            qty = asks[0][1] + asks[1][1]
            await admin(sim, "slow_ack", ms=1000)   # executes now, answers later: the answer is lost
            try:
                await a.place(OrderRequest("disc1", SYMBOL, OrderSide.BUY, qty, asks[1][0], TimeInForce.IOC))
                await asyncio.sleep(0.15)
                await admin(sim, "disconnect", ms=500)
                await wait_until(lambda: any(not st.up for st in s.statuses), what="status down")
                await wait_until(lambda: any(r.status is OrdStatus.UNKNOWN for r in s.of("disc1")), what="UNKNOWN")
            finally:
                await admin(sim, "slow_ack", ms=0)
            await wait_until(lambda: len(s.statuses) >= 3 and s.statuses[-1].up, timeout=10, what="status up again")
            final = await s.done("disc1", timeout=5)
            assert [st.up for st in s.statuses] == [True, False, True]
            assert final.status is OrdStatus.FILLED and final.cum_qty == qty
            st = (await state(sim))["accounts"]["carol"]
            oid = int(final.venue_order_id)
            venue_fills = {f["trade_id"]: (Decimal(f["price"]), Decimal(f["qty"]), Decimal(f["fee"]))
                           for f in st["fills"] if f["order_id"] == oid}
            got = {r.trade_id: (r.last_price, r.last_qty, r.commission) for r in fills(s.of("disc1"))}
            assert got == venue_fills and len(fills(s.of("disc1"))) == len(venue_fills)  # once per trade
            after = await a.balances()
            assert after["BTC"] - before["BTC"] == qty - sum(f[2] for f in venue_fills.values())
            assert before["USDT"] - after["USDT"] == sum(f[0] * f[1] for f in venue_fills.values())
            # the public link came back with a fresh snapshot: the handler is live and checksums hold
            await wait_until(lambda: s.handler.is_live(SYMBOL) and s.handler.stats.snapshots >= 2, what="resnapshot")
            assert not s.md_errors and s.handler.stats.checksum_failures == 0
    run(go())


def test_fault_sequence_gap_detected_by_okx_handler_and_resynced(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "alice") as s:
            a = s.adapter
            _, asks, _ = await snapshot(sim)
            await admin(sim, "gap_next")
            await a.place(OrderRequest("gap1", SYMBOL, OrderSide.BUY, Decimal("0.002"), asks[0][0], TimeInForce.IOC))
            await s.done("gap1")
            await wait_until(lambda: s.handler.needs_snapshot() == [SYMBOL], what="gap detected")
            stale = [r for r in s.records if r[0] == int(Kind.BOOK_STALE)]
            assert len(stale) == 1 and stale[0][10] == int(StaleReason.SEQUENCE_GAP)  # aux
            assert s.handler.stats.gaps == 1 and s.handler.stats.checksum_failures == 0
            assert await a.fetch_snapshot(SYMBOL) is None   # what the hedger calls: resubscribes
            await a.resync(SYMBOL)                           # already pending: not sent twice
            await wait_until(lambda: s.handler.is_live(SYMBOL), what="resynced")
            await asyncio.sleep(0.2)
            assert s.handler.stats.resyncs == 1 and s.handler.stats.snapshots == 2
            top = (await state(sim))["top"]
            hb, ha = s.handler.book_top(SYMBOL)
            book = s.handler._books[SYMBOL]
            assert book.bids[hb[0]][0] == str(Decimal(top["bid"][0]))
            assert book.asks[ha[0]][0] == str(Decimal(top["ask"][0]))
    run(go())


def test_market_order_and_capped_partial_fill(sim: Any) -> None:
    async def go() -> None:
        async with session(sim, "dave") as s:
            a = s.adapter
            before = await a.balances()
            bids, _, _ = await snapshot(sim)
            (bp, bq) = bids[0]
            qty = min(bq, Decimal("0.05"))
            await a.place(OrderRequest("mkt1", SYMBOL, OrderSide.SELL, qty, None, TimeInForce.IOC))
            final = await s.done("mkt1")
            assert final.status is OrdStatus.FILLED and final.price is None
            (f,) = fills(s.of("mkt1"))
            assert (f.last_price, f.last_qty, f.commission, f.commission_asset) == (bp, qty, _fee(bp * qty), "USDT")
            mid = await a.balances()
            assert mid["BTC"] == before["BTC"] - qty and mid["USDT"] == before["USDT"] + bp * qty - f.commission
            # the venue fills only part of an IOC (fault cap_fill): partial fill, then canceled
            _, asks, _ = await snapshot(sim)
            await admin(sim, "cap_fill", qty="0.004")
            await a.place(OrderRequest("cap1", SYMBOL, OrderSide.BUY, Decimal("0.01"), asks[0][0], TimeInForce.IOC))
            final = await s.done("cap1")
            assert final.status is OrdStatus.CANCELED and final.cum_qty == Decimal("0.004")
            assert [r.last_qty for r in fills(s.of("cap1"))] == [Decimal("0.004")]
            rest = await a.order_status(SYMBOL, "cap1")
            assert rest is not None and rest.status is OrdStatus.CANCELED and rest.cum_qty == Decimal("0.004")
            with pytest.raises(VenueError):   # a request the adapter cannot encode
                await a.place(OrderRequest("bad-id", SYMBOL, OrderSide.BUY, Decimal("1"), None, TimeInForce.IOC))
    run(go())


def test_fault_disconnect_maker_fill_missed_then_recovered(sim: Any) -> None:
    """A resting order filled just before a disconnect, its push lost: reconciliation reports the fill."""
    async def go() -> None:
        fast = dict(request_timeout=3.0, backoff_initial=0.05, backoff_max=0.2)
        async with session(sim, "carol", **fast) as maker, session(sim, "alice", **fast) as taker:
            m, t = maker.adapter, taker.adapter
            before = await m.balances()
            _, asks, _ = await snapshot(sim)
            px, lp_qty = asks[0]
            mq = Decimal("0.005")
            await m.place(OrderRequest("mk1", SYMBOL, OrderSide.SELL, mq, px, TimeInForce.GTC))
            await wait_until(lambda: any(r.status is OrdStatus.NEW for r in maker.of("mk1")), what="mk1 resting")
            await admin(sim, "slow_ack", ms=1000)
            try:
                await t.place(OrderRequest("tk1", SYMBOL, OrderSide.BUY, lp_qty + mq, px, TimeInForce.IOC))
                await asyncio.sleep(0.15)
                await admin(sim, "disconnect", ms=400)
                await wait_until(lambda: any(not st.up for st in maker.statuses), what="maker down")
            finally:
                await admin(sim, "slow_ack", ms=0)
            await wait_until(lambda: maker.final("mk1") is not None, timeout=10, what="maker fill recovered")
            await wait_until(lambda: taker.final("tk1") is not None, timeout=10, what="taker order recovered")
            await wait_until(lambda: maker.statuses[-1].up and taker.statuses[-1].up, what="both up")
            assert maker.final("mk1").status is OrdStatus.FILLED   # type: ignore[union-attr]
            (f,) = fills(maker.of("mk1"))
            assert (f.last_price, f.last_qty, f.commission, f.commission_asset) == (px, mq, _fee(px * mq, MAKER_CBPS),
                                                                                  "USDT")
            st = (await state(sim))["accounts"]["carol"]
            assert [(x["trade_id"], Decimal(x["qty"])) for x in st["fills"] if x["order_id"] == int(f.venue_order_id)] \
                == [(f.trade_id, mq)]
            after = await m.balances()
            assert after["BTC"] == before["BTC"] - mq and after["USDT"] == before["USDT"] + px * mq - f.commission
            tk = taker.final("tk1")
            assert tk is not None and tk.status is OrdStatus.FILLED and tk.cum_qty == lp_qty + mq
            assert any(r.status is OrdStatus.UNKNOWN for r in taker.of("tk1"))
            assert trade_ids_unique(taker.of("tk1")) and trade_ids_unique(maker.of("mk1"))
    run(go())


def trade_ids_unique(reps: list[ExecReport]) -> bool:
    ids = [r.trade_id for r in fills(reps)]
    return len(ids) == len(set(ids))
