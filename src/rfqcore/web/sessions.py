"""Server-side web sessions (the portal's and the console's), kept across desk restarts.

A session is named by a random 256-bit token, the value of its HttpOnly cookie. The desk keeps
only the token's SHA-256 (:func:`token_key`): in memory, and in a :class:`SessionStore` (an
SQLite file, ``serve --http-sessions FILE``; with a journal, ``web-sessions.sqlite`` in its
directory) when there is one, so that a logged-in client or operator stays logged in when the
desk restarts. The CSRF token of a session is derived from its token (an HMAC), so nothing
secret is stored at all: a copy of the file logs nobody in.

A stored session comes back with the desk only while it is live (idle and maximum-age limits
count wall-clock time, across the restart) and while its user still has the same password hash
in the settings (a user removed, or a password changed, ends its sessions); its client, role and
operator are the user's in the settings of the new start, never stored ones. Logout deletes it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Session", "SessionStore", "Sessions", "credential_of", "token_key"]

#: at most this often (s) does a request write its session's last-seen time to the store: a session
#: restored after a restart may so look idle for up to this much longer than it was
TOUCH_EVERY_S = 60.0


def token_key(token: str) -> str:
    """The SHA-256 of a session token (hex): the only form the desk keeps of it."""
    return hashlib.sha256(token.encode()).hexdigest()


def _csrf(token: str) -> str:
    return hmac.new(token.encode(), b"rfqcore csrf token", hashlib.sha256).hexdigest()


def credential_of(password_hash: str) -> str:
    """A short digest of a user's password hash: a session opened under another one does not
    come back (the password changed)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


@dataclass(slots=True)
class Session:
    """A logged-in user: a portal user's ``client``, or a console user's ``role`` and ``operator``
    id. ``sid`` is the session's token (its cookie); ``key`` its SHA-256."""

    sid: str
    user: str
    client: int
    csrf: str
    created: float
    last_seen: float
    role: str = ""
    operator: int = 0
    key: str = ""
    credential: str = ""
    stored_seen: float = 0.0  # the last-seen time the store has


class SessionStore:
    """Sessions in an SQLite file (one table, ``web_session``), shared by the desk's web apps
    (each under its own ``app`` name). Thread-safe; each call is one short transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS web_session ("
            " key TEXT PRIMARY KEY,"  # SHA-256 of the session token, never the token
            " app TEXT NOT NULL,"  # the web app (its cookie name)
            " user TEXT NOT NULL,"
            " credential TEXT NOT NULL,"  # credential_of(the user's password hash) at login
            " created REAL NOT NULL,"  # wall-clock seconds
            " last_seen REAL NOT NULL)")

    def load(self, app: str) -> list[tuple[str, str, str, float, float]]:
        """``(key, user, credential, created, last_seen)`` of every stored session of ``app``."""
        with self._lock:
            return list(self._db.execute(
                "SELECT key, user, credential, created, last_seen FROM web_session WHERE app = ?", (app,)))

    def put(self, app: str, s: Session) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO web_session VALUES (?, ?, ?, ?, ?, ?)",
                             (s.key, app, s.user, s.credential, s.created, s.last_seen))

    def touch(self, key: str, last_seen: float) -> None:
        with self._lock:
            self._db.execute("UPDATE web_session SET last_seen = ? WHERE key = ?", (last_seen, key))

    def delete(self, keys: list[str]) -> None:
        if keys:
            with self._lock:
                self._db.executemany("DELETE FROM web_session WHERE key = ?", [(k,) for k in keys])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Sessions:
    """Server-side sessions of one web app: random 256-bit tokens, an idle timeout and a maximum
    age, at most ``per_user`` per user (the oldest ends). With a ``store``, every session is also
    kept there under ``app`` and the live ones come back at start (:meth:`restore`)."""

    def __init__(self, idle_s: float, max_age_s: float, per_user: int = 16,
                 clock: Callable[[], float] = time.time, *, store: SessionStore | None = None,
                 app: str = "") -> None:
        self.idle_s, self.max_age_s, self.per_user, self.clock = idle_s, max_age_s, per_user, clock
        self.store, self.app = store, app
        self._by_key: dict[str, Session] = {}

    def _live(self, s: Session, now: float) -> bool:
        return now - s.last_seen < self.idle_s and now - s.created < self.max_age_s

    def restore(self, revive: Callable[[str, str], dict[str, Any] | None]) -> int:
        """Take back the store's live sessions of this app: ``revive(user, credential)`` gives a
        session's fields now (``client``, or ``role`` and ``operator``), or None to end it (the
        user is gone or its password changed). Expired and ended ones are deleted. Returns how
        many came back."""
        if self.store is None:
            return 0
        now, dead = self.clock(), []
        for key, user, credential, created, last_seen in self.store.load(self.app):
            fields = revive(user, credential)
            s = Session("", user, int((fields or {}).get("client", 0)), "", created, last_seen,
                        str((fields or {}).get("role", "")), int((fields or {}).get("operator", 0)), key,
                        credential, last_seen)
            if fields is None or not self._live(s, now):
                dead.append(key)
            else:
                self._by_key[key] = s
        self.store.delete(dead)
        return len(self._by_key)

    def create(self, user: str, client: int = 0, *, role: str = "", operator: int = 0,
               credential: str = "") -> Session:
        now = self.clock()
        gone = [k for k, s in self._by_key.items() if not self._live(s, now)]
        mine = sorted((s for s in self._by_key.values() if s.user == user and s.key not in gone),
                      key=lambda s: s.created)
        gone += [old.key for old in mine[:max(len(mine) - self.per_user + 1, 0)]]
        for k in gone:
            del self._by_key[k]
        token = secrets.token_urlsafe(32)
        s = Session(token, user, client, _csrf(token), now, now, role, operator, token_key(token), credential, now)
        self._by_key[s.key] = s
        if self.store is not None:
            self.store.delete(gone)
            self.store.put(self.app, s)
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session of token ``sid`` (the cookie), counting this as a request."""
        if not sid:
            return None
        s = self._by_key.get(token_key(sid))
        if s is None:
            return None
        now = self.clock()
        if not self._live(s, now):
            self.drop(sid)
            return None
        if not s.sid:  # restored after a restart: its token is presented for the first time
            s.sid, s.csrf = sid, _csrf(sid)
        s.last_seen = now
        if self.store is not None and now - s.stored_seen >= TOUCH_EVERY_S:
            s.stored_seen = now
            self.store.touch(s.key, now)
        return s

    def live_count(self) -> int:
        now = self.clock()
        return sum(1 for s in list(self._by_key.values()) if self._live(s, now))

    def alive(self, sid: str) -> bool:
        """Whether the session of token ``sid`` is still live (without counting this as a request)."""
        s = self._by_key.get(token_key(sid)) if sid else None
        return s is not None and self._live(s, self.clock())

    def drop(self, sid: str) -> None:
        """End the session of token ``sid`` (logout): here and in the store."""
        key = token_key(sid)
        self._by_key.pop(key, None)
        if self.store is not None:
            self.store.delete([key])
