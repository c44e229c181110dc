"""OKX-style simulated venue: the OKX v5 subset of :mod:`rfqcore.venues.okx` served over a
:class:`~rfqcore.venuesim.simbook.SimBook`.

:func:`add_routes` mounts, on an aiohttp application built by :mod:`rfqcore.venuesim.sim`:

* ``GET /ws/v5/public`` — WebSocket; ``subscribe`` / ``unsubscribe`` to ``books`` of the book's
  instId: one ``snapshot`` (every level of the book, ``prevSeqId`` -1) then one ``update`` per
  book change (``seqId`` = the book's update id, ``prevSeqId`` = the id before it, so a skipped
  id — ``faults.gap_next()`` — is a ``prevSeqId`` that does not match; ``checksum`` by
  :func:`rfqcore.handlers.okx.okx_checksum`, OKX's CRC32 of the top 25 levels). Levels are
  ``[px, sz, "0", "1"]`` with px at the tick's decimals and sz without trailing zeros — the exact
  strings the checksum covers.
* ``GET /ws/v5/private`` — WebSocket; ``login`` (HMAC-SHA256 of timestamp + "GET" +
  "/users/self/verify", timestamp in Unix seconds within 30 s), ``subscribe`` to ``orders``
  (``instType`` SPOT/ANY), ``order`` and ``cancel-order`` ops (one order per op).
* ``GET /api/v5/trade/order``, ``/api/v5/trade/orders-pending``, ``/api/v5/trade/fills``,
  ``/api/v5/account/balance`` — signed REST (``OK-ACCESS-*`` headers; timestamp within 30 s).

Both WebSockets answer the text ``"ping"`` with ``"pong"``. Every refused input is answered with
OKX's error shape and code and changes nothing (the book's ``state_hash()`` is unchanged):
WebSocket-level errors ``{"event": "error", "code", "msg", "connId"}`` (60004 invalid timestamp,
60005 invalid apiKey, 60006 timestamp expired, 60007 invalid sign, 60009 login failure,
60011 please log in, 60012 invalid request, 60013 invalid args, 60018 wrong channel,
60019 invalid op, 60024 wrong passphrase, 60028 op not supported on this URL, 60030 repeated
login); op-level errors ``{"id", "op", "code", "msg", "data": [{..., "sCode", "sMsg"}]}``
(51000 parameter error, 51001 instrument does not exist, 51006 price outside the limit,
51008 insufficient balance, 51016 duplicated clOrdId, 51019 post-only would take, 51121 size
not a multiple of the lot, 51400 cancel: no such open order, 50001 service unavailable =
``faults.reject_next``); REST errors ``{"code", "msg", "data": []}`` (50014 parameter empty,
50102 timestamp expired, 50103/50104/50106/50107 header empty, 50105 wrong passphrase, 50111
invalid key, 50112 invalid timestamp, 50113 invalid sign, 51001, 51603 order does not exist).

Subset rules (documented in ``docs/venues.md``): ``tdMode`` must be ``cash``; ``clOrdId`` is
required (1-32 alphanumerics); market orders take ``sz`` in the base currency
(``tgtCcy: base_ccy`` — OKX's default for spot market buys is the quote currency, not served);
an IOC/market remainder and an unfillable FOK end ``canceled``.

Faults (:class:`~rfqcore.venuesim.simbook.SimFaults`): ``disconnect`` closes every WebSocket of
this venue at once (replies still queued are lost) and, through :mod:`rfqcore.venuesim.sim`'s
middleware, refuses every connection while down; ``slow_ack`` delays
every op response and every ``orders`` push; ``reject_next`` and ``gap_next`` act in the book.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Final

import orjson
from aiohttp import WSMsgType, web

from rfqcore.handlers.okx import okx_checksum
from rfqcore.venues.okx import (
    CL_ORD_ID_RE,
    login_prehash,
    okx_decimal,
    okx_sign,
    parse_iso_ms,
    rest_prehash,
)
from rfqcore.venuesim.simbook import DepthDiff, SimAccount, SimBook, SimFill, SimOrder, SimReject, now_ms

__all__ = ["add_routes", "OkxVenue", "SYMBOL", "BASE", "QUOTE", "TICK", "LOT", "SEED_SOURCE",
           "SEED_SYMBOL", "TIMESTAMP_WINDOW_S"]

# The instrument this style serves by default (``okx:BTC-USDT`` of defaults/instruments.toml),
# seeded from the Binance USD-M BTCUSDT book recorded at the same moment as the Binance spot
# book, so a hedger routing across both simulated venues sees consistent prices.
SYMBOL: Final = "BTC-USDT"
BASE: Final = "BTC"
QUOTE: Final = "USDT"
TICK: Final = Decimal("0.1")
LOT: Final = Decimal("0.00000001")
SEED_SOURCE: Final = "binance-usdm"
SEED_SYMBOL: Final = "BTCUSDT"

TIMESTAMP_WINDOW_S: Final = 30
_ORD_TYPES: Final = {  # ordType -> (type, tif, post_only)
    "limit": ("LIMIT", "GTC", False),
    "post_only": ("LIMIT", "GTC", True),
    "ioc": ("LIMIT", "IOC", False),
    "fok": ("LIMIT", "FOK", False),
    "market": ("MARKET", "IOC", False),
}
_STATE: Final = {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled",
                 "CANCELED": "canceled", "EXPIRED": "canceled", "REJECTED": "canceled"}
_ID_RE_MAX: Final = 32
# SimReject code -> (OKX sCode, message)
_REJECTS: Final = {
    "duplicate_order": ("51016", "Duplicated clOrdId"),
    "bad_qty": ("51000", "Parameter sz error"),
    "off_lot": ("51121", "Order quantity must be a multiple of the lot size"),
    "bad_price": ("51006", "Order price is not within the price limit"),
    "off_tick": ("51000", "Parameter px error"),
    "insufficient_balance": ("51008", "Order failed. Insufficient balance in account"),
    "post_only_would_take": ("51019", "Post-only order would take liquidity"),
    "rejected_by_fault": ("50001", "Service temporarily unavailable. Try again later"),
    "unknown_order": ("51400", "Order cancellation failed as the order has been filled, "
                               "canceled or does not exist"),
}
_VENUE_KEY: Final = web.AppKey("okx_venue", object)


def _us() -> str:
    return str(time.time_ns() // 1000)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class _Bad(Exception):
    """A refused request: OKX code and message."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    private: bool
    conn_id: str = field(default_factory=lambda: secrets.token_hex(4))
    account: SimAccount | None = None
    books: bool = False
    orders: bool = False
    queue: asyncio.Queue[tuple[float, str | None]] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None


@dataclass
class _Acc:
    """Per-order accumulation for ``orders`` pushes (fee and fee currency so far)."""

    fee: Decimal = Decimal(0)
    ccy: str = ""


class OkxVenue:
    """The OKX protocol state of one simulated venue (connections, book mirror for checksums)."""

    def __init__(self, book: SimBook, config: Any = None) -> None:
        self.book = book
        self.config = config
        self.faults = book.faults
        self.symbol = book.symbol
        self.conns: set[_Conn] = set()
        self.pd = max(0, -int(book.tick.as_tuple().exponent))
        # the book as the public feed shows it: price units -> (px string, sz string)
        self.bids: dict[int, tuple[str, str]] = {}
        self.asks: dict[int, tuple[str, str]] = {}
        uid, bids, asks = book.depth(1 << 30)
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for px, sz in levels:
                side[self._key(px)] = (self._px(px), okx_decimal(sz))
        self.seq_id = uid
        self._acc: dict[int, _Acc] = {}
        self.counters = {"ws_errors": 0, "op_errors": 0, "rest_errors": 0, "orders": 0,
                         "pushes": 0, "book_updates": 0}
        book.add_listener(self._on_order)
        book.add_depth_listener(self._on_depth)
        self.faults.on_disconnect(self._drop_all)

    # -- formatting --------------------------------------------------------------------------

    def _key(self, px: Decimal) -> int:
        return int(px.scaleb(self.pd))

    def _px(self, px: Decimal) -> str:
        return format(px.quantize(self.book.tick), "f")

    def _levels(self, side: dict[int, tuple[str, str]], best_first_desc: bool) -> list[list[str]]:
        return [[px, sz, "0", "1"] for _, (px, sz) in sorted(side.items(), reverse=best_first_desc)]

    def order_row(self, o: SimOrder, fill: SimFill | None = None, fee: Decimal | None = None,
                  fee_ccy: str | None = None) -> dict[str, Any]:
        """An OKX order object (``orders`` push / ``GET /trade/order``) of ``o`` as it stands."""
        buy = o.side == "BUY"
        if o.type == "MARKET":
            ord_type = "market"
        elif o.post_only:
            ord_type = "post_only"
        else:
            ord_type = {"GTC": "limit", "IOC": "ioc", "FOK": "fok"}[o.tif]
        if fee is None:
            fee, fee_ccy = self._order_fee(o)
        avg = ""
        if o.cum_qty > 0:
            avg = okx_decimal((o.cum_quote / o.cum_qty).quantize(Decimal(1).scaleb(-(self.pd + 8)),
                                                          rounding=ROUND_HALF_EVEN))
        cancel_source = ""
        if o.status == "EXPIRED":
            cancel_source = "fok_not_fillable" if o.tif == "FOK" and o.cum_qty == 0 else "ioc_remainder"
        elif o.status == "CANCELED":
            cancel_source = "user_canceled"
        return {
            "instType": "SPOT", "instId": o.symbol, "ccy": "", "ordId": str(o.order_id),
            "clOrdId": o.cl_ord_id, "tag": "", "px": "" if o.price is None else self._px(o.price),
            "sz": okx_decimal(o.qty), "ordType": ord_type, "side": "buy" if buy else "sell",
            "posSide": "net", "tdMode": "cash", "tgtCcy": "base_ccy",
            "fillPx": "" if fill is None else self._px(fill.price),
            "tradeId": "" if fill is None else str(fill.trade_id),
            "fillSz": "0" if fill is None else okx_decimal(fill.qty),
            "fillTime": "" if fill is None else str(fill.ts_ms),
            "fillFee": "0" if fill is None else okx_decimal(-fill.fee),
            "fillFeeCcy": "" if fill is None else fill.fee_asset,
            "execType": "" if fill is None else ("M" if fill.maker else "T"),
            "accFillSz": okx_decimal(o.cum_qty), "avgPx": avg, "state": _STATE[o.status],
            "fee": okx_decimal(-fee), "feeCcy": fee_ccy or (o.symbol.split("-")[0] if buy else
                                                     o.symbol.split("-")[-1]),
            "rebate": "0", "rebateCcy": "", "cancelSource": cancel_source,
            "uTime": str(o.updated_ms), "cTime": str(o.created_ms),
            "code": "0", "msg": "", "reqId": "", "amendResult": "",
        }

    def _order_fee(self, o: SimOrder) -> tuple[Decimal, str]:
        fee, ccy = Decimal(0), ""
        for f in self.book.fills(o.account):
            if f.order_id == o.order_id:
                fee += f.fee
                ccy = f.fee_asset
        return fee, ccy

    # -- book listeners (called synchronously inside SimBook.place / cancel) -------------------

    def _on_order(self, account: str, o: SimOrder, fill: SimFill | None) -> None:
        if account not in self.book.accounts:
            return  # the liquidity provider
        acc = self._acc.setdefault(o.order_id, _Acc())
        if fill is not None:
            acc.fee += fill.fee
            acc.ccy = fill.fee_asset
        if o.status not in ("NEW", "PARTIALLY_FILLED"):
            self._acc.pop(o.order_id, None)
        row = self.order_row(o, fill, acc.fee, acc.ccy)
        msg = _dumps({"arg": {"channel": "orders", "instType": "SPOT"}, "data": [row]})
        delay = self.faults.slow_ack_ms
        for c in self.conns:
            if c.orders and c.account is not None and c.account.name == account:
                self.counters["pushes"] += 1
                self._send(c, msg, delay)

    def _on_depth(self, diff: DepthDiff) -> None:
        bids: list[list[str]] = []
        asks: list[list[str]] = []
        for levels, side, out in ((diff.bids, self.bids, bids), (diff.asks, self.asks, asks)):
            for px, sz in levels:
                k = self._key(px)
                pxs = self._px(px)
                if sz == 0:
                    side.pop(k, None)
                    out.append([pxs, "0", "0", "0"])
                else:
                    szs = okx_decimal(sz)
                    side[k] = (pxs, szs)
                    out.append([pxs, szs, "0", "1"])
        prev = diff.first_id - 1
        self.seq_id = diff.last_id
        self.counters["book_updates"] += 1
        msg = _dumps({"arg": {"channel": "books", "instId": self.symbol}, "action": "update",
                      "data": [{"asks": asks, "bids": bids, "ts": str(diff.ts_ms),
                                "checksum": okx_checksum(self.bids, self.asks),
                                "prevSeqId": prev, "seqId": diff.last_id}]})
        for c in self.conns:
            if c.books:
                self._send(c, msg)

    def _snapshot(self) -> str:
        return _dumps({"arg": {"channel": "books", "instId": self.symbol}, "action": "snapshot",
                       "data": [{"asks": self._levels(self.asks, False),
                                 "bids": self._levels(self.bids, True), "ts": str(now_ms()),
                                 "checksum": okx_checksum(self.bids, self.asks),
                                 "prevSeqId": -1, "seqId": self.seq_id}]})

    # -- connections -------------------------------------------------------------------------

    def _send(self, c: _Conn, text: str, delay_ms: int = 0) -> None:
        due = asyncio.get_running_loop().time() + delay_ms / 1000 if delay_ms else 0.0
        c.queue.put_nowait((due, text))

    async def _writer(self, c: _Conn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, text = await c.queue.get()
            if text is None:
                return
            if due:
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            if c.ws.closed:
                return
            try:
                await c.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def close_all(self, _app: web.Application | None = None) -> None:
        """On shutdown: close every WebSocket of this venue."""
        for c in list(self.conns):
            await c.ws.close(code=1001, message=b"venue shutting down")

    def _drop_all(self) -> None:
        """``faults.disconnect``: close every WebSocket at once (queued replies are lost)."""
        for c in list(self.conns):
            if c.writer is not None:
                c.writer.cancel()
            asyncio.get_running_loop().create_task(c.ws.close(code=1006, message=b"simulated disconnect"))

    async def ws_handler(self, request: web.Request, private: bool) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        c = _Conn(ws, private)
        c.writer = asyncio.create_task(self._writer(c))
        self.conns.add(c)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_text(c, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self._error(c, "60012", "Invalid request: binary frames are not accepted")
                else:
                    break
        finally:
            self.conns.discard(c)
            c.queue.put_nowait((0.0, None))
        return ws

    # -- WebSocket requests ------------------------------------------------------------------

    def _error(self, c: _Conn, code: str, msg: str) -> None:
        self.counters["ws_errors"] += 1
        self._send(c, _dumps({"event": "error", "code": code, "msg": msg, "connId": c.conn_id}))

    def _on_text(self, c: _Conn, text: str) -> None:
        if text == "ping":
            self._send(c, "pong")
            return
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(c, "60012", f"Invalid request: {text[:100]}")
            return
        if type(obj) is not dict:
            self._error(c, "60012", f"Invalid request: {text[:100]}")
            return
        op = obj.get("op")
        if type(op) is not str:
            self._error(c, "60012", f"Invalid request: {text[:100]}")
            return
        if op in ("subscribe", "unsubscribe"):
            self._subscribe(c, obj, op == "subscribe")
        elif op == "login":
            if not c.private:
                self._error(c, "60028", "The current operation is not supported by this URL. "
                                        "Please use the correct WebSocket URL for the operation.")
            else:
                self._login(c, obj)
        elif op in ("order", "cancel-order"):
            if not c.private:
                self._error(c, "60028", "The current operation is not supported by this URL. "
                                        "Please use the correct WebSocket URL for the operation.")
            else:
                self._order_op(c, obj, op)
        else:
            self._error(c, "60019", f"Invalid op: {op}")

    def _login(self, c: _Conn, obj: dict[str, Any]) -> None:
        args = obj.get("args")
        if type(args) is not list or len(args) != 1 or type(args[0]) is not dict:
            self._error(c, "60013", "Invalid args")
            return
        a = args[0]
        for k in ("apiKey", "passphrase", "timestamp", "sign"):
            if type(a.get(k)) is not str or not a[k]:
                self._error(c, "60013", f"Invalid args: {k} must be a non-empty string")
                return
        if c.account is not None:
            self._error(c, "60030", "The WebSocket endpoint does not allow multiple or repeated logins.")
            return
        ts = a["timestamp"]
        try:
            ts_s = Decimal(ts)
            if not ts_s.is_finite() or ts_s <= 0:
                raise InvalidOperation
        except InvalidOperation:
            self._error(c, "60004", f"Invalid timestamp: {ts[:40]}")
            return
        if abs(ts_s - Decimal(time.time_ns()).scaleb(-9)) > TIMESTAMP_WINDOW_S:
            self._error(c, "60006", "Timestamp request expired")
            return
        acct = self.book.account_by_key(a["apiKey"])
        if acct is None:
            self._error(c, "60005", "Invalid apiKey")
            return
        if not secrets.compare_digest(acct.passphrase, a["passphrase"]):
            self._error(c, "60024", "Wrong passphrase")
            return
        if not secrets.compare_digest(okx_sign(acct.secret, login_prehash(ts)), a["sign"]):
            self._error(c, "60007", "Invalid sign")
            return
        c.account = acct
        self._send(c, _dumps({"event": "login", "code": "0", "msg": "", "connId": c.conn_id}))

    def _subscribe(self, c: _Conn, obj: dict[str, Any], sub: bool) -> None:
        args = obj.get("args")
        if type(args) is not list or not args or any(type(a) is not dict for a in args):
            self._error(c, "60013", "Invalid args")
            return
        chans: list[str] = []
        for a in args:  # validate every argument before subscribing any
            ch = a.get("channel")
            if ch == "books" and not c.private and a.get("instId") == self.symbol:
                chans.append("books")
            elif ch == "orders" and c.private and a.get("instType") in ("SPOT", "ANY") and \
                    a.get("instId", self.symbol) == self.symbol:
                if c.account is None:
                    self._error(c, "60011", "Please log in")
                    return
                chans.append("orders")
            else:
                inst = a.get("instId", a.get("instType", ""))
                self._error(c, "60018", f"Wrong URL or channel:{ch},instId:{inst} doesn't exist. "
                                        "Please use the correct URL, channel and parameters "
                                        "referring to API document.")
                return
        for a, ch in zip(args, chans):
            self._send(c, _dumps({"event": "subscribe" if sub else "unsubscribe", "arg": a,
                                  "connId": c.conn_id}))
            if ch == "books":
                c.books = sub
                if sub:
                    self._send(c, self._snapshot())
            else:
                c.orders = sub

    # -- order ops ---------------------------------------------------------------------------

    def _order_op(self, c: _Conn, obj: dict[str, Any], op: str) -> None:
        req_id = obj.get("id", "")
        if type(req_id) is not str or len(req_id) > _ID_RE_MAX or (req_id and not req_id.isalnum()):
            self._error(c, "60013", "Invalid args: id must be at most 32 alphanumerics")
            return
        in_time = _us()
        args = obj.get("args")
        if op == "order" and type(args) is list and args and type(args[0]) is dict:
            self.book.note_order_arrival(args[0].get("clOrdId"), time.monotonic_ns())
        reply: dict[str, Any] = {"id": req_id, "op": op}
        if c.account is None:
            reply.update(code="60011", msg="Please log in", data=[])
        elif type(args) is not list or len(args) != 1 or type(args[0]) is not dict:
            reply.update(code="60013", msg="Invalid args", data=[])
        else:
            a = args[0]
            try:
                row = self._place(c.account, a) if op == "order" else self._cancel(c.account, a)
                row.update(sCode="0", sMsg="Order placed" if op == "order" else "")
                reply.update(code="0", msg="", data=[row])
                self.counters["orders"] += op == "order"
            except _Bad as bad:
                self.counters["op_errors"] += 1
                cl = a.get("clOrdId") if type(a.get("clOrdId")) is str else ""
                oid = a.get("ordId") if type(a.get("ordId")) is str else ""
                reply.update(code="1", msg="", data=[{"clOrdId": cl, "ordId": oid, "tag": "",
                                                      "ts": str(now_ms()), "sCode": bad.code,
                                                      "sMsg": bad.msg}])
        reply.update(inTime=in_time, outTime=_us())
        self._send(c, _dumps(reply), self.faults.slow_ack_ms)

    def _place(self, acct: SimAccount, a: dict[str, Any]) -> dict[str, Any]:
        inst = a.get("instId")
        if type(inst) is not str or not inst:
            raise _Bad("51000", "Parameter instId error")
        if inst != self.symbol:
            raise _Bad("51001", f"Instrument ID {inst[:40]} does not exist")
        if a.get("tdMode") != "cash":
            raise _Bad("51000", "Parameter tdMode error")
        side = a.get("side")
        if side not in ("buy", "sell"):
            raise _Bad("51000", "Parameter side error")
        ord_type = a.get("ordType")
        if type(ord_type) is not str or ord_type not in _ORD_TYPES:
            raise _Bad("51000", "Parameter ordType error")
        cl = a.get("clOrdId")
        if type(cl) is not str or not CL_ORD_ID_RE.match(cl):
            raise _Bad("51000", "Parameter clOrdId error")
        if a.get("tgtCcy", "base_ccy") != "base_ccy":
            raise _Bad("51000", "Parameter tgtCcy error (only base_ccy is served)")
        if ord_type == "market" and side == "buy" and "tgtCcy" not in a:
            raise _Bad("51000", "Parameter tgtCcy error (a market buy needs tgtCcy base_ccy here)")
        sz = _decimal(a.get("sz"))
        if sz is None or sz <= 0:
            raise _Bad("51000", "Parameter sz error")
        if sz % self.book.lot:
            raise _Bad("51121", f"Order quantity must be a multiple of the lot size {self.book.lot}")
        typ, tif, post_only = _ORD_TYPES[ord_type]
        px: Decimal | None = None
        if typ == "LIMIT":
            px = _decimal(a.get("px"))
            if px is None or px <= 0:
                raise _Bad("51000", "Parameter px error")
            if px % self.book.tick:
                raise _Bad("51000", f"Parameter px error: not a multiple of the tick {self.book.tick}")
        elif a.get("px") not in (None, ""):
            raise _Bad("51000", "Parameter px error: a market order takes no price")
        try:
            order, _fills = self.book.place(acct.name, cl, "BUY" if side == "buy" else "SELL", typ,
                                            sz, px, tif, post_only)
        except SimReject as rej:
            code, msg = _REJECTS.get(rej.code, ("51000", "Parameter error"))
            if rej.code == "bad_price" and not rej.text.startswith("price"):
                code = "51000"
            raise _Bad(code, f"{msg} ({rej.text})") from None
        return {"clOrdId": cl, "ordId": str(order.order_id), "tag": "", "ts": str(order.created_ms)}

    def _cancel(self, acct: SimAccount, a: dict[str, Any]) -> dict[str, Any]:
        inst = a.get("instId")
        if type(inst) is not str or not inst:
            raise _Bad("51000", "Parameter instId error")
        if inst != self.symbol:
            raise _Bad("51001", f"Instrument ID {inst[:40]} does not exist")
        cl = a.get("clOrdId")
        oid = a.get("ordId")
        if cl is None and oid is None:
            raise _Bad("51000", "Parameter ordId or clOrdId error")
        if cl is not None and (type(cl) is not str or not CL_ORD_ID_RE.match(cl)):
            raise _Bad("51000", "Parameter clOrdId error")
        if oid is not None and (type(oid) is not str or not oid.isascii() or not oid.isdigit()):
            raise _Bad("51000", "Parameter ordId error")
        try:
            o = self.book.cancel(acct.name, cl_ord_id=cl, order_id=int(oid) if oid else None)
        except SimReject as rej:
            code, msg = _REJECTS.get(rej.code, ("51000", "Parameter error"))
            raise _Bad(code, msg) from None
        return {"clOrdId": o.cl_ord_id, "ordId": str(o.order_id), "ts": str(o.updated_ms)}

    # -- REST --------------------------------------------------------------------------------

    def _rest_error(self, code: str, msg: str, status: int = 200) -> web.Response:
        self.counters["rest_errors"] += 1
        return web.json_response({"code": code, "msg": msg, "data": []}, status=status,
                                 dumps=_dumps)

    def _rest_auth(self, request: web.Request) -> SimAccount | web.Response:
        h = request.headers
        for name, code in (("OK-ACCESS-KEY", "50103"), ("OK-ACCESS-PASSPHRASE", "50104"),
                           ("OK-ACCESS-SIGN", "50106"), ("OK-ACCESS-TIMESTAMP", "50107")):
            if not h.get(name):
                return self._rest_error(code, f"Request header {name} can not be empty", 401)
        ts = h["OK-ACCESS-TIMESTAMP"]
        ms = parse_iso_ms(ts)
        if ms is None:
            return self._rest_error("50112", "Invalid OK-ACCESS-TIMESTAMP", 401)
        if abs(ms - now_ms()) > TIMESTAMP_WINDOW_S * 1000:
            return self._rest_error("50102", "Timestamp request expired", 401)
        acct = self.book.account_by_key(h["OK-ACCESS-KEY"])
        if acct is None:
            return self._rest_error("50111", "Invalid OK-ACCESS-KEY", 401)
        if not secrets.compare_digest(acct.passphrase, h["OK-ACCESS-PASSPHRASE"]):
            return self._rest_error("50105", "OK-ACCESS-PASSPHRASE incorrect", 401)
        want = okx_sign(acct.secret, rest_prehash(ts, request.method, request.path_qs, ""))
        if not secrets.compare_digest(want, h["OK-ACCESS-SIGN"]):
            return self._rest_error("50113", "Invalid Sign", 401)
        return acct

    def _inst_param(self, request: web.Request, required: bool) -> web.Response | None:
        it = request.query.get("instType")
        if it is not None and it not in ("SPOT", "ANY"):
            return self._rest_error("51000", "Parameter instType error", 400)
        inst = request.query.get("instId")
        if inst is None or inst == "":
            return self._rest_error("50014", "Parameter instId can not be empty", 400) if required else None
        if inst != self.symbol:
            return self._rest_error("51001", f"Instrument ID {inst[:40]} does not exist")
        return None

    def _ok(self, data: list[Any]) -> web.Response:
        return web.json_response({"code": "0", "msg": "", "data": data}, dumps=_dumps)

    def _rest_begin(self, request: web.Request, inst: bool | None, ord_id: bool = False) -> SimAccount | web.Response:
        """Authenticate, then check ``instType``/``instId`` (``inst``: required / optional /
        None = not a parameter of this endpoint) and, with ``ord_id``, ``ordId``: the account or
        the error answer."""
        acct = self._rest_auth(request)
        if isinstance(acct, web.Response):
            return acct
        bad = None if inst is None else self._inst_param(request, inst)
        if bad is not None:
            return bad
        oid = request.query.get("ordId") if ord_id else None
        if oid and not (oid.isascii() and oid.isdigit()):
            return self._rest_error("51000", "Parameter ordId error", 400)
        return acct

    async def rest_order(self, request: web.Request) -> web.StreamResponse:
        acct = self._rest_begin(request, True, ord_id=True)
        if isinstance(acct, web.Response):
            return acct
        cl = request.query.get("clOrdId")
        oid = request.query.get("ordId")
        if not cl and not oid:
            return self._rest_error("50014", "Parameter ordId or clOrdId can not be empty", 400)
        o = self.book.order(acct.name, cl_ord_id=cl or None, order_id=int(oid) if oid else None)
        if o is None:
            return self._rest_error("51603", "Order does not exist")
        return self._ok([self.order_row(o)])

    async def rest_pending(self, request: web.Request) -> web.StreamResponse:
        acct = self._rest_begin(request, False)
        if isinstance(acct, web.Response):
            return acct
        rows = [self.order_row(o) for o in self.book.open_orders(acct.name)]
        return self._ok(sorted(rows, key=lambda r: -int(r["ordId"])))  # newest first, as OKX

    async def rest_fills(self, request: web.Request) -> web.StreamResponse:
        acct = self._rest_begin(request, False, ord_id=True)
        if isinstance(acct, web.Response):
            return acct
        oid = request.query.get("ordId")
        rows = []
        for f in self.book.fills(acct.name):
            if oid and f.order_id != int(oid):
                continue
            o = self.book.orders[f.order_id]
            rows.append({"instType": "SPOT", "instId": o.symbol, "tradeId": str(f.trade_id),
                         "ordId": str(o.order_id), "clOrdId": o.cl_ord_id, "billId": str(f.trade_id),
                         "tag": "", "fillPx": self._px(f.price), "fillSz": okx_decimal(f.qty),
                         "side": o.side.lower(), "posSide": "net", "execType": "M" if f.maker else "T",
                         "feeCcy": f.fee_asset, "fee": okx_decimal(-f.fee), "ts": str(f.ts_ms),
                         "fillTime": str(f.ts_ms)})
        return self._ok(rows[::-1])  # newest first, as OKX

    async def rest_balance(self, request: web.Request) -> web.StreamResponse:
        acct = self._rest_begin(request, None)
        if isinstance(acct, web.Response):
            return acct
        want = request.query.get("ccy")
        ccys = sorted(set(acct.balances) | set(acct.locked))
        if want:
            ccys = [c for c in want.split(",") if c]
        now = str(now_ms())
        details = []
        for ccy in ccys:
            free = acct.balances.get(ccy, Decimal(0))
            locked = acct.locked.get(ccy, Decimal(0))
            details.append({"ccy": ccy, "eq": okx_decimal(free + locked), "cashBal": okx_decimal(free + locked),
                            "availBal": okx_decimal(free), "availEq": okx_decimal(free), "frozenBal": okx_decimal(locked),
                            "ordFrozen": okx_decimal(locked), "uTime": now})
        return self._ok([{"totalEq": "", "uTime": now, "details": details}])


def _decimal(v: object) -> Decimal | None:
    """A plain decimal string (no exponent, no sign other than '-'), else None."""
    if type(v) is not str or not v or len(v) > 40 or not v.isascii():
        return None
    body = v[1:] if v[0] == "-" else v
    if not body or body.count(".") > 1 or not body.replace(".", "").isdigit() or body[0] == "." \
            or body[-1] == ".":
        return None
    return Decimal(v)


def add_routes(app: web.Application, book: SimBook, config: Any = None) -> OkxVenue:
    """Mount the OKX-style routes of ``book`` on ``app``; returns the venue state."""
    venue = OkxVenue(book, config)
    app[_VENUE_KEY] = venue

    async def public(request: web.Request) -> web.StreamResponse:
        return await venue.ws_handler(request, False)

    async def private(request: web.Request) -> web.StreamResponse:
        return await venue.ws_handler(request, True)

    app.router.add_get("/ws/v5/public", public)
    app.router.add_get("/ws/v5/private", private)
    app.router.add_get("/api/v5/trade/order", venue.rest_order)
    app.router.add_get("/api/v5/trade/orders-pending", venue.rest_pending)
    app.router.add_get("/api/v5/trade/fills", venue.rest_fills)
    app.router.add_get("/api/v5/account/balance", venue.rest_balance)
    app.on_shutdown.append(venue.close_all)
    return venue

