"""Binance-style venue adapter: signed REST order entry, user-data stream, combined market data.

:class:`BinanceAdapter` keeps the rules of :mod:`rfqcore.venues.base`:

* **Order entry**: ``POST /api/v3/order`` signed with HMAC-SHA256 over the query string
  (``timestamp`` from the venue clock offset measured at start, ``recvWindow``),
  ``newOrderRespType=FULL``. A Binance error answer becomes one ``REJECTED`` report with
  ``reason = "<code> <msg>"``; a transport failure or timeout becomes one ``UNKNOWN`` report and
  the order is reconciled once the venue answers again.
* **Reports** come from three places — the order's REST answer, the user-data stream
  (``executionReport``) and reconciliation (``GET /api/v3/order`` + ``/api/v3/myTrades``) —
  and are merged per client order id: a fill is reported once per venue trade id; a status
  report only when the status changes; nothing after a terminal status except fills not yet
  seen. ``cum_qty`` is the sum of the fills reported. A Binance ``EXPIRED`` is ``EXPIRED`` for
  FOK and ``CANCELED`` otherwise (the unfilled rest of an IOC or market order).
* **Cancel**: ``DELETE /api/v3/order``; the ``CANCELED`` report comes through the same merge.
  A refused cancel (``-2011``) is reported with the order's last known status (``UNKNOWN`` if
  none) and ``reason = "cancel rejected: -2011 Unknown order sent."``.
* **Links**: the user-data stream (``POST /api/v3/userDataStream`` → ``/ws/<listenKey>``,
  ``PUT`` keepalive), the combined market-data stream (``/stream?streams=...``, every message
  passed raw to ``on_market_data``) and the REST session. Losing any → ``on_status(up=False)``
  at once; each stream reconnects with exponential backoff; when all are back, every order not
  in a terminal state is reconciled, then ``on_status(up=True)``.
* **Malformed venue messages** are counted in :attr:`BinanceAdapter.stats` and logged with the
  reason; the loops never die on them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
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

__all__ = ["BinanceAdapter", "AdapterStats", "BinanceApiError", "VenueUnavailable", "sign", "total_params"]

log = logging.getLogger(__name__)

_TERMINAL = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})
_STATUS = {"NEW": OrdStatus.NEW, "PARTIALLY_FILLED": OrdStatus.PARTIALLY_FILLED, "FILLED": OrdStatus.FILLED,
           "CANCELED": OrdStatus.CANCELED, "REJECTED": OrdStatus.REJECTED, "EXPIRED": OrdStatus.EXPIRED,
           "PENDING_CANCEL": OrdStatus.NEW, "EXPIRED_IN_MATCH": OrdStatus.EXPIRED}


class BinanceApiError(Exception):
    """A Binance error answer (``{"code", "msg"}``)."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.status, self.code, self.msg = status, code, msg


class VenueUnavailable(ConnectionError):
    """The venue could not be reached (transport failure or timeout): the outcome is unknown."""


class _Malformed(ValueError):
    pass


@dataclass
class AdapterStats:
    reports: int = 0
    duplicates: int = 0          # reports dropped by the merge (same trade id / same status)
    malformed: int = 0           # venue messages refused (logged with the reason)
    foreign: int = 0             # execution reports of orders this adapter did not place
    unknown: int = 0             # UNKNOWN reports (transport failures)
    reconciled: int = 0          # orders queried after a reconnect
    reconnects: int = 0          # stream connections made after the first
    market_messages: int = 0


@dataclass
class _Tracked:
    req: OrderRequest
    venue_order_id: str = ""
    status: OrdStatus | None = None
    cum_qty: Decimal = Decimal(0)
    trade_ids: set[int] = field(default_factory=set)
    inflight: bool = False      # the new-order request has not been answered yet


def _dec(d: dict[str, Any], key: str) -> Decimal:
    v = d.get(key)
    if type(v) is not str:
        raise _Malformed(f"{key!r} must be a decimal string, got {v!r}")
    try:
        out = Decimal(v)
    except InvalidOperation:
        raise _Malformed(f"{key!r} is not a decimal: {v!r}") from None
    if not out.is_finite() or out < 0:
        raise _Malformed(f"{key!r} must be a finite decimal >= 0, got {v!r}")
    return out


def _int(d: dict[str, Any], key: str) -> int:
    v = d.get(key)
    if type(v) is not int:
        raise _Malformed(f"{key!r} must be an integer, got {v!r}")
    return v


def _str(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    if type(v) is not str:
        raise _Malformed(f"{key!r} must be a string, got {v!r}")
    return v


def _fmt(d: Decimal) -> str:
    return format(d, "f")


def total_params(query: str, body: str) -> str:
    """Binance's *totalParams*: the query string followed directly by the request body, both as
    sent, with the ``signature`` parameter left out."""
    def strip(s: str) -> str:
        return "&".join(p for p in s.split("&") if p and not p.startswith("signature="))
    return strip(query) + strip(body)


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed with ``secret`` (Binance's HMAC API-key signature)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class BinanceAdapter(VenueAdapter):
    """One Binance-style venue (see the module doc). ``rest_url`` like ``http://127.0.0.1:PORT``
    (``https://api.binance.com``), ``ws_url`` like ``ws://127.0.0.1:PORT``; ``symbols`` the
    venue symbols whose market data is streamed (``market_streams`` of each)."""

    def __init__(self, name: str = "binance", *, rest_url: str, ws_url: str, api_key: str, secret: str,
                 symbols: Sequence[str], on_report: ReportCallback, on_status: StatusCallback | None = None,
                 on_market_data: MarketDataCallback | None = None,
                 market_streams: Sequence[str] = ("depth@100ms", "trade"), recv_window_ms: int = 5000,
                 request_timeout: float = 5.0, backoff: tuple[float, float] = (0.05, 2.0),
                 keepalive_s: float = 1800.0, start_timeout: float = 15.0) -> None:
        super().__init__(name, on_report=on_report, on_status=on_status, on_market_data=on_market_data)
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url.rstrip("/")
        self.api_key = api_key
        self.secret = secret
        self.symbols = list(symbols)
        self.market_streams = [f"{s.lower()}@{k}" for s in self.symbols for k in market_streams]
        self.recv_window_ms = recv_window_ms
        self.request_timeout = request_timeout
        self.backoff = backoff
        self.keepalive_s = keepalive_s
        self.start_timeout = start_timeout
        self.stats = AdapterStats()
        self.up = False
        self.last_error = ""
        self._orders: dict[str, _Tracked] = {}
        self._links = {"user": False, "market": not self.market_streams, "rest": True}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._offset_ms = 0
        self._listen_key = ""
        self._ws: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self._recovering: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._up_event = asyncio.Event()
        self._connected_once: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self.up = False
        self._up_event = asyncio.Event()
        self._links = {"user": False, "market": not self.market_streams, "rest": True}
        self._listen_key = ""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.request_timeout))
        try:
            t = await self._public("GET", "/api/v3/time")
            self._offset_ms = int(t["serverTime"]) - time.time_ns() // 1_000_000
        except (VenueUnavailable, BinanceApiError, KeyError, TypeError, ValueError) as e:
            await self._session.close()
            raise VenueError(f"{self.name}: cannot reach {self.rest_url}: {e}") from None
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._user_loop()), loop.create_task(self._keepalive_loop())]
        if self.market_streams:
            self._tasks.append(loop.create_task(self._market_loop()))
        try:
            await asyncio.wait_for(self._up_event.wait(), self.start_timeout)
        except TimeoutError:
            await self.stop()
            raise VenueError(f"{self.name}: streams not up after {self.start_timeout} s ({self.last_error})") from None

    async def stop(self) -> None:
        if self._stopping and self._session is None:
            return
        self._stopping = True
        for t in [*self._tasks, self._recovering, self._probe]:
            if t is not None:
                t.cancel()
        for t in [*self._tasks, self._recovering, self._probe]:
            if t is not None:
                try:
                    await t
                except (asyncio.CancelledError, Exception):
                    pass
        self._tasks = []
        for ws in list(self._ws.values()):
            await ws.close()
        self._ws.clear()
        if self._session is not None:
            if self._listen_key:
                try:
                    await self._public("DELETE", "/api/v3/userDataStream", {"listenKey": self._listen_key},
                                       key=True)
                except (VenueUnavailable, BinanceApiError):
                    pass
            await self._session.close()
            self._session = None
        self.up = False

    # -- REST --------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, query: str, *, key: bool) -> Any:
        if self._session is None:
            raise VenueError(f"{self.name}: not started")
        headers = {"X-MBX-APIKEY": self.api_key} if key else {}
        url = f"{self.rest_url}{path}" + (f"?{query}" if query else "")
        try:
            async with self._session.request(method, url, headers=headers) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise VenueUnavailable(f"{method} {path}: {type(e).__name__}: {e}") from None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            if status >= 500:
                raise VenueUnavailable(f"{method} {path}: HTTP {status}") from None
            self.stats.malformed += 1
            log.warning("%s: %s %s: answer is not JSON (HTTP %s): %r", self.name, method, path, status, body[:200])
            raise BinanceApiError(status, -1000, f"malformed answer (HTTP {status})") from None
        if status >= 400:
            if isinstance(data, dict) and type(data.get("code")) is int:
                raise BinanceApiError(status, data["code"], str(data.get("msg", "")))
            if status >= 500:
                raise VenueUnavailable(f"{method} {path}: HTTP {status}")
            raise BinanceApiError(status, -1000, f"HTTP {status}: {body[:200]!r}")
        return data

    async def _public(self, method: str, path: str, params: dict[str, str] | None = None, *,
                      key: bool = False) -> Any:
        return await self._request(method, path, urlencode(params or {}), key=key)

    async def _signed(self, method: str, path: str, params: dict[str, str]) -> Any:
        q = dict(params)
        q["recvWindow"] = str(self.recv_window_ms)
        q["timestamp"] = str(time.time_ns() // 1_000_000 + self._offset_ms)
        query = urlencode(q)
        return await self._request(method, path, f"{query}&signature={sign(self.secret, query)}", key=True)

    # -- reports -----------------------------------------------------------------------------

    def _emit(self, rep: ExecReport) -> None:
        self.stats.reports += 1
        try:
            self.on_report(rep)
        except Exception:  # the caller's bug must not kill our loops
            log.exception("%s: on_report raised", self.name)

    def _base(self, t: _Tracked, status: OrdStatus, **kw: Any) -> ExecReport:
        r = t.req
        return ExecReport(venue=self.name, cl_ord_id=r.cl_ord_id, status=status, symbol=r.symbol, side=r.side,
                          venue_order_id=t.venue_order_id, order_qty=r.qty, price=r.price,
                          ts_recv_ns=time.time_ns(), **kw)

    def _map_status(self, t: _Tracked, venue_status: str) -> OrdStatus:
        st = _STATUS.get(venue_status)
        if st is None:
            raise _Malformed(f"unknown order status {venue_status!r}")
        if st == OrdStatus.EXPIRED and t.req.tif != TimeInForce.FOK:
            return OrdStatus.CANCELED
        return st

    def _fill(self, t: _Tracked, trade_id: int, qty: Decimal, price: Decimal, fee: Decimal, fee_asset: str,
              ts_ms: int) -> None:
        if trade_id in t.trade_ids:
            self.stats.duplicates += 1
            return
        t.trade_ids.add(trade_id)
        t.cum_qty += qty
        st = OrdStatus.FILLED if t.cum_qty >= t.req.qty else OrdStatus.PARTIALLY_FILLED
        if t.status not in _TERMINAL or st == OrdStatus.FILLED:
            t.status = st
        self._emit(self._base(t, st, last_qty=qty, last_price=price, cum_qty=t.cum_qty, commission=fee,
                              commission_asset=fee_asset, trade_id=trade_id, venue_ts_ms=ts_ms))

    def _status(self, t: _Tracked, st: OrdStatus, ts_ms: int = 0, reason: str = "") -> None:
        if st in (OrdStatus.PARTIALLY_FILLED, OrdStatus.FILLED):
            return  # fill states are reported by the fills themselves
        if t.status == st or t.status in _TERMINAL or (st == OrdStatus.NEW and t.status == OrdStatus.PARTIALLY_FILLED):
            self.stats.duplicates += 1
            return
        t.status = st
        if st == OrdStatus.UNKNOWN:
            self.stats.unknown += 1
        self._emit(self._base(t, st, cum_qty=t.cum_qty, reason=reason, venue_ts_ms=ts_ms))

    def _apply_order_json(self, t: _Tracked, d: dict[str, Any], fills: list[dict[str, Any]] | None) -> None:
        """A REST order answer (new order FULL / query / cancel): its fills, then its status."""
        t.venue_order_id = str(_int(d, "orderId"))
        st = self._map_status(t, _str(d, "status"))
        ts = d.get("transactTime") or d.get("updateTime") or 0
        for f in fills or []:
            self._fill(t, _int(f, "tradeId"), _dec(f, "qty"), _dec(f, "price"), _dec(f, "commission"),
                       _str(f, "commissionAsset"), ts if type(ts) is int else 0)
        self._status(t, st, ts if type(ts) is int else 0)

    # -- order entry -------------------------------------------------------------------------

    def _order_params(self, req: OrderRequest) -> dict[str, str]:
        if req.qty <= 0 or not req.qty.is_finite():
            raise VenueError(f"{self.name}: order quantity must be > 0, got {req.qty}")
        p = {"symbol": req.symbol, "side": req.side.value, "quantity": _fmt(req.qty),
             "newClientOrderId": req.cl_ord_id, "newOrderRespType": "FULL"}
        if req.price is None:
            p["type"] = "MARKET"
        else:
            p.update(type="LIMIT", timeInForce=req.tif.value, price=_fmt(req.price))
        return p

    async def place(self, req: OrderRequest) -> None:
        params = self._order_params(req)
        first = self._orders.get(req.cl_ord_id)
        if first is not None:  # the venue refuses a reused id; report its answer, keep the first order
            try:
                await self._signed("POST", "/api/v3/order", params)
            except VenueUnavailable as e:
                self._transport_lost(str(e))
            except BinanceApiError as e:
                self._emit(self._base(first, OrdStatus.REJECTED, cum_qty=first.cum_qty, reason=f"{e.code} {e.msg}"))
            return
        t = self._orders[req.cl_ord_id] = _Tracked(req, inflight=True)
        try:
            d = await self._signed("POST", "/api/v3/order", params)
        except VenueUnavailable as e:
            t.inflight = False
            self._transport_lost(str(e))
            self._status(t, OrdStatus.UNKNOWN, reason=f"transport: {e}")
            return
        except BinanceApiError as e:
            t.inflight = False
            self._status(t, OrdStatus.REJECTED, reason=f"{e.code} {e.msg}")
            return
        t.inflight = False
        try:
            if not isinstance(d, dict):
                raise _Malformed("order answer is not an object")
            self._apply_order_json(t, d, d.get("fills") if isinstance(d.get("fills"), list) else None)
        except _Malformed as e:
            self._malformed("order answer", str(e), d)
            self._status(t, OrdStatus.UNKNOWN, reason=f"malformed answer: {e}")
            self._schedule_recovery()

    def adopt(self, req: OrderRequest) -> None:
        if req.cl_ord_id not in self._orders:
            self._orders[req.cl_ord_id] = _Tracked(req)  # reconciled (GET /api/v3/order) before up

    async def cancel(self, symbol: str, cl_ord_id: str) -> None:
        t = self._orders.get(cl_ord_id)
        try:
            d = await self._signed("DELETE", "/api/v3/order", {"symbol": symbol, "origClientOrderId": cl_ord_id})
        except VenueUnavailable as e:
            self._transport_lost(str(e))
            return  # the order is reconciled after the reconnect
        except BinanceApiError as e:
            if t is None:
                t = _Tracked(OrderRequest(cl_ord_id, symbol, OrderSide.BUY, Decimal(0), None))
            self._emit(self._base(t, t.status or OrdStatus.UNKNOWN, cum_qty=t.cum_qty,
                                  reason=f"cancel rejected: {e.code} {e.msg}"))
            return
        if t is None:
            return
        try:
            if not isinstance(d, dict):
                raise _Malformed("cancel answer is not an object")
            self._apply_order_json(t, d, None)
        except _Malformed as e:
            self._malformed("cancel answer", str(e), d)

    async def order_status(self, symbol: str, cl_ord_id: str) -> ExecReport | None:
        try:
            d = await self._signed("GET", "/api/v3/order", {"symbol": symbol, "origClientOrderId": cl_ord_id})
        except BinanceApiError as e:
            if e.code == -2013:
                return None
            raise VenueError(f"{self.name}: order status of {cl_ord_id}: {e}") from None
        t = self._orders.get(cl_ord_id) or _Tracked(self._req_from_json(d))
        return self._snapshot_report(t, d)

    async def open_orders(self, symbol: str) -> list[ExecReport]:
        data = await self._signed("GET", "/api/v3/openOrders", {"symbol": symbol})
        if not isinstance(data, list):
            raise VenueError(f"{self.name}: openOrders answer is not a list")
        out = []
        for d in data:
            try:
                cl = _str(d, "clientOrderId")
                t = self._orders.get(cl) or _Tracked(self._req_from_json(d))
                out.append(self._snapshot_report(t, d))
            except (_Malformed, AttributeError) as e:
                self._malformed("openOrders entry", str(e), d)
        return out

    def _req_from_json(self, d: Any) -> OrderRequest:
        if not isinstance(d, dict):
            raise _Malformed("order is not an object")
        tif = d.get("timeInForce")
        return OrderRequest(_str(d, "clientOrderId"), _str(d, "symbol"), OrderSide(_str(d, "side")),
                            _dec(d, "origQty"), None if d.get("type") == "MARKET" else _dec(d, "price"),
                            TimeInForce(tif) if tif in ("GTC", "IOC", "FOK") else TimeInForce.GTC)

    def _snapshot_report(self, t: _Tracked, d: dict[str, Any]) -> ExecReport:
        """The venue's view of one order as a report (not emitted, not merged)."""
        return ExecReport(venue=self.name, cl_ord_id=_str(d, "clientOrderId"), status=self._map_status(t, _str(d, "status")),
                          symbol=_str(d, "symbol"), side=OrderSide(_str(d, "side")),
                          venue_order_id=str(_int(d, "orderId")), order_qty=_dec(d, "origQty"),
                          price=t.req.price, cum_qty=_dec(d, "executedQty"),
                          venue_ts_ms=int(d.get("updateTime") or 0), ts_recv_ns=time.time_ns())

    async def fetch_snapshot(self, symbol: str) -> bytes | None:
        if self._session is None:
            raise VenueError(f"{self.name}: not started")
        url = f"{self.rest_url}/api/v3/depth?" + urlencode({"symbol": symbol, "limit": "5000"})
        try:
            async with self._session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise VenueError(f"{self.name}: depth snapshot of {symbol}: HTTP {resp.status} {body[:200]!r}")
                return body
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise VenueUnavailable(f"depth snapshot: {type(e).__name__}: {e}") from None

    # -- link state and reconciliation ---------------------------------------------------------

    def _malformed(self, where: str, reason: str, raw: object) -> None:
        self.stats.malformed += 1
        self.last_error = f"malformed {where}: {reason}"
        log.warning("%s: malformed %s (%s): %.200r", self.name, where, reason, raw)

    def _set_link(self, link: str, ok: bool, reason: str = "") -> None:
        self._links[link] = ok
        if not ok:
            self.last_error = reason
            if self.up:
                self.up = False
                self.on_status(VenueStatus(self.name, False, reason, time.time_ns()))
        elif all(self._links.values()) and not self.up:
            self._schedule_recovery()

    def _transport_lost(self, reason: str) -> None:
        self._set_link("rest", False, f"order entry: {reason}")
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._rest_probe())

    async def _rest_probe(self) -> None:
        delay = self.backoff[0]
        while not self._stopping:
            await asyncio.sleep(delay)
            try:
                await self._public("GET", "/api/v3/ping")
            except (VenueUnavailable, BinanceApiError):
                delay = min(delay * 2, self.backoff[1])
                continue
            self._set_link("rest", True)
            return

    def _schedule_recovery(self) -> None:
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """Reconcile every order not in a terminal state; then report up (if still all linked)."""
        try:
            await self.reconcile()
        except VenueUnavailable as e:  # the REST probe reschedules the recovery
            log.warning("%s: reconcile interrupted: %s", self.name, e)
            self._transport_lost(f"reconcile: {e}")
            return
        except (BinanceApiError, VenueError) as e:
            self.last_error = f"reconcile: {e}"
            log.warning("%s: reconcile failed (%s); retrying", self.name, e)
            await asyncio.sleep(self.backoff[1])
            if not self._stopping:
                loop = asyncio.get_running_loop()
                self._recovering = loop.create_task(self._recover())
            return
        if all(self._links.values()) and not self.up and not self._stopping:
            self.up = True
            self._up_event.set()
            self.on_status(VenueStatus(self.name, True, "", time.time_ns()))

    async def reconcile(self) -> None:
        """Bring every order not in a terminal state to the venue's view: fills from
        ``myTrades`` (each trade id once), then the status from ``GET /api/v3/order``; an order
        the venue does not know (``-2013``) never reached it and is reported ``REJECTED``."""
        for cl, t in list(self._orders.items()):
            if t.status in _TERMINAL or t.inflight:  # in flight: its answer (or UNKNOWN) is still to come
                continue
            self.stats.reconciled += 1
            try:
                d = await self._signed("GET", "/api/v3/order", {"symbol": t.req.symbol, "origClientOrderId": cl})
            except BinanceApiError as e:
                if e.code == -2013:
                    self._status(t, OrdStatus.REJECTED, reason=f"not at the venue after reconnect: {e.code} {e.msg}")
                    continue
                raise
            try:
                t.venue_order_id = str(_int(d, "orderId"))
                if _dec(d, "executedQty") > t.cum_qty:
                    trades = await self._signed("GET", "/api/v3/myTrades",
                                                {"symbol": t.req.symbol, "orderId": t.venue_order_id})
                    for f in trades if isinstance(trades, list) else []:
                        self._fill(t, _int(f, "id"), _dec(f, "qty"), _dec(f, "price"), _dec(f, "commission"),
                                   _str(f, "commissionAsset"), _int(f, "time"))
                self._apply_order_json(t, d, None)
            except _Malformed as e:
                self._malformed("order during reconcile", str(e), d)

    # -- streams -----------------------------------------------------------------------------

    async def _connect(self, link: str, url: str) -> aiohttp.ClientWebSocketResponse:
        assert self._session is not None
        ws = await self._session.ws_connect(url, heartbeat=20, timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
        if link in self._connected_once:
            self.stats.reconnects += 1
        self._connected_once.add(link)
        self._ws[link] = ws
        return ws

    async def _stream_loop(self, link: str) -> None:
        delay = self.backoff[0]
        while not self._stopping:
            reason = "closed"
            try:
                if link == "user":
                    d = await self._public("POST", "/api/v3/userDataStream", key=True)
                    if not isinstance(d, dict) or type(d.get("listenKey")) is not str:
                        raise _Malformed(f"listenKey answer: {d!r}")
                    self._listen_key = d["listenKey"]
                    ws = await self._connect(link, f"{self.ws_url}/ws/{self._listen_key}")
                else:
                    ws = await self._connect(link, f"{self.ws_url}/stream?streams={'/'.join(self.market_streams)}")
                delay = self.backoff[0]
                self._set_link(link, True)
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        if link == "user":
                            self._on_user_message(msg.data)
                        else:
                            self.stats.market_messages += 1
                            try:
                                self.on_market_data(msg.data.encode(), time.time_ns())
                            except Exception:
                                log.exception("%s: on_market_data raised", self.name)
                    elif msg.type == aiohttp.WSMsgType.BINARY:
                        self._malformed(f"{link} stream message", "binary frame", msg.data)
                    elif msg.type == aiohttp.WSMsgType.ERROR:
                        reason = f"error {ws.exception()}"
                        break
                if ws.close_code is not None:
                    reason = f"closed by the venue (code {ws.close_code})"
            except (VenueUnavailable, BinanceApiError, aiohttp.ClientError, TimeoutError, OSError, _Malformed) as e:
                reason = f"{type(e).__name__}: {e}"
            finally:
                self._ws.pop(link, None)
            if self._stopping:
                return
            self._set_link(link, False, f"{link} stream: {reason}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def _user_loop(self) -> None:
        await self._stream_loop("user")

    async def _market_loop(self) -> None:
        await self._stream_loop("market")

    async def _keepalive_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.keepalive_s)
            if not self._listen_key:
                continue
            try:
                await self._public("PUT", "/api/v3/userDataStream", {"listenKey": self._listen_key}, key=True)
            except BinanceApiError as e:  # expired: make a new one
                log.warning("%s: listenKey keepalive refused (%s); reconnecting the user stream", self.name, e)
                ws = self._ws.get("user")
                if ws is not None:
                    await ws.close()
            except VenueUnavailable as e:
                log.warning("%s: listenKey keepalive failed: %s", self.name, e)

    def _on_user_message(self, raw: str) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            self._malformed("user-data message", f"invalid JSON: {e}", raw)
            return
        if not isinstance(msg, dict):
            self._malformed("user-data message", "not a JSON object", raw)
            return
        ev = msg.get("e")
        if ev != "executionReport":
            if ev in ("outboundAccountPosition", "balanceUpdate", "listStatus", "listenKeyExpired"):
                if ev == "listenKeyExpired":
                    ws = self._ws.get("user")
                    if ws is not None:
                        asyncio.get_running_loop().create_task(ws.close())
                return
            self._malformed("user-data message", f"unknown event type {ev!r}", raw)
            return
        try:
            x = _str(msg, "x")
            orig = msg.get("C")
            cl = orig if x == "CANCELED" and isinstance(orig, str) and orig else _str(msg, "c")
            t = self._orders.get(cl)
            if t is None:
                self.stats.foreign += 1
                side = _str(msg, "S")
                if side not in ("BUY", "SELL"):
                    raise _Malformed(f"'S' must be BUY or SELL, got {side!r}")
                tif = msg.get("f")
                t = _Tracked(OrderRequest(cl, _str(msg, "s"), OrderSide(side), _dec(msg, "q"),
                                          None if msg.get("o") == "MARKET" else _dec(msg, "p"),
                                          TimeInForce(tif) if tif in ("GTC", "IOC", "FOK") else TimeInForce.GTC))
                self._orders[cl] = t
            t.venue_order_id = str(_int(msg, "i"))
            st = self._map_status(t, _str(msg, "X"))
            ts = _int(msg, "E")
            if x == "TRADE":
                n = msg.get("N")
                self._fill(t, _int(msg, "t"), _dec(msg, "l"), _dec(msg, "L"), _dec(msg, "n"),
                           n if isinstance(n, str) else "", _int(msg, "T"))
            elif x in ("NEW", "CANCELED", "EXPIRED", "REJECTED", "TRADE_PREVENTION"):
                reason = "" if msg.get("r") in (None, "NONE") else str(msg.get("r"))
                self._status(t, st, ts, reason)
            else:
                raise _Malformed(f"unknown execution type {x!r}")
        except (_Malformed, ValueError) as e:
            self._malformed("executionReport", str(e), raw)
