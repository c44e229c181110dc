"""OKX-style venue adapter: WebSocket order entry (signed login), ``orders`` push, public books.

The OKX v5 subset spoken here (the simulated venue :mod:`rfqcore.venuesim.okx_sim` serves the
same subset; ``docs/venues.md`` lists it):

* **private WebSocket** ``/ws/v5/private``: ``login`` (``sign`` = Base64(HMAC-SHA256(secret,
  timestamp + "GET" + "/users/self/verify")), timestamp in Unix seconds), then ``order`` /
  ``cancel-order`` ops with a request ``id`` whose response is matched to the request, and the
  ``orders`` channel (``instType: SPOT``) whose pushes become :class:`ExecReport` s — one report
  per fill, deduplicated by ``tradeId``;
* **public WebSocket** ``/ws/v5/public``: ``books`` (snapshot, then updates with ``checksum``,
  ``seqId`` / ``prevSeqId``); every message is passed raw to ``on_market_data`` so
  :class:`rfqcore.handlers.okx.OkxHandler` verifies checksums and sequence (one place). When the
  handler reports a lost book (``needs_snapshot()``), call :meth:`OkxAdapter.resync` (or
  ``fetch_snapshot``, which does the same and returns None): OKX sends a new snapshot on
  resubscribe;
* **signed REST** for reconciliation: ``GET /api/v5/trade/order``, ``/trade/orders-pending``,
  ``/trade/fills`` and ``/account/balance`` with ``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN`` =
  Base64(HMAC-SHA256(secret, timestamp + method + requestPath + body)), ``OK-ACCESS-TIMESTAMP``
  (ISO 8601 with ms) and ``OK-ACCESS-PASSPHRASE``.

Keep-alive as OKX documents: the text frame ``"ping"`` after ``ping_interval`` seconds without a
message, answered by ``"pong"``; no answer within another ``ping_interval`` drops the link.
A lost link is reported (``on_status(up=False)``) at once; orders whose request was still in
flight are reported ``UNKNOWN``; after the reconnect (exponential backoff) every order not yet
known to be final is reconciled over REST (missed fills are reported from ``/trade/fills`` with
their real trade ids, then the order's state), and only then ``on_status(up=True)``.
Malformed venue messages are counted in ``stats["malformed"]`` and logged, never raised.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from rfqcore.venues.base import (
    ExecReport,
    MarketDataCallback,
    OrderRequest,
    OrderSide,
    OrdStatus,
    ReportCallback,
    StatusCallback,
    TimeInForce,
    VenueAdapter,
    VenueError,
    VenueStatus,
)

__all__ = [
    "OkxAdapter",
    "okx_decimal",
    "okx_sign",
    "login_prehash",
    "rest_prehash",
    "iso_ms",
    "parse_iso_ms",
    "LOGIN_PATH",
    "STATE_TO_STATUS",
    "CL_ORD_ID_RE",
]

log = logging.getLogger(__name__)

LOGIN_PATH = "/users/self/verify"
CL_ORD_ID_RE = re.compile(r"[A-Za-z0-9]{1,32}\Z")   # OKX: alphanumeric, 1-32 characters
STATE_TO_STATUS = {
    "live": OrdStatus.NEW,
    "partially_filled": OrdStatus.PARTIALLY_FILLED,
    "filled": OrdStatus.FILLED,
    "canceled": OrdStatus.CANCELED,
    "mmp_canceled": OrdStatus.CANCELED,
}
_FINAL = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})
_ZERO = Decimal(0)


# -- signing (shared with the simulated venue) ----------------------------------------------

def okx_sign(secret: str, prehash: str) -> str:
    """Base64(HMAC-SHA256(secret, prehash)), OKX's signature for login and REST."""
    mac = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def login_prehash(timestamp: str) -> str:
    """What a WebSocket ``login`` signs: timestamp (Unix seconds) + "GET" + "/users/self/verify"."""
    return timestamp + "GET" + LOGIN_PATH


def rest_prehash(timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """What a REST request signs; ``request_path`` includes the query string (``?a=b``)."""
    return timestamp + method.upper() + request_path + body


def iso_ms(ms: int) -> str:
    """Unix ms as OKX's ``OK-ACCESS-TIMESTAMP``: ``2020-12-08T09:08:57.715Z``."""
    sec, rem = divmod(ms, 1000)
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rem:03d}Z"


_ISO_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{3})Z\Z")


def parse_iso_ms(text: object) -> int | None:
    """``OK-ACCESS-TIMESTAMP`` back to Unix ms; None when it is not that exact format."""
    if type(text) is not str:
        return None
    m = _ISO_RE.match(text)
    if m is None:
        return None
    try:
        dt = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(dt.timestamp()) * 1000 + int(m.group(2))


def _dec(value: object) -> Decimal:
    """A venue decimal string ("" = 0); ValueError on anything else."""
    if value == "" or value is None:
        return _ZERO
    if type(value) is not str:
        raise ValueError(f"expected a decimal string, got {value!r}")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return d


def _json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def okx_decimal(d: Decimal) -> str:
    """A decimal as OKX prints it: plain notation, no trailing zeros."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


# -- the adapter ------------------------------------------------------------------------------

@dataclass(slots=True)
class _Track:
    """What the adapter knows of one order it placed."""

    req: OrderRequest
    ord_id: str = ""
    acked: bool = False
    cum: Decimal = _ZERO
    status: OrdStatus | None = None       # last status reported
    trades: set[int] = field(default_factory=set)
    unknown: bool = False                 # reported UNKNOWN, awaiting reconciliation

    @property
    def final(self) -> bool:
        return self.status in _FINAL


class _LinkDown(Exception):
    pass


class OkxAdapter(VenueAdapter):
    """One OKX-style venue: private WS (login, orders, ``orders`` channel), public ``books``, REST.

    ``public_url`` / ``private_url`` are the WebSocket endpoints (``ws://host:port/ws/v5/public``
    and ``.../ws/v5/private``), ``rest_url`` the REST base (``http://host:port``). ``symbols``
    are the instIds whose ``books`` channel is subscribed (market data goes raw to
    ``on_market_data``). Callbacks run on the event loop that called :meth:`start`.
    """

    def __init__(self, name: str = "okx", *, on_report: ReportCallback,
                 on_status: StatusCallback | None = None,
                 on_market_data: MarketDataCallback | None = None,
                 public_url: str, private_url: str, rest_url: str,
                 api_key: str, secret: str, passphrase: str,
                 symbols: Iterable[str] = (), inst_type: str = "SPOT",
                 ping_interval: float = 20.0, request_timeout: float = 5.0,
                 backoff_initial: float = 0.05, backoff_max: float = 2.0) -> None:
        super().__init__(name, on_report=on_report, on_status=on_status,
                         on_market_data=on_market_data)
        self.public_url = public_url
        self.private_url = private_url
        self.rest_url = rest_url.rstrip("/")
        self.api_key = api_key
        self._secret = secret
        self._passphrase = passphrase
        self.symbols = list(symbols)
        self.inst_type = inst_type
        self.ping_interval = ping_interval
        self.request_timeout = request_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stats: dict[str, int] = {
            "malformed": 0, "reports": 0, "duplicate_fills": 0, "reconnects": 0,
            "unknown": 0, "reconciled": 0, "pings": 0, "md_messages": 0, "late_answers": 0,
        }
        self._session: aiohttp.ClientSession | None = None
        self._priv_ws: aiohttp.ClientWebSocketResponse | None = None
        self._pub_ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[str, str, asyncio.TimerHandle]] = {}  # id -> (op, clOrdId, timer)
        self._resyncing: set[str] = set()   # symbols whose resubscription awaits its snapshot
        self._late: dict[str, tuple[str, str]] = {}  # timed-out requests whose answer may still come
        self._orders: dict[str, _Track] = {}
        self._priv_up = False
        self._pub_up = False
        self._reported_up: bool | None = None
        self._ready = asyncio.Event()
        self._fatal: VenueError | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, log in, subscribe; returns when both links are up (or raises VenueError)."""
        if self._session is not None:
            return
        self._closing = False
        self._ready = asyncio.Event()
        self._reported_up = None
        self._fatal = None
        self._session = aiohttp.ClientSession()
        self._tasks = [asyncio.create_task(self._run_private(), name=f"{self.name}-private")]
        if self.symbols:
            self._tasks.append(asyncio.create_task(self._run_public(), name=f"{self.name}-public"))
        else:
            self._pub_up = True
        waiter = asyncio.create_task(self._ready.wait())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=max(10.0, 4 * self.request_timeout))
        except TimeoutError:
            await self.stop()
            raise VenueError(f"{self.name}: could not connect within the start timeout") from None
        if self._fatal is not None:
            err = self._fatal
            await self.stop()
            raise err

    async def stop(self) -> None:
        self._closing = True
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for _op, _cl, timer in self._pending.values():
            timer.cancel()
        self._pending.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def up(self) -> bool:
        return self._priv_up and self._pub_up

    # -- order entry -------------------------------------------------------------------------

    async def place(self, req: OrderRequest) -> None:
        if not CL_ORD_ID_RE.match(req.cl_ord_id):
            raise VenueError(f"okx clOrdId must be 1-32 alphanumerics: {req.cl_ord_id!r}")
        if req.qty <= 0:
            raise VenueError(f"order quantity must be > 0: {req.qty}")
        if req.price is None:
            if req.tif is TimeInForce.GTC:
                raise VenueError("a market order cannot be GTC")
            arg: dict[str, str] = {"ordType": "market", "tgtCcy": "base_ccy"}
            if req.tif is TimeInForce.FOK:
                raise VenueError("okx has no market FOK; send a limit FOK with a price")
        else:
            arg = {"ordType": {TimeInForce.GTC: "limit", TimeInForce.IOC: "ioc",
                               TimeInForce.FOK: "fok"}[req.tif], "px": okx_decimal(req.price)}
        arg.update(instId=req.symbol, tdMode="cash", side=req.side.value.lower(),
                   sz=okx_decimal(req.qty), clOrdId=req.cl_ord_id)
        existing = self._orders.get(req.cl_ord_id)
        if existing is None or (existing.status is OrdStatus.REJECTED and not existing.acked):
            self._orders[req.cl_ord_id] = _Track(req)  # new, or a retry of one the venue never took
        await self._send_op("order", arg, req.cl_ord_id)

    def adopt(self, req: OrderRequest) -> None:
        if req.cl_ord_id not in self._orders:
            self._orders[req.cl_ord_id] = _Track(req)  # reconciled (not acked, not final) before up

    async def cancel(self, symbol: str, cl_ord_id: str) -> None:
        await self._send_op("cancel-order", {"instId": symbol, "clOrdId": cl_ord_id}, cl_ord_id)

    async def _send_op(self, op: str, arg: dict[str, str], cl_ord_id: str) -> None:
        req_id = f"{next(self._ids)}"
        ws = self._priv_ws
        if ws is None or ws.closed or not self._priv_up:
            self._unknown_or_reject(op, cl_ord_id, "link down: request not sent", sent=False)
            return
        timer = asyncio.get_running_loop().call_later(self.request_timeout, self._op_timeout, req_id)
        self._pending[req_id] = (op, cl_ord_id, timer)
        try:
            await ws.send_str(_json({"id": req_id, "op": op, "args": [arg]}))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            self._pending.pop(req_id, None)
            timer.cancel()
            self._unknown_or_reject(op, cl_ord_id, f"send failed: {exc}", sent=True)

    def _op_timeout(self, req_id: str) -> None:
        entry = self._pending.pop(req_id, None)
        if entry is not None:
            self._late[req_id] = entry[:2]
            while len(self._late) > 10_000:  # answers that never came: forget the oldest
                del self._late[next(iter(self._late))]
            self._unknown_or_reject(entry[0], entry[1], "no response within the request timeout",
                                    sent=True)
            # reconcile now if the link is still up (the outcome may be known over REST)
            if self._priv_up:
                self._spawn(self._reconcile([entry[1]]))

    def _unknown_or_reject(self, op: str, cl_ord_id: str, why: str, *, sent: bool) -> None:
        """A request whose outcome is unknown (sent) or certainly not executed (never sent)."""
        tr = self._orders.get(cl_ord_id)
        if op == "cancel-order" and not sent:
            self._report(ExecReport(venue=self.name, cl_ord_id=cl_ord_id, status=OrdStatus.REJECTED,
                                    symbol=tr.req.symbol if tr else "",
                                    venue_order_id=tr.ord_id if tr else "",
                                    cum_qty=tr.cum if tr else _ZERO,
                                    reason=f"cancel not sent: {why}", ts_recv_ns=time.time_ns()))
            return
        if op == "order" and tr is not None and not tr.acked and tr.status is None and not sent:
            self._emit_status(tr, OrdStatus.REJECTED, reason=f"not sent: {why}")
            return
        if tr is None or tr.final:
            if op == "cancel-order":
                self._report(ExecReport(venue=self.name, cl_ord_id=cl_ord_id, status=OrdStatus.UNKNOWN,
                                        reason=f"cancel outcome unknown: {why}",
                                        ts_recv_ns=time.time_ns()))
            return
        tr.unknown = True
        self.stats["unknown"] += 1
        self._report(self._base_report(tr, OrdStatus.UNKNOWN, reason=why))

    # -- reports -----------------------------------------------------------------------------

    def _report(self, rep: ExecReport) -> None:
        self.stats["reports"] += 1
        try:
            self.on_report(rep)
        except Exception:  # a callback bug must not kill the link
            log.exception("%s: on_report raised", self.name)

    def _base_report(self, tr: _Track, status: OrdStatus, reason: str = "",
                     ts_ms: int = 0) -> ExecReport:
        r = tr.req
        return ExecReport(venue=self.name, cl_ord_id=r.cl_ord_id, status=status, symbol=r.symbol,
                          side=r.side, venue_order_id=tr.ord_id, order_qty=r.qty, price=r.price,
                          cum_qty=tr.cum, reason=reason, venue_ts_ms=ts_ms,
                          ts_recv_ns=time.time_ns())

    def _emit_status(self, tr: _Track, status: OrdStatus, reason: str = "", ts_ms: int = 0) -> None:
        if tr.status == status and status is not OrdStatus.UNKNOWN:
            return
        tr.status = status
        if status is not OrdStatus.UNKNOWN:
            tr.unknown = False
        self._report(self._base_report(tr, status, reason, ts_ms))

    def _track_for_row(self, row: dict[str, Any]) -> _Track:
        cl = row.get("clOrdId")
        if type(cl) is not str:
            raise ValueError("clOrdId missing")
        tr = self._orders.get(cl)
        if tr is None:  # an order this adapter did not place (another session): track it anyway
            side = OrderSide.BUY if row.get("side") == "buy" else OrderSide.SELL
            px = _dec(row.get("px")) if row.get("px") else None
            tif = {"limit": TimeInForce.GTC, "post_only": TimeInForce.GTC,
                   "fok": TimeInForce.FOK}.get(row.get("ordType", ""), TimeInForce.IOC)
            tr = _Track(OrderRequest(cl, str(row.get("instId", "")), side, _dec(row.get("sz")), px, tif))
            self._orders[cl] = tr
        oid = row.get("ordId")
        if type(oid) is str and oid:
            tr.ord_id = oid
            tr.acked = True
        return tr

    def _final_status(self, tr: _Track, row: dict[str, Any]) -> OrdStatus:
        state = row.get("state")
        status = STATE_TO_STATUS.get(state) if type(state) is str else None
        if status is None:
            raise ValueError(f"unknown order state {state!r}")
        if status is OrdStatus.CANCELED and row.get("ordType") == "fok" and tr.cum == 0:
            return OrdStatus.EXPIRED
        return status

    def _apply_fill(self, tr: _Track, trade_id: int, qty: Decimal, px: Decimal, fee: Decimal,
                    fee_ccy: str, ts_ms: int) -> None:
        """One fill: reported once per trade id; ``fee`` as OKX signs it (negative = paid)."""
        if trade_id in tr.trades:
            self.stats["duplicate_fills"] += 1
            return
        tr.trades.add(trade_id)
        tr.cum += qty
        status = OrdStatus.FILLED if tr.cum >= tr.req.qty else OrdStatus.PARTIALLY_FILLED
        tr.status = status
        tr.unknown = False
        r = tr.req
        self._report(ExecReport(venue=self.name, cl_ord_id=r.cl_ord_id, status=status,
                                symbol=r.symbol, side=r.side, venue_order_id=tr.ord_id,
                                order_qty=r.qty, price=r.price, last_qty=qty, last_price=px,
                                cum_qty=tr.cum, commission=-fee, commission_asset=fee_ccy,
                                trade_id=trade_id, venue_ts_ms=ts_ms, ts_recv_ns=time.time_ns()))

    def _on_order_row(self, row: dict[str, Any]) -> None:
        """One ``orders`` channel row: its fill (if any, once per tradeId), then its state."""
        tr = self._track_for_row(row)
        ts = int(row.get("uTime") or 0)
        fill_sz = _dec(row.get("fillSz"))
        if fill_sz > 0:
            tid = row.get("tradeId")
            if type(tid) is not str or not tid.isdigit():
                raise ValueError(f"tradeId must be a digit string: {tid!r}")
            self._apply_fill(tr, int(tid), fill_sz, _dec(row.get("fillPx")), _dec(row.get("fillFee")),
                             str(row.get("fillFeeCcy", "")), int(row.get("fillTime") or ts))
        status = self._final_status(tr, row)
        acc = _dec(row.get("accFillSz"))
        if status in (OrdStatus.PARTIALLY_FILLED, OrdStatus.FILLED):
            return  # fills carry these; a missing fill is caught by reconciliation
        if acc > tr.cum:
            # the venue counts fills this adapter has not seen: fetch them before the state
            self._spawn(self._reconcile([tr.req.cl_ord_id]))
            return
        if tr.final or acc < tr.cum or (status is OrdStatus.NEW and tr.status is OrdStatus.PARTIALLY_FILLED):
            return  # a stale push (delayed, or already settled by reconciliation): never go back
        reason = ""
        if status in (OrdStatus.CANCELED, OrdStatus.EXPIRED):
            reason = str(row.get("cancelSource") or row.get("msg") or "")
        self._emit_status(tr, status, reason, ts)

    # -- private link ------------------------------------------------------------------------

    async def _run_private(self) -> None:
        backoff = self.backoff_initial
        first = True
        while not self._closing:
            assert self._session is not None
            try:
                ws = await self._session.ws_connect(self.private_url, autoping=True,
                                                    timeout=aiohttp.ClientWSTimeout(ws_close=1.0))
            except (aiohttp.ClientError, OSError) as exc:
                log.info("%s: private connect failed: %s", self.name, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            reader: asyncio.Task[None] | None = None
            try:
                await self._login(ws)
                await self._subscribe(ws, {"channel": "orders", "instType": self.inst_type})
                self._priv_ws = ws
                backoff = self.backoff_initial
                if not first:
                    self.stats["reconnects"] += 1
                reader = asyncio.create_task(self._read_loop(ws, self._on_private))
                self._priv_up = True
                await self._reconcile(None)
                self._status_changed("private session logged in and reconciled")
                first = False
                await reader
            except VenueError as exc:  # login refused: credentials are wrong, retrying won't help
                self._fatal = exc
                self._ready.set()
                log.error("%s: %s", self.name, exc)
                await ws.close()
                return
            except (_LinkDown, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.info("%s: private link lost: %s", self.name, exc)
            finally:
                if reader is not None:
                    reader.cancel()
                self._priv_ws = None
                self._priv_up = False
                if not ws.closed:
                    await ws.close()
                self._link_lost("private link lost")
            if not self._closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)

    async def _await_event(self, ws: aiohttp.ClientWebSocketResponse, event: str) -> dict[str, Any]:
        """Read until ``{"event": event}`` (or an error event) arrives; other messages dispatched."""
        deadline = asyncio.get_running_loop().time() + self.request_timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise _LinkDown(f"no {event} answer")
            msg = await ws.receive(timeout=left)
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise _LinkDown(f"closed while waiting for {event}")
            if msg.data == "pong":
                continue
            try:
                obj = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                self._malformed("invalid JSON", msg.data)
                continue
            if type(obj) is dict and obj.get("event") in (event, "error"):
                return obj
            if type(obj) is dict and ws is self._priv_ws:
                self._on_private_obj(obj)

    async def _login(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        ts = str(int(time.time()))
        await ws.send_str(_json({"op": "login", "args": [{
            "apiKey": self.api_key, "passphrase": self._passphrase, "timestamp": ts,
            "sign": okx_sign(self._secret, login_prehash(ts))}]}))
        ans = await self._await_event(ws, "login")
        if ans.get("event") != "login" or ans.get("code") != "0":
            raise VenueError(f"{self.name}: login refused: {ans.get('code')} {ans.get('msg')}")

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse, arg: dict[str, str]) -> None:
        await ws.send_str(_json({"op": "subscribe", "args": [arg]}))
        ans = await self._await_event(ws, "subscribe")
        if ans.get("event") != "subscribe":
            raise VenueError(f"{self.name}: subscribe {arg} refused: {ans.get('code')} {ans.get('msg')}")

    async def _read_loop(self, ws: aiohttp.ClientWebSocketResponse, on_msg: Any) -> None:
        """Read until the link drops; "ping" after ``ping_interval`` of silence, drop if no answer."""
        pinged = False
        while True:
            try:
                msg = await ws.receive(timeout=self.ping_interval)
            except TimeoutError:
                if pinged:
                    raise _LinkDown("no pong") from None
                pinged = True
                self.stats["pings"] += 1
                await ws.send_str("ping")
                continue
            pinged = False
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                if msg.data == "pong":
                    continue
                try:
                    on_msg(msg.data)
                except Exception as exc:  # never let one bad message kill the link
                    self._malformed(f"{type(exc).__name__}: {exc}", msg.data)
            else:
                raise _LinkDown(f"websocket {msg.type.name}")

    def _malformed(self, why: str, raw: object) -> None:
        self.stats["malformed"] += 1
        text = raw if isinstance(raw, str) else repr(raw)
        log.warning("%s: malformed venue message (%s): %.200s", self.name, why, text)

    def _on_private(self, raw: str | bytes) -> None:
        obj = orjson.loads(raw)
        if type(obj) is not dict:
            raise ValueError("message is not an object")
        self._on_private_obj(obj)

    def _on_private_obj(self, obj: dict[str, Any]) -> None:
        if "id" in obj and "op" in obj:
            self._on_op_response(obj)
            return
        arg = obj.get("arg")
        if type(arg) is dict and arg.get("channel") == "orders" and "data" in obj:
            data = obj["data"]
            if type(data) is not list:
                raise ValueError("orders data must be a list")
            for row in data:
                if type(row) is not dict:
                    raise ValueError("orders row must be an object")
                try:
                    self._on_order_row(row)
                except (ValueError, TypeError) as exc:
                    self._malformed(str(exc), orjson.dumps(row).decode())
            return
        if "event" in obj:
            if obj.get("event") == "error":
                log.warning("%s: venue error event %s %s", self.name, obj.get("code"), obj.get("msg"))
            return
        raise ValueError("unrecognised private message")

    def _on_op_response(self, obj: dict[str, Any]) -> None:
        req_id = obj.get("id")
        entry = self._pending.pop(req_id, None) if type(req_id) is str else None
        if entry is None:
            late = self._late.pop(req_id, None) if type(req_id) is str else None
            if late is None:
                raise ValueError(f"response to an unknown request id {req_id!r}")
            # the answer to a request already reported UNKNOWN: reconciliation settles the order
            self.stats["late_answers"] += 1
            self._spawn(self._reconcile([late[1]]))
            return
        op, cl, timer = entry
        timer.cancel()
        code = obj.get("code")
        data = obj.get("data")
        row = data[0] if type(data) is list and data and type(data[0]) is dict else {}
        s_code = row.get("sCode", code)
        s_msg = row.get("sMsg", obj.get("msg", ""))
        tr = self._orders.get(cl)
        if op == "order":
            if tr is None:
                raise ValueError(f"order response for an untracked clOrdId {cl!r}")
            if code == "0" and s_code == "0":
                tr.acked = True
                if row.get("ordId"):
                    tr.ord_id = row["ordId"]
                if tr.unknown:  # a late ack after a timeout: the outcome is now known
                    self._spawn(self._reconcile([cl]))
                return
            if s_code == "51016":  # duplicated clOrdId: the first order stands, its reports go on
                self._report(ExecReport(venue=self.name, cl_ord_id=cl, status=OrdStatus.REJECTED,
                                        symbol=tr.req.symbol, side=tr.req.side,
                                        reason=f"{s_code} {s_msg} (duplicate; the first order stands)",
                                        ts_recv_ns=time.time_ns()))
                return
            self._emit_status(tr, OrdStatus.REJECTED, reason=f"{s_code} {s_msg}")
            return
        # cancel-order
        if code == "0" and s_code == "0":
            return  # the orders channel pushes the cancel
        rep = ExecReport(venue=self.name, cl_ord_id=cl, status=OrdStatus.REJECTED,
                         symbol=tr.req.symbol if tr else "", venue_order_id=tr.ord_id if tr else "",
                         cum_qty=tr.cum if tr else _ZERO, reason=f"cancel refused: {s_code} {s_msg}",
                         ts_recv_ns=time.time_ns())
        self._report(rep)

    # -- public link -------------------------------------------------------------------------

    async def _run_public(self) -> None:
        backoff = self.backoff_initial
        while not self._closing:
            assert self._session is not None
            try:
                ws = await self._session.ws_connect(self.public_url, autoping=True,
                                                    timeout=aiohttp.ClientWSTimeout(ws_close=1.0))
            except (aiohttp.ClientError, OSError) as exc:
                log.info("%s: public connect failed: %s", self.name, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            try:
                await ws.send_str(_json({"op": "subscribe", "args": [
                    {"channel": "books", "instId": s} for s in self.symbols]}))
                self._pub_ws = ws
                self._resyncing.clear()  # the subscription above brings every snapshot
                self._pub_up = True
                backoff = self.backoff_initial
                self._status_changed("public books subscribed")
                await self._read_loop(ws, self._on_public)
            except (_LinkDown, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.info("%s: public link lost: %s", self.name, exc)
            finally:
                self._pub_ws = None
                self._pub_up = False
                if not ws.closed:
                    await ws.close()
                self._link_lost("public link lost")
            if not self._closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)

    def _on_public(self, raw: str | bytes) -> None:
        self.stats["md_messages"] += 1
        data = raw.encode() if isinstance(raw, str) else raw
        if data.startswith(b'{"event"'):
            obj = orjson.loads(data)
            if obj.get("event") == "error":
                log.warning("%s: public error event %s %s", self.name, obj.get("code"), obj.get("msg"))
        elif self._resyncing and b'"snapshot"' in data:
            arg = orjson.loads(data).get("arg")
            if type(arg) is dict:
                self._resyncing.discard(arg.get("instId"))
        try:
            self.on_market_data(data, time.time_ns())
        except Exception:
            log.exception("%s: on_market_data raised", self.name)

    async def resync(self, symbol: str) -> None:
        """Resubscribe ``symbol``'s ``books`` channel: OKX answers with a fresh snapshot.

        At most one resubscription per symbol is outstanding: calls made before its snapshot
        arrives do nothing (a decoder asks again at every message while its book is lost)."""
        ws = self._pub_ws
        if ws is None or ws.closed or symbol in self._resyncing:
            return  # a reconnect subscribes (and so snapshots) anyway
        self._resyncing.add(symbol)
        arg = [{"channel": "books", "instId": symbol}]
        await ws.send_str(_json({"op": "unsubscribe", "args": arg}))
        await ws.send_str(_json({"op": "subscribe", "args": arg}))

    async def fetch_snapshot(self, symbol: str) -> bytes | None:
        """OKX sends book snapshots on the stream, not over REST: this asks for one
        (:meth:`resync`) and returns None; the snapshot reaches ``on_market_data``."""
        await self.resync(symbol)
        return None

    # -- status ------------------------------------------------------------------------------

    def _status_changed(self, reason: str) -> None:
        if self.up and self._reported_up is not True:
            self._reported_up = True
            self._ready.set()
            self._call_status(True, reason)

    def _link_lost(self, reason: str) -> None:
        # requests still in flight on the lost session: outcome unknown
        if reason.startswith("private"):
            for req_id in list(self._pending):
                op, cl, timer = self._pending.pop(req_id)
                timer.cancel()
                self._unknown_or_reject(op, cl, "connection lost before the response", sent=True)
        if self._closing:
            return
        if self._reported_up is not False and self._reported_up is not None:
            self._reported_up = False
            self._call_status(False, reason)
        elif self._reported_up is None:
            self._reported_up = False

    def _call_status(self, up: bool, reason: str) -> None:
        try:
            self.on_status(VenueStatus(self.name, up, reason, time.time_ns()))
        except Exception:
            log.exception("%s: on_status raised", self.name)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    # -- REST --------------------------------------------------------------------------------

    async def _rest(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """Signed GET; returns the parsed body ({"code", "msg", "data"})."""
        if self._session is None:
            raise VenueError(f"{self.name}: not started")
        request_path = path + ("?" + urlencode(params) if params else "")
        ts = iso_ms(time.time_ns() // 1_000_000)
        headers = {"OK-ACCESS-KEY": self.api_key,
                   "OK-ACCESS-SIGN": okx_sign(self._secret, rest_prehash(ts, "GET", request_path)),
                   "OK-ACCESS-TIMESTAMP": ts, "OK-ACCESS-PASSPHRASE": self._passphrase}
        async with self._session.get(self.rest_url + request_path, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=self.request_timeout)) as resp:
            body = await resp.read()
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise VenueError(f"{self.name}: REST {path}: HTTP {resp.status}, not JSON") from None
        if type(obj) is not dict or "code" not in obj:
            raise VenueError(f"{self.name}: REST {path}: unexpected body")
        return obj

    def _status_report(self, row: dict[str, Any]) -> ExecReport:
        side = OrderSide.BUY if row.get("side") == "buy" else OrderSide.SELL
        cl = str(row.get("clOrdId", ""))
        tr = self._orders.get(cl)
        cum = _dec(row.get("accFillSz"))
        state_tr = tr if tr is not None else _Track(OrderRequest(cl, "", side, _ZERO, None))
        saved = state_tr.cum
        state_tr.cum = cum
        try:
            status = self._final_status(state_tr, row)
        finally:
            state_tr.cum = saved
        return ExecReport(venue=self.name, cl_ord_id=cl, status=status,
                          symbol=str(row.get("instId", "")), side=side,
                          venue_order_id=str(row.get("ordId", "")), order_qty=_dec(row.get("sz")),
                          price=_dec(row["px"]) if row.get("px") else None,
                          last_price=_dec(row.get("avgPx")), cum_qty=cum,
                          commission=-_dec(row.get("fee")), commission_asset=str(row.get("feeCcy", "")),
                          venue_ts_ms=int(row.get("uTime") or 0), ts_recv_ns=time.time_ns())

    async def order_status(self, symbol: str, cl_ord_id: str) -> ExecReport | None:
        """``GET /api/v5/trade/order``; ``cum_qty`` = accFillSz, ``last_price`` = avgPx,
        ``commission`` = the order's total fee (positive = paid). None if the venue has no such order."""
        ans = await self._rest("/api/v5/trade/order", {"instId": symbol, "clOrdId": cl_ord_id})
        if ans["code"] in ("51603", "51001") or (ans["code"] == "0" and not ans.get("data")):
            return None
        if ans["code"] != "0":
            raise VenueError(f"{self.name}: order status refused: {ans['code']} {ans.get('msg')}")
        return self._status_report(ans["data"][0])

    async def open_orders(self, symbol: str) -> list[ExecReport]:
        ans = await self._rest("/api/v5/trade/orders-pending",
                               {"instType": self.inst_type, "instId": symbol})
        if ans["code"] != "0":
            raise VenueError(f"{self.name}: open orders refused: {ans['code']} {ans.get('msg')}")
        return [self._status_report(r) for r in ans.get("data") or []]

    async def fills(self, symbol: str, ord_id: str = "") -> list[dict[str, Any]]:
        """``GET /api/v5/trade/fills`` rows (tradeId, fillPx, fillSz, fee, feeCcy, ordId, clOrdId, ts)."""
        params = {"instType": self.inst_type, "instId": symbol}
        if ord_id:
            params["ordId"] = ord_id
        ans = await self._rest("/api/v5/trade/fills", params)
        if ans["code"] != "0":
            raise VenueError(f"{self.name}: fills refused: {ans['code']} {ans.get('msg')}")
        return list(ans.get("data") or [])

    async def balances(self) -> dict[str, Decimal]:
        """``GET /api/v5/account/balance``: cash balance per currency."""
        ans = await self._rest("/api/v5/account/balance", {})
        if ans["code"] != "0":
            raise VenueError(f"{self.name}: balance refused: {ans['code']} {ans.get('msg')}")
        out: dict[str, Decimal] = {}
        for acct in ans.get("data") or []:
            for d in acct.get("details") or []:
                out[d["ccy"]] = _dec(d.get("cashBal"))
        return out

    async def _reconcile(self, cl_ord_ids: list[str] | None) -> None:
        """Bring orders not known to be final up to the venue's view (fills first, then state)."""
        todo = [tr for cl, tr in list(self._orders.items())
                if (cl_ord_ids is None or cl in cl_ord_ids) and (tr.unknown or not tr.final)]
        for tr in todo:
            r = tr.req
            try:
                ans = await self._rest("/api/v5/trade/order", {"instId": r.symbol, "clOrdId": r.cl_ord_id})
                if ans["code"] == "51603" or (ans["code"] == "0" and not ans.get("data")):
                    if not tr.acked:  # never reached the venue
                        self._emit_status(tr, OrdStatus.REJECTED,
                                          reason="51603 Order does not exist (never reached the venue)")
                    continue
                if ans["code"] != "0":
                    log.warning("%s: reconcile %s: %s %s", self.name, r.cl_ord_id, ans["code"], ans.get("msg"))
                    continue
                row = ans["data"][0]
                tr.ord_id = str(row.get("ordId", tr.ord_id))
                tr.acked = True
                acc = _dec(row.get("accFillSz"))
                if acc > tr.cum:
                    fills = await self.fills(r.symbol, tr.ord_id)
                    for f in sorted(fills, key=lambda f: int(f.get("tradeId", "0"))):
                        self._apply_fill(tr, int(f["tradeId"]), _dec(f.get("fillSz")),
                                         _dec(f.get("fillPx")), _dec(f.get("fee")),
                                         str(f.get("feeCcy", "")), int(f.get("ts") or 0))
                status = self._final_status(tr, row)
                if status not in (OrdStatus.PARTIALLY_FILLED, OrdStatus.FILLED) or tr.unknown:
                    if status in (OrdStatus.PARTIALLY_FILLED, OrdStatus.FILLED):
                        tr.status = None  # re-announce the known state after an UNKNOWN
                    self._emit_status(tr, status, ts_ms=int(row.get("uTime") or 0))
                self.stats["reconciled"] += 1
            except (aiohttp.ClientError, OSError, TimeoutError, VenueError, ValueError, KeyError) as exc:
                log.warning("%s: reconcile %s failed: %s", self.name, r.cl_ord_id, exc)
