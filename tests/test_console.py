"""The operator console (docs/web.md) at the HTTP level, against a real journaled desk
(rfqcore.serve.Server, what ``rfqcore serve --http`` runs) with market data fed so that quotes
exist: no session → 401 everywhere, each role refused what it may not do (403, nothing sent),
CSRF, bad input → 400 with no state change, actions journaled with the operator's id and named
in the audit trail, the approval queue end to end with a portal client, the kill switch seen by
the client, and setting changes (limits, pricing, client tiers, tiers' terms, the hedging policy,
the desk's settings) shown old → new and applied only when confirmed."""

from __future__ import annotations

import struct
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from desk_market import feed_market, web_desk
from web_client import EventStream, WebClient

from rfqcore.demo import DEMO_CONSOLE_USERS, DEMO_PORTAL_USERS
from rfqcore.errors import ConfigError
from rfqcore.instruments import Registry
from rfqcore.rfqconfig import RfqSettings
from rfqcore.units import from_units

PASSWORDS = {**DEMO_PORTAL_USERS, **DEMO_CONSOLE_USERS}


def Browser(base: str, portal: bool = False) -> WebClient:  # noqa: N802 - reads as the user agent it makes
    """A user agent of the console (paths under ``/console/api``) or, with ``portal``, of the
    RFQ portal (under ``/api``)."""
    return WebClient(base, api="/api" if portal else "/console/api", login_path="/login",
                     cookie_name="rfqcore_session" if portal else "rfqcore_console", passwords=PASSWORDS)


class Stream(EventStream):
    """A ``stream`` reader of the console (or, for a portal user agent, of the portal)."""

    def __init__(self, who: WebClient) -> None:
        super().__init__(who, "/stream")

    def until(self, pred: Any, timeout: float = 10.0) -> tuple[str, Any]:
        """The first event ``(name, data)`` for which ``pred(name, data)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.events.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert ev is not None, "the stream ended"
            if pred(*ev):
                return ev


#: a hedging policy for BTC (off: nothing is hedged, but the console can change it)
HEDGING = ('\n[[hedging]]\ncomposite = "BTC"\nmode = "off"\nthreshold = "1"\nmax_slippage_bps = "5"\nretry_ms = 200\n'
           '[[hedging.venue]]\nid = 1\nname = "binance-sim"\ninstrument = "binance-spot:BTCUSDT"\n')


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from importlib import resources

    from rfqcore.journal import JournalSettings

    registry = Registry.load(None)
    text = resources.files("rfqcore.defaults").joinpath("rfq.toml").read_text() + HEDGING
    settings = RfqSettings.from_toml(text, registry, "rfq.toml + [[hedging]]")
    with web_desk(journal=JournalSettings(str(tmp_path_factory.mktemp("console-journal"))), registry=registry,
                  settings=settings) as srv:
        yield srv


def _user(desk: Any, name: str) -> Browser:
    b = Browser(desk.web.url)
    r = b.login(name)
    assert r.status == 200, r.body
    return b


@pytest.fixture
def viewer(desk: Any) -> Browser:
    return _user(desk, "desk-viewer")


@pytest.fixture
def trader(desk: Any) -> Browser:
    return _user(desk, "desk-trader")


@pytest.fixture
def risk(desk: Any) -> Browser:
    return _user(desk, "desk-risk")


def _client(desk: Any, name: str) -> Browser:
    b = Browser(desk.web.url, portal=True)
    assert b.login(name).status == 200
    return b


class _Unchanged:
    """``with _Unchanged(desk):`` fails unless the core's state hash and CONTROL count are the
    same after the block as before it. The core's idle heartbeats (which move its clock, so its
    state) are off meanwhile: nothing else feeds this desk."""

    def __init__(self, desk: Any) -> None:
        self.engine = desk.engine

    def _now(self) -> tuple[int, int]:
        return self.engine.state_hash(), self.engine.rfq_stats()["controls"]

    def __enter__(self) -> None:
        self.engine.core.set_heartbeat(None)
        time.sleep(0.05)  # a heartbeat already on its way is taken before the first reading
        self.before = self._now()

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                assert self._now() == self.before, "a refused request changed the core's state"
        finally:
            self.engine.core.set_heartbeat(1_000_000)


VIEWS = ["/session", "/books", "/flow", "/positions", "/clients", "/limits", "/approvals", "/venues", "/latency",
         "/audit", "/stream"]
ACTIONS = {  # a well-formed body of each action
    "/approve": {"request_id": "12345"}, "/decline": {"request_id": "12345"},
    "/kill": {"scope": "client", "client": "beta-fund", "on": True}, "/reenable": {"client": "beta-fund"},
    "/restrict": {"instrument": "ETH", "on": True},
    "/change": {"what": "instrument", "target": "BTC", "field": "max_qty", "value": "150"},
    "/confirm": {"change_id": "nope"},
}
TRADER_ACTIONS = ("/approve", "/decline")


# ---- sessions and roles ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*VIEWS, "/logout", *ACTIONS])
def test_every_endpoint_without_a_session_is_401(desk: Any, path: str) -> None:
    portal_user = _client(desk, "acme-trader")
    for cookie in (None, "forged-session-id", portal_user.cookie):  # a portal session opens nothing here
        b = Browser(desk.web.url)
        b.cookie = cookie
        r = b.call("POST" if path not in VIEWS else "GET", path, ACTIONS.get(path))
        assert r.status == 401, (path, r.status, r.body)
        assert "/console/api/login" in r.json["error"] and r.headers["Cache-Control"] == "no-store"


def test_the_demo_users_log_in_with_their_roles_and_operators(desk: Any) -> None:
    want = {"desk-viewer": ("viewer", "desk-operator", []),
            "desk-trader": ("trader", "desk-operator", ["approve", "decline"]),
            "desk-risk": ("risk-officer", "risk-officer",
                          ["approve", "decline", "kill", "reenable", "restrict", "change", "confirm"])}
    for user, (role, operator, may) in want.items():
        b = Browser(desk.web.url)
        r = b.login(user)
        assert r.status == 200, r.body
        assert (r.json["role"], r.json["operator"], r.json["may"]) == (role, operator, may)
        cookie = r.headers["Set-Cookie"]
        assert "rfqcore_console=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    wrong = Browser(desk.web.url).login("desk-risk", "not-it")
    assert wrong.status == 401 and wrong.json == Browser(desk.web.url).login("nobody", "not-it").json
    assert Browser(desk.web.url).login("acme-trader").status == 401  # a portal user is no console user


def test_a_viewer_reads_every_view_and_may_take_no_action(desk: Any, viewer: Browser) -> None:
    for path in VIEWS[:-1]:
        r = viewer.call("GET", path)
        assert r.status == 200, (path, r.body)
    with _Unchanged(desk):
        for path, body in ACTIONS.items():
            r = viewer.call("POST", path, body)
            assert r.status == 403, (path, r.status, r.body)
            assert "viewer may not" in r.json["error"]


def test_a_trader_may_not_flip_a_kill_switch_or_change_limits(desk: Any, trader: Browser) -> None:
    with _Unchanged(desk):
        for path in set(ACTIONS) - set(TRADER_ACTIONS):
            r = trader.call("POST", path, ACTIONS[path])
            assert r.status == 403 and "needs the risk-officer role" in r.json["error"], (path, r.body)


def test_state_changing_requests_need_the_csrf_token(desk: Any, risk: Browser, trader: Browser) -> None:
    with _Unchanged(desk):
        for path, body in ACTIONS.items():
            assert risk.call("POST", path, body, csrf=False).status == 403
            assert risk.call("POST", path, body, csrf=False, headers={"X-CSRF-Token": trader.csrf or ""}).status == 403
        assert risk.call("POST", "/logout", csrf=False).status == 403
    assert risk.call("GET", "/session").status == 200  # still logged in


BAD = [
    ("/kill", None, b"{not json", "malformed JSON"),
    ("/kill", None, b"[1, 2]", "JSON object"),
    ("/kill", {"scope": "client", "client": "beta-fund", "on": True, "extra": 1}, None, "unknown field"),
    ("/kill", {"scope": "everything", "on": True}, None, "scope must be"),
    ("/kill", {"scope": "client", "client": "nobody", "on": True}, None, "unknown client 'nobody'"),
    ("/kill", {"scope": "instrument", "instrument": "DOGE", "on": True}, None, "unknown instrument 'DOGE'"),
    ("/kill", {"scope": "all", "client": "beta-fund", "on": True}, None, "takes neither"),
    ("/kill", {"scope": "all", "on": "yes"}, None, "on must be true or false"),
    ("/reenable", {}, None, "give the client or the instrument"),
    ("/restrict", {"instrument": 7, "on": True}, None, "unknown instrument"),
    ("/approve", {"request_id": "0"}, None, "request_id must be"),
    ("/approve", {"request_id": "abc"}, None, "request_id must be"),
    ("/approve", {"request_id": "99999999999999999999999"}, None, "request_id must be"),
    ("/approve", {"request_id": "12345", "adjust_bps": "99999"}, None, "adjust_bps must be within"),
    ("/approve", {"request_id": "12345", "adjust_bps": "1.234"}, None, "at most 2 decimals"),
    ("/approve", {"request_id": "12345", "adjust_bps": "NaN"}, None, "adjust_bps must be within"),
    ("/approve", {"request_id": "12345"}, None, "no RFQ waits for approval"),
    ("/decline", {"request_id": "12345"}, None, "no RFQ waits for approval"),
    ("/change", {"what": "colour", "target": "gold", "field": "fee_bps", "value": "1"}, None, "what must be one of"),
    ("/change", {"what": "tier", "target": "platinum", "field": "fee_bps", "value": "1"}, None,
     "unknown target 'platinum'"),
    ("/change", {"what": "tier", "target": "gold", "field": "fee_bps", "value": "100000"}, None,
     "fee_bps must be within 0.00..9999.99 bps"),
    ("/change", {"what": "tier", "target": "gold", "field": "ttl_ms", "value": "0"}, None, "ttl_ms must be at least"),
    ("/change", {"what": "tier", "target": "gold", "field": "allow_partial", "value": 1}, None, "true or false"),
    ("/change", {"what": "client", "target": "acme-capital", "field": "tier", "value": "platinum"}, None,
     "tier must be one of gold, silver"),
    ("/change", {"what": "client", "target": "acme-capital", "field": "tier", "value": 9}, None, "tier must be one of"),
    ("/change", {"what": "hedging", "target": "ETH", "field": "mode", "value": "full"}, None,
     "ETH has no hedging policy"),
    ("/change", {"what": "hedging", "target": "BTC", "field": "mode", "value": "always"}, None,
     "mode must be one of off, full, partial, threshold"),
    ("/change", {"what": "hedging", "target": "BTC", "field": "ratio_pct", "value": "500"}, None,
     "ratio_pct must be within 1..100"),
    ("/change", {"what": "hedging", "target": "BTC", "field": "threshold", "value": "0"}, None,
     "threshold must be at least 0.00000001"),
    ("/change", {"what": "hedging", "target": "BTC", "field": "retry_ms", "value": "-1"}, None, "non-negative"),
    ("/change", {"what": "desk", "field": "exec_count", "value": "65"}, None, "exec_count must be within 0..64"),
    ("/change", {"what": "desk", "field": "exec_window_ms", "value": "0"}, None, "exec_window_ms must be at least"),
    ("/change", {"what": "desk", "target": "BTC", "field": "exec_count", "value": "3"}, None,
     "unknown target 'BTC'"),
    ("/change", {"what": "desk", "field": "quote_table", "value": "3"}, None, "unknown desk field"),
    ("/change", {"what": "instrument", "target": "BTC", "field": "colour", "value": "1"}, None,
     "unknown instrument field"),
    ("/change", {"what": "instrument", "target": "BTC", "field": "max_qty", "value": "-5"}, None, "non-negative"),
    ("/change", {"what": "instrument", "target": "BTC", "field": "max_qty", "value": "1e50"}, None, "too large"),
    ("/change", {"what": "instrument", "target": "BTC", "field": "max_qty", "value": "1e15"}, None, "out of range: at most"),
    ("/change", {"what": "instrument", "target": "BTC", "field": "max_qty", "value": "abc"}, None, "not a decimal"),
    ("/change", {"what": "instrument", "target": "BTC", "field": "max_qty", "value": "0.000000001"}, None, "decimals"),
    ("/change", {"what": "client", "target": "acme-capital", "field": "max_open_quotes", "value": "1.5"}, None,
     "non-negative whole number"),
    ("/change", {"what": "client", "target": "acme-capital", "field": "enabled", "value": "no"}, None,
     "true or false"),
    ("/change", {"what": "client", "target": "zeta", "field": "enabled", "value": False}, None, "unknown target"),
]


@pytest.mark.parametrize(("path", "body", "raw", "message"), BAD)
def test_malformed_json_and_absurd_values_are_400_and_change_nothing(desk: Any, risk: Browser, path: str,
                                                                      body: Any, raw: bytes | None,
                                                                      message: str) -> None:
    with _Unchanged(desk):
        r = risk.call("POST", path, body, raw=raw)
    assert r.status == 400, (r.status, r.body)
    assert message in r.json["error"], r.json["error"]
    assert "Traceback" not in r.body.decode() and "\n" not in r.json["error"]


# ---- actions ----------------------------------------------------------------------------------------


def _journal_has_control(jdir: Path, operator_id: int, control_id: int) -> bool:
    """Whether a journal segment holds the CONTROL record of ``control_id`` sent by ``operator_id``
    (the 64-byte ring record, its ``seq`` carrying the operator id above the control id)."""
    from rfqcore.records import RECORD_DTYPE, Kind

    seq_off, kind_off = RECORD_DTYPE.fields["seq"][1], RECORD_DTYPE.fields["kind"][1]
    needle = struct.pack("<Q", (operator_id << 48) | control_id)
    for seg in jdir.rglob("*"):
        if not seg.is_file() or "snapshot" in seg.name:
            continue
        data = seg.read_bytes()
        at = data.find(needle)
        while at >= 0:
            start = at - seq_off
            if start >= 0 and data[start + kind_off] == Kind.CONTROL:
                return True
            at = data.find(needle, at + 1)
    return False


def test_an_action_is_journaled_with_the_operators_id_and_the_audit_names_the_operator(desk: Any,
                                                                                       risk: Browser,
                                                                                       viewer: Browser) -> None:
    stream = Stream(viewer)
    try:
        r = risk.call("POST", "/restrict", {"instrument": "ETH", "on": True})
        assert r.status == 200 and r.json["status"] == "applied" and r.json["operator"] == "risk-officer", r.body
        assert desk.engine.instrument_risk_raw("ETH")["restricted"] is True
        (ack,) = r.json["acks"]
        assert (ack["command"], ack["field"], ack["value"], ack["result"]) == ("RESTRICT", "", "1", "OK")
        _, row = stream.until(lambda ev, d: ev == "control" and d["control_id"] == ack["control_id"])
        assert row["operator"] == "risk-officer" and row["operator_id"] == 2 and row["command"] == "RESTRICT"
        audit = risk.call("GET", "/audit").json
        assert any(a["control_id"] == ack["control_id"] and a["operator"] == "risk-officer" for a in audit)
        assert _journal_has_control(Path(desk.engine.journal.dir), 2, int(ack["control_id"]))
    finally:
        off = risk.call("POST", "/restrict", {"instrument": "ETH", "on": False})
        stream.close()
    assert off.json["status"] == "applied" and desk.engine.instrument_risk_raw("ETH")["restricted"] is False


def test_the_approval_queue_end_to_end(desk: Any, trader: Browser) -> None:
    """A large RFQ waits; the console lists it with its time left; a trader approves it with a
    price adjustment and the client's quote arrives; another is declined and the client is told."""
    acme = _client(desk, "acme-trader")
    client_stream, desk_stream = Stream(acme), Stream(trader)
    try:
        feed_market(desk.engine)
        r = acme.call("POST", "/rfq", {"instrument": "BTC", "side": "buy", "size": "51"})  # approval_qty is 50
        assert r.status == 200 and r.json["status"] == "pending_approval", r.body
        rid = r.json["request_id"]
        _, pushed = desk_stream.until(lambda ev, d: ev == "flow" and d.get("request_id") == rid)
        assert pushed["type"] == "pending_approval" and pushed["client"] == "acme-capital"
        (waiting,) = [a for a in trader.call("GET", "/approvals").json if a["request_id"] == rid]
        assert waiting["client"] == "acme-capital" and waiting["qty"] == "51.00000000" and waiting["side"] == "buy"
        assert waiting["rfq_id"] == str(r.json["rfq_id"]) and waiting["limit"] is None
        assert 0 < waiting["remaining_ms"] <= 30_000 and waiting["indicative"]
        ok = trader.call("POST", "/approve", {"request_id": rid, "adjust_bps": "2.5"})
        assert ok.status == 200 and ok.json["status"] == "applied" and ok.json["operator"] == "desk-operator", ok.body
        _, quote = client_stream.until(lambda ev, d: d.get("type") == "quote" and d["rfq_id"] == r.json["rfq_id"])
        assert quote["buy_qty"] == "51.00000000" and quote["buy_price"]
        assert not [a for a in trader.call("GET", "/approvals").json if a["request_id"] == rid]
        again = trader.call("POST", "/approve", {"request_id": rid})
        assert again.status == 400 and "no RFQ waits" in again.json["error"]

        feed_market(desk.engine)
        r2 = acme.call("POST", "/rfq", {"instrument": "BTC", "side": "sell", "size": "52"})
        assert r2.json["status"] == "pending_approval", r2.body
        no = trader.call("POST", "/decline", {"request_id": r2.json["request_id"]})
        assert no.status == 200 and no.json["status"] == "applied", no.body
        _, refused = client_stream.until(lambda ev, d: d.get("type") == "rfq_rejected"
                                         and d["rfq_id"] == r2.json["rfq_id"])
        assert refused["reason"] == "APPROVAL_DECLINED"
    finally:
        client_stream.close()
        desk_stream.close()


def test_an_approval_with_a_price_override_quotes_the_client_that_price(desk: Any, trader: Browser) -> None:
    acme = _client(desk, "acme-trader")
    client_stream = Stream(acme)
    try:
        feed_market(desk.engine)
        r = acme.call("POST", "/rfq", {"instrument": "BTC", "side": "buy", "size": "51"})
        assert r.json["status"] == "pending_approval", r.body
        rid = r.json["request_id"]
        (waiting,) = [a for a in trader.call("GET", "/approvals").json if a["request_id"] == rid]
        price = str(Decimal(waiting["indicative"]) + Decimal("1.25"))  # within the collar
        with _Unchanged(desk):
            bad = trader.call("POST", "/approve", {"request_id": rid, "price": price + "1"})
        assert bad.status == 400 and "decimals" in bad.json["error"], bad.body
        ok = trader.call("POST", "/approve", {"request_id": rid, "price": price})
        assert ok.json["status"] == "applied", ok.body
        _, quote = client_stream.until(lambda ev, d: d.get("type") == "quote" and d["rfq_id"] == r.json["rfq_id"])
        assert quote["buy_price"] == price and quote["buy_qty"] == "51.00000000"
    finally:
        client_stream.close()


def test_a_kill_switch_refuses_the_clients_next_rfq_with_its_reason(desk: Any, risk: Browser) -> None:
    """beta-fund never trades in these tests, so nothing it asks for reduces its risk (which a
    kill switch would let through)."""
    beta, acme = _client(desk, "beta-trader"), _client(desk, "acme-trader")
    feed_market(desk.engine)
    r = risk.call("POST", "/kill", {"scope": "client", "client": "beta-fund", "on": True})
    assert r.status == 200 and r.json["status"] == "applied", r.body
    try:
        assert next(c for c in risk.call("GET", "/clients").json if c["client"] == "beta-fund")["killed"] is True
        refused = beta.call("POST", "/rfq", {"instrument": "BTC", "side": "two-way", "size": "1"})
        assert refused.json["status"] == "rejected" and refused.json["reason"] == "KILL_SWITCH", refused.body
        assert acme.call("POST", "/rfq", {"instrument": "BTC", "side": "buy", "size": "1"}).json["status"] == "quoted"
    finally:
        off = risk.call("POST", "/kill", {"scope": "client", "client": "beta-fund", "on": False})
    assert off.json["status"] == "applied"
    feed_market(desk.engine)
    assert beta.call("POST", "/rfq", {"instrument": "BTC", "side": "buy", "size": "1"}).json["status"] == "quoted"


def test_an_action_the_desk_does_not_answer_in_time_is_504_and_counted(desk: Any, risk: Browser,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """(The engine's own timeout raised in place of a core that never answers, which cannot be
    made on demand without racing it: what is tested is the HTTP side of it.)"""
    from rfqcore.engine import RfqTimeout

    class Late:
        def __getattr__(self, name: str) -> Any:
            def late(*_a: Any, **_k: Any) -> Any:
                raise RfqTimeout(f"no answer to control {name} within 2.0s")
            return late

    before = desk.console.counts["timed_out"]
    monkeypatch.setattr(desk.console, "_operator", lambda _session: Late())
    r = risk.call("POST", "/kill", {"scope": "client", "client": "beta-fund", "on": True})
    assert r.status == 504 and "look at the audit view before trying again" in r.json["error"], r.body
    assert desk.console.counts["timed_out"] == before + 1


def test_a_limit_change_shows_old_and_new_and_applies_only_when_confirmed(desk: Any, risk: Browser) -> None:
    def max_qty() -> str:
        btc = next(i for i in risk.call("GET", "/limits").json["instruments"] if i["instrument"] == "BTC")
        return str(btc["limits"]["max_qty"])

    old = max_qty()
    with _Unchanged(desk):  # nothing is sent before the confirm
        asked = risk.call("POST", "/change", {"what": "instrument", "target": "BTC", "field": "max_qty",
                                              "value": "150"})
    assert asked.status == 200, asked.body
    assert (asked.json["old"], asked.json["new"], asked.json["unit"]) == (old, "150.00000000", "qty")
    assert max_qty() == old

    other = _user(desk, "desk-risk")  # another session cannot confirm it
    assert other.call("POST", "/confirm", {"change_id": asked.json["change_id"]}).status == 404
    done = risk.call("POST", "/confirm", {"change_id": asked.json["change_id"]})
    assert done.status == 200 and done.json["status"] == "applied", done.body
    (ack,) = done.json["acks"]
    assert (ack["field"], ack["previous"], ack["value"]) == ("MAX_QTY", old, "150.00000000")  # in base units
    audit = next(a for a in risk.call("GET", "/audit").json if a["control_id"] == ack["control_id"])
    assert (audit["operator"], audit["instrument"], audit["previous"], audit["value"]) == \
        ("risk-officer", "BTC", old, "150.00000000")
    assert max_qty() == "150.00000000"
    assert risk.call("POST", "/confirm", {"change_id": asked.json["change_id"]}).status == 404  # used up

    back = risk.call("POST", "/change", {"what": "instrument", "target": "BTC", "field": "max_qty", "value": old})
    assert back.json["old"] == "150.00000000"
    assert risk.call("POST", "/confirm", {"change_id": back.json["change_id"]}).json["status"] == "applied"
    assert max_qty() == old

    bps = risk.call("POST", "/change", {"what": "pricing", "target": "BTC", "field": "base_bps", "value": "1.5"})
    assert bps.status == 200 and bps.json["unit"] == "bps" and bps.json["new"] == "1.50", bps.body


#: one change of each setting the console edits besides limits and pricing: (body, how /limits shows
#: the current value, the new value as shown, the value the core holds after it)
SETTINGS = [
    ({"what": "tier", "target": "silver", "field": "markup_bps", "value": "1.25"},
     lambda v: next(t for t in v["tiers"] if t["tier"] == "silver")["markup_bps"], "1.25",
     lambda e: e.tier_view_raw("silver")["markup_cbps"] == 125),
    ({"what": "tier", "target": "gold", "field": "allow_partial", "value": True},
     lambda v: next(t for t in v["tiers"] if t["tier"] == "gold")["allow_partial"], True,
     lambda e: e.tier_view_raw("gold")["allow_partial"] is True),
    ({"what": "client", "target": "beta-fund", "field": "tier", "value": "gold"},
     None, "gold", lambda e: e.client_risk_raw("beta-fund")["tier"] == 1),
    ({"what": "hedging", "target": "BTC", "field": "mode", "value": "full"},
     lambda v: next(h for h in v["hedging"] if h["instrument"] == "BTC")["mode"], "full",
     lambda e: e.hedge_status_raw()[0]["mode"] == "full"),
    ({"what": "hedging", "target": "BTC", "field": "threshold", "value": "0.5"},
     lambda v: next(h for h in v["hedging"] if h["instrument"] == "BTC")["threshold"], "0.50000000",
     lambda e: e.hedge_status_raw()[0]["threshold"] == 50_000_000),
    ({"what": "desk", "field": "exec_window_ms", "value": "2500"},
     lambda v: v["desk"]["exec_window_ms"], "2500.000000", lambda e: e.desk_view_raw()["exec_window_ns"] == 2_500_000_000),
    ({"what": "desk", "target": "desk", "field": "exec_count", "value": 7},
     lambda v: v["desk"]["exec_count"], 7, lambda e: e.desk_view_raw()["exec_count"] == 7),
]


@pytest.mark.parametrize(("body", "shown", "new", "holds"), SETTINGS,
                         ids=[f"{b['what']}-{b['field']}" for b, *_ in SETTINGS])
def test_tiers_hedging_and_desk_settings_change_old_to_new_when_confirmed(desk: Any, risk: Browser, viewer: Browser,
                                                                          trader: Browser, body: dict[str, Any],
                                                                          shown: Any, new: Any, holds: Any) -> None:
    """Each through the one path of limit changes: asked for (nothing sent; old and new shown),
    confirmed (one SET_* CONTROL record, journaled with the risk officer's id, named in the
    audit trail), the core holding the new value; then set back. A viewer and a trader are
    refused (403) and change nothing."""
    with _Unchanged(desk):
        assert viewer.call("POST", "/change", body).status == 403
        assert trader.call("POST", "/change", body).status == 403
        asked = risk.call("POST", "/change", body)
    assert asked.status == 200, asked.body
    old = asked.json["old"]
    if shown is not None:
        assert shown(risk.call("GET", "/limits").json) == old
    assert asked.json["new"] == new and old != new and not holds(desk.engine)
    done = risk.call("POST", "/confirm", {"change_id": asked.json["change_id"]})
    try:
        assert done.status == 200 and done.json["status"] == "applied", done.body
        assert holds(desk.engine)
        (ack,) = done.json["acks"]
        assert ack["command"] == f"SET_{'HEDGE' if body['what'] == 'hedging' else body['what'].upper()}"
        audit = next(a for a in risk.call("GET", "/audit").json if a["control_id"] == ack["control_id"])
        assert audit["operator"] == "risk-officer" and audit["result"] == "OK"
        # the values as the change showed them (a client's tier by its name, not its id)
        assert (audit["value"], audit["previous"]) == (ack["value"], ack["previous"]) == (str(new), str(old)), audit
        assert _journal_has_control(Path(desk.engine.journal.dir), 2, int(ack["control_id"]))
        if shown is not None:
            assert shown(risk.call("GET", "/limits").json) == new
    finally:
        back = risk.call("POST", "/change", {**body, "value": old})
        assert back.status == 200 and back.json["old"] == new, back.body
        assert risk.call("POST", "/confirm", {"change_id": back.json["change_id"]}).json["status"] == "applied"
    assert not holds(desk.engine)


def test_a_setting_the_core_refuses_changes_nothing(desk: Any, risk: Browser) -> None:
    """A tier's TTL beyond its maximum: a value the field accepts alone but the core refuses for
    the tier as a whole. The confirm answers "rejected" with the core's reason, the audit trail
    names the operator and the reason, and the tier is as it was. (That a refused SET_* changes
    no state at all, state hash included, is the Rust engine tests' rfq.rs and hedging.rs.)"""
    ttl = desk.engine.tier_view_raw("gold")
    too_long = str(Decimal(ttl["max_ttl_ns"]) / 1_000_000 + 1)
    asked = risk.call("POST", "/change", {"what": "tier", "target": "gold", "field": "ttl_ms", "value": too_long})
    assert asked.status == 200, asked.body
    done = risk.call("POST", "/confirm", {"change_id": asked.json["change_id"]})
    assert done.status == 200 and done.json["status"] == "rejected" and done.json["reason"] == "BAD_COMMAND"
    assert desk.engine.tier_view_raw("gold") == ttl
    audit = next(a for a in risk.call("GET", "/audit").json if a["control_id"] == done.json["acks"][0]["control_id"])
    assert audit["result"] == "BAD_COMMAND" and audit["operator"] == "risk-officer"


def test_the_views_show_the_engines_numbers(desk: Any, viewer: Browser) -> None:
    acme = _client(desk, "acme-trader")
    feed_market(desk.engine)
    q = acme.call("POST", "/rfq", {"instrument": "BTC", "side": "buy", "size": "1"}).json["quote"]
    fill = acme.call("POST", "/accept", {"quote_id": q["quote_id"]}).json["fill"]
    flow = viewer.call("GET", "/flow").json
    assert flow["stats"]["fills"] == desk.engine.rfq_stats()["fills"] >= 1
    assert any(row.get("trade_id") == fill["trade_id"] and row["client"] == "acme-capital" for row in flow["recent"])
    books = {b["instrument"]: b for b in viewer.call("GET", "/books").json}
    assert books["BTC"]["mid"] == str(desk.engine.composite_mid("BTC"))
    assert [lvl["size"] for lvl in books["BTC"]["ladder"]] == [str(lv.size) for lv in desk.engine.quotes("BTC")]
    positions = viewer.call("GET", "/positions").json
    btc = next(p for p in positions["desk"] if p["instrument"] == "BTC")
    assert btc["qty"] == str(desk.engine.positions()["BTC"].qty)
    clients = {c["client"]: c for c in viewer.call("GET", "/clients").json}
    risk = desk.engine.client_risk_raw("acme-capital")
    assert clients["acme-capital"]["utilised"] == str(from_units(risk["utilised"], 2))
    assert clients["acme-capital"]["credit_limit"] == str(from_units(risk["credit_limit"], 2))
    venues = viewer.call("GET", "/venues").json
    assert venues["journal"]["durable_seq"] > 0
    stages = {s["stage"]: s for s in viewer.call("GET", "/latency").json}
    want = {"gateway_in", "tick_to_quote", "rfq_to_answer", "quote_to_subscriber"}
    if getattr(desk, "gateway", None) is not None:
        want.add("gateway_out")  # the Rust gateway's out stage
    assert set(stages) == want
    assert stages["rfq_to_answer"]["count"] == sum(b["count"] for b in stages["rfq_to_answer"]["buckets"]) > 0
    assert stages["rfq_to_answer"]["buckets"][-1]["le_s"] == "+Inf"


def test_the_page_is_served_with_no_outside_links(desk: Any) -> None:
    for path in ("/console/", "/console/console.js", "/console/console.css"):
        with urllib.request.urlopen(desk.web.url + path, timeout=10) as r:
            body = r.read().decode()
            assert r.status == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
            body = body.replace('"http://www.w3.org/2000/svg"', "")  # the SVG namespace: a name, never fetched
            assert "http://" not in body and "https://" not in body, path
    with urllib.request.urlopen(desk.web.url + "/console/", timeout=10) as r:
        html = r.read().decode()
    for element in ('id="login-form"', 'id="approvals"', 'id="kill-all"', 'id="latency"', 'id="audit"'):
        assert element in html, element
    with urllib.request.urlopen(desk.web.url + "/console", timeout=10) as r:  # redirected
        assert r.url.endswith("/console/")


# ---- config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "message"), [
    ('name = "x"\noperator = "nobody"\nrole = "viewer"\npassword_hash = "$argon2id$v=19$m=65536,t=3,p=4$a$b"',
     "console_user #4: unknown operator 'nobody'"),
    ('name = "x"\noperator = "desk-operator"\nrole = "admin"\npassword_hash = "$argon2id$v=19$m=65536,t=3,p=4$a$b"',
     "role"),
    ('name = "x"\noperator = "desk-operator"\nrole = "viewer"\npassword_hash = "hunter2"',
     "password_hash must be an argon2id hash"),
])
def test_bad_console_users_are_refused_by_the_config(table: str, message: str) -> None:
    from importlib import resources

    registry = Registry.load()
    toml = resources.files("rfqcore").joinpath("defaults/rfq.toml").read_text("utf-8")
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        RfqSettings.from_toml(toml + f"\n[[console_user]]\n{table}\n", registry, "test-rfq.toml")


def test_console_metrics_move_as_it_is_used(desk: Any) -> None:
    from test_metrics import scrape, val, wait_scrape

    time.sleep(1.1)  # past /metrics' once-a-second reading
    before, types = scrape(desk.web.url)
    assert types["rfqcore_console_actions"] == "counter" and types["rfqcore_console_sessions"] == "gauge"
    assert val(before, "rfqcore_scrape_part_ok", part="console") == 1
    assert Browser(desk.web.url).login("desk-risk", "nope").status == 401
    risk = _user(desk, "desk-risk")
    assert risk.call("POST", "/restrict", {"instrument": "ETH", "on": False}).json["status"] == "applied"
    assert risk.call("POST", "/kill", {"scope": "nothing"}).status == 400
    after = wait_scrape(desk.web.url, lambda s: val(s, "rfqcore_console_actions_total", result="applied")
                        > val(before, "rfqcore_console_actions_total", result="applied"))
    for name, labels in (("rfqcore_console_actions_total", {"result": "applied"}),
                         ("rfqcore_console_logins_total", {"outcome": "ok"}),
                         ("rfqcore_console_logins_total", {"outcome": "wrong"}),
                         ("rfqcore_console_bad_requests_total", {})):
        assert val(after, name, **labels) == val(before, name, **labels) + 1, name
    assert val(after, "rfqcore_console_sessions") >= 1
