"""An HTTP user agent for the desk's web apps in tests (the RFQ portal, the operator console):
keeps the session cookie and the CSRF token as their pages do."""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebClient:
    """Requests to ``base + api + path``; ``login`` posts to ``api + login_path`` and keeps the
    ``cookie_name`` cookie and the CSRF token it answers with; ``passwords`` fill in a login's
    missing password; ``context``: an ssl.SSLContext for https."""

    def __init__(self, base: str, *, api: str, login_path: str, cookie_name: str,
                 passwords: Mapping[str, str], context: Any = None) -> None:
        self.base, self.api, self.login_path, self.cookie_name = base, api, login_path, cookie_name
        self.passwords, self.context = passwords, context
        self.cookie: str | None = None
        self.csrf: str | None = None

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, csrf: bool = True,
             headers: dict[str, str] | None = None) -> Reply:
        h = {"Content-Type": "application/json", **(headers or {})}
        if self.cookie is not None:
            h["Cookie"] = f"{self.cookie_name}={self.cookie}"
        if csrf and self.csrf is not None and method == "POST":
            h["X-CSRF-Token"] = self.csrf
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if method == "POST" and data is None:
            data = b"{}"
        req = urllib.request.Request(self.base + self.api + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.context) as r:
                return Reply(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.headers, e.read())

    def login(self, user: str, password: str | None = None) -> Reply:
        r = self.call("POST", self.login_path, {"user": user, "password": password or self.passwords[user]})
        if r.status == 200:
            cookie = SimpleCookie()
            cookie.load(r.headers["Set-Cookie"])
            self.cookie = cookie[self.cookie_name].value
            self.csrf = r.json["csrf_token"]
        return r


class EventStream:
    """A Server-Sent Events reader of ``who``'s ``path`` (under its api) on a thread: the events
    as ``(event, data)`` in ``events``, ``None`` when the stream ended; the first, ``hello``, is
    checked and taken."""

    def __init__(self, who: WebClient, path: str) -> None:
        req = urllib.request.Request(who.base + who.api + path, headers={"Cookie": f"{who.cookie_name}={who.cookie}"})
        self.resp = urllib.request.urlopen(req, timeout=30, context=who.context)
        assert self.resp.headers["Content-Type"].startswith("text/event-stream")
        self.events: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next() == ("hello", {})

    def _read(self) -> None:
        event, data = "message", ""
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    self.events.put((event, json.loads(data)))
                    event, data = "message", ""
        except (OSError, ValueError, AttributeError):  # closed under the reader (close())
            pass
        self.events.put(None)  # the stream ended

    def next(self, timeout: float = 10.0) -> tuple[str, Any] | None:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.resp.close()
