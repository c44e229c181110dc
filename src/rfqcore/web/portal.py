"""The RFQ portal for client traders: a JSON API under ``/api/`` and a small page under
``/portal/``, served by the desk's HTTP server (docs/web.md).

A portal user (``[[portal_user]]`` in the RFQ settings: a name, the client it trades for, an
argon2id password hash) logs in with ``POST /api/login`` and gets a session cookie (HttpOnly,
SameSite=Strict, Secure over TLS) and a CSRF token; every state-changing request must carry
the token in ``X-CSRF-Token``. RFQs and accepts go through :class:`rfqcore.engine.Engine`'s
``request_quote`` / ``accept``: the same core, risk checks and reject reasons as every other
gateway. The blotter is built from the engine's decoded RFQ events (whatever gateway the RFQ
came through), kept per client, and with a :class:`~rfqcore.web.blotter_store.BlotterStore`
(a journaled desk) kept across restarts; every lookup is keyed by the session's client, so a user sees
and can hit only its own client's quotes.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from aiohttp import web

from rfqcore.engine import Engine
from rfqcore.records import ClientSide, QuoteEnd
from rfqcore.rfq import AcceptRejected, ApprovalPending, Execution, Quote, QuoteEnded, RfqRejected
from rfqcore.rfqconfig import RfqSettings
from rfqcore.units import client_side, from_units, to_units
from rfqcore.web.auth import (
    SECURITY_HEADERS,
    BadRequest,
    LoginApp,
    LoginLimiter,
    Session,
    SessionStore,
    Sessions,
    decimal_field,
    hash_password,
    id_field,
    name_field,
    read_body,
)
from rfqcore.web.blotter_store import BlotterStore

__all__ = ["Blotter", "LoginLimiter", "Portal", "Sessions", "hash_password"]

log = logging.getLogger("rfqcore.web.portal")

COOKIE: Final = "rfqcore_session"
_STATIC: Final = {"": ("index.html", "text/html"), "index.html": ("index.html", "text/html"),
                  "portal.js": ("portal.js", "text/javascript"), "portal.css": ("portal.css", "text/css")}
_SIDE_NAMES: Final[dict[int, str]] = {ClientSide.BUY: "buy", ClientSide.SELL: "sell", ClientSide.TWO_WAY: "two-way"}
CSV_COLUMNS: Final = ("time", "type", "instrument", "rfq_id", "quote_id", "trade_id", "side", "qty", "price",
                      "buy_price", "buy_qty", "sell_price", "sell_qty", "notional", "fee", "currency", "reason",
                      "valid_until")


# -- blotter ----------------------------------------------------------------------------------


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dec(raw: int | None, decimals: int | None) -> str | None:
    return None if raw is None or decimals is None else str(from_units(raw, decimals))


def _client_side(side: object) -> int:
    """A request's side, spelled as the engine takes it (:func:`rfqcore.units.client_side`);
    only names over HTTP, never raw codes."""
    if not isinstance(side, str):
        raise BadRequest(f"side must be \"buy\", \"sell\" or \"two-way\", got {side!r}")
    try:
        return client_side(side)
    except ValueError as e:
        raise BadRequest(str(e)) from None


def _side(code: int) -> str:
    return _SIDE_NAMES.get(int(code), str(code))


def quote_json(q: Quote) -> dict[str, Any]:
    """A firm quote as the API gives it (ids as strings: they exceed JavaScript's exact integers)."""
    return {"quote_id": str(q.quote_id), "rfq_id": str(q.rfq_id), "instrument": q.instrument, "base": q.base,
            "currency": q.currency, "valid_until": _iso(q.valid_until),
            "expires_in_ms": max((q.valid_until - time.time_ns()) // 1_000_000, 0), "partial_ok": q.partial_ok,
            "sides": [{"side": _side(s.side), "price": _dec(s.price_raw, q.price_decimals),
                       "qty": _dec(s.qty_raw, q.qty_decimals)} for s in q.sides]}


def fill_json(x: Execution) -> dict[str, Any]:
    return {"trade_id": str(x.trade_id), "quote_id": str(x.quote_id), "rfq_id": str(x.rfq_id),
            "instrument": x.instrument, "side": _side(x.side), "qty": _dec(x.qty_raw, x.qty_decimals),
            "price": _dec(x.price_raw, x.price_decimals), "notional": _dec(x.notional_raw, x.money_decimals),
            "fee": _dec(x.fee_raw, x.money_decimals), "currency": x.currency, "time": _iso(x.core_time)}


def event_row(ev: object, registry: Any) -> tuple[tuple[str, int], dict[str, Any]] | None:
    """(idempotency key, blotter row) of an engine event, or None for events the blotter skips."""
    row: dict[str, Any] = dict.fromkeys(CSV_COLUMNS)
    if isinstance(ev, Quote):
        row.update(type="quote", instrument=ev.instrument, rfq_id=str(ev.rfq_id), quote_id=str(ev.quote_id),
                   side="two-way" if len(ev.sides) > 1 else _side(ev.sides[0].side) if ev.sides else None,
                   buy_price=_dec(ev.buy_price_raw, ev.price_decimals), buy_qty=_dec(ev.buy_qty_raw, ev.qty_decimals),
                   sell_price=_dec(ev.sell_price_raw, ev.price_decimals),
                   sell_qty=_dec(ev.sell_qty_raw, ev.qty_decimals), currency=ev.currency,
                   valid_until=_iso(ev.valid_until), time=_iso(ev.core_time or time.time_ns()))
        return ("quote", ev.quote_id), row
    if isinstance(ev, Execution):
        row.update(fill_json(ev), type="fill")
        return ("fill", ev.trade_id), row
    if isinstance(ev, RfqRejected):
        row.update(type="rfq_rejected", instrument=_composite_name(registry, ev.composite), rfq_id=str(ev.rfq_id),
                   side=_side(ev.side), reason=ev.reason_name, time=_iso(time.time_ns()))
        return ("rfq_rejected", ev.rfq_id), row
    if isinstance(ev, AcceptRejected):
        row.update(type="accept_rejected", instrument=_composite_name(registry, ev.composite),
                   quote_id=str(ev.quote_id), side=_side(ev.side), reason=ev.reason_name, time=_iso(time.time_ns()))
        return ("accept_rejected", ev.accept_id), row
    if isinstance(ev, QuoteEnded) and ev.state != QuoteEnd.FILLED:
        row.update(type="quote_" + QuoteEnd(ev.state).name.lower(), instrument=_composite_name(registry, ev.composite),
                   rfq_id=str(ev.rfq_id), quote_id=str(ev.quote_id),
                   reason=ev.reason_name if ev.reason else None, time=_iso(ev.core_time or time.time_ns()))
        return ("end", ev.quote_id), row
    if isinstance(ev, ApprovalPending):
        row.update(type="pending_approval", instrument=ev.instrument, rfq_id=str(ev.rfq_id), side=_side(ev.side),
                   qty=_dec(ev.qty_raw, ev.qty_scale), price=_dec(ev.price_raw, ev.price_decimals),
                   currency=ev.currency, valid_until=_iso(ev.deadline), time=_iso(ev.core_time or time.time_ns()))
        return ("pending", ev.request_id), row
    return None


def _composite_name(registry: Any, cid: int) -> str:
    try:
        return str(registry.composite(cid).name)
    except (KeyError, LookupError, ValueError):
        return str(cid)


class Blotter:
    """Per client: the last ``max_rows`` RFQ answers, quotes, fills, rejects and quote ends, and
    the last ``max_rows`` quotes (to hit them). Fed on the engine's output pump; read by the
    HTTP thread. With a ``store``, every row taken is written there too, and each client's rows
    of before (an earlier run of the desk on the same journal) are read back first."""

    def __init__(self, clients: set[int], registry: Any, max_rows: int = 10_000,
                 store: BlotterStore | None = None) -> None:
        self.registry = registry
        self.max_rows = max_rows
        self.store = store
        self._lock = threading.Lock()
        self._rows: dict[int, OrderedDict[tuple[str, int], dict[str, Any]]] = {c: OrderedDict() for c in clients}
        if store is not None:  # the rows of before, in the order they were taken
            for c, rows in self._rows.items():
                rows.update(store.load(c, max_rows))
        self._quotes: dict[int, OrderedDict[int, Quote]] = {c: OrderedDict() for c in clients}
        #: per client, callables given each new row (on the thread that adds it)
        self._listeners: dict[int, list[Callable[[dict[str, Any]], object]]] = {c: [] for c in clients}
        self.errors = 0  # events that could not be taken (logged)

    def add(self, events: list[Any]) -> None:
        """Take the engine's decoded events (on its output pump, which must never fail: an
        event this cannot take is counted in ``errors`` and logged, and the rest go on)."""
        for ev in events:
            try:
                self._add(ev)
            except Exception:  # noqa: BLE001 - never stop the engine's output pump
                self.errors += 1
                log.exception("portal blotter: cannot take a %s event", type(ev).__name__)

    def _add(self, ev: Any) -> None:
        client = getattr(ev, "client", None)
        rows = self._rows.get(client)  # type: ignore[arg-type]
        if rows is None:
            return
        made = event_row(ev, self.registry)
        if made is None:
            return
        key, row = made
        with self._lock:
            if key in rows:
                return  # seen already (the portal records its own answers too)
            rows[key] = row
            if len(rows) > self.max_rows:
                rows.popitem(last=False)
            if self.store is not None:  # under the lock: the file keeps the order the view has
                self.store.put(client, key, row)  # type: ignore[arg-type]
            listeners = list(self._listeners[client])  # type: ignore[index]
            if isinstance(ev, Quote):
                quotes = self._quotes[ev.client]
                quotes[ev.quote_id] = ev
                if len(quotes) > self.max_rows:
                    quotes.popitem(last=False)
        for listen in listeners:
            try:
                listen(dict(row))
            except RuntimeError:  # the stream's event loop closed (the HTTP server stopped)
                pass

    def listen(self, client: int, fn: Callable[[dict[str, Any]], object]) -> Callable[[], None]:
        """Call ``fn(row)`` with each new row of ``client`` from now on; returns the undo."""
        with self._lock:
            self._listeners.setdefault(client, []).append(fn)

        def undo() -> None:
            with self._lock:
                if fn in self._listeners.get(client, []):
                    self._listeners[client].remove(fn)
        return undo

    def rows(self, client: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._rows.get(client)
            return [] if rows is None else [dict(r) for r in rows.values()]

    def quote(self, client: int, quote_id: int) -> Quote | None:
        with self._lock:
            quotes = self._quotes.get(client)
            return None if quotes is None else quotes.get(quote_id)


# -- the portal -------------------------------------------------------------------------------


class Portal(LoginApp):
    """The portal's routes over ``engine``, users from ``settings.portal_users``.

    ``add_routes(app)`` puts them on an aiohttp application. Login limits: ``user_limit``
    failures per user name and ``address_limit`` per remote address within ``window_s``;
    sessions end after ``idle_s`` without a request or ``max_age_s`` after login.
    """

    cookie = COOKIE
    login_path = "/api/login"
    static = _STATIC

    def __init__(self, engine: Engine, settings: RfqSettings, *, user_limit: int = 5, address_limit: int = 20,
                 window_s: float = 300.0, idle_s: float = 1800.0, max_age_s: float = 12 * 3600.0,
                 rfq_timeout_s: float = 5.0, heartbeat_s: float = 15.0,
                 session_store: SessionStore | None = None, blotter_store: BlotterStore | None = None) -> None:
        self.users = {u.name: u for u in settings.portal_users}
        super().__init__(self.users, user_limit=user_limit, address_limit=address_limit, window_s=window_s,
                         idle_s=idle_s, max_age_s=max_age_s, heartbeat_s=heartbeat_s, session_store=session_store)
        self.engine = engine
        self.registry = engine.registry
        self.rfq_timeout_s = rfq_timeout_s
        #: since start: logins (ok, wrong, limited), RFQs and accepts sent to the engine, 400s
        self.counts.update(rfqs=0, accepts=0)
        self.blotter = Blotter({u.client for u in settings.portal_users}, engine.registry, store=blotter_store)
        engine.subscribe_events(self.blotter.add)

    def stats(self) -> dict[str, int]:
        """``counts`` and the live ``sessions`` and open ``streams`` now (for /metrics; from any thread)."""
        return {**self.counts, "sessions": self.sessions.live_count(), "streams": self.stream_count()}

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._root)
        r.add_get("/portal/{name:[a-z.]*}", self.serve_static)
        r.add_post("/api/login", self.login)
        r.add_post("/api/logout", self.guard(self.logout, csrf=True))
        r.add_get("/api/session", self.guard(self.session))
        r.add_get("/api/instruments", self.guard(self._instruments))
        r.add_post("/api/rfq", self.guard(self._rfq, csrf=True))
        r.add_post("/api/accept", self.guard(self._accept, csrf=True))
        r.add_get("/api/blotter", self.guard(self._blotter))
        r.add_get("/api/blotter.csv", self.guard(self._blotter_csv))
        r.add_get("/api/stream", self.guard(self._stream))
        app.on_shutdown.append(self.end_streams)

    def session_fields(self, account: Any) -> dict[str, Any]:
        return {"client": account.client}

    def whoami(self, s: Session) -> dict[str, Any]:
        return {"user": s.user, "client": self.engine.rfq.client(s.client).name, "csrf_token": s.csrf}

    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/portal/")

    async def _instruments(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self.json([{"instrument": c.name, "base": u.base, "currency": u.currency,
                           "qty_decimals": c.qty_decimals, "price_decimals": c.price_decimals}
                          for c in self.registry.composites for u in (self.engine._units(c.id),)])

    # -- RFQ and accept --------------------------------------------------------------------

    async def _rfq(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await read_body(request, {"instrument", "side", "size", "size_in_quote", "limit"})
        comp = self.registry.composite(name_field(doc, "instrument", [c.name for c in self.registry.composites]))
        side = _client_side(doc.get("side"))
        in_quote = doc.get("size_in_quote", False)
        if not isinstance(in_quote, bool):
            raise BadRequest("size_in_quote must be true or false")
        size, limit = decimal_field(doc, "size", required=True), decimal_field(doc, "limit", required=False)
        try:  # the engine's own unit checks, before anything is sent (digits, int64)
            to_units(size, comp.price_decimals if in_quote else comp.qty_decimals, "size")  # type: ignore[arg-type]
            if limit is not None:
                to_units(limit, comp.price_decimals, "limit")
        except ValueError as e:
            raise BadRequest(str(e)) from None

        self.counts["rfqs"] += 1
        ev = await self.ask_engine(
            lambda: self.engine.request_quote(session.client, comp.id, side, size,  # type: ignore[arg-type]
                                              quote_ccy=in_quote, limit=limit, timeout=self.rfq_timeout_s),
            refusals=(RfqRejected,), late="the desk did not answer in time: try again")
        self.blotter.add([ev])
        if isinstance(ev, RfqRejected):
            return self.json({"status": "rejected", "reason": ev.reason_name, "rfq_id": str(ev.rfq_id)})
        if isinstance(ev, ApprovalPending):
            return self.json({"status": "pending_approval", "rfq_id": str(ev.rfq_id),
                               "request_id": str(ev.request_id), "deadline": _iso(ev.deadline)})
        return self.json({"status": "quoted", "quote": quote_json(ev)})

    async def _accept(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await read_body(request, {"quote_id", "side"})
        qid = id_field(doc, "quote_id")
        quote = self.blotter.quote(session.client, qid)
        if quote is None:  # not this client's (or no such quote): the same answer either way
            return self.error(404, f"no quote {qid} of yours")
        code: int | None = None  # None: the quote's only side (the engine takes it)
        if doc.get("side") is not None:
            code = _client_side(doc["side"])
            if quote.side(code) is None:
                raise BadRequest(f"quote {qid} has no {doc['side']} side")
        elif len(quote.sides) != 1:
            raise BadRequest(f"quote {qid} is two-way: give side \"buy\" or \"sell\"")

        self.counts["accepts"] += 1
        ev = await self.ask_engine(
            lambda: self.engine.accept(quote, code, timeout=self.rfq_timeout_s), refusals=(AcceptRejected,),
            late="the desk did not answer in time: look at the blotter before trying again")
        self.blotter.add([ev])
        if isinstance(ev, AcceptRejected):
            return self.json({"status": "rejected", "reason": ev.reason_name, "quote_id": str(qid)})
        return self.json({"status": "filled", "fill": fill_json(ev)})

    # -- blotter ---------------------------------------------------------------------------

    async def _blotter(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self.json({"client": self.engine.rfq.client(session.client).name,
                           "rows": self.blotter.rows(session.client)})

    async def _stream(self, request: web.Request, session: Session) -> web.StreamResponse:
        """Server-Sent Events: each new blotter row of the session's client as an ``event: row``
        (JSON data); see :meth:`LoginApp.event_stream`."""
        return await self.event_stream(request, session, lambda push: self.blotter.listen(
            session.client, lambda row: push("row", row)))

    async def _blotter_csv(self, request: web.Request, session: Session) -> web.StreamResponse:
        out = io.StringIO()
        w = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
        w.writeheader()
        for row in self.blotter.rows(session.client):
            w.writerow({k: _csv_safe(row[k]) for k in CSV_COLUMNS})
        name = self.engine.rfq.client(session.client).name
        return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8", headers={
            **SECURITY_HEADERS, "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="blotter-{name}.csv"'})


def _csv_safe(v: Any) -> str:
    """A cell that a spreadsheet will not run as a formula."""
    text = "" if v is None else str(v)
    return "'" + text if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and not _number(text)) else text


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True

