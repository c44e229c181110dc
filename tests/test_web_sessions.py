"""Portal and console sessions survive a desk restart (docs/web.md, "Sessions"): a real desk
(rfqcore.serve.Server, what ``rfqcore serve --http`` runs) with a journal is stopped and started
again on the same journal directory, its HTTP server a new one on a new port; the cookies of
before still open their sessions, with the same CSRF tokens, and act; and so across a restart of
``rfqcore serve`` itself (SIGTERM, started again on the same port). The store keeps only the
tokens' SHA-256, honours the idle and maximum-age limits across the restart, forgets a user whose
password changed, and a logout before the restart stays a logout after it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from desk_market import free_port, journaled_web_desk, serve_http
from web_client import WebClient

from rfqcore.demo import DEMO_CONSOLE_USERS, DEMO_PORTAL_USERS
from rfqcore.instruments import Registry
from rfqcore.rfqconfig import RfqSettings
from rfqcore.web.auth import hash_password
from rfqcore.web.sessions import token_key

PASSWORDS = {**DEMO_PORTAL_USERS, **DEMO_CONSOLE_USERS}


def _portal(base: str) -> WebClient:
    return WebClient(base, api="/api", login_path="/login", cookie_name="rfqcore_session", passwords=PASSWORDS)


def _console(base: str) -> WebClient:
    return WebClient(base, api="/console/api", login_path="/login", cookie_name="rfqcore_console",
                     passwords=PASSWORDS)


def _rfq_toml() -> str:
    return resources.files("rfqcore.defaults").joinpath("rfq.toml").read_text()


def _on(who: WebClient, srv: Any) -> WebClient:
    """``who`` (its cookie and CSRF token as they were) against the restarted desk's new port."""
    who.base = srv.web.url
    return who


def test_logged_in_users_stay_logged_in_across_a_restart_and_logout_ends_it(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    with journaled_web_desk(jdir) as srv:
        acme, risk, viewer, gone = _portal(srv.web.url), _console(srv.web.url), _console(srv.web.url), \
            _console(srv.web.url)
        for b, user in ((acme, "acme-trader"), (risk, "desk-risk"), (viewer, "desk-viewer"), (gone, "desk-trader")):
            assert b.login(user).status == 200
        assert gone.call("POST", "/logout").status == 200
        tokens = [acme.cookie, risk.cookie, viewer.cookie, gone.cookie, acme.csrf, risk.csrf]
        assert srv.portal.stats()["sessions"] == 1 and srv.console.stats()["sessions"] == 2
    db = jdir / "web-sessions.sqlite"
    stored = db.read_bytes() + b"".join(p.read_bytes() for p in jdir.glob("web-sessions.sqlite-*"))
    assert not any(t is not None and t.encode() in stored for t in tokens)  # no token, no CSRF token kept
    with sqlite3.connect(db) as con:
        keys = {k for (k,) in con.execute("SELECT key FROM web_session")}
    assert keys == {token_key(acme.cookie or ""), token_key(risk.cookie or ""), token_key(viewer.cookie or "")}

    with journaled_web_desk(jdir) as srv:  # the same journal: a restart of the desk and of its HTTP server
        for b in (acme, risk, viewer, gone):
            _on(b, srv)
        me = acme.call("GET", "/session")
        assert me.status == 200 and me.json == {"user": "acme-trader", "client": "acme-capital",
                                                "csrf_token": acme.csrf}, me.body
        quoted = acme.call("POST", "/rfq", {"instrument": "BTC", "side": "buy", "size": "1"})
        assert quoted.status == 200 and quoted.json["status"] == "quoted", quoted.body
        ro = risk.call("GET", "/session").json
        assert (ro["user"], ro["role"], ro["operator"], ro["csrf_token"]) == \
            ("desk-risk", "risk-officer", "risk-officer", risk.csrf)
        done = risk.call("POST", "/restrict", {"instrument": "ETH", "on": True})  # CSRF token of before
        assert done.status == 200 and done.json["status"] == "applied" and done.json["operator"] == "risk-officer"
        assert risk.call("POST", "/restrict", {"instrument": "ETH", "on": False}).json["status"] == "applied"
        assert viewer.call("POST", "/restrict", {"instrument": "ETH", "on": True}).status == 403  # still a viewer
        assert gone.call("GET", "/session").status == 401  # logged out before the restart
        assert acme.call("POST", "/logout").status == 200
        assert acme.call("GET", "/session").status == 401
        assert srv.portal.stats()["sessions"] == 0 and srv.console.stats()["sessions"] == 2

    with journaled_web_desk(jdir) as srv:  # logged out after a restart: out for good
        assert _on(acme, srv).call("GET", "/session").status == 401
        assert _on(risk, srv).call("GET", "/session").status == 200


def test_expired_sessions_and_changed_passwords_do_not_come_back(tmp_path: Path) -> None:
    jdir, store = tmp_path / "journal", tmp_path / "elsewhere" / "sessions.sqlite"
    with journaled_web_desk(jdir, http_sessions=str(store)) as srv:
        idle, old, beta, trader = (_portal(srv.web.url), _portal(srv.web.url), _portal(srv.web.url),
                                   _console(srv.web.url))
        for b, user in ((idle, "acme-trader"), (old, "acme-trader"), (beta, "beta-trader"), (trader, "desk-trader")):
            assert b.login(user).status == 200
    assert not (jdir / "web-sessions.sqlite").exists()  # --http-sessions names the file
    now = time.time()
    with sqlite3.connect(store) as con:  # as if 31 minutes idle, and as if logged in 13 hours ago
        con.execute("UPDATE web_session SET last_seen = ? WHERE key = ?", (now - 31 * 60, token_key(idle.cookie or "")))
        con.execute("UPDATE web_session SET created = ? WHERE key = ?", (now - 13 * 3600, token_key(old.cookie or "")))

    text = _rfq_toml()
    beta_hash = next(u.password_hash for u in RfqSettings.from_toml(text, Registry.load(None)).portal_users
                     if u.name == "beta-trader")
    assert beta_hash in text
    settings = RfqSettings.from_toml(text.replace(beta_hash, hash_password("a-new-password")), Registry.load(None))
    with journaled_web_desk(jdir, settings=settings, http_sessions=str(store)) as srv:
        assert _on(idle, srv).call("GET", "/session").status == 401  # idle 30 minutes at most
        assert _on(old, srv).call("GET", "/session").status == 401  # 12 hours at most
        assert _on(beta, srv).call("GET", "/session").status == 401  # its password changed
        assert _on(trader, srv).call("GET", "/session").status == 200
        assert srv.portal.stats()["sessions"] == 0 and srv.console.stats()["sessions"] == 1
    with sqlite3.connect(store) as con:
        assert [k for (k,) in con.execute("SELECT key FROM web_session")] == [token_key(trader.cookie or "")]


def test_an_unwritable_session_store_is_one_line_at_start(tmp_path: Path) -> None:
    from rfqcore.web.server import HttpUnavailable

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HttpUnavailable, match=r"cannot keep web sessions in .*file/sessions.sqlite: .*--http-sessions"):
        with journaled_web_desk(tmp_path / "journal", http_sessions=str(blocker / "sessions.sqlite")):
            pass


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)  # as systemd stops it
    assert proc.wait(timeout=30) == 0, proc.communicate()[1]


def test_rfqcore_serve_restarted_keeps_its_users_logged_in(tmp_path: Path) -> None:
    """The command an operator runs, stopped (SIGTERM) and started again on the same port: the
    console and portal cookies of the first process open their sessions in the second."""
    port = free_port()
    aeron, store, base = f"/dev/shm/rfqcore-test-sessions-{os.getpid()}", tmp_path / "sessions.sqlite", \
        f"http://127.0.0.1:{port}"
    proc = serve_http(aeron, port, "--http-sessions", str(store))
    try:
        risk, acme = _console(base), _portal(base)
        assert risk.login("desk-risk").status == 200 and acme.login("acme-trader").status == 200
    finally:
        _stop(proc)
    proc = serve_http(aeron, port, "--http-sessions", str(store))
    try:
        me = risk.call("GET", "/session")
        assert me.status == 200 and (me.json["user"], me.json["csrf_token"]) == ("desk-risk", risk.csrf), me.body
        done = risk.call("POST", "/kill", {"scope": "client", "client": "beta-fund", "on": True})
        assert done.status == 200 and done.json["status"] == "applied" and done.json["operator"] == "risk-officer"
        assert acme.call("GET", "/session").json["client"] == "acme-capital"
        assert acme.call("POST", "/logout").status == 200
    finally:
        _stop(proc)
    proc = serve_http(aeron, port, "--http-sessions", str(store))
    try:
        assert acme.call("GET", "/session").status == 401
        assert risk.call("GET", "/session").status == 200
    finally:
        _stop(proc)


def test_the_console_audit_view_keeps_its_rows_across_a_restart(tmp_path: Path) -> None:
    """The console's audit trail on a journaled desk lives in the journal directory's portal file
    too: after a restart the audit view still lists the actions of before, each once, and new
    ones after them."""
    jdir = tmp_path / "journal"
    with journaled_web_desk(jdir) as srv:
        risk = _console(srv.web.url)
        assert risk.login("desk-risk").status == 200
        assert risk.call("POST", "/restrict", {"instrument": "ETH", "on": True}).json["status"] == "applied"
        before = risk.call("GET", "/audit").json
        assert [(r["operator"], r["command"], r["instrument"]) for r in before] == [("risk-officer", "RESTRICT", "ETH")]
    with journaled_web_desk(jdir) as srv:
        risk = _console(srv.web.url)
        assert risk.login("desk-risk").status == 200
        assert risk.call("GET", "/audit").json == before
        assert risk.call("POST", "/restrict", {"instrument": "ETH", "on": False}).json["status"] == "applied"
        after = risk.call("GET", "/audit").json
        assert after[:1] == before and [(r["command"], r["value"]) for r in after[1:]] == [("RESTRICT", "0")], after
