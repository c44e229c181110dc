"""The web RFQ portal (docs/web.md) at the HTTP level, against a real desk (rfqcore.serve.Server,
what ``rfqcore serve --http`` runs) with market data fed so that quotes exist: sessions, CSRF,
login rate limits, one client never reaching another's data, bad input refused with no state
change, and the happy path (login, two-way quote, accept, the fill in the blotter and its CSV)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from prometheus_client import CollectorRegistry
from desk_market import feed_market, web_desk
from web_client import EventStream, WebClient

from rfqcore.demo import DEMO_PORTAL_USERS
from rfqcore.errors import ConfigError
from rfqcore.instruments import Registry
from rfqcore.rfqconfig import RfqSettings

PASSWORDS = {**DEMO_PORTAL_USERS, "locked-out": "the-right-one"}


def Browser(base: str, context: Any = None) -> WebClient:  # noqa: N802 - reads as the user agent it makes
    """A user agent of the portal (paths given whole: ``/api/...``)."""
    return WebClient(base, api="", login_path="/api/login", cookie_name="rfqcore_session", passwords=PASSWORDS,
                     context=context)


def _settings(registry: Registry) -> RfqSettings:
    """The packaged RFQ settings plus one user that the rate-limit test locks out."""
    from importlib import resources

    toml = resources.files("rfqcore").joinpath("defaults/rfq.toml").read_text("utf-8")
    toml += (f'\n[[portal_user]]\nname = "locked-out"\nclient = "beta-fund"\n'
             f'password_hash = "{PasswordHasher().hash(PASSWORDS["locked-out"])}"\n')
    return RfqSettings.from_toml(toml, registry, "test-rfq.toml")


@pytest.fixture(scope="module")
def desk() -> Iterator[Any]:
    registry = Registry.load()
    with web_desk(registry=registry, settings=_settings(registry)) as srv:
        yield srv


@pytest.fixture
def acme(desk: Any) -> Browser:
    b = Browser(desk.web.url)
    assert b.login("acme-trader").status == 200
    return b


@pytest.fixture
def beta(desk: Any) -> Browser:
    b = Browser(desk.web.url)
    assert b.login("beta-trader").status == 200
    return b


def _quote(desk: Any, who: Browser, side: str = "two-way", size: str = "1") -> dict[str, Any]:
    feed_market(desk.engine)  # a fresh book: the core refuses to quote off a stale one
    r = who.call("POST", "/api/rfq", {"instrument": "BTC", "side": side, "size": size})
    assert r.status == 200 and r.json["status"] == "quoted", (r.status, r.body)
    return r.json["quote"]  # type: ignore[no-any-return]


ENDPOINTS = [("GET", "/api/session"), ("GET", "/api/instruments"), ("GET", "/api/blotter"),
             ("GET", "/api/blotter.csv"), ("GET", "/api/stream"), ("POST", "/api/logout"), ("POST", "/api/rfq"), ("POST", "/api/accept")]


# ---- sessions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_without_a_session_is_401(desk: Any, method: str, path: str) -> None:
    for cookie in (None, "forged-session-id"):
        b = Browser(desk.web.url)
        b.cookie = cookie
        r = b.call(method, path, {"instrument": "BTC", "side": "buy", "size": "1"})
        assert r.status == 401, (path, r.status, r.body)
        assert "log" in r.json["error"] and r.headers["Cache-Control"] == "no-store"


def test_login_gives_a_safe_cookie_and_logout_ends_the_session_on_the_server(desk: Any) -> None:
    b = Browser(desk.web.url)
    r = b.login("acme-trader")
    assert r.status == 200 and r.json["user"] == "acme-trader" and r.json["client"] == "acme-capital"
    set_cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie  # plain HTTP here; over TLS it is set (request.secure)
    assert b.cookie is not None and len(b.cookie) >= 40 and b.csrf is not None and len(b.csrf) >= 40
    assert b.call("GET", "/api/session").json["client"] == "acme-capital"

    other = Browser(desk.web.url)
    assert other.login("acme-trader").status == 200
    assert other.cookie != b.cookie and other.csrf != b.csrf  # random per session

    old = b.cookie
    assert b.call("POST", "/api/logout", csrf=False).status == 403
    out = b.call("POST", "/api/logout")
    assert out.status == 200 and "rfqcore_session=\"\"" in out.headers["Set-Cookie"]
    b.cookie = old  # a stolen copy of the cookie is worth nothing after logout
    assert b.call("GET", "/api/session").status == 401
    assert other.call("GET", "/api/session").status == 200  # the user's other session lives on


def test_wrong_password_is_401_and_unknown_user_reads_the_same(desk: Any) -> None:
    wrong = Browser(desk.web.url).login("beta-trader", "not-it")
    nobody = Browser(desk.web.url).login("nobody-here", "not-it")
    assert wrong.status == nobody.status == 401
    assert wrong.json == nobody.json and "Set-Cookie" not in wrong.headers


def test_failed_logins_are_rate_limited_per_user(desk: Any) -> None:
    b = Browser(desk.web.url)
    for _ in range(5):
        assert b.login("locked-out", "guess").status == 401
    r = b.login("locked-out")  # even the right password, until the window has passed
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0 and "try again" in r.json["error"]
    assert b.cookie is None
    assert Browser(desk.web.url).login("beta-trader").status == 200  # other users are not locked


def test_failed_logins_are_rate_limited_per_address(desk: Any) -> None:
    """A portal of its own with a low per-address limit (the desk's is 20 in 5 minutes): guessing
    across many user names from one address is stopped too."""
    from rfqcore.web import HttpServer
    from rfqcore.web.portal import Portal

    portal = Portal(desk.engine, desk.settings, address_limit=3)
    with HttpServer("127.0.0.1", 0, CollectorRegistry(), routes=portal.add_routes) as srv:
        b = Browser(srv.url)
        for name in ("u1", "u2", "u3"):
            assert b.login(name, "guess").status == 401
        r = b.login("acme-trader")
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0


# ---- CSRF and isolation ---------------------------------------------------------------------------


def test_state_changing_requests_need_the_csrf_token(desk: Any, acme: Browser, beta: Browser) -> None:
    rfqs = desk.engine.rfq_stats()["rfqs"]
    body = {"instrument": "BTC", "side": "buy", "size": "1"}
    assert acme.call("POST", "/api/rfq", body, csrf=False).status == 403
    assert acme.call("POST", "/api/rfq", body, headers={"X-CSRF-Token": "x" * 43}, csrf=False).status == 403
    assert acme.call("POST", "/api/rfq", body, headers={"X-CSRF-Token": beta.csrf or ""}, csrf=False).status == 403
    assert acme.call("POST", "/api/accept", {"quote_id": "1"}, csrf=False).status == 403
    assert desk.engine.rfq_stats()["rfqs"] == rfqs  # nothing reached the core


def test_a_client_never_reaches_another_clients_quotes_or_blotter(desk: Any, acme: Browser, beta: Browser) -> None:
    q = _quote(desk, acme, "buy")
    stolen = beta.call("POST", "/api/accept", {"quote_id": q["quote_id"]})
    missing = beta.call("POST", "/api/accept", {"quote_id": "123456789"})
    assert stolen.status == missing.status == 404
    assert set(stolen.json) == {"error"} and q["sides"][0]["price"] not in stolen.body.decode()
    assert stolen.json["error"].replace(q["quote_id"], "N") == missing.json["error"].replace("123456789", "N")
    for path in ("/api/blotter", "/api/blotter.csv"):
        assert q["quote_id"] not in beta.call("GET", path).body.decode()
    assert beta.call("GET", "/api/blotter").json["client"] == "beta-fund"
    # the quote is untouched: its owner still fills it
    mine = acme.call("POST", "/api/accept", {"quote_id": q["quote_id"]})
    assert mine.status == 200 and mine.json["status"] == "filled", mine.body


class Stream(EventStream):
    """An ``/api/stream`` reader."""

    def __init__(self, who: WebClient) -> None:
        super().__init__(who, "/api/stream")

    def until(self, pred: Any, timeout: float = 10.0) -> list[tuple[str, Any]]:
        """Events up to and including the first for which ``pred(row)`` holds."""
        seen: list[tuple[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(deadline - time.monotonic(), 0.01))
            assert ev is not None, f"the stream ended; saw {seen}"
            seen.append(ev)
            if ev[0] == "row" and pred(ev[1]):
                return seen


def test_the_stream_pushes_the_clients_own_rows_only_and_ends_at_logout(desk: Any) -> None:
    a, b = Browser(desk.web.url), Browser(desk.web.url)
    assert a.login("acme-trader").status == 200 and b.login("beta-trader").status == 200
    stream = Stream(a)
    theirs = _quote(desk, b, "buy")
    mine = _quote(desk, a, "sell")
    fill = a.call("POST", "/api/accept", {"quote_id": mine["quote_id"]}).json["fill"]
    seen = stream.until(lambda r: r["type"] == "fill" and r["trade_id"] == fill["trade_id"])
    rows = [data for ev, data in seen if ev == "row"]
    assert any(r["type"] == "quote" and r["quote_id"] == mine["quote_id"] for r in rows)
    assert all(r["quote_id"] != theirs["quote_id"] for r in rows), rows  # beta's quote never reaches acme
    assert a.call("POST", "/api/logout").status == 200
    deadline = time.monotonic() + 10
    while (ev := stream.next(max(deadline - time.monotonic(), 0.01))) is not None:
        assert ev[0] == "row", ev  # rows already queued, then the end (None): no waiting for a heartbeat


def test_a_large_rfq_waits_for_the_operator_and_its_quote_is_pushed_when_approved(desk: Any, acme: Browser) -> None:
    stream = Stream(acme)
    feed_market(desk.engine)
    r = acme.call("POST", "/api/rfq", {"instrument": "BTC", "side": "buy", "size": "51"})  # approval_qty is 50
    assert r.status == 200 and r.json["status"] == "pending_approval", r.body
    rfq_id, request_id = r.json["rfq_id"], r.json["request_id"]
    stream.until(lambda row: row["type"] == "pending_approval" and row["rfq_id"] == rfq_id)
    assert desk.engine.operator.approve(int(request_id)).ok
    seen = stream.until(lambda row: row["type"] == "quote" and row["rfq_id"] == rfq_id)
    quote = seen[-1][1]
    assert quote["buy_qty"] == "51.00000000" and quote["buy_price"]
    hit = acme.call("POST", "/api/accept", {"quote_id": quote["quote_id"]})
    assert hit.status == 200 and hit.json["status"] == "filled" and hit.json["fill"]["qty"] == "51.00000000", hit.body
    for _ in range(2):  # flat again (in sizes below the approval threshold) for the tests after this one
        sold = _quote(desk, acme, "sell", "25.5")
        assert acme.call("POST", "/api/accept", {"quote_id": sold["quote_id"]}).json["status"] == "filled"


def test_a_kill_switch_refuses_the_clients_next_rfq_with_its_reason(desk: Any, acme: Browser, beta: Browser) -> None:
    """beta-fund never trades in these tests, so nothing it asks for reduces its risk (which a
    kill switch would let through)."""
    feed_market(desk.engine)
    assert desk.engine.operator.kill(client="beta-fund").ok
    try:
        r = beta.call("POST", "/api/rfq", {"instrument": "BTC", "side": "two-way", "size": "1"})
        assert r.status == 200 and r.json["status"] == "rejected" and r.json["reason"] == "KILL_SWITCH", r.body
        assert _quote(desk, acme, "buy")  # another client trades on
    finally:
        assert desk.engine.operator.kill(False, client="beta-fund").ok
    assert _quote(desk, beta, "buy")


def test_a_desk_that_does_not_answer_in_time_is_504_saying_what_to_do(desk: Any, acme: Browser,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """(A core that never answers cannot be made on demand without racing it: the engine's own
    timeout is raised in its place; what is tested is the HTTP side of it.)"""
    from rfqcore.engine import RfqTimeout

    quote = _quote(desk, acme, "buy")

    def late(*_a: Any, **_k: Any) -> Any:
        raise RfqTimeout("no answer to rfq within 5.0s")

    monkeypatch.setattr(desk.engine, "request_quote", late)
    monkeypatch.setattr(desk.engine, "accept", late)
    r = acme.call("POST", "/api/rfq", {"instrument": "BTC", "side": "buy", "size": "1"})
    assert (r.status, r.json["error"]) == (504, "the desk did not answer in time: try again"), r.body
    r = acme.call("POST", "/api/accept", {"quote_id": quote["quote_id"]})
    assert r.status == 504 and "look at the blotter before trying again" in r.json["error"], r.body


def test_a_desk_stopping_ends_its_open_streams_first() -> None:
    """A page left open while the desk stops (seen in the browser tests): its stream is ended on
    the server's loop before that loop closes, not torn down afterwards with a traceback."""
    from rfqcore.serve import Server

    registry = Registry.load()
    srv = Server(registry, _settings(registry), market_files=[], http="127.0.0.1:0")
    srv.start()
    try:
        b = Browser(srv.web.url)
        assert b.login("acme-trader").status == 200
        stream, portal = Stream(b), srv.portal
        assert portal.stats()["streams"] == 1
    finally:
        srv.stop()
    assert stream.next(5) is None  # ended, nothing after the hello
    assert portal.stats()["streams"] == 0  # the handler ran to its end on the live loop


def test_portal_metrics_move_as_it_is_used(desk: Any) -> None:
    from test_metrics import scrape, val

    time.sleep(1.1)  # past /metrics' once-a-second reading
    before, types = scrape(desk.web.url)
    assert types["rfqcore_portal_logins"] == "counter" and types["rfqcore_portal_sessions"] == "gauge"
    assert val(before, "rfqcore_scrape_part_ok", part="portal") == 1
    b = Browser(desk.web.url)
    assert b.login("beta-trader", "nope").status == 401
    assert b.login("beta-trader").status == 200
    stream = Stream(b)
    _quote(desk, b, "buy")
    assert b.call("POST", "/api/rfq", raw=b"{").status == 400
    time.sleep(1.1)
    after, _ = scrape(desk.web.url)

    def delta(name: str, **labels: str) -> float:
        return val(after, name, **labels) - val(before, name, **labels)

    assert delta("rfqcore_portal_logins_total", outcome="ok") == 1
    assert delta("rfqcore_portal_logins_total", outcome="wrong") == 1
    assert delta("rfqcore_portal_requests_total", request="rfq") == 1
    assert delta("rfqcore_portal_requests_total", request="accept") == 0
    assert delta("rfqcore_portal_bad_requests_total") == 1
    assert delta("rfqcore_portal_sessions") == 1 and delta("rfqcore_portal_streams") == 1
    assert b.call("POST", "/api/logout").status == 200
    while stream.next() is not None:  # logout ends the stream
        pass


# ---- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "raw", "says"), [
    ("/api/rfq", b"{not json", "malformed JSON"),
    ("/api/rfq", b"[1, 2]", "JSON object"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": "-1"}', "positive"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": 0}', "positive"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": "NaN"}', "positive"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": "lots"}', "not a decimal"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": "1e40"}', "out of range: at most"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": "0.000000000001"}', "decimals"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": "1e999999999"}', "too large"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": 1e300}', "too large"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": true}', "decimal number"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": "1", "limit": "-5"}', "limit"),
    ("/api/rfq", b'{"instrument": "DOGE", "side": "buy", "size": "1"}', "unknown instrument 'DOGE'"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "up", "size": "1"}', "side must be"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy"}', "missing 'size'"),
    ("/api/rfq", b'{"instrument": "BTC", "side": "buy", "size": "1", "client": 2}', "unknown field"),
    ("/api/accept", b'{"quote_id": "abc"}', "quote_id"),
    ("/api/accept", b'{"quote_id": -4}', "quote_id"),
    ("/api/rfq", b"{" + b" " * 20000 + b"}", "bytes"),
])
def test_bad_input_is_400_with_a_message_and_changes_nothing(desk: Any, acme: Browser, path: str, raw: bytes,
                                                             says: str) -> None:
    before = desk.engine.rfq_stats()
    rows = len(acme.call("GET", "/api/blotter").json["rows"])
    r = acme.call("POST", path, raw=raw)
    assert r.status == 400, (r.status, r.body)
    assert says in r.json["error"], r.json
    assert desk.engine.rfq_stats()["rfqs"] == before["rfqs"] and desk.engine.rfq_stats()["fills"] == before["fills"]
    assert len(acme.call("GET", "/api/blotter").json["rows"]) == rows


def test_bodies_must_be_json_so_no_other_sites_form_can_post_them(desk: Any, acme: Browser) -> None:
    """A cross-site form can send text/plain without a CORS preflight: e.g. a login into the
    attacker's account (login CSRF). The portal takes application/json only."""
    form = b'{"user": "acme-trader", "password": "acme-demo-password", "x": "="}'
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = Browser(desk.web.url).call("POST", "/api/login", raw=form, headers={"Content-Type": ctype})
        assert r.status == 400 and "application/json" in r.json["error"] and "Set-Cookie" not in r.headers, ctype
    r = acme.call("POST", "/api/rfq", raw=b'{"instrument": "BTC", "side": "buy", "size": "1"}',
                  headers={"Content-Type": "text/plain"})
    assert r.status == 400 and "application/json" in r.json["error"]


def test_a_two_way_quote_needs_a_side_to_accept(desk: Any, acme: Browser) -> None:
    q = _quote(desk, acme)
    r = acme.call("POST", "/api/accept", {"quote_id": q["quote_id"]})
    assert r.status == 400 and "two-way" in r.json["error"]
    r = acme.call("POST", "/api/accept", {"quote_id": q["quote_id"], "side": "sideways"})
    assert r.status == 400 and "side must be" in r.json["error"]


# ---- the happy path, and the core's own refusals --------------------------------------------------


def test_login_two_way_quote_accept_and_the_fill_in_the_blotter_and_csv(desk: Any) -> None:
    b = Browser(desk.web.url)
    assert b.login("acme-trader").status == 200
    assert [i["instrument"] for i in b.call("GET", "/api/instruments").json] == ["BTC", "ETH"]
    q = _quote(desk, b, "two-way", "1")
    sides = {s["side"]: s for s in q["sides"]}
    assert set(sides) == {"buy", "sell"} and q["base"] == "BTC" and q["currency"] == "USDT"
    assert 0 < q["expires_in_ms"] <= 10_000 and q["valid_until"].endswith("Z")
    assert float(sides["buy"]["price"]) > float(sides["sell"]["price"]) > 0 and sides["buy"]["qty"] == "1.00000000"

    r = b.call("POST", "/api/accept", {"quote_id": q["quote_id"], "side": "buy"})
    assert r.status == 200 and r.json["status"] == "filled", r.body
    fill = r.json["fill"]
    assert fill["quote_id"] == q["quote_id"] and fill["side"] == "buy" and fill["price"] == sides["buy"]["price"]
    assert fill["qty"] == "1.00000000" and fill["currency"] == "USDT"

    again = b.call("POST", "/api/accept", {"quote_id": q["quote_id"], "side": "buy"})
    assert again.status == 200 and again.json["status"] == "rejected" and again.json["reason"], again.body

    rows = b.call("GET", "/api/blotter").json["rows"]
    by_type = {r["type"]: r for r in rows if r["quote_id"] == q["quote_id"]}
    assert by_type["quote"]["buy_price"] == sides["buy"]["price"]
    assert by_type["quote"]["sell_price"] == sides["sell"]["price"]
    assert by_type["fill"]["trade_id"] == fill["trade_id"] and by_type["fill"]["notional"] == fill["notional"]
    assert by_type["accept_rejected"]["reason"] == again.json["reason"]

    c = b.call("GET", "/api/blotter.csv")
    assert c.status == 200 and c.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in c.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(c.body.decode())))
    fills = [r for r in table if r["type"] == "fill" and r["trade_id"] == fill["trade_id"]]
    assert len(fills) == 1 and fills[0]["price"] == fill["price"] and fills[0]["qty"] == "1.00000000"
    assert fills[0]["side"] == "buy" and fills[0]["instrument"] == "BTC"


def test_the_cores_refusals_come_back_with_their_reasons(desk: Any, acme: Browser) -> None:
    feed_market(desk.engine)
    big = acme.call("POST", "/api/rfq", {"instrument": "BTC", "side": "buy", "size": "100000"})
    assert big.status == 200 and big.json["status"] == "rejected" and big.json["reason"], big.body
    rows = acme.call("GET", "/api/blotter").json["rows"]
    assert any(r["type"] == "rfq_rejected" and r["reason"] == big.json["reason"] for r in rows)

    q = _quote(desk, acme, "sell")
    time.sleep(max(q["expires_in_ms"], 0) / 1000 + 0.3)
    late = acme.call("POST", "/api/accept", {"quote_id": q["quote_id"]})
    assert late.status == 200 and late.json["status"] == "rejected", late.body
    assert late.json["reason"] == "TOO_LATE", late.json  # the core's reason, as every gateway gets it
    rows = acme.call("GET", "/api/blotter").json["rows"]
    assert any(r["type"] == "accept_rejected" and r["quote_id"] == q["quote_id"] and r["reason"] == "TOO_LATE"
               for r in rows)


def test_the_page_ships_with_the_package_and_loads_nothing_from_elsewhere(desk: Any) -> None:
    b = Browser(desk.web.url)
    root = urllib.request.urlopen(desk.web.url + "/", timeout=10)
    assert root.url.endswith("/portal/")
    page = b.call("GET", "/portal/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.body.decode()
    assert "/portal/portal.js" in html and "http://" not in html and "https://" not in html
    js = b.call("GET", "/portal/portal.js")
    assert js.status == 200 and "X-CSRF-Token" in js.body.decode() and "https://" not in js.body.decode()
    assert b.call("GET", "/portal/portal.css").status == 200
    assert b.call("GET", "/portal/secrets.toml").status == 404


# ---- over TLS ------------------------------------------------------------------------------------


def test_over_tls_the_cookie_is_secure(tmp_path: Any) -> None:
    """With the test-only certificate of tests/tls (a public key pair for 127.0.0.1)."""
    import ssl
    from pathlib import Path

    from rfqcore.serve import Server
    from rfqcore.web.server import HttpUnavailable, tls_context

    tls = Path(__file__).parent / "tls"
    cert, key = str(tls / "test-only-cert.pem"), str(tls / "test-only-key.pem")
    with Server(market_files=[], http="127.0.0.1:0", http_tls=(cert, key)) as desk:
        assert desk.web.url.startswith("https://127.0.0.1:")
        b = Browser(desk.web.url, ssl.create_default_context(cafile=cert))
        r = b.login("acme-trader")
        assert r.status == 200 and "Secure" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
        assert b.call("GET", "/api/session").json["client"] == "acme-capital"
        assert b.call("GET", "/healthz").status == 200
        with pytest.raises(OSError):  # no plain HTTP on that port (the server hangs up)
            urllib.request.urlopen(desk.web.url.replace("https", "http") + "/healthz", timeout=10)
    with pytest.raises(HttpUnavailable, match="no such file"):
        tls_context(str(tmp_path / "none.pem"), key)
    with pytest.raises(HttpUnavailable, match="private key that goes with it"):
        tls_context(key, key)
    half = subprocess.run([sys.executable, "-m", "rfqcore.cli", "serve", "--no-market-data", "--http", "127.0.0.1:0",
                           "--http-cert", cert], capture_output=True, text=True, timeout=60)
    assert half.returncode == 2 and "--http-cert and --http-key together" in half.stderr, half.stderr


# ---- configuration and the hashing command --------------------------------------------------------


def test_demo_passwords_match_the_packaged_hashes() -> None:
    settings = RfqSettings.load()
    users = {u.name: u for u in settings.portal_users}
    assert set(users) == set(DEMO_PORTAL_USERS)
    for name, password in DEMO_PORTAL_USERS.items():
        assert PasswordHasher().verify(users[name].password_hash, password)
    assert "hash" not in repr(users["acme-trader"])


@pytest.mark.parametrize(("entry", "says"), [
    ('name = "x"\nclient = "acme-capital"\npassword_hash = "hunter2"', "argon2id hash"),
    ('name = "x"\nclient = "nobody"\npassword_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"',
     "unknown client 'nobody'"),
    ('name = "acme-trader"\nclient = "acme-capital"\npassword_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"',
     "duplicate portal user name"),
    ('name = "x"\nclient = "acme-capital"\npassword = "hunter2"', "unknown keys ['password']"),
])
def test_bad_portal_users_are_refused_in_one_line(entry: str, says: str) -> None:
    from importlib import resources

    toml = resources.files("rfqcore").joinpath("defaults/rfq.toml").read_text("utf-8")
    with pytest.raises(ConfigError, match=".*") as e:
        RfqSettings.from_toml(toml + "\n[[portal_user]]\n" + entry + "\n", Registry.load(), "f.toml")
    assert says in str(e.value) and "portal_user #3" in str(e.value) and "\n" not in str(e.value)


def test_hash_password_command() -> None:
    r = subprocess.run([sys.executable, "-m", "rfqcore.cli", "portal", "hash-password"], input="s3cret pass\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    h = r.stdout.strip()
    assert h.startswith("$argon2id$") and "s3cret" not in h and PasswordHasher().verify(h, "s3cret pass")
    empty = subprocess.run([sys.executable, "-m", "rfqcore.cli", "portal", "hash-password"], input="\n",
                           capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and "empty password" in empty.stderr and "Traceback" not in empty.stderr


# ---- pieces ---------------------------------------------------------------------------------------


def test_login_limiter_window_and_sessions_expiry_with_a_fake_clock() -> None:
    from rfqcore.web.portal import LoginLimiter, Sessions

    now = [1000.0]
    lim = LoginLimiter(3, 60.0, clock=lambda: now[0])
    for _ in range(3):
        assert lim.retry_after("u") is None
        lim.failed("u")
        now[0] += 10
    assert lim.retry_after("u") == pytest.approx(30.0)  # the oldest failure ages out at 1060
    now[0] = 1060.5
    assert lim.retry_after("u") is None  # two failures left in the window
    lim.failed("u")
    assert lim.retry_after("u") == pytest.approx(9.5)
    lim.clear("u")
    assert lim.retry_after("u") is None

    sessions = Sessions(idle_s=30.0, max_age_s=100.0, per_user=2, clock=lambda: now[0])
    a = sessions.create("alice", 1)
    now[0] += 20
    assert sessions.get(a.sid) is a  # in use: the idle timer starts again
    now[0] += 29
    assert sessions.get(a.sid) is a
    now[0] += 31
    assert sessions.get(a.sid) is None  # idle too long
    b = sessions.create("alice", 1)
    for step in (25, 25, 25, 24):
        now[0] += step
        assert sessions.get(b.sid) is b  # 99 s old
    now[0] += 1
    assert sessions.get(b.sid) is None  # past its maximum age however busy
    first, second, third = (sessions.create("bob", 2) for _ in range(3))
    assert sessions.get(first.sid) is None and sessions.get(second.sid) is second and sessions.get(third.sid) is third
    assert sessions.get(None) is None and sessions.get("") is None


def test_the_blotter_never_stops_the_engines_output_pump() -> None:
    """An event the blotter cannot take is counted and logged; the ones after it are taken, and a
    stream listener whose event loop is gone is skipped."""
    from rfqcore.records import QuoteEnd
    from rfqcore.rfq import Quote, QuoteEnded
    from rfqcore.web.portal import Blotter

    registry = Registry.load()
    blotter = Blotter({1}, registry)
    got: list[dict[str, Any]] = []

    def closed_loop(row: dict[str, Any]) -> None:
        raise RuntimeError("Event loop is closed")

    blotter.listen(1, closed_loop)
    blotter.listen(1, got.append)
    broken = Quote(client=1, composite=1, quote_id=7, rfq_id=7, valid_until=0, sides=None,  # type: ignore[arg-type]
                   partial_ok=False, ts_send=0)
    ended = QuoteEnded(client=1, composite=1, quote_id=8, rfq_id=8, state=QuoteEnd.EXPIRED, reason=0, core_time=1)
    other = QuoteEnded(client=2, composite=1, quote_id=9, rfq_id=9, state=QuoteEnd.EXPIRED, reason=0, core_time=1)
    blotter.add([broken, ended, other])
    assert blotter.errors == 1
    rows = blotter.rows(1)
    assert [(r["type"], r["quote_id"]) for r in rows] == [("quote_expired", "8")] and got == rows
    assert blotter.rows(2) == []  # a client without portal users is not kept
