"""Logins, sessions, CSRF and request parsing shared by the desk's web apps: the client RFQ
portal (:mod:`rfqcore.web.portal`) and the operator console (:mod:`rfqcore.web.console`).

:class:`LoginApp` is the common part of both: argon2id password checks (on a worker thread;
an unknown name is checked against a dummy hash so that it costs as long), login rate limits
per user name and per remote address (:class:`LoginLimiter`), server-side sessions
(:class:`~rfqcore.web.sessions.Sessions`, kept across desk restarts with a session store) in an
HttpOnly, SameSite=Strict cookie, a CSRF token per session checked
on every state-changing request, JSON answers with the security headers, Server-Sent Event
streams that end with their session, and the static files of a page. Each app has its own
cookie and its own sessions: a portal login opens nothing of the console, and the reverse.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, Final, Protocol

import orjson
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rfqcore.engine import RfqTimeout
from rfqcore.web.sessions import Session, Sessions, SessionStore, credential_of

__all__ = ["Account", "BadRequest", "DeskTimeout", "LoginApp", "LoginLimiter", "Session", "SessionStore", "Sessions",
           "decimal_field", "hash_password", "id_field", "name_field", "read_body"]

CSRF_HEADER: Final = "X-CSRF-Token"
MAX_BODY: Final = 16 * 1024
STREAM_BACKLOG: Final = 1000  # events a stream reader may fall behind before it is ended
_HASHER: Final = PasswordHasher()  # argon2id, the library's (RFC 9106) defaults
# verified against for an unknown user name, so that it costs as long as a known one
_DUMMY_HASH: Final = _HASHER.hash(secrets.token_hex(16))
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
}


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` for the ``password_hash`` of a ``[[portal_user]]`` or
    ``[[console_user]]`` table."""
    if not password:
        raise ValueError("the password must not be empty")
    return _HASHER.hash(password)


class BadRequest(Exception):
    """A request refused before anything happens (400, one-line message)."""


class DeskTimeout(Exception):
    """The engine did not answer a request in time (504, one-line message saying what to do)."""


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


# Session and Sessions: rfqcore.web.sessions (kept across restarts with a SessionStore)


# -- request parsing --------------------------------------------------------------------------


async def read_body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    """The request's JSON object, whose keys must be among ``allowed`` (:class:`BadRequest` otherwise)."""
    # JSON only: an HTML form of another site cannot send this type without a CORS preflight,
    # which the desk never answers (so no login CSRF through a text/plain form)
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


def decimal_field(doc: Mapping[str, Any], key: str, *, required: bool, positive: bool = True) -> Decimal | None:
    """``doc[key]`` as an exact finite Decimal (a string such as ``"1.5"``, or a JSON number),
    > 0 when ``positive``, else >= 0; None when absent and not ``required``."""
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
    if not d.is_finite() or (d <= 0 if positive else d < 0):
        raise BadRequest(f"{key} must be a {'positive' if positive else 'non-negative'} number, got {v!r}")
    if d.adjusted() > 40:  # refused before anything makes an integer of 10^exponent digits
        raise BadRequest(f"{key}: {v!r} is too large")
    return d


def id_field(doc: Mapping[str, Any], key: str, what: str = "the quote's id (a string of digits, as /api/rfq gave it)"
             ) -> int:
    """``doc[key]`` as an id in 1..2^64-1 (a string of digits, or a JSON integer)."""
    v = doc.get(key)
    if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 20:
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 1 << 64:
        raise BadRequest(f"{key} must be {what}")
    return v


def name_field(doc: Mapping[str, Any], key: str, known: Sequence[str]) -> str:
    """``doc[key]`` as one of the names ``known`` (a client, an instrument...)."""
    v = doc.get(key)
    if not isinstance(v, str) or v not in known:
        raise BadRequest(f"unknown {key} {v!r} (known: {', '.join(known)})")
    return v


# -- streams ----------------------------------------------------------------------------------


class _Feed:
    """The events waiting for one stream reader (used on the event loop's thread only);
    ``None`` ends the stream."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue(STREAM_BACKLOG + 1)
        self.ended = False

    def offer(self, item: tuple[str, dict[str, Any]]) -> None:
        if not self.ended:
            if self.queue.qsize() >= STREAM_BACKLOG:
                self.close()  # too far behind: end this stream
            else:
                self.queue.put_nowait(item)

    def close(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(None)


# -- the app ----------------------------------------------------------------------------------


class Account(Protocol):
    """What a login needs of a user (``[[portal_user]]``, ``[[console_user]]``)."""

    @property
    def name(self) -> str: ...

    @property
    def password_hash(self) -> str: ...


Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LoginApp:
    """Login, logout, sessions, CSRF, JSON answers, event streams and static files of one web
    app. A subclass sets ``cookie`` (its session cookie), ``login_path`` (for the 401 message)
    and ``static`` (file name -> (packaged file, content type)), and makes a session for an
    account in :meth:`open_session`."""

    cookie: str = "rfqcore_session"
    login_path: str = "/api/login"
    static: Mapping[str, tuple[str, str]] = {}

    def __init__(self, accounts: Mapping[str, Account], *, user_limit: int = 5, address_limit: int = 20,
                 window_s: float = 300.0, idle_s: float = 1800.0, max_age_s: float = 12 * 3600.0,
                 heartbeat_s: float = 15.0, session_store: SessionStore | None = None) -> None:
        self.accounts = accounts
        self.by_user = LoginLimiter(user_limit, window_s)
        self.by_address = LoginLimiter(address_limit, window_s)
        self.sessions = Sessions(idle_s, max_age_s, store=session_store, app=self.cookie)
        self.sessions.restore(self._revive)  # a restarted desk's users stay logged in
        self.heartbeat_s = heartbeat_s
        self._feeds: dict[str, set[_Feed]] = {}  # session id -> its open stream readers
        #: since start: logins (ok, wrong, limited) and 400s; a subclass adds its own
        self.counts: dict[str, int] = dict.fromkeys(("logins_ok", "logins_wrong", "logins_limited",
                                                      "bad_requests"), 0)
        self._lock = asyncio.Lock()  # login bookkeeping (argon2 runs outside it)

    # -- to override -----------------------------------------------------------------------

    def session_fields(self, account: Any) -> dict[str, Any]:
        """What a session of ``account`` carries besides its user: ``client``, or ``role`` and
        ``operator`` (from the settings, at login and again when a stored session comes back)."""
        raise NotImplementedError

    def open_session(self, account: Any) -> Session:
        return self.sessions.create(account.name, **self.session_fields(account),
                                    credential=credential_of(account.password_hash))

    def _revive(self, user: str, credential: str) -> dict[str, Any] | None:
        """A stored session's fields now, or None when its user is gone or changed password."""
        account = self.accounts.get(user)
        if account is None or not hmac.compare_digest(credential, credential_of(account.password_hash)):
            return None
        return self.session_fields(account)

    def whoami(self, session: Session) -> dict[str, Any]:
        return {"user": session.user, "csrf_token": session.csrf}

    # -- answers ---------------------------------------------------------------------------

    @staticmethod
    def json(doc: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        h = {**SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})}
        return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json", headers=h)

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
        return self.json({"error": message}, status, headers)

    def guard(self, handler: Handler, *, csrf: bool = False,
              allow: Callable[[Session], str | None] | None = None) -> Route:
        """``handler`` behind the session check (401), the CSRF check (403) when ``csrf``, and
        ``allow(session)`` (403 with the message it returns; None lets the request through); a
        :class:`BadRequest` it raises becomes 400, a :class:`DeskTimeout` 504."""
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = self.sessions.get(request.cookies.get(self.cookie))
            if session is None:
                return self.error(401, f"not logged in: POST {self.login_path} first (or the session expired)")
            if csrf and not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(),
                                                session.csrf.encode()):
                return self.error(403, f"missing or wrong {CSRF_HEADER} header (the token {self.login_path} gave)")
            if allow is not None:
                refused = allow(session)
                if refused is not None:
                    return self.error(403, refused)
            try:
                return await handler(request, session)
            except BadRequest as e:
                self.counts["bad_requests"] += 1
                return self.error(400, str(e))
            except DeskTimeout as e:
                return self.error(504, str(e))
        return guarded

    @staticmethod
    async def blocking(fn: Callable[[], Any]) -> Any:
        """``fn()`` on a worker thread (what waits for the engine)."""
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    async def ask_engine(self, fn: Callable[[], Any], *, late: str,
                         refusals: tuple[type[Exception], ...] = ()) -> Any:
        """``fn()`` (a call that waits for the engine's answer) on a worker thread: its result,
        or the refusal it raised when that is one of ``refusals`` (returned, not raised); an
        answer that does not come in time raises :class:`DeskTimeout` with the message ``late``."""
        def run() -> Any:
            try:
                return fn()
            except refusals as e:
                return e
        try:
            return await self.blocking(run)
        except RfqTimeout:
            raise DeskTimeout(late) from None

    async def serve_static(self, request: web.Request) -> web.StreamResponse:
        entry = self.static.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        body = resources.files("rfqcore.web").joinpath("static", entry[0]).read_bytes()
        return web.Response(body=body, content_type=entry[1], charset="utf-8",
                            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    # -- login -----------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        try:
            doc = await read_body(request, {"user", "password"})
        except BadRequest as e:
            return self.error(400, str(e))
        user, password = doc.get("user"), doc.get("password")
        if not isinstance(user, str) or not isinstance(password, str) or not user or len(user) > 64 \
                or len(password) > 1024:
            return self.error(400, "give \"user\" and \"password\" as strings (user 1..64, password <= 1024 chars)")
        address = f"addr:{request.remote}"
        async with self._lock:
            wait = max(self.by_user.retry_after(f"user:{user}") or 0.0, self.by_address.retry_after(address) or 0.0)
        if wait:
            self.counts["logins_limited"] += 1
            return self.error(429, f"too many failed logins: try again in {math.ceil(wait)} s",
                              {"Retry-After": str(math.ceil(wait))})
        account = self.accounts.get(user)
        stored = account.password_hash if account is not None else _DUMMY_HASH

        def verify() -> bool:
            try:
                return bool(_HASHER.verify(stored, password))
            except (VerificationError, InvalidHashError):
                return False

        ok = await self.blocking(verify) and account is not None
        async with self._lock:
            if not ok:
                self.by_user.failed(f"user:{user}")
                self.by_address.failed(address)
                self.counts["logins_wrong"] += 1
                return self.error(401, "wrong user name or password")
            self.by_user.clear(f"user:{user}")
            session = self.open_session(account)
            self.counts["logins_ok"] += 1
        resp = self.json(self.whoami(session))
        resp.set_cookie(self.cookie, session.sid, httponly=True, samesite="Strict", secure=request.secure, path="/")
        return resp

    async def logout(self, request: web.Request, session: Session) -> web.StreamResponse:
        self.sessions.drop(session.sid)
        for feed in self._feeds.pop(session.sid, set()):
            feed.close()  # its stream ends now
        resp = self.json({"status": "logged out"})
        resp.del_cookie(self.cookie, path="/")
        return resp

    async def session(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self.json(self.whoami(session))

    async def end_streams(self, app: web.Application) -> None:
        """The server is stopping (an ``on_shutdown`` handler): end every open stream now, on its
        loop, so that each handler returns before the loop closes (a page left open used to have
        its handler torn down after, with an "Event loop is closed" traceback)."""
        for feeds in list(self._feeds.values()):
            for feed in list(feeds):
                feed.close()

    def stream_count(self) -> int:
        return sum(len(f) for f in list(self._feeds.values()))

    # -- Server-Sent Events ----------------------------------------------------------------

    async def event_stream(self, request: web.Request, session: Session,
                           listen: Callable[[Callable[[str, dict[str, Any]], object]], Callable[[], None]]
                           ) -> web.StreamResponse:
        """Server-Sent Events: ``event: hello`` first, then each ``(event, data)`` that
        ``listen(push)`` pushes (from any thread; ``listen`` returns the undo), a comment every
        ``heartbeat_s``. The stream ends when the session does (logout, expiry) or when the
        reader falls ``STREAM_BACKLOG`` events behind (the page then rereads and reconnects)."""
        loop = asyncio.get_running_loop()
        feed = _Feed()
        resp = web.StreamResponse(headers={**SECURITY_HEADERS, "Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        undo = listen(lambda event, data: loop.call_soon_threadsafe(feed.offer, (event, data)))
        self._feeds.setdefault(session.sid, set()).add(feed)
        try:
            await resp.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
            while self.sessions.alive(session.sid):
                try:
                    item = await asyncio.wait_for(feed.queue.get(), self.heartbeat_s)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if item is None or not self.sessions.alive(session.sid):
                    break
                await resp.write(b"event: " + item[0].encode() + b"\ndata: " + orjson.dumps(item[1]) + b"\n\n")
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
