"""The RFQ portal for client traders: a JSON API under ``/api/`` and a small page under
``/portal/``, served by the desk's HTTP server (docs/web.md).

A portal user (``[[portal_user]]`` in the RFQ settings: a name, the client it trades for, an
argon2id password hash) logs in with ``POST /api/login`` and gets a session cookie (HttpOnly,
SameSite=Strict, Secure over TLS) and a CSRF token; every state-changing request must carry
the token in ``X-CSRF-Token``. RFQs and accepts go through :class:`rfqcore.engine.Engine`'s
``request_quote`` / ``accept``: the same core, risk checks and reject reasons as every other
gateway. The blotter is built from the engine's decoded RFQ events (whatever gateway the RFQ
came through), kept per client; every lookup is keyed by the session's client, so a user sees
and can hit only its own client's quotes.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, Final

import orjson
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rfqcore.engine import Engine, RfqTimeout
from rfqcore.records import ClientSide, QuoteEnd
from rfqcore.rfq import AcceptRejected, ApprovalPending, Execution, Quote, QuoteEnded, RfqRejected
from rfqcore.rfqconfig import RfqSettings
from rfqcore.units import client_side, from_units, to_units

__all__ = ["LoginLimiter", "Portal", "hash_password"]

log = logging.getLogger("rfqcore.web.portal")

COOKIE: Final = "rfqcore_session"
CSRF_HEADER: Final = "X-CSRF-Token"
MAX_BODY: Final = 16 * 1024
STREAM_BACKLOG: Final = 1000  # rows a /api/stream reader may fall behind before it is ended
_HASHER: Final = PasswordHasher()  # argon2id, the library's (RFC 9106) defaults
# verified against for an unknown user name, so that it costs as long as a known one
_DUMMY_HASH: Final = _HASHER.hash(secrets.token_hex(16))
_STATIC: Final = {"": ("index.html", "text/html"), "index.html": ("index.html", "text/html"),
                  "portal.js": ("portal.js", "text/javascript"), "portal.css": ("portal.css", "text/css")}
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
}
_SIDE_NAMES: Final[dict[int, str]] = {ClientSide.BUY: "buy", ClientSide.SELL: "sell", ClientSide.TWO_WAY: "two-way"}
CSV_COLUMNS: Final = ("time", "type", "instrument", "rfq_id", "quote_id", "trade_id", "side", "qty", "price",
                      "buy_price", "buy_qty", "sell_price", "sell_qty", "notional", "fee", "currency", "reason",
                      "valid_until")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` for a ``[[portal_user]]`` table's ``password_hash``."""
    if not password:
        raise ValueError("the password must not be empty")
    return _HASHER.hash(password)


class _Feed:
    """The rows waiting for one ``/api/stream`` reader (used on the event loop's thread only);
    ``None`` ends the stream."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(STREAM_BACKLOG + 1)
        self.ended = False

    def offer(self, row: dict[str, Any]) -> None:
        if not self.ended:
            if self.queue.qsize() >= STREAM_BACKLOG:
                self.close()  # too far behind: end this stream
            else:
                self.queue.put_nowait(row)

    def close(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(None)


class BadRequest(Exception):
    """A request the portal refuses before anything happens (400, one-line message)."""


# -- login rate limit -------------------------------------------------------------------------


class LoginLimiter:
    """Failed logins per key (a user name, a remote address) in a sliding window: a key with
    ``limit`` failures within ``window_s`` is refused until the oldest of them ages out."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit, self.window_s, self.clock, self.max_keys = limit, window_s, clock, max_keys
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float] | None:
        q = self._fails.get(key)
        if q is not None:
            cutoff = self.clock() - self.window_s
            while q and q[0] <= cutoff:
                q.popleft()
            if not q:
                del self._fails[key]
                return None
        return q

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it may now."""
        q = self._recent(key)
        if q is None or len(q) < self.limit:
            return None
        return max(q[0] + self.window_s - self.clock(), 0.001)

    def failed(self, key: str) -> None:
        q = self._recent(key)
        if q is None:
            q = self._fails[key] = deque(maxlen=self.limit)
            while len(self._fails) > self.max_keys:  # bounded memory: forget the least recent key
                self._fails.popitem(last=False)
        self._fails.move_to_end(key)
        q.append(self.clock())

    def clear(self, key: str) -> None:
        self._fails.pop(key, None)


# -- sessions ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Session:
    sid: str
    user: str
    client: int
    csrf: str
    created: float
    last_seen: float


class Sessions:
    """Server-side sessions: random ids (256 bits), an idle timeout and a maximum age."""

    def __init__(self, idle_s: float, max_age_s: float, per_user: int = 16,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s, self.max_age_s, self.per_user, self.clock = idle_s, max_age_s, per_user, clock
        self._by_id: dict[str, Session] = {}

    def _live(self, s: Session, now: float) -> bool:
        return now - s.last_seen < self.idle_s and now - s.created < self.max_age_s

    def create(self, user: str, client: int) -> Session:
        now = self.clock()
        for sid in [k for k, s in self._by_id.items() if not self._live(s, now)]:
            del self._by_id[sid]
        mine = sorted((s for s in self._by_id.values() if s.user == user), key=lambda s: s.created)
        for old in mine[:max(len(mine) - self.per_user + 1, 0)]:
            del self._by_id[old.sid]
        s = Session(secrets.token_urlsafe(32), user, client, secrets.token_urlsafe(32), now, now)
        self._by_id[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        s = self._by_id.get(sid) if sid else None
        if s is None:
            return None
        now = self.clock()
        if not self._live(s, now):
            del self._by_id[s.sid]
            return None
        s.last_seen = now
        return s

    def live_count(self) -> int:
        now = self.clock()
        return sum(1 for s in list(self._by_id.values()) if self._live(s, now))

    def alive(self, sid: str) -> bool:
        """Whether session ``sid`` is still live (without counting this as a request)."""
        s = self._by_id.get(sid)
        return s is not None and self._live(s, self.clock())

    def drop(self, sid: str) -> None:
        self._by_id.pop(sid, None)


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


def _row(ev: object, registry: Any) -> tuple[tuple[str, int], dict[str, Any]] | None:
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
                   qty=_dec(ev.qty_raw, ev.qty_decimals), price=_dec(ev.price_raw, ev.price_decimals),
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
    HTTP thread."""

    def __init__(self, clients: set[int], registry: Any, max_rows: int = 10_000) -> None:
        self.registry = registry
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._rows: dict[int, OrderedDict[tuple[str, int], dict[str, Any]]] = {c: OrderedDict() for c in clients}
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
        made = _row(ev, self.registry)
        if made is None:
            return
        key, row = made
        with self._lock:
            if key in rows:
                return  # seen already (the portal records its own answers too)
            rows[key] = row
            if len(rows) > self.max_rows:
                rows.popitem(last=False)
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


# -- request parsing --------------------------------------------------------------------------


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    # JSON only: an HTML form of another site cannot send this type without a CORS preflight,
    # which the portal never answers (so no login CSRF through a text/plain form)
    if request.content_type != "application/json":
        raise BadRequest(f"send the body as JSON with Content-Type: application/json, not {request.content_type!r}")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"request body over {MAX_BODY} bytes")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"malformed JSON: {e.msg} (send a JSON object, Content-Type: application/json)") from None
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {unknown} (allowed: {sorted(allowed)})")
    return doc


def _decimal(doc: Mapping[str, Any], key: str, *, required: bool) -> Decimal | None:
    v = doc.get(key)
    if v is None:
        if required:
            raise BadRequest(f"missing {key!r}")
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise BadRequest(f"{key} must be a decimal number (a string such as \"1.5\"), got {type(v).__name__}")
    try:
        d = Decimal(repr(v) if isinstance(v, float) else v)
    except InvalidOperation:
        raise BadRequest(f"{key}: {v!r} is not a decimal number") from None
    if not d.is_finite() or d <= 0:
        raise BadRequest(f"{key} must be a positive number, got {v!r}")
    if d.adjusted() > 40:  # refused before anything makes an integer of 10^exponent digits
        raise BadRequest(f"{key}: {v!r} is too large")
    return d


def _id(doc: Mapping[str, Any], key: str) -> int:
    v = doc.get(key)
    if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 20:
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 1 << 64:
        raise BadRequest(f"{key} must be the quote's id (a string of digits, as /api/rfq gave it)")
    return v


# -- the portal -------------------------------------------------------------------------------


class Portal:
    """The portal's routes over ``engine``, users from ``settings.portal_users``.

    ``add_routes(app)`` puts them on an aiohttp application. Login limits: ``user_limit``
    failures per user name and ``address_limit`` per remote address within ``window_s``;
    sessions end after ``idle_s`` without a request or ``max_age_s`` after login.
    """

    def __init__(self, engine: Engine, settings: RfqSettings, *, user_limit: int = 5, address_limit: int = 20,
                 window_s: float = 300.0, idle_s: float = 1800.0, max_age_s: float = 12 * 3600.0,
                 rfq_timeout_s: float = 5.0, heartbeat_s: float = 15.0) -> None:
        self.engine = engine
        self.users = {u.name: u for u in settings.portal_users}
        self.registry = engine.registry
        self.by_user = LoginLimiter(user_limit, window_s)
        self.by_address = LoginLimiter(address_limit, window_s)
        self.sessions = Sessions(idle_s, max_age_s)
        self.rfq_timeout_s = rfq_timeout_s
        self.heartbeat_s = heartbeat_s
        self._feeds: dict[str, set[_Feed]] = {}  # session id -> its open /api/stream readers
        #: since start: logins (ok, wrong, limited), RFQs and accepts sent to the engine, 400s
        self.counts = dict.fromkeys(("logins_ok", "logins_wrong", "logins_limited", "rfqs", "accepts",
                                     "bad_requests"), 0)
        self.blotter = Blotter({u.client for u in settings.portal_users}, engine.registry)
        engine.subscribe_events(self.blotter.add)
        self._lock = asyncio.Lock()  # login bookkeeping (argon2 runs outside it)

    def stats(self) -> dict[str, int]:
        """``counts`` and the live ``sessions`` and open ``streams`` now (for /metrics; from any thread)."""
        return {**self.counts, "sessions": self.sessions.live_count(),
                "streams": sum(len(f) for f in list(self._feeds.values()))}

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._root)
        r.add_get("/portal/{name:[a-z.]*}", self._static)
        r.add_post("/api/login", self._login)
        r.add_post("/api/logout", self._guard(self._logout, csrf=True))
        r.add_get("/api/session", self._guard(self._session))
        r.add_get("/api/instruments", self._guard(self._instruments))
        r.add_post("/api/rfq", self._guard(self._rfq, csrf=True))
        r.add_post("/api/accept", self._guard(self._accept, csrf=True))
        r.add_get("/api/blotter", self._guard(self._blotter))
        r.add_get("/api/blotter.csv", self._guard(self._blotter_csv))
        r.add_get("/api/stream", self._guard(self._stream))
        app.on_shutdown.append(self._end_streams)

    async def _end_streams(self, app: web.Application) -> None:
        """The server is stopping: end every open stream now, on its loop, so that each handler
        returns before the loop closes (a page left open used to have its handler torn down
        after, with an "Event loop is closed" traceback)."""
        for feeds in list(self._feeds.values()):
            for feed in list(feeds):
                feed.close()

    # -- plumbing --------------------------------------------------------------------------

    @staticmethod
    def _json(doc: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        h = {**_SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})}
        return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json", headers=h)

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
        return self._json({"error": message}, status, headers)

    def _guard(self, handler: Callable[[web.Request, Session], Any], *, csrf: bool = False) -> Any:
        """``handler`` behind the session check (401), and the CSRF check (403) when ``csrf``;
        a :class:`BadRequest` it raises becomes 400."""
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = self.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                return self._error(401, "not logged in: POST /api/login first (or the session expired)")
            if csrf and not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(),
                                                session.csrf.encode()):
                return self._error(403, f"missing or wrong {CSRF_HEADER} header (the token /api/login gave)")
            try:
                return await handler(request, session)  # type: ignore[no-any-return]
            except BadRequest as e:
                self.counts["bad_requests"] += 1
                return self._error(400, str(e))
        return guarded

    async def _blocking(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    # -- pages -----------------------------------------------------------------------------

    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/portal/")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        entry = _STATIC.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        body = resources.files("rfqcore.web").joinpath("static", entry[0]).read_bytes()
        return web.Response(body=body, content_type=entry[1], charset="utf-8",
                            headers={**_SECURITY_HEADERS, "Cache-Control": "no-cache"})

    # -- login -----------------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.StreamResponse:
        try:
            doc = await _body(request, {"user", "password"})
        except BadRequest as e:
            return self._error(400, str(e))
        user, password = doc.get("user"), doc.get("password")
        if not isinstance(user, str) or not isinstance(password, str) or not user or len(user) > 64 \
                or len(password) > 1024:
            return self._error(400, "give \"user\" and \"password\" as strings (user 1..64, password <= 1024 chars)")
        address = f"addr:{request.remote}"
        async with self._lock:
            wait = max(self.by_user.retry_after(f"user:{user}") or 0.0, self.by_address.retry_after(address) or 0.0)
        if wait:
            self.counts["logins_limited"] += 1
            return self._error(429, f"too many failed logins: try again in {math.ceil(wait)} s",
                               {"Retry-After": str(math.ceil(wait))})
        account = self.users.get(user)
        stored = account.password_hash if account is not None else _DUMMY_HASH

        def verify() -> bool:
            try:
                return bool(_HASHER.verify(stored, password))
            except (VerificationError, InvalidHashError):
                return False

        ok = await self._blocking(verify) and account is not None
        async with self._lock:
            if not ok:
                self.by_user.failed(f"user:{user}")
                self.by_address.failed(address)
                self.counts["logins_wrong"] += 1
                return self._error(401, "wrong user name or password")
            self.by_user.clear(f"user:{user}")
            session = self.sessions.create(user, account.client)  # type: ignore[union-attr]
            self.counts["logins_ok"] += 1
        resp = self._json(self._whoami(session))
        resp.set_cookie(COOKIE, session.sid, httponly=True, samesite="Strict", secure=request.secure, path="/")
        return resp

    def _whoami(self, s: Session) -> dict[str, Any]:
        return {"user": s.user, "client": self.engine.rfq.client(s.client).name, "csrf_token": s.csrf}

    async def _logout(self, request: web.Request, session: Session) -> web.StreamResponse:
        self.sessions.drop(session.sid)
        for feed in self._feeds.pop(session.sid, set()):
            feed.close()  # its stream ends now
        resp = self._json({"status": "logged out"})
        resp.del_cookie(COOKIE, path="/")
        return resp

    async def _session(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json(self._whoami(session))

    async def _instruments(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json([{"instrument": c.name, "base": u.base, "currency": u.currency,
                            "qty_decimals": c.qty_decimals, "price_decimals": c.price_decimals}
                           for c in self.registry.composites for u in (self.engine._units(c.id),)])

    # -- RFQ and accept --------------------------------------------------------------------

    async def _rfq(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await _body(request, {"instrument", "side", "size", "size_in_quote", "limit"})
        names = [c.name for c in self.registry.composites]
        inst = doc.get("instrument")
        if not isinstance(inst, str) or inst not in names:
            raise BadRequest(f"unknown instrument {inst!r} (known: {', '.join(names)})")
        comp = self.registry.composite(inst)
        side = _client_side(doc.get("side"))
        in_quote = doc.get("size_in_quote", False)
        if not isinstance(in_quote, bool):
            raise BadRequest("size_in_quote must be true or false")
        size, limit = _decimal(doc, "size", required=True), _decimal(doc, "limit", required=False)
        try:  # the engine's own unit checks, before anything is sent (digits, int64)
            to_units(size, comp.price_decimals if in_quote else comp.qty_decimals, "size")  # type: ignore[arg-type]
            if limit is not None:
                to_units(limit, comp.price_decimals, "limit")
        except ValueError as e:
            raise BadRequest(str(e)) from None

        self.counts["rfqs"] += 1

        def ask() -> Any:
            try:
                return self.engine.request_quote(session.client, comp.id, side, size,  # type: ignore[arg-type]
                                                 quote_ccy=in_quote, limit=limit, timeout=self.rfq_timeout_s)
            except RfqRejected as e:
                return e

        try:
            ev = await self._blocking(ask)
        except RfqTimeout:
            return self._error(504, "the desk did not answer in time: try again")
        self.blotter.add([ev])
        if isinstance(ev, RfqRejected):
            return self._json({"status": "rejected", "reason": ev.reason_name, "rfq_id": str(ev.rfq_id)})
        if isinstance(ev, ApprovalPending):
            return self._json({"status": "pending_approval", "rfq_id": str(ev.rfq_id),
                               "request_id": str(ev.request_id), "deadline": _iso(ev.deadline)})
        return self._json({"status": "quoted", "quote": quote_json(ev)})

    async def _accept(self, request: web.Request, session: Session) -> web.StreamResponse:
        doc = await _body(request, {"quote_id", "side"})
        qid = _id(doc, "quote_id")
        quote = self.blotter.quote(session.client, qid)
        if quote is None:  # not this client's (or no such quote): the same answer either way
            return self._error(404, f"no quote {qid} of yours")
        code: int | None = None  # None: the quote's only side (the engine takes it)
        if doc.get("side") is not None:
            code = _client_side(doc["side"])
            if quote.side(code) is None:
                raise BadRequest(f"quote {qid} has no {doc['side']} side")
        elif len(quote.sides) != 1:
            raise BadRequest(f"quote {qid} is two-way: give side \"buy\" or \"sell\"")

        self.counts["accepts"] += 1

        def hit() -> Any:
            try:
                return self.engine.accept(quote, code, timeout=self.rfq_timeout_s)
            except AcceptRejected as e:
                return e

        try:
            ev = await self._blocking(hit)
        except RfqTimeout:
            return self._error(504, "the desk did not answer in time: look at the blotter before trying again")
        self.blotter.add([ev])
        if isinstance(ev, AcceptRejected):
            return self._json({"status": "rejected", "reason": ev.reason_name, "quote_id": str(qid)})
        return self._json({"status": "filled", "fill": fill_json(ev)})

    # -- blotter ---------------------------------------------------------------------------

    async def _blotter(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._json({"client": self.engine.rfq.client(session.client).name,
                           "rows": self.blotter.rows(session.client)})

    async def _stream(self, request: web.Request, session: Session) -> web.StreamResponse:
        """Server-Sent Events: each new blotter row of the session's client as an ``event: row``
        (JSON data), a comment every ``heartbeat_s``; the stream ends when the session does (logout,
        expiry) or when the reader falls ``STREAM_BACKLOG`` rows behind (the page then rereads
        the blotter and reconnects)."""
        loop = asyncio.get_running_loop()
        feed = _Feed()
        resp = web.StreamResponse(headers={**_SECURITY_HEADERS, "Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        undo = self.blotter.listen(session.client, lambda row: loop.call_soon_threadsafe(feed.offer, row))
        self._feeds.setdefault(session.sid, set()).add(feed)
        try:
            await resp.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
            while self.sessions.alive(session.sid):
                try:
                    row = await asyncio.wait_for(feed.queue.get(), self.heartbeat_s)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if row is None or not self.sessions.alive(session.sid):
                    break
                await resp.write(b"event: row\ndata: " + orjson.dumps(row) + b"\n\n")
        except ConnectionResetError:
            pass  # the reader went away
        finally:
            undo()
            feeds = self._feeds.get(session.sid)
            if feeds is not None:
                feeds.discard(feed)
                if not feeds:
                    del self._feeds[session.sid]
        return resp

    async def _blotter_csv(self, request: web.Request, session: Session) -> web.StreamResponse:
        out = io.StringIO()
        w = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
        w.writeheader()
        for row in self.blotter.rows(session.client):
            w.writerow({k: _csv_safe(row[k]) for k in CSV_COLUMNS})
        name = self.engine.rfq.client(session.client).name
        return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8", headers={
            **_SECURITY_HEADERS, "Cache-Control": "no-store",
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

