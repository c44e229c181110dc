"""The Binance-style simulated venue and BinanceAdapter, over real sockets to a real subprocess:
signing (Binance's documented vectors), matching with fees and balances, the depth stream
decoded by BinanceHandler, bad input on every endpoint and stream (the Binance error code and
no state change), and venue faults (disconnect, slow ack, reject, sequence gap)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest

from rfqcore.errors import DecodeError
from rfqcore.handlers.binance import BinanceHandler, SyncState
from rfqcore.instruments import Registry
from rfqcore.records import Kind
from rfqcore.venues.base import ExecReport, OrderRequest, OrderSide, OrdStatus, TimeInForce, VenueStatus
from rfqcore.venues.binance import BinanceAdapter, sign, total_params
from rfqcore.venuesim.sim import SimConfig, SimProcess
from rfqcore.venuesim.simbook import SimAccount

from aiotools import run, until

SYM = "BTCUSDT"
ALICE = ("alice-key", "alice-secret")
BOB = ("bob-key", "bob-secret")


# -- signing: Binance's documented examples ---------------------------------------------------

DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def test_signature_documented_vector() -> None:
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    assert sign(DOC_SECRET, query) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    # the same parameters split between query string and body: totalParams = query + body
    mixed = total_params("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
                         "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
    assert sign(DOC_SECRET, mixed) == "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    assert total_params(query + "&signature=abc", "") == query


# -- fixtures and helpers ----------------------------------------------------------------------

def sim_config() -> SimConfig:
    def acc(name: str, key: tuple[str, str]) -> SimAccount:
        return SimAccount(name, key[0], key[1], balances={"USDT": D("2000000"), "BTC": D("20")},
                          maker_cbps=200, taker_cbps=750)
    return SimConfig(style="binance", symbol=SYM, seed="binance-spot", at_index=300,
                     accounts=[acc("alice", ALICE), acc("bob", BOB)])


@pytest.fixture(scope="module")
def sim(data_dir: Path) -> Iterator[SimProcess]:
    with SimProcess(sim_config()) as s:
        yield s


def rest(sim: SimProcess, method: str, path: str, params: dict[str, str] | None = None, *,
         key: tuple[str, str] | None = ALICE, signed: bool = True, ts: int | None = None,
         sig: str | None = None, raw_query: str | None = None, body: str = "") -> tuple[int, Any]:
    """One REST call the way a Binance client makes it (query-string parameters, signed)."""
    if raw_query is not None:
        query = raw_query
    else:
        p = dict(params or {})
        if signed:
            p.setdefault("timestamp", str(ts if ts is not None else time.time_ns() // 1_000_000))
        query = urlencode(p)
        if signed:
            secret = key[1] if key else "x"
            query += "&signature=" + (sig if sig is not None else sign(secret, total_params(query, body)))
    req = urllib.request.Request(f"{sim.http}{path}?{query}", method=method, data=body.encode() or None,
                                 headers={"X-MBX-APIKEY": key[0]} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def state_hash(sim: SimProcess) -> str:
    return str(sim.state()["state_hash"])


def depth(sim: SimProcess, limit: int = 5000) -> dict[str, Any]:
    status, d = rest(sim, "GET", "/api/v3/depth", {"symbol": SYM, "limit": str(limit)}, key=None, signed=False)
    assert status == 200
    return d



class Harness:
    """A started BinanceAdapter whose market data goes through BinanceHandler into an L2 book."""

    def __init__(self, sim: SimProcess, key: tuple[str, str] = ALICE) -> None:
        self.sim = sim
        self.reports: list[ExecReport] = []
        self.statuses: list[VenueStatus] = []
        self.kinds: list[int] = []
        self.decode_errors: list[DecodeError] = []
        reg = Registry.load()
        self.ins = reg.lookup("binance-spot", SYM)
        self.handler = BinanceHandler(reg, "binance-spot", [SYM])
        self.book: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.adapter = BinanceAdapter("binance-sim", rest_url=sim.http, ws_url=sim.ws, api_key=key[0], secret=key[1],
                                      symbols=[SYM], on_report=self.reports.append, on_status=self.statuses.append,
                                      on_market_data=self.on_md, backoff=(0.05, 0.2))

    def on_md(self, raw: bytes, ts: int) -> None:
        try:
            n = self.handler.on_message(ts, raw)
        except DecodeError as e:
            self.decode_errors.append(e)
            return
        self.apply(n)

    def apply(self, n: int) -> None:
        for rec in self.handler.out[:n].tolist():
            kind, side, price, qty = rec[0], rec[2], rec[8], rec[9]
            self.kinds.append(kind)
            if kind == Kind.BOOK_CLEAR:
                self.book[0].clear()
                self.book[1].clear()
            elif kind == Kind.BOOK_LEVEL:
                if qty:
                    self.book[side][price] = qty
                else:
                    self.book[side].pop(price, None)

    async def sync_book(self) -> None:
        snap = await self.adapter.fetch_snapshot(SYM)
        assert snap is not None
        self.apply(self.handler.on_snapshot(time.time_ns(), snap, symbol=SYM))

    def venue_book(self) -> tuple[dict[int, int], dict[int, int]]:
        d = depth(self.sim)
        pd, qd = self.ins.price_decimals, self.ins.qty_decimals
        return tuple({int(D(p).scaleb(pd)): int(D(q).scaleb(qd)) for p, q in d[k]} for k in ("bids", "asks"))  # type: ignore[return-value]

    async def book_matches(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            venue = await asyncio.to_thread(self.venue_book)
            if self.handler.state(SYM) != SyncState.AWAITING_SNAPSHOT and venue == self.book:
                return
            if time.monotonic() > deadline:
                raise AssertionError("the book built from the depth stream differs from the venue's")
            await asyncio.sleep(0.05)

    def of(self, cl: str) -> list[ExecReport]:
        return [r for r in self.reports if r.cl_ord_id == cl]

    async def final(self, cl: str, timeout: float = 5.0) -> ExecReport:
        terminal = {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.EXPIRED, OrdStatus.REJECTED}
        await until(lambda: any(r.status in terminal for r in self.of(cl)), timeout, f"{cl} to end")
        return [r for r in self.of(cl) if r.status in terminal][-1]


def uid() -> str:
    return f"t{time.time_ns() % 10**12}"


# -- matching, fees, balances, depth stream --------------------------------------------------

def test_ioc_sweep_partial_fill_fees_balances_and_depth_stream(sim: SimProcess) -> None:
    async def go() -> None:
        h = Harness(sim)
        await h.adapter.start()
        try:
            assert h.statuses[-1].up
            await h.sync_book()
            await h.book_matches()
            asks = [(D(p), D(q)) for p, q in depth(sim, 3)["asks"]]
            before = (await asyncio.to_thread(sim.state))["accounts"]["alice"]["balances"]
            qty = sum(q for _, q in asks) + D("1")  # beyond the limit: a partial fill
            cl = uid()
            await h.adapter.place(OrderRequest(cl, SYM, OrderSide.BUY, qty, asks[2][0], TimeInForce.IOC))
            last = await h.final(cl)
            fills = [r for r in h.of(cl) if r.last_qty > 0]
            assert [(r.last_price, r.last_qty) for r in fills] == asks
            assert [r.commission for r in fills] == [(q * 750 / D(10**6)).quantize(D("1e-8"), rounding="ROUND_CEILING")
                                                    for _, q in asks]
            assert all(r.commission_asset == "BTC" for r in fills) and len({r.trade_id for r in fills}) == 3
            assert last.status == OrdStatus.CANCELED and last.cum_qty == qty - 1  # IOC rest: CANCELED
            after = (await asyncio.to_thread(sim.state))["accounts"]["alice"]["balances"]
            cost = sum(p * q for p, q in asks)
            assert D(after["USDT"]) == D(before["USDT"]) - cost
            assert D(after["BTC"]) == D(before["BTC"]) + last.cum_qty - sum(r.commission for r in fills)
            await h.book_matches()  # the depth stream, decoded by BinanceHandler, tracks the trade
            assert h.handler.stats.gaps == 0 and not h.decode_errors
            # the reports came once each although both the REST answer and the stream carried them
            assert len(h.of(cl)) == 4 and h.adapter.stats.duplicates >= 3
        finally:
            await h.adapter.stop()
    run(go())


def test_fok_duplicate_cancel_unknown(sim: SimProcess) -> None:
    async def go() -> None:
        h = Harness(sim)
        await h.adapter.start()
        try:
            d = depth(sim, 2)
            ask0, q0 = D(d["asks"][0][0]), D(d["asks"][0][1])
            fok = uid()
            await h.adapter.place(OrderRequest(fok, SYM, OrderSide.BUY, q0 + D("0.5"), ask0, TimeInForce.FOK))
            r = await h.final(fok)
            assert r.status == OrdStatus.EXPIRED and r.cum_qty == 0 and len(h.of(fok)) == 1
            gtc = uid()
            low = D(d["bids"][0][0]) - D("100")
            await h.adapter.place(OrderRequest(gtc, SYM, OrderSide.BUY, D("0.01"), low, TimeInForce.GTC))
            await until(lambda: any(x.status == OrdStatus.NEW for x in h.of(gtc)), what="ack")
            await h.adapter.place(OrderRequest(gtc, SYM, OrderSide.BUY, D("0.02"), low, TimeInForce.GTC))
            await until(lambda: any(x.status == OrdStatus.REJECTED for x in h.of(gtc)), what="duplicate reject")
            dup = [x for x in h.of(gtc) if x.status == OrdStatus.REJECTED][0]
            assert dup.reason == "-2010 Duplicate order sent."
            st = await h.adapter.order_status(SYM, gtc)
            assert st is not None and st.status == OrdStatus.NEW and st.order_qty == D("0.01")
            assert [o.cl_ord_id for o in await h.adapter.open_orders(SYM)] == [gtc]
            await h.adapter.cancel(SYM, gtc)
            r = await h.final(gtc)
            assert r.status == OrdStatus.CANCELED
            assert await h.adapter.open_orders(SYM) == []
            await h.adapter.cancel(SYM, gtc)  # no longer open
            await h.adapter.cancel(SYM, "never-placed")
            await until(lambda: len([x for x in h.reports if x.reason.startswith("cancel rejected")]) == 2)
            assert all(x.reason == "cancel rejected: -2011 Unknown order sent." for x in h.reports
                       if x.reason.startswith("cancel"))
            assert await h.adapter.order_status(SYM, "never-placed") is None
            assert h.adapter.stats.malformed == 0
        finally:
            await h.adapter.stop()
    run(go())


# -- bad input: every endpoint and stream, Binance's code, nothing changes --------------------

def _order(**kw: str) -> dict[str, str]:
    p = {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
         "price": "60000.00", "newClientOrderId": "bad-input-probe"}
    p.update(kw)
    return {k: v for k, v in p.items() if v != "<drop>"}


NOW = object()
BAD_REST: list[tuple[str, str, str, dict[str, Any], int]] = [
    # (name, method, path, rest() keyword arguments, expected Binance code)
    ("order no symbol", "POST", "/api/v3/order", {"params": _order(symbol="<drop>")}, -1102),
    ("order bad symbol", "POST", "/api/v3/order", {"params": _order(symbol="ETHUSDT")}, -1121),
    ("order bad signature", "POST", "/api/v3/order", {"params": _order(), "sig": "0" * 64}, -1022),
    ("order no signature", "POST", "/api/v3/order", {"raw_query": urlencode(_order(timestamp="1"))}, -1102),
    ("order stale timestamp", "POST", "/api/v3/order", {"params": _order(), "ts": 1_499_827_319_559}, -1021),
    ("order future timestamp", "POST", "/api/v3/order", {"params": _order(), "ts": 10**13}, -1021),
    ("order no api key", "POST", "/api/v3/order", {"params": _order(), "key": None}, -2014),
    ("order unknown api key", "POST", "/api/v3/order", {"params": _order(), "key": ("nobody", "x")}, -2015),
    ("order wrong secret", "POST", "/api/v3/order", {"params": _order(), "key": (ALICE[0], BOB[1])}, -1022),
    ("order no side", "POST", "/api/v3/order", {"params": _order(side="<drop>")}, -1102),
    ("order bad side", "POST", "/api/v3/order", {"params": _order(side="HOLD")}, -1117),
    ("order bad type", "POST", "/api/v3/order", {"params": _order(type="STOP")}, -1116),
    ("order no tif", "POST", "/api/v3/order", {"params": _order(timeInForce="<drop>")}, -1102),
    ("order bad tif", "POST", "/api/v3/order", {"params": _order(timeInForce="GTD")}, -1115),
    ("order market tif", "POST", "/api/v3/order", {"params": _order(type="MARKET", price="<drop>")}, -1106),
    ("order market price", "POST", "/api/v3/order", {"params": _order(type="MARKET", timeInForce="<drop>")}, -1106),
    ("order no quantity", "POST", "/api/v3/order", {"params": _order(quantity="<drop>")}, -1102),
    ("order bad quantity", "POST", "/api/v3/order", {"params": _order(quantity="1e3")}, -1100),
    ("order negative quantity", "POST", "/api/v3/order", {"params": _order(quantity="-1")}, -1100),
    ("order zero quantity", "POST", "/api/v3/order", {"params": _order(quantity="0")}, -1013),
    ("order off lot", "POST", "/api/v3/order", {"params": _order(quantity="0.0000001")}, -1013),
    ("order off tick", "POST", "/api/v3/order", {"params": _order(price="60000.001")}, -1013),
    ("order price outside band", "POST", "/api/v3/order", {"params": _order(price="1.00")}, -1013),
    ("order no price", "POST", "/api/v3/order", {"params": _order(price="<drop>")}, -1102),
    ("order bad client id", "POST", "/api/v3/order", {"params": _order(newClientOrderId="a b")}, -1100),
    ("order bad resp type", "POST", "/api/v3/order", {"params": _order(newOrderRespType="ALL")}, -1100),
    ("order unknown param", "POST", "/api/v3/order", {"params": _order(icebergQty="1")}, -1104),
    ("order duplicate param", "POST", "/api/v3/order",
     {"raw_query": urlencode(_order()) + "&side=SELL&timestamp=1&signature=00"}, -1101),
    ("order recvWindow too big", "POST", "/api/v3/order", {"params": _order(recvWindow="70000")}, -1131),
    ("order insufficient balance", "POST", "/api/v3/order", {"params": _order(quantity="1000")}, -2010),
    ("order duplicate client id", "POST", "/api/v3/order", {"params": _order(newClientOrderId="resting-1")}, -2010),
    ("order post-only would take", "POST", "/api/v3/order",
     {"params": _order(type="LIMIT_MAKER", timeInForce="<drop>", price="64000.00")}, -2010),
    ("query no ids", "GET", "/api/v3/order", {"params": {"symbol": SYM}}, -1102),
    ("query unknown", "GET", "/api/v3/order", {"params": {"symbol": SYM, "origClientOrderId": "nope"}}, -2013),
    ("query bad orderId", "GET", "/api/v3/order", {"params": {"symbol": SYM, "orderId": "x1"}}, -1100),
    ("query other account's order", "GET", "/api/v3/order",
     {"params": {"symbol": SYM, "origClientOrderId": "resting-1"}, "key": BOB}, -2013),
    ("cancel unknown", "DELETE", "/api/v3/order", {"params": {"symbol": SYM, "origClientOrderId": "nope"}}, -2011),
    ("cancel no ids", "DELETE", "/api/v3/order", {"params": {"symbol": SYM}}, -1102),
    ("cancel bad signature", "DELETE", "/api/v3/order",
     {"params": {"symbol": SYM, "origClientOrderId": "resting-1"}, "sig": "ab" * 32}, -1022),
    ("cancel other account's order", "DELETE", "/api/v3/order",
     {"params": {"symbol": SYM, "origClientOrderId": "resting-1"}, "key": BOB}, -2011),
    ("openOrders bad symbol", "GET", "/api/v3/openOrders", {"params": {"symbol": "XRPUSDT"}}, -1121),
    ("openOrders stale", "GET", "/api/v3/openOrders", {"params": {}, "ts": 1}, -1021),
    ("myTrades no symbol", "GET", "/api/v3/myTrades", {"params": {}}, -1102),
    ("myTrades bad limit", "GET", "/api/v3/myTrades", {"params": {"symbol": SYM, "limit": "5000"}}, -1100),
    ("account bad signature", "GET", "/api/v3/account", {"params": {}, "sig": "zz"}, -1022),
    ("account unknown key", "GET", "/api/v3/account", {"params": {}, "key": ("who", "x")}, -2015),
    ("depth no symbol", "GET", "/api/v3/depth", {"params": {}, "signed": False, "key": None}, -1102),
    ("depth bad symbol", "GET", "/api/v3/depth", {"params": {"symbol": "X"}, "signed": False, "key": None}, -1121),
    ("depth bad limit", "GET", "/api/v3/depth", {"params": {"symbol": SYM, "limit": "0"}, "signed": False,
                                                 "key": None}, -1100),
    ("exchangeInfo bad symbol", "GET", "/api/v3/exchangeInfo", {"params": {"symbol": "X"}, "signed": False,
                                                                "key": None}, -1121),
    ("listenKey no key", "POST", "/api/v3/userDataStream", {"params": {}, "signed": False, "key": None}, -2014),
    ("listenKey unknown key", "POST", "/api/v3/userDataStream", {"params": {}, "signed": False,
                                                                 "key": ("who", "x")}, -2015),
    ("keepalive bad listenKey", "PUT", "/api/v3/userDataStream", {"params": {"listenKey": "nope"},
                                                                  "signed": False}, -1125),
    ("close no listenKey", "DELETE", "/api/v3/userDataStream", {"params": {}, "signed": False}, -1102),
    ("unknown endpoint", "GET", "/api/v3/ticker/price", {"params": {}, "signed": False}, -1000),
    ("ping with a parameter", "GET", "/api/v3/ping", {"params": {"x": "1"}, "signed": False}, -1104),
    ("time with a parameter", "GET", "/api/v3/time", {"params": {"x": "1"}, "signed": False}, -1104),
    ("exchangeInfo unknown param", "GET", "/api/v3/exchangeInfo", {"params": {"permissions": "SPOT"},
                                                                   "signed": False}, -1104),
    ("depth unknown param", "GET", "/api/v3/depth", {"params": {"symbol": SYM, "x": "1"}, "signed": False}, -1104),
    ("query unknown param", "GET", "/api/v3/order", {"params": {"symbol": SYM, "orderId": "1", "x": "1"}}, -1104),
    ("cancel unknown param", "DELETE", "/api/v3/order", {"params": {"symbol": SYM, "orderId": "1", "x": "1"}}, -1104),
    ("openOrders unknown param", "GET", "/api/v3/openOrders", {"params": {"x": "1"}}, -1104),
    ("myTrades unknown param", "GET", "/api/v3/myTrades", {"params": {"symbol": SYM, "startTime": "1"}}, -1104),
    ("account unknown param", "GET", "/api/v3/account", {"params": {"x": "1"}}, -1104),
    ("account no timestamp", "GET", "/api/v3/account", {"raw_query": "signature=00"}, -1102),
    ("listenKey unknown param", "POST", "/api/v3/userDataStream", {"params": {"x": "1"}, "signed": False}, -1104),
]


def test_bad_rest_input_gets_binance_code_and_changes_nothing(sim: SimProcess) -> None:
    status, r = rest(sim, "POST", "/api/v3/order", _order(newClientOrderId="resting-1", price="59000.00"))
    assert status == 200 and r["status"] == "NEW", r
    h0 = state_hash(sim)
    failures = []
    for name, method, path, kw, code in BAD_REST:
        kw = dict(kw)
        params = kw.pop("params", None)
        status, body = rest(sim, method, path, params, **kw)
        if not (status >= 400 and isinstance(body, dict) and body.get("code") == code and body.get("msg")):
            failures.append(f"{name}: HTTP {status} {body} (wanted {code})")
    assert not failures, "\n".join(failures)
    assert state_hash(sim) == h0
    status, r = rest(sim, "DELETE", "/api/v3/order", {"symbol": SYM, "origClientOrderId": "resting-1"})
    assert status == 200 and r["status"] == "CANCELED" and r["origClientOrderId"] == "resting-1"


def test_rest_shapes(sim: SimProcess) -> None:
    status, info = rest(sim, "GET", "/api/v3/exchangeInfo", {"symbol": SYM}, signed=False, key=None)
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000" and filters["LOT_SIZE"]["stepSize"] == "0.00000100"
    assert rest(sim, "GET", "/api/v3/ping", signed=False, key=None) == (200, {})
    status, acct = rest(sim, "GET", "/api/v3/account", {})
    assert status == 200 and {b["asset"] for b in acct["balances"]} >= {"BTC", "USDT"}
    status, ack = rest(sim, "POST", "/api/v3/order", _order(newClientOrderId=uid(), newOrderRespType="ACK",
                                                            price="59000.00"))
    assert status == 200 and set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    status, res = rest(sim, "POST", "/api/v3/order", {"symbol": SYM, "side": "SELL", "type": "MARKET",
                                                       "quantity": "0.001", "newOrderRespType": "RESULT"})
    assert status == 200 and res["status"] == "FILLED" and "fills" not in res and res["executedQty"] == "0.00100000"
    status, trades = rest(sim, "GET", "/api/v3/myTrades", {"symbol": SYM, "orderId": str(res["orderId"])})
    assert status == 200 and len(trades) >= 1 and all(t["orderId"] == res["orderId"] for t in trades)
    assert sum(D(t["qty"]) for t in trades) == D("0.001") and not trades[0]["isBuyer"]
    rest(sim, "DELETE", "/api/v3/order", {"symbol": SYM, "origClientOrderId": ack["clientOrderId"]})
    # parameters split between query string and body: signed over totalParams = query + body
    cl = uid()
    status, r = rest(sim, "POST", "/api/v3/order", {"symbol": SYM, "side": "BUY", "type": "LIMIT"},
                     body=urlencode({"timeInForce": "GTC", "quantity": "0.001", "price": "59000.00",
                                     "newClientOrderId": cl}))
    assert status == 200 and r["clientOrderId"] == cl and r["status"] == "NEW", r
    status, r = rest(sim, "DELETE", "/api/v3/order", {"symbol": SYM}, body=f"origClientOrderId={cl}")
    assert status == 200 and r["status"] == "CANCELED", r
    status, r = rest(sim, "POST", "/api/v3/order", {"symbol": SYM, "side": "BUY", "type": "LIMIT"},
                     body=urlencode({"timeInForce": "GTC", "quantity": "0.001", "price": "59000.00"}),
                     sig=sign(ALICE[1], "symbol=BTCUSDT&side=BUY&type=LIMIT"))  # body left out of the signature
    assert status == 400 and r["code"] == -1022
    status, r = rest(sim, "POST", "/api/v3/userDataStream", signed=False)
    assert status == 200 and len(r["listenKey"]) == 60
    assert rest(sim, "PUT", "/api/v3/userDataStream", {"listenKey": r["listenKey"]}, signed=False) == (200, {})
    assert rest(sim, "DELETE", "/api/v3/userDataStream", {"listenKey": r["listenKey"]}, signed=False) == (200, {})
    status, r = rest(sim, "PUT", "/api/v3/userDataStream", {"listenKey": r["listenKey"]}, signed=False)
    assert status == 400 and r["code"] == -1125


def test_bad_websocket_input(sim: SimProcess) -> None:
    async def go() -> None:
        h0 = await asyncio.to_thread(state_hash, sim)
        async with aiohttp.ClientSession() as s:
            for path, code in ((f"/ws/{SYM.lower()}@kline_1m", 2), ("/ws/not-a-listen-key", -1125),
                               ("/stream?streams=ethusdt@depth", 2), ("/stream", 2)):
                async with s.ws_connect(sim.ws + path) as ws:
                    msg = await ws.receive(timeout=5)
                    assert orjson.loads(msg.data)["error"]["code"] == code, (path, msg.data)
                    closed = await ws.receive(timeout=5)
                    assert closed.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1008
                    assert str(code) in (closed.extra or ""), closed
            async with s.ws_connect(f"{sim.ws}/stream?streams={SYM.lower()}@trade") as ws:
                for text, code in (("{not json", 3), ('{"method": "SUBSCRIBE", "params": ["x@y"], "id": 1}', 2),
                                   ('{"method": "EXPLODE", "id": 2}', 2), ('{"method": "SUBSCRIBE", "id": -1}', 2)):
                    await ws.send_str(text)
                    reply = orjson.loads((await ws.receive(timeout=5)).data)
                    assert reply["error"]["code"] == code, (text, reply)
                await ws.send_str('{"method": "LIST_SUBSCRIPTIONS", "id": 3}')
                assert orjson.loads((await ws.receive(timeout=5)).data) == {"result": [f"{SYM.lower()}@trade"],
                                                                            "id": 3}
            # a user-data stream takes no requests either
            async with s.post(sim.http + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": ALICE[0]}) as r:
                key = (await r.json())["listenKey"]
            async with s.ws_connect(f"{sim.ws}/ws/{key}") as ws:
                await ws.send_str('{"method": "SUBSCRIBE", "params": [], "id": 1}')
                assert orjson.loads((await ws.receive(timeout=5)).data)["error"]["code"] == 2
        assert await asyncio.to_thread(state_hash, sim) == h0
    run(go())


def test_adapter_counts_malformed_user_messages(sim: SimProcess) -> None:
    async def go() -> None:
        h = Harness(sim)
        await h.adapter.start()
        try:
            n = h.adapter.stats.malformed
            for raw in ("nope", "[]", '{"e": "mystery"}', '{"e": "executionReport", "x": "TRADE", "c": "zz"}'):
                h.adapter._on_user_message(raw)
            assert h.adapter.stats.malformed == n + 4 and h.reports == []
            assert "malformed" in h.adapter.last_error
        finally:
            await h.adapter.stop()
    run(go())


# -- faults ------------------------------------------------------------------------------------

def test_fault_disconnect_in_flight_unknown_then_reconciled(sim: SimProcess) -> None:
    async def go() -> None:
        h = Harness(sim, BOB)
        await h.adapter.start()
        try:
            sim.admin("slow_ack", ms=1500)
            a = depth(sim, 2)["asks"]
            cl = uid()
            qty = D(a[0][1]) + D(a[1][1])
            place = asyncio.get_running_loop().create_task(
                h.adapter.place(OrderRequest(cl, SYM, OrderSide.BUY, qty, D(a[1][0]), TimeInForce.IOC)))
            await asyncio.sleep(0.4)  # executed at the venue; answer and reports held back by the slow ack
            await asyncio.to_thread(sim.admin, "disconnect", ms=700)
            await place
            await until(lambda: any(r.status == OrdStatus.UNKNOWN for r in h.of(cl)), what="UNKNOWN")
            assert any(not s.up for s in h.statuses)
            await asyncio.to_thread(sim.admin, "slow_ack", ms=0)
            last = await h.final(cl, timeout=10)
            await until(lambda: h.statuses[-1].up, timeout=10, what="up again")
            assert last.status == OrdStatus.FILLED and last.cum_qty == qty
            fills = [r for r in h.of(cl) if r.last_qty > 0]
            venue = [f for f in (await asyncio.to_thread(sim.state))["accounts"]["bob"]["fills"]
                     if f["order_id"] == int(last.venue_order_id)]
            assert sorted((r.trade_id, r.last_qty) for r in fills) == sorted((f["trade_id"], D(f["qty"])) for f in venue)
            assert [r.status for r in h.of(cl)][0] == OrdStatus.UNKNOWN
            assert [s.up for s in h.statuses][-2:] == [False, True] and h.adapter.stats.reconnects >= 2
        finally:
            sim.admin("clear")
            await h.adapter.stop()
    run(go(), 30)


def test_fault_slow_ack_and_reject_next(sim: SimProcess) -> None:
    async def go() -> None:
        h = Harness(sim)
        await h.adapter.start()
        try:
            low = D(depth(sim, 1)["bids"][0][0]) - D("50")
            sim.admin("slow_ack", ms=400)
            cl = uid()
            t0 = time.monotonic()
            await h.adapter.place(OrderRequest(cl, SYM, OrderSide.BUY, D("0.002"), low, TimeInForce.GTC))
            assert time.monotonic() - t0 >= 0.4
            assert [r.status for r in h.of(cl)] == [OrdStatus.NEW]
            sim.admin("slow_ack", ms=0)
            await h.adapter.cancel(SYM, cl)
            assert (await h.final(cl)).status == OrdStatus.CANCELED
            sim.admin("reject_next", n=1)
            rj, ok = uid(), uid() + "b"
            await h.adapter.place(OrderRequest(rj, SYM, OrderSide.BUY, D("0.002"), low, TimeInForce.IOC))
            await h.adapter.place(OrderRequest(ok, SYM, OrderSide.BUY, D("0.002"), low, TimeInForce.IOC))
            r = await h.final(rj)
            assert r.status == OrdStatus.REJECTED and r.reason.startswith("-2010 ")
            assert (await h.final(ok)).status == OrdStatus.CANCELED
            assert all(s.up for s in h.statuses)
        finally:
            sim.admin("clear")
            await h.adapter.stop()
    run(go())


def test_fault_depth_gap_resyncs_from_snapshot(sim: SimProcess) -> None:
    async def go() -> None:
        h = Harness(sim)
        await h.adapter.start()
        try:
            await h.sync_book()
            await h.book_matches()
            sim.admin("gap_next")
            low = D(depth(sim, 1)["bids"][0][0]) - D("25")
            cl = uid()
            await h.adapter.place(OrderRequest(cl, SYM, OrderSide.BUY, D("0.003"), low, TimeInForce.GTC))
            await until(lambda: Kind.BOOK_STALE in h.kinds, what="BOOK_STALE")
            assert h.handler.needs_snapshot() == [SYM] and h.handler.stats.gaps == 1
            await h.sync_book()
            await h.book_matches()
            assert h.handler.stats.resyncs == 1
            await h.adapter.cancel(SYM, cl)
            await h.book_matches()
        finally:
            await h.adapter.stop()
    run(go())
