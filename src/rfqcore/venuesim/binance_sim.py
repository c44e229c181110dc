"""The Binance-style simulated venue: a subset of Binance's spot REST API and WebSocket streams
served over one :class:`~rfqcore.venuesim.simbook.SimBook` (mounted by :func:`rfqcore.venuesim.sim.make_app`).

REST (JSON answers; errors as Binance prints them, ``{"code": -1022, "msg": "..."}``):

===========================================  ==========  =====================================
``GET /api/v3/ping``, ``/api/v3/time``        NONE
``GET /api/v3/exchangeInfo[?symbol=]``        NONE        PRICE_FILTER, LOT_SIZE
``GET /api/v3/depth?symbol=&limit=``          NONE        ``lastUpdateId``, bids, asks
``POST/GET/DELETE /api/v3/order``             SIGNED      new (LIMIT, MARKET, LIMIT_MAKER;
                                                          GTC/IOC/FOK; ACK/RESULT/FULL), query,
                                                          cancel
``GET /api/v3/openOrders[?symbol=]``          SIGNED
``GET /api/v3/myTrades?symbol=``              SIGNED
``GET /api/v3/account``                       SIGNED
``POST/PUT/DELETE /api/v3/userDataStream``    API key     listenKey (60 min, PUT extends)
===========================================  ==========  =====================================

SIGNED requests: ``X-MBX-APIKEY`` header; ``signature`` = hex HMAC-SHA256 (secret) of
*totalParams* = the query string followed directly by the request body, both exactly as sent,
with the ``signature`` parameter left out; ``timestamp`` within ``recvWindow`` (default 5,000,
at most 60,000 ms) of the server clock and less than 1,000 ms ahead of it.

WebSocket: ``/ws/<stream>`` (raw payloads), ``/stream?streams=a/b`` (combined
``{"stream", "data"}``), streams ``<sym>@depth`` (1 s), ``<sym>@depth@100ms``, ``<sym>@trade``,
``<sym>@bookTicker``; ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS`` requests. User data:
``/ws/<listenKey>`` → ``executionReport`` and ``outboundAccountPosition``. A bad stream name or
listenKey gets an ``{"error": {"code", "msg"}}`` message and a close (1008) with the reason.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import unquote_plus

import orjson
from aiohttp import WSMsgType, web

from rfqcore.venues.binance import sign, total_params
from rfqcore.venuesim.sim import SimConfig, drop_connection, track_ws
from rfqcore.venuesim.simbook import DepthDiff, SimAccount, SimBook, SimFill, SimOrder, SimReject

__all__ = ["add_routes", "sign", "total_params", "BinanceError", "LISTEN_KEY_TTL_MS", "fmt"]

LISTEN_KEY_TTL_MS: Final = 60 * 60 * 1000
_Q8: Final = Decimal("0.00000001")
_CL_ID_RE: Final = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_DECIMAL_RE: Final = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_DECIMAL_RANGE: Final = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
_INT_RE: Final = re.compile(r"^-?[0-9]{1,19}$")
_ORDER_PARAMS: Final = frozenset({"symbol", "side", "type", "timeInForce", "quantity", "price", "newClientOrderId",
                                  "newOrderRespType", "recvWindow", "timestamp", "signature", "quoteOrderQty",
                                  "selfTradePreventionMode"})
_SIGNED: Final = frozenset({"recvWindow", "timestamp"})
_REJECT_MSG: Final = {  # SimReject code -> (Binance code, msg)
    "duplicate_order": (-2010, "Duplicate order sent."),
    "insufficient_balance": (-2010, "Account has insufficient balance for requested action."),
    "post_only_would_take": (-2010, "Order would immediately match and take."),
    "rejected_by_fault": (-2010, "Order rejected by the simulated venue (fault injection)."),
    "no_liquidity": (-2010, "Market is closed."),
    "book_full": (-2010, "Too many new orders on this symbol."),
    "bad_qty": (-1013, "Filter failure: LOT_SIZE"),
    "off_lot": (-1013, "Filter failure: LOT_SIZE"),
    "bad_price": (-1013, "Filter failure: PRICE_FILTER"),
    "off_tick": (-1013, "Filter failure: PRICE_FILTER"),
    "unknown_order": (-2011, "Unknown order sent."),
    "unknown_account": (-2015, "Invalid API-key, IP, or permissions for action."),
}


def fmt(value: Decimal | None) -> str:
    """A Binance decimal string (8 decimals, as Binance prints them)."""
    if value is None:
        return "0.00000000"
    q = value.quantize(_Q8)
    if q != value:  # pragma: no cover - scales of this venue fit 8 decimals
        return format(value, "f")
    return format(q, "f")


class BinanceError(Exception):
    """A Binance error answer: HTTP ``status`` with ``{"code", "msg"}``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def _mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def _parse_params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        k, sep, v = part.partition("=")
        k, v = unquote_plus(k), unquote_plus(v)
        if not sep:
            raise BinanceError(-1100, f"Illegal characters found in a parameter: {k!r} has no value.")
        if k in out:
            raise BinanceError(-1101, "Duplicate values for a parameter detected.")
        out[k] = v
    return out


def _only(params: dict[str, str], allowed: frozenset[str] | set[str]) -> None:
    """Binance refuses parameters an endpoint does not read (-1104)."""
    unknown = set(params) - allowed
    if unknown:
        raise BinanceError(-1104, f"Not all sent parameters were read; read '{len(params) - len(unknown)}' "
                                  f"parameter(s) but was sent '{len(params)}'.")


def _decimal(params: dict[str, str], name: str, required: bool) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _mandatory(name)
        return None
    if not _DECIMAL_RE.match(raw):
        raise _illegal(name, _DECIMAL_RANGE)
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise _illegal(name, _DECIMAL_RANGE) from None


def _int(params: dict[str, str], name: str, required: bool) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _mandatory(name)
        return None
    if not _INT_RE.match(raw):
        raise _illegal(name, "^-?[0-9]{1,19}$")
    return int(raw)


@dataclass(eq=False)  # hashed by identity (kept in a set)
class _Conn:
    """One WebSocket connection: its send queue (items due at a monotonic time) and streams."""

    ws: web.WebSocketResponse
    combined: bool
    streams: set[str] = field(default_factory=set)
    account: str | None = None
    queue: asyncio.Queue[tuple[float, bytes]] = field(default_factory=asyncio.Queue)


class _Depth:
    """Depth diffs merged per interval; a gap in update ids starts a new message so it shows."""

    def __init__(self) -> None:
        self.first = 0
        self.last = 0
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.ready: list[tuple[int, int, dict[Decimal, Decimal], dict[Decimal, Decimal], int]] = []

    def add(self, d: DepthDiff) -> None:
        if self.last and d.first_id != self.last + 1:
            self.cut(d.ts_ms)
        if not self.last:
            self.first = d.first_id
        self.last = d.last_id
        self.bids.update(d.bids)
        self.asks.update(d.asks)

    def cut(self, ts_ms: int) -> None:
        if self.last:
            self.ready.append((self.first, self.last, self.bids, self.asks, ts_ms))
            self.first = self.last = 0
            self.bids, self.asks = {}, {}

    def take(self, ts_ms: int) -> list[tuple[int, int, dict[Decimal, Decimal], dict[Decimal, Decimal], int]]:
        self.cut(ts_ms)
        out, self.ready = self.ready, []
        return out


class BinanceSim:
    """The protocol state of one Binance-style simulated venue (see the module doc)."""

    def __init__(self, app: web.Application, book: SimBook, cfg: SimConfig) -> None:
        self.app = app
        self.book = book
        self.cfg = cfg
        self.sym = book.symbol
        self.lsym = book.symbol.lower()
        self.conns: set[_Conn] = set()
        self.listen_keys: dict[str, tuple[str, int]] = {}   # key -> (account, expiry ms)
        self.depth = {"depth@100ms": _Depth(), "depth": _Depth()}
        self.touched: set[str] = set()
        self.exec_id = 0                         # executionReport "I": one id per report
        self.cancel_ids: dict[int, str] = {}   # order id -> the cancel request's clientOrderId
        self.last_top: tuple[Any, Any] = book.top()
        book.add_listener(self._on_order)
        book.add_depth_listener(self._on_depth)
        self._cut = asyncio.Event()   # set (and replaced) by every disconnect
        book.faults.on_disconnect(self._on_disconnect)
        self._tasks: list[asyncio.Task[None]] = []

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def now_ms() -> int:
        return time.time_ns() // 1_000_000

    def err(self, e: BinanceError) -> web.Response:
        return web.Response(body=orjson.dumps({"code": e.code, "msg": e.msg}), status=e.status,
                            content_type="application/json")

    @staticmethod
    def ok(data: Any) -> web.Response:
        return web.Response(body=orjson.dumps(data), content_type="application/json")

    def check_symbol(self, params: dict[str, str], required: bool = True) -> None:
        s = params.get("symbol")
        if s is None or s == "":
            if required:
                raise _mandatory("symbol")
            return
        if s != self.sym:
            raise BinanceError(-1121, "Invalid symbol.")

    def api_account(self, request: web.Request) -> SimAccount:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", key):
            raise BinanceError(-2014, "API-key format invalid.", 401)
        acc = self.book.account_by_key(key)
        if acc is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return acc

    async def signed(self, request: web.Request) -> tuple[SimAccount, dict[str, str]]:
        """Authenticate a SIGNED request; returns the account and the merged parameters."""
        acc = self.api_account(request)
        query = request.rel_url.raw_query_string
        body = (await request.read()).decode("utf-8", errors="replace") if request.can_read_body else ""
        qp, bp = _parse_params(query), _parse_params(body)
        if set(qp) & set(bp):
            raise BinanceError(-1101, "Duplicate values for a parameter detected.")
        params = {**qp, **bp}
        sig = params.get("signature")
        if not sig:
            raise _mandatory("signature")
        ts = _int(params, "timestamp", True)
        rw = _int(params, "recvWindow", False)
        if rw is None:
            rw = 5000
        if rw <= 0 or rw > self.cfg.recv_window_max_ms:
            raise BinanceError(-1131, f"recvWindow must be less than {self.cfg.recv_window_max_ms}.")
        expected = sign(acc.secret, total_params(query, body))
        if not hmac.compare_digest(sig.lower(), expected):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        now = self.now_ms()
        assert ts is not None
        if not (ts < now + 1000 and now - ts <= rw):
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow."
                               if ts < now + 1000 else
                               "Timestamp for this request was 1000ms ahead of the server's time.")
        params.pop("signature")
        return acc, params

    async def slow(self) -> bool:
        """Wait out ``slow_ack``; False when a disconnect happened meanwhile (drop the answer)."""
        ms = self.book.faults.slow_ack_ms
        if not ms:
            return True
        cut = self._cut
        try:
            await asyncio.wait_for(cut.wait(), ms / 1000)
        except TimeoutError:
            return True
        return False  # a disconnect cut the connection while the answer was held back

    def _next_exec_id(self) -> int:
        self.exec_id += 1
        return self.exec_id

    def _on_disconnect(self) -> None:
        self._cut.set()
        self._cut = asyncio.Event()

    # -- JSON shapes -------------------------------------------------------------------------

    def order_json(self, o: SimOrder) -> dict[str, Any]:
        return {
            "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.cl_ord_id,
            "price": fmt(o.price), "origQty": fmt(o.qty), "executedQty": fmt(o.cum_qty),
            "cummulativeQuoteQty": fmt(o.cum_quote), "status": o.status, "timeInForce": o.tif,
            "type": "LIMIT_MAKER" if o.post_only else o.type, "side": o.side, "stopPrice": fmt(None),
            "icebergQty": fmt(None), "time": o.created_ms, "updateTime": o.updated_ms, "isWorking": True,
            "workingTime": o.created_ms, "origQuoteOrderQty": fmt(None), "selfTradePreventionMode": "NONE",
        }

    def exec_report(self, o: SimOrder, fill: SimFill | None, now: int) -> dict[str, Any]:
        if fill is not None:
            x = "TRADE"
        elif o.status in ("NEW", "CANCELED", "EXPIRED", "REJECTED"):
            x = o.status
        else:  # pragma: no cover - partial states always come with a fill
            x = "TRADE"
        cancel_id = self.cancel_ids.get(o.order_id) if x == "CANCELED" else None
        return {
            "e": "executionReport", "E": now, "s": o.symbol,
            "c": cancel_id if cancel_id else o.cl_ord_id, "S": o.side,
            "o": "LIMIT_MAKER" if o.post_only else o.type, "f": o.tif, "q": fmt(o.qty), "p": fmt(o.price),
            "P": fmt(None), "F": fmt(None), "g": -1, "C": o.cl_ord_id if cancel_id else "", "x": x,
            "X": o.status, "r": "NONE", "i": o.order_id,
            "l": fmt(fill.qty if fill else Decimal(0)), "z": fmt(o.cum_qty),
            "L": fmt(fill.price if fill else Decimal(0)), "n": fmt(fill.fee if fill else Decimal(0)),
            "N": fill.fee_asset if fill else None, "T": fill.ts_ms if fill else o.updated_ms,
            "t": fill.trade_id if fill else -1, "I": self._next_exec_id(), "w": o.status in ("NEW", "PARTIALLY_FILLED"),
            "m": bool(fill and fill.maker), "M": False, "O": o.created_ms, "Z": fmt(o.cum_quote),
            "Y": fmt(fill.price * fill.qty if fill else Decimal(0)), "Q": fmt(None), "W": o.created_ms,
            "V": "NONE",
        }

    def account_position(self, name: str, now: int) -> dict[str, Any]:
        acc = self.book.accounts[name]
        assets = [self.book.base, self.book.quote]
        return {"e": "outboundAccountPosition", "E": now, "u": now,
                "B": [{"a": a, "f": fmt(acc.balances.get(a, Decimal(0))), "l": fmt(acc.locked.get(a, Decimal(0)))}
                      for a in assets]}

    # -- streams -----------------------------------------------------------------------------

    def _push(self, conn: _Conn, stream: str | None, payload: dict[str, Any], delay_ms: int = 0) -> None:
        if conn.ws.closed:
            return
        data = {"stream": stream, "data": payload} if conn.combined and stream else payload
        conn.queue.put_nowait((time.monotonic() + delay_ms / 1000, orjson.dumps(data)))

    def _on_order(self, account: str, order: SimOrder, fill: SimFill | None) -> None:
        now = self.now_ms()
        if fill is not None and account == self.book.lp:
            return
        if fill is not None and not fill.maker:
            # the trade stream: one message per trade, from the taker's side
            payload = {"e": "trade", "E": now, "s": self.sym, "t": fill.trade_id, "p": fmt(fill.price),
                       "q": fmt(fill.qty), "T": fill.ts_ms, "m": order.side == "SELL", "M": True}
            for c in self.conns:
                if f"{self.lsym}@trade" in c.streams:
                    self._push(c, f"{self.lsym}@trade", payload)
        if account == self.book.lp:
            return
        self.touched.add(account)
        report = self.exec_report(order, fill, now)
        for c in self.conns:
            if c.account == account:
                self._push(c, None, report, self.book.faults.slow_ack_ms)

    def flush_positions(self) -> None:
        now = self.now_ms()
        for name in sorted(self.touched):
            pos = self.account_position(name, now)
            for c in self.conns:
                if c.account == name:
                    self._push(c, None, pos, self.book.faults.slow_ack_ms)
        self.touched.clear()

    def _on_depth(self, d: DepthDiff) -> None:
        for agg in self.depth.values():
            agg.add(d)
        top = self.book.top()
        bid, ask = top
        if top != self.last_top and bid is not None and ask is not None:
            self.last_top = top
            (bp, bq), (ap, aq) = bid, ask
            payload = {"u": d.last_id, "s": self.sym, "b": fmt(bp), "B": fmt(bq), "a": fmt(ap), "A": fmt(aq)}
            for c in self.conns:
                if f"{self.lsym}@bookTicker" in c.streams:
                    self._push(c, f"{self.lsym}@bookTicker", payload)

    async def depth_pump(self, kind: str, interval: float) -> None:
        agg = self.depth[kind]
        stream = f"{self.lsym}@{kind}"
        while True:
            await asyncio.sleep(interval)
            now = self.now_ms()
            for first, last, bids, asks, _ts in agg.take(now):
                payload = {"e": "depthUpdate", "E": now, "s": self.sym, "U": first, "u": last,
                           "b": [[fmt(p), fmt(q)] for p, q in sorted(bids.items(), reverse=True)],
                           "a": [[fmt(p), fmt(q)] for p, q in sorted(asks.items())]}
                for c in self.conns:
                    if stream in c.streams:
                        self._push(c, stream, payload)

    def valid_stream(self, name: str) -> bool:
        return name in (f"{self.lsym}@depth", f"{self.lsym}@depth@100ms", f"{self.lsym}@trade",
                        f"{self.lsym}@bookTicker")

    async def _writer(self, conn: _Conn) -> None:
        while True:
            due, data = await conn.queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if conn.ws.closed:
                return
            try:
                await conn.ws.send_str(data.decode())
            except (ConnectionError, RuntimeError):
                return

    async def _run_conn(self, request: web.Request, conn: _Conn) -> web.WebSocketResponse:
        ws = conn.ws
        self.conns.add(conn)
        track_ws(self.app, ws)
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._ws_request(conn, msg.data)
                    if reply is not None:
                        self._push(conn, None, reply)
                elif msg.type == WSMsgType.BINARY:
                    self._push(conn, None, {"error": {"code": 3, "msg": "Invalid JSON: binary frames are not "
                                                                         "accepted"}, "id": None})
        finally:
            self.conns.discard(conn)
            writer.cancel()
        return ws

    def _ws_request(self, conn: _Conn, text: str) -> dict[str, Any] | None:
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            return {"error": {"code": 3, "msg": f"Invalid JSON: {e}"}, "id": None}
        if not isinstance(req, dict):
            return {"error": {"code": 2, "msg": "Invalid request: not a JSON object"}, "id": None}
        rid = req.get("id")
        if type(rid) is not int or rid < 0:
            return {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
                    "id": None}
        method = req.get("method")
        if conn.account is not None:
            return {"error": {"code": 2, "msg": "Invalid request: a user data stream takes no requests"},
                    "id": rid}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": rid}
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            names = req.get("params")
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                return {"error": {"code": 2, "msg": "Invalid request: 'params' must be a list of stream names"},
                        "id": rid}
            bad = [n for n in names if not self.valid_stream(n)]
            if bad:
                return {"error": {"code": 2, "msg": f"Invalid request: unknown stream {bad[0]!r}"}, "id": rid}
            if method == "SUBSCRIBE":
                conn.streams.update(names)
            else:
                conn.streams.difference_update(names)
            return {"result": None, "id": rid}
        return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": rid}

    async def _refuse_ws(self, request: web.Request, code: int, msg: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(orjson.dumps({"error": {"code": code, "msg": msg}}).decode())
        await ws.close(code=1008, message=f"{code} {msg}"[:120].encode())
        return ws

    # -- routes ------------------------------------------------------------------------------

    async def ws_path(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if "@" in name:
            if not self.valid_stream(name):
                return await self._refuse_ws(request, 2, f"Invalid request: unknown stream {name!r}")
            conn = _Conn(web.WebSocketResponse(heartbeat=30), combined=False, streams={name})
        else:
            entry = self.listen_keys.get(name)
            if entry is None or entry[1] < self.now_ms():
                return await self._refuse_ws(request, -1125, "This listenKey does not exist.")
            conn = _Conn(web.WebSocketResponse(heartbeat=30), combined=False, account=entry[0])
        await conn.ws.prepare(request)
        return await self._run_conn(request, conn)

    async def ws_combined(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("streams", "")
        names = [n for n in raw.split("/") if n]
        if not names:
            return await self._refuse_ws(request, 2, "Invalid request: no streams given (/stream?streams=a/b)")
        bad = [n for n in names if not self.valid_stream(n)]
        if bad:
            return await self._refuse_ws(request, 2, f"Invalid request: unknown stream {bad[0]!r}")
        conn = _Conn(web.WebSocketResponse(heartbeat=30), combined=True, streams=set(names))
        await conn.ws.prepare(request)
        return await self._run_conn(request, conn)

    async def ping(self, request: web.Request) -> web.Response:
        try:
            _only(_parse_params(request.rel_url.raw_query_string), set())
        except BinanceError as e:
            return self.err(e)
        return self.ok({})

    async def time_(self, request: web.Request) -> web.Response:
        try:
            _only(_parse_params(request.rel_url.raw_query_string), set())
        except BinanceError as e:
            return self.err(e)
        return self.ok({"serverTime": self.now_ms()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        try:
            params = _parse_params(request.rel_url.raw_query_string)
            _only(params, {"symbol"})
            self.check_symbol(params, required=False)
        except BinanceError as e:
            return self.err(e)
        b = self.book
        return self.ok({
            "timezone": "UTC", "serverTime": self.now_ms(), "rateLimits": [], "exchangeFilters": [],
            "symbols": [{
                "symbol": b.symbol, "status": "TRADING", "baseAsset": b.base, "baseAssetPrecision": 8,
                "quoteAsset": b.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": False, "ocoAllowed": False,
                "quoteOrderQtyMarketAllowed": False, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": fmt(b.min_price), "maxPrice": fmt(b.max_price),
                     "tickSize": fmt(b.tick)},
                    {"filterType": "LOT_SIZE", "minQty": fmt(b.lot), "maxQty": fmt(b.max_qty),
                     "stepSize": fmt(b.lot)},
                ],
                "permissions": ["SPOT"], "defaultSelfTradePreventionMode": "NONE",
                "allowedSelfTradePreventionModes": ["NONE"],
            }],
        })

    async def depth_rest(self, request: web.Request) -> web.Response:
        try:
            params = _parse_params(request.rel_url.raw_query_string)
            self.check_symbol(params)
            limit = _int(params, "limit", False)
            if limit is None:
                limit = 100
            if not 1 <= limit <= 5000:
                raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is "
                                          "'1..5000'.")
            _only(params, {"symbol", "limit"})
        except BinanceError as e:
            return self.err(e)
        uid, bids, asks = self.book.depth(limit)
        return self.ok({"lastUpdateId": uid, "bids": [[fmt(p), fmt(q)] for p, q in bids],
                        "asks": [[fmt(p), fmt(q)] for p, q in asks]})

    def _order_ids(self, params: dict[str, str], orig_name: str) -> tuple[int | None, str | None]:
        oid = _int(params, "orderId", False)
        cl = params.get(orig_name) or None
        if oid is None and cl is None:
            raise BinanceError(-1102, f"Param '{orig_name}' or 'orderId' must be sent, but both were empty/null!")
        return oid, cl

    async def new_order(self, request: web.Request) -> web.Response:
        t_in = time.monotonic_ns()
        try:
            acc, p = await self.signed(request)
            self.book.note_order_arrival(p.get("newClientOrderId"), t_in)
            self.check_symbol(p)
            _only(p, _ORDER_PARAMS)
            side = p.get("side")
            if not side:
                raise _mandatory("side")
            if side not in ("BUY", "SELL"):
                raise BinanceError(-1117, "Invalid side.")
            typ = p.get("type")
            if not typ:
                raise _mandatory("type")
            if typ not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
                raise BinanceError(-1116, "Invalid orderType.")
            tif = p.get("timeInForce")
            if typ == "LIMIT":
                if not tif:
                    raise _mandatory("timeInForce")
                if tif not in ("GTC", "IOC", "FOK"):
                    raise BinanceError(-1115, "Invalid timeInForce.")
            elif tif is not None:
                raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
            if "quoteOrderQty" in p:
                raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
            if p.get("selfTradePreventionMode", "NONE") != "NONE":
                raise BinanceError(-1013, "This symbol does not allow the specified self-trade prevention mode.")
            qty = _decimal(p, "quantity", True)
            price = _decimal(p, "price", typ != "MARKET")
            if typ == "MARKET" and price is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            cl = p.get("newClientOrderId")
            if cl is not None and not _CL_ID_RE.match(cl):
                raise _illegal("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
            resp_type = p.get("newOrderRespType", "FULL")
            if resp_type not in ("ACK", "RESULT", "FULL"):
                raise _illegal("newOrderRespType", "ACK, RESULT, FULL")
            assert qty is not None
            if cl is None:
                cl = "sim" + secrets.token_hex(10)
            try:
                order, fills = self.book.place(acc.name, cl, side, "MARKET" if typ == "MARKET" else "LIMIT",
                                               qty, price, tif or ("GTC" if typ == "LIMIT_MAKER" else "IOC"),
                                               post_only=typ == "LIMIT_MAKER")
            except SimReject as r:
                code, msg = _REJECT_MSG.get(r.code, (-2010, r.text))
                raise BinanceError(code, msg) from None
        except BinanceError as e:
            return self.err(e)
        self.flush_positions()
        if not await self.slow():
            drop_connection(request)
            raise web.HTTPServiceUnavailable(text="simulated disconnect")
        out: dict[str, Any] = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
                               "clientOrderId": order.cl_ord_id, "transactTime": order.created_ms}
        if resp_type != "ACK":
            full = self.order_json(order)
            for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status", "timeInForce", "type",
                      "side", "workingTime", "selfTradePreventionMode"):
                out[k] = full[k]
            if resp_type == "FULL":
                out["fills"] = [{"price": fmt(f.price), "qty": fmt(f.qty), "commission": fmt(f.fee),
                                 "commissionAsset": f.fee_asset, "tradeId": f.trade_id} for f in fills]
        return self.ok(out)

    async def get_order(self, request: web.Request) -> web.Response:
        try:
            acc, p = await self.signed(request)
            _only(p, _SIGNED | {"symbol", "orderId", "origClientOrderId"})
            self.check_symbol(p)
            oid, cl = self._order_ids(p, "origClientOrderId")
            o = self.book.order(acc.name, cl_ord_id=cl, order_id=oid)
            if o is None:
                raise BinanceError(-2013, "Order does not exist.")
        except BinanceError as e:
            return self.err(e)
        return self.ok(self.order_json(o))

    async def cancel_order(self, request: web.Request) -> web.Response:
        try:
            acc, p = await self.signed(request)
            _only(p, _SIGNED | {"symbol", "orderId", "origClientOrderId", "newClientOrderId"})
            self.check_symbol(p)
            oid, cl = self._order_ids(p, "origClientOrderId")
            new_cl = p.get("newClientOrderId")
            if new_cl is not None and not _CL_ID_RE.match(new_cl):
                raise _illegal("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
            new_cl = new_cl or "sim" + secrets.token_hex(10)
            target = self.book.order(acc.name, cl_ord_id=cl, order_id=oid)
            if target is None or not target.is_open:
                raise BinanceError(-2011, "Unknown order sent.")
            self.cancel_ids[target.order_id] = new_cl
            try:
                o = self.book.cancel(acc.name, order_id=target.order_id)
            except SimReject as r:  # pragma: no cover - checked just above
                self.cancel_ids.pop(target.order_id, None)
                raise BinanceError(-2011, "Unknown order sent.") from r
        except BinanceError as e:
            return self.err(e)
        self.flush_positions()
        if not await self.slow():
            drop_connection(request)
            raise web.HTTPServiceUnavailable(text="simulated disconnect")
        full = self.order_json(o)
        out = {"symbol": o.symbol, "origClientOrderId": o.cl_ord_id, "orderId": o.order_id, "orderListId": -1,
               "clientOrderId": new_cl, "transactTime": o.updated_ms}
        for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status", "timeInForce", "type", "side",
                  "selfTradePreventionMode"):
            out[k] = full[k]
        return self.ok(out)

    async def open_orders(self, request: web.Request) -> web.Response:
        try:
            acc, p = await self.signed(request)
            _only(p, _SIGNED | {"symbol"})
            self.check_symbol(p, required=False)
        except BinanceError as e:
            return self.err(e)
        return self.ok([self.order_json(o) for o in self.book.open_orders(acc.name)])

    async def my_trades(self, request: web.Request) -> web.Response:
        try:
            acc, p = await self.signed(request)
            _only(p, _SIGNED | {"symbol", "orderId", "fromId", "limit"})
            self.check_symbol(p)
            oid = _int(p, "orderId", False)
            from_id = _int(p, "fromId", False)
            limit = _int(p, "limit", False) or 500
            if not 1 <= limit <= 1000:
                raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.")
        except BinanceError as e:
            return self.err(e)
        out = []
        for f in self.book.fills(acc.name):
            if oid is not None and f.order_id != oid or from_id is not None and f.trade_id < from_id:
                continue
            o = self.book.orders[f.order_id]
            out.append({"symbol": self.sym, "id": f.trade_id, "orderId": f.order_id, "orderListId": -1,
                        "price": fmt(f.price), "qty": fmt(f.qty), "quoteQty": fmt(f.price * f.qty),
                        "commission": fmt(f.fee), "commissionAsset": f.fee_asset, "time": f.ts_ms,
                        "isBuyer": o.side == "BUY", "isMaker": f.maker, "isBestMatch": True})
        return self.ok(out[:limit])

    async def account(self, request: web.Request) -> web.Response:
        try:
            acc, p = await self.signed(request)
            _only(p, _SIGNED)
        except BinanceError as e:
            return self.err(e)
        assets = sorted(set(acc.balances) | set(acc.locked))
        return self.ok({
            "makerCommission": 0, "takerCommission": 0, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": fmt(Decimal(acc.maker_cbps).scaleb(-6)),
                                "taker": fmt(Decimal(acc.taker_cbps).scaleb(-6)), "buyer": fmt(Decimal(0)),
                                "seller": fmt(Decimal(0))},
            "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self.now_ms(),
            "accountType": "SPOT",
            "balances": [{"asset": a, "free": fmt(acc.balances.get(a, Decimal(0))),
                          "locked": fmt(acc.locked.get(a, Decimal(0)))} for a in assets],
            "permissions": ["SPOT"], "uid": 0,
        })

    async def user_stream(self, request: web.Request) -> web.Response:
        try:
            acc = self.api_account(request)
            now = self.now_ms()
            body = (await request.read()).decode("utf-8", errors="replace")
            params = {**_parse_params(request.rel_url.raw_query_string), **_parse_params(body)}
            _only(params, set() if request.method == "POST" else {"listenKey"})
            if request.method == "POST":
                key = secrets.token_urlsafe(45).replace("-", "a").replace("_", "b")[:60]
                self.listen_keys[key] = (acc.name, now + LISTEN_KEY_TTL_MS)
                return self.ok({"listenKey": key})
            lk = params.get("listenKey")
            if not lk:
                raise _mandatory("listenKey")
            entry = self.listen_keys.get(lk)
            if entry is None or entry[0] != acc.name or entry[1] < now:
                raise BinanceError(-1125, "This listenKey does not exist.")
            if request.method == "PUT":
                self.listen_keys[lk] = (acc.name, now + LISTEN_KEY_TTL_MS)
            else:
                del self.listen_keys[lk]
                for c in list(self.conns):
                    if c.account == acc.name:
                        await c.ws.close(code=1000, message=b"listenKey deleted")
            return self.ok({})
        except BinanceError as e:
            return self.err(e)

    async def start_pumps(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.depth_pump("depth@100ms", 0.1)),
                       loop.create_task(self.depth_pump("depth", 1.0))]

    async def stop_pumps(self, app: web.Application) -> None:
        for t in self._tasks:
            t.cancel()


def add_routes(app: web.Application, book: SimBook, cfg: SimConfig) -> BinanceSim:
    """Mount the Binance-style routes for ``book`` on ``app`` (called by ``sim.make_app``)."""
    sim = BinanceSim(app, book, cfg)
    r = app.router
    r.add_get("/api/v3/ping", sim.ping)
    r.add_get("/api/v3/time", sim.time_)
    r.add_get("/api/v3/exchangeInfo", sim.exchange_info)
    r.add_get("/api/v3/depth", sim.depth_rest)
    r.add_post("/api/v3/order", sim.new_order)
    r.add_get("/api/v3/order", sim.get_order)
    r.add_delete("/api/v3/order", sim.cancel_order)
    r.add_get("/api/v3/openOrders", sim.open_orders)
    r.add_get("/api/v3/myTrades", sim.my_trades)
    r.add_get("/api/v3/account", sim.account)
    r.add_post("/api/v3/userDataStream", sim.user_stream)
    r.add_put("/api/v3/userDataStream", sim.user_stream)
    r.add_delete("/api/v3/userDataStream", sim.user_stream)
    r.add_get("/ws/{name}", sim.ws_path)
    r.add_get("/stream", sim.ws_combined)

    async def not_found(request: web.Request) -> web.Response:
        return sim.err(BinanceError(-1000, f"Unknown endpoint {request.method} {request.path}.", 404))

    r.add_route("*", "/api/{tail:.*}", not_found)
    app.on_startup.append(sim.start_pumps)
    app.on_cleanup.append(sim.stop_pumps)
    return sim
