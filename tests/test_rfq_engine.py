"""The RFQ workflow through the Python Engine: quotes, fills, positions and P&L, rejects,
kill switch, approvals, control audit, expiry on the core thread, strategy hooks.

The state machine and every reject reason are covered exhaustively by the Rust tests
(core_ext/crates/rfq-engine/tests/rfq*.rs); these check the Python API end to end on the
packaged configuration (defaults/instruments.toml + defaults/rfq.toml).
"""

from __future__ import annotations

import pickle
import threading
import time
from decimal import Decimal

import numpy as np
import pytest

from rfqcore.engine import Engine
from rfqcore.hooks import Strategy
from rfqcore.operator import ControlRejected
from rfqcore.records import RECORD_DTYPE, ClientSide, Flag, Kind, QuoteEnd, RfqReject, Side
from rfqcore.rfq import ApprovalPending, Execution, Quote, QuoteEnded, RequestRejected, RfqRejected

SPOT = 1  # binance-spot:BTCUSDT: price 2 decimals, qty 6 decimals
BTC = 10**8  # composite qty units per BTC
PX = 100  # composite price units per USDT


def spot_book(ts: int, bid: int = 6_000_000, ask: int = 6_000_010, levels: int = 300) -> np.ndarray:
    """A snapshot: `levels` levels of 1 BTC each side, 1 cent apart, best bid/ask as given."""
    n = 1 + 2 * levels
    a = np.zeros(n, dtype=RECORD_DTYPE)
    S = int(Flag.SNAPSHOT)
    a[0] = (Kind.BOOK_CLEAR, SPOT, 255, S, 0, 1, ts, ts, 0, 0, 0, 0)
    for i in range(levels):
        a[1 + 2 * i] = (Kind.BOOK_LEVEL, SPOT, Side.BID, S, 0, 1, ts, ts, bid - i, 1_000_000, 0, 0)
        a[2 + 2 * i] = (Kind.BOOK_LEVEL, SPOT, Side.ASK, S, 0, 1, ts, ts, ask + i, 1_000_000, 0, 0)
    a[-1]["flags"] |= Flag.END
    return a


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    """Freeze the wall clock the Python API stamps records with. Refused RFQ-family records
    still move the core clock like a heartbeat (docs/rfq-protocol.md, Time), so "a refused
    input changes no state" is checked at a constant time."""
    t = time.time_ns()
    monkeypatch.setattr(time, "time_ns", lambda: t)
    return t


@pytest.fixture
def eng(frozen_clock: int) -> Engine:
    e = Engine()
    e.feed(spot_book(frozen_clock))
    e.run_once()
    yield e
    e.close()


def test_quote_fill_positions_and_pnl(eng: Engine) -> None:
    q = eng.request_quote("acme-capital", "BTC", "two-way", 1)
    assert isinstance(q, Quote)
    ask, bid = q.side(ClientSide.BUY), q.side(ClientSide.SELL)
    assert ask is not None and bid is not None and ask.qty_raw == bid.qty_raw == BTC
    # pricing v2, flat desk, no mid moves yet: half-spread = ladder 1.00 bp + 0.05 bp/BTC
    # + gold markup 0.25 bp + hedge fee 0.50 bp = 180 cbps; asks up, bids down
    assert ask.price_raw == -(-6_000_010 * (1_000_000 + 180) // 1_000_000) == 6_001_091
    assert bid.price_raw == 6_000_000 * (1_000_000 - 180) // 1_000_000 == 5_998_920
    assert eng.quote_state_raw(q.quote_id)["state"] == "live"
    qs = eng.quote_state(q.quote_id)   # the same quote in human units
    assert qs is not None and (qs.state, qs.client, qs.instrument) == ("live", "acme-capital", "BTC")
    assert (qs.buy_price, qs.buy_qty, qs.sell_price, qs.sell_qty) == (q.buy_price, 1, q.sell_price, 1)
    assert qs.valid_until == q.valid_until and "buy_price=60010.91 USDT" in repr(qs)
    assert eng.quote_state(10**12) is None

    fill = eng.accept(q, "buy")
    assert isinstance(fill, Execution)
    assert (fill.price_raw, fill.qty_raw, fill.side) == (ask.price_raw, BTC, ClientSide.BUY)
    assert fill.notional_raw == ask.price_raw * BTC  # exact, scale 10 decimals
    assert fill.fee_raw == -(-fill.notional_raw * 50 // 1_000_000)  # gold 0.5 bp, rounded up
    assert eng.quote_state_raw(q.quote_id)["state"] == "filled"

    desk = eng.positions()["BTC"]
    assert (desk.qty_raw, desk.cost_raw, desk.fees_raw, desk.trades) == (-BTC, -fill.notional_raw, fill.fee_raw, 1)
    assert (desk.qty, desk.cost, desk.fees) == (-1, -fill.notional, fill.fee)  # the same, exact Decimals
    assert desk.avg_price_raw == ask.price_raw and desk.avg_price == Decimal("60010.91")
    client = eng.client_positions("acme-capital")["BTC"]
    assert (client.qty_raw, client.cost_raw) == (BTC, fill.notional_raw)
    mid = eng.composite_mid_raw("BTC")
    assert mid == (6_000_000 + 6_000_010) // 2
    assert desk.unrealised_raw == -BTC * mid + fill.notional_raw  # short 1 BTC sold above mid: a gain
    ex = eng.exposures_raw()
    assert ex["BTC"] == -BTC and ex["USDT"] == fill.notional_raw + fill.fee_raw
    assert eng.exposures() == {"BTC": Decimal(-1), "ETH": 0, "USDT": fill.notional + fill.fee}
    risk = eng.client_risk_raw("acme-capital")
    assert risk["utilised"] == -(-fill.notional_raw // 10**8)  # cents, rounded up
    assert risk["available"] == risk["credit_limit"] - risk["utilised"]
    r = eng.client_risk("acme-capital")   # in the desk currency, exact to the cent
    assert (r.utilised, r.currency, r.tier) == (Decimal("60010.91"), "USDT", "gold")
    assert r.available == r.credit_limit - r.utilised and r.raw == risk
    assert "utilised=60010.91 USDT" in repr(r)

    # a second fill the other way closes the position: realised P&L is exact
    q2 = eng.request_quote("acme-capital", "BTC", "sell", Decimal(1))
    fill2 = eng.accept(q2)
    desk = eng.positions()["BTC"]
    assert desk.qty_raw == 0 and desk.cost_raw == 0 and desk.avg_price is None
    assert desk.realised_raw == fill.notional_raw - fill2.notional_raw
    assert eng.exposures_raw()["USDT"] == desk.realised_raw + fill.fee_raw + fill2.fee_raw
    assert eng.exposures()["USDT"] == desk.realised + fill.fee + fill2.fee


def test_rejects_are_specific_and_change_nothing(eng: Engine) -> None:
    cases = [
        (dict(client=99, composite="BTC", side="buy", qty=1), RfqReject.UNKNOWN_CLIENT),
        (dict(client="acme-capital", composite="BTC", side=ClientSide.BUY, qty=201), RfqReject.ABOVE_MAX_SIZE),
        (dict(client="acme-capital", composite="BTC", side="buy", qty="0.00000001"), RfqReject.BELOW_MIN_SIZE),
        (dict(client="acme-capital", composite="BTC", side="buy", qty=0), RfqReject.BAD_SIZE),
        (dict(client="acme-capital", composite="BTC", side=7, qty=1), RfqReject.BAD_SIDE),
        (dict(client="acme-capital", composite="BTC", side="buy", qty=1, limit=59_000), RfqReject.EXCEEDS_LIMIT),
        (dict(client="acme-capital", composite="ETH", side="buy", qty=1), RfqReject.NO_MARKET),
        (dict(client="beta-fund", composite="BTC", side="buy", qty=10),
         RfqReject.INSUFFICIENT_CREDIT),  # 600k USDT against a 250k credit limit
    ]
    for kwargs, reason in cases:
        before = eng.state_hash()
        with pytest.raises(RequestRejected) as ei:
            eng.request_quote(kwargs.pop("client"), kwargs.pop("composite"), kwargs.pop("side"),
                              kwargs.pop("qty"), **kwargs)
        assert ei.value.reason == reason, (reason.name, ei.value)
        assert eng.state_hash() == before, reason.name

    q = eng.request_quote("acme-capital", "BTC", "buy", 1, rfq_id=42)
    with pytest.raises(RequestRejected) as ei:
        eng.request_quote_raw("acme-capital", "BTC", ClientSide.BUY, BTC, rfq_id=42)
    assert ei.value.reason == RfqReject.DUPLICATE_ID
    # someone else's quote (answered as an id never issued), a wrong size: refused, the quote stays live
    other = Quote(2, q.composite, q.quote_id, q.rfq_id, q.valid_until, q.sides, q.partial_ok, 0)
    never = Quote(2, q.composite, q.quote_id + 10**6, q.rfq_id, q.valid_until, q.sides, q.partial_ok, 0)
    for bad in (other, never):
        before = eng.state_hash()
        with pytest.raises(RequestRejected) as ei:
            eng.accept(bad)
        assert ei.value.reason == RfqReject.UNKNOWN_QUOTE
        assert eng.state_hash() == before
    before = eng.state_hash()
    with pytest.raises(RequestRejected) as ei:
        eng.accept_raw(q, qty=q.sides[0].qty_raw - 1)
    assert ei.value.reason == RfqReject.SIZE_MISMATCH
    assert eng.state_hash() == before
    assert eng.quote_state_raw(q.quote_id)["state"] == "live"


def test_a_reject_is_raised_and_delivered_as_one_object(eng: Engine) -> None:
    events: list = []
    eng.subscribe_events(events.extend)
    with pytest.raises(RfqRejected) as ei:
        eng.request_quote("acme-capital", "BTC", "buy", 0)
    rej = ei.value
    assert any(e is rej for e in events)  # the event subscribers got is what was raised
    assert (rej.reason, rej.reason_name, rej.by_gateway) == (RfqReject.BAD_SIZE, "BAD_SIZE", False)
    assert str(rej) == f"rfq {rej.rfq_id} rejected by the core: BAD_SIZE" and rej.ref_id == rej.rfq_id
    back = pickle.loads(pickle.dumps(rej))  # crosses processes (the client library's callers)
    assert type(back) is RfqRejected and back == rej and str(back) == str(rej)


def test_kill_switch_allows_only_risk_reducing(eng: Engine) -> None:
    q = eng.request_quote("acme-capital", "BTC", "buy", 1)
    eng.accept(q)  # desk is now short 1 BTC
    ack = eng.operator.kill(instrument="BTC")
    assert ack.ok and eng.instrument_risk_raw("BTC")["killed"]
    with pytest.raises(RequestRejected) as ei:  # client buys more: the desk would get shorter
        eng.request_quote("acme-capital", "BTC", "buy", 1)
    assert ei.value.reason == RfqReject.KILL_SWITCH
    two_way = eng.request_quote("acme-capital", "BTC", "two-way", 1)
    assert [s.side for s in two_way.sides] == [ClientSide.SELL]  # only the reducing side
    eng.operator.kill(False, instrument="BTC")
    assert not eng.instrument_risk_raw("BTC")["killed"]
    # client scope
    eng.operator.kill(client="beta-fund")
    with pytest.raises(RequestRejected) as ei:  # the desk is short: beta buying would add to it
        eng.request_quote("beta-fund", "BTC", "buy", "0.1")
    assert ei.value.reason == RfqReject.KILL_SWITCH
    assert eng.request_quote("beta-fund", "BTC", "sell", "0.1").sides  # reducing: allowed
    assert eng.request_quote("acme-capital", "BTC", "buy", 1).sides


def test_limit_changes_are_audited_and_bad_ones_refused(eng: Engine) -> None:
    acks = eng.operator.set_instrument("BTC", max_qty="2")
    assert acks[0].ok and acks[0].previous == 200 * BTC and acks[0].value == 2 * BTC
    with pytest.raises(RequestRejected) as ei:
        eng.request_quote("acme-capital", "BTC", "buy", 3)
    assert ei.value.reason == RfqReject.ABOVE_MAX_SIZE
    before = eng.state_hash()
    with pytest.raises(ControlRejected) as ce:  # min above max: refused, nothing changes
        eng.operator.set_instrument("BTC", min_qty="5")
    assert ce.value.ack.result == RfqReject.BAD_COMMAND
    assert eng.state_hash() == before
    eng.operator.set_client("acme-capital", max_open_quotes=1)
    eng.request_quote("acme-capital", "BTC", "buy", 1)
    with pytest.raises(RequestRejected) as ei:
        eng.request_quote("acme-capital", "BTC", "buy", 1)
    assert ei.value.reason == RfqReject.MAX_OPEN_QUOTES


def test_views_read_settings_in_the_units_the_operator_sets_them(eng: Engine) -> None:
    """Each view names a setting as its setter does and holds it in that unit, so a value read
    goes straight back: the core's integers move by exactly the change."""
    ins = eng.instrument_risk("BTC")
    raw = eng.instrument_risk_raw("BTC")
    assert (ins.long_limit, ins.max_notional) == (Decimal(raw["long_limit"]).scaleb(-8), Decimal(raw["max_notional"]).scaleb(-2))
    assert (ins.collar_bps, ins.approval_timeout_ms) == (Decimal(raw["collar_cbps"]).scaleb(-2),
                                                          Decimal(raw["approval_timeout_ns"]).scaleb(-6))
    eng.operator.set_instrument("BTC", long_limit=ins.long_limit + Decimal("0.5"), collar_bps=ins.collar_bps / 2,
                                approval_timeout_ms=ins.approval_timeout_ms + 1)
    eng.operator.set_pricing("BTC", skew_bps_per_unit=ins.skew_bps_per_unit + Decimal("0.01"))
    now = eng.instrument_risk_raw("BTC")
    assert now["long_limit"] == raw["long_limit"] + BTC // 2 and now["collar_cbps"] == raw["collar_cbps"] // 2
    assert now["approval_timeout_ns"] == raw["approval_timeout_ns"] + 1_000_000
    assert now["skew_cbps_per_unit"] == raw["skew_cbps_per_unit"] + 1
    assert "long_limit=250.5 BTC" in repr(eng.instrument_risk("BTC"))

    c = eng.client_risk("beta-fund")
    eng.operator.set_client("beta-fund", credit_limit=c.credit_limit + Decimal("0.01"), rfq_burst=c.rfq_burst + 1,
                            tier="gold")
    c2 = eng.client_risk("beta-fund")
    assert (c2.credit_limit - c.credit_limit, c2.rfq_burst, c2.rfq_rate, c2.tier) == (
        Decimal("0.01"), c.rfq_burst + 1, c.rfq_rate, "gold")
    assert c2.raw["credit_limit"] == c.raw["credit_limit"] + 1   # one cent

    t = eng.tier_view("silver")
    eng.operator.set_tier("silver", markup_bps=t.markup_bps + Decimal("0.25"), ttl_ms=t.ttl_ms * 2)
    t2 = eng.tier_view("silver")
    assert (t2.markup_bps - t.markup_bps, t2.ttl_ms, t2.raw["ttl_ns"]) == (
        Decimal("0.25"), t.ttl_ms * 2, 2 * t.raw["ttl_ns"])
    d = eng.desk_view()
    eng.operator.set_desk(exec_window_ms=d.exec_window_ms + Decimal("0.5"))
    assert eng.desk_view_raw()["exec_window_ns"] == d.raw["exec_window_ns"] + 500_000
    assert d.killed is False and "exec_window_ms=" in repr(d) and " ms" in repr(d)


def test_manual_approval(eng: Engine) -> None:
    events: list = []
    eng.subscribe_events(events.extend)
    p = eng.request_quote("acme-capital", "BTC", "buy", 60)  # above 50 BTC
    assert isinstance(p, ApprovalPending) and p.qty_raw == 60 * BTC
    (pending,) = eng.pending_approvals_raw()
    assert pending["request_id"] == p.request_id
    (view,) = eng.pending_approvals()   # the hook's event type, with the limit (none here)
    assert isinstance(view, ApprovalPending) and (view.request_id, view.rfq_id, view.qty, view.limit) == (
        p.request_id, p.rfq_id, 60, None)
    assert (view.price, view.instrument, view.qty_unit) == (p.price, "BTC", "BTC")
    eng.operator.approve(view, adjust_bps="2")
    eng.run_once()
    quotes = [e for e in events if isinstance(e, Quote) and e.rfq_id == p.rfq_id]
    assert len(quotes) == 1 and quotes[0].sides[0].qty_raw == 60 * BTC
    assert eng.pending_approvals_raw() == []
    p2 = eng.request_quote("acme-capital", "BTC", "sell", 55)
    eng.operator.decline(p2.request_id)
    eng.run_once()
    assert any(getattr(e, "rfq_id", None) == p2.rfq_id and getattr(e, "reason", 0) == RfqReject.APPROVAL_DECLINED
               for e in events)
    # a price override in the instrument's units: the ApprovalPending (or instrument=) gives the scale
    p3 = eng.request_quote("acme-capital", "BTC", "buy", 52)
    assert isinstance(p3, ApprovalPending) and (p3.qty, p3.instrument, p3.currency) == (52, "BTC", "USDT")
    with pytest.raises(ValueError, match=r"^approve: a price needs the instrument \(or the ApprovalPending\) for its "
                                         r"price scale$"):
        eng.operator.approve(p3.request_id, price="60100.5")
    with pytest.raises(ValueError, match=r"^price: 60100.505 has more than 2 decimals$"):
        eng.operator.approve(p3, price="60100.505")
    assert eng.operator.approve(p3, price="60100.5").ok
    eng.run_once()
    (q3,) = [e for e in events if isinstance(e, Quote) and e.rfq_id == p3.rfq_id]
    assert (q3.buy_price, q3.buy_price_raw, q3.buy_qty) == (Decimal("60100.50"), 6_010_050, 52)
    # an amount of quote currency with a limit: the event and the view both say the amount's unit
    p4 = eng.request_quote("acme-capital", "BTC", "buy", "3600000", quote_ccy=True, limit="61000")
    assert isinstance(p4, ApprovalPending) and (p4.qty, p4.qty_unit, p4.qty_in_quote) == (3_600_000, "USDT", True)
    assert "qty=3600000 USDT" in repr(p4)
    (v4,) = eng.pending_approvals()
    assert (v4.request_id, v4.qty, v4.qty_unit, v4.limit) == (p4.request_id, 3_600_000, "USDT", Decimal("61000.00"))
    assert "limit=61000.00 USDT" in repr(v4)


def test_threaded_expiry_by_heartbeat_and_hooks() -> None:
    fills: list[Execution] = []
    ends: list[QuoteEnded] = []
    release = threading.Event()

    class Slow(Strategy):
        def on_fill(self, fill: Execution) -> None:
            fills.append(fill)

        def on_quote_end(self, end: QuoteEnded) -> None:
            ends.append(end)

        def on_book(self, event: object) -> None:
            release.wait(5)  # a hook stuck for seconds must not stop quoting

    with Engine() as e:
        runner = e.add_strategy(Slow(), max_batches=2)
        e.start(heartbeat_ms=1)
        e.feed(spot_book(time.time_ns()))
        q = e.request_quote("acme-capital", "BTC", "BUY", "1", ttl_ms=20)
        time.sleep(0.2)  # no input at all: the core thread's heartbeats expire the quote
        assert e.quote_state_raw(q.quote_id)["state"] == "expired"
        with pytest.raises(RequestRejected) as ei:
            e.accept(q)
        assert ei.value.reason == RfqReject.TOO_LATE
        # the slow hook holds its thread; quoting and fills go on meanwhile
        for i in range(50):  # moving prices: every snapshot changes the ladder (an on_book event)
            e.feed(spot_book(time.time_ns(), bid=6_000_000 + i, ask=6_000_010 + i))
            time.sleep(0.002)  # separate pump batches
        q2 = e.request_quote("acme-capital", "BTC", "buy", 1)
        e.accept(q2)
        release.set()
        deadline = time.time() + 5
        while not fills and time.time() < deadline:
            time.sleep(0.01)
        assert runner.dropped > 0  # the hook's queue overflowed: batches dropped, not waited for
        assert [f.quote_id for f in fills] == [q2.quote_id]
        assert runner.errors == 0


def test_human_units_in_and_out(eng: Engine) -> None:
    """The engine takes what rfqcore.client takes (Decimal / int / str, sides by name in any
    case) and gives Decimals with units; the raw integer paths stay, named as such."""
    rqs = [eng.request_quote("acme-capital", "BTC", side, qty)
           for side, qty in (("buy", "1.5"), ("BUY", Decimal("1.5")), ("Buy", Decimal("1.50")),
                             (ClientSide.BUY, "1.5"))]
    raw = eng.request_quote_raw("acme-capital", "BTC", ClientSide.BUY, 150_000_000)
    assert all(isinstance(q, Quote) for q in rqs) and isinstance(raw, Quote)
    assert {q.raw(ClientSide.BUY) for q in rqs} == {raw.raw(ClientSide.BUY)}
    assert raw.buy_qty_raw == 150_000_000 and raw.buy_qty == Decimal("1.5")
    assert raw.buy_price == Decimal(raw.buy_price_raw) / 100
    two = eng.request_quote("acme-capital", "BTC", "two-way", 2, ttl_ms="2.5")
    assert [s.side for s in two.sides] == [ClientSide.BUY, ClientSide.SELL]
    assert two.valid_until == eng.quote_state_raw(two.quote_id)["valid_until"]
    assert isinstance(eng.request_quote("acme-capital", "BTC", "buy", 1, limit="60100.5"), Quote)
    with pytest.raises(RfqRejected) as ei:
        eng.request_quote("acme-capital", "BTC", "buy", 1, limit=Decimal("60000"))
    assert ei.value.reason == RfqReject.EXCEEDS_LIMIT and ei.value.price == 6_000_000
    usdt = eng.request_quote("acme-capital", "BTC", "sell", "30000", quote_ccy=True)  # 30,000 USDT of BTC
    assert usdt.sell_qty is not None and 0 < usdt.sell_qty * usdt.sell_price <= 30_000

    with pytest.raises(TypeError, match=r"^qty: pass a Decimal, int or str \(floats are not exact\), got 1.5$"):
        eng.request_quote("acme-capital", "BTC", "buy", 1.5)
    with pytest.raises(ValueError, match=r"^qty: 0.000000001 has more than 8 decimals$"):
        eng.request_quote("acme-capital", "BTC", "buy", "0.000000001")
    with pytest.raises(ValueError, match=r"^limit: 60000.001 has more than 2 decimals$"):
        eng.request_quote("acme-capital", "BTC", "buy", 1, limit="60000.001")
    with pytest.raises(ValueError, match=r"^side must be one of both, buy, sell, two-way, two_way or a ClientSide, "
                                         r"got 'up'$"):
        eng.request_quote("acme-capital", "BTC", "up", 1)
    with pytest.raises(ValueError, match=r"^quote \d+ is two-way: say which side to accept \(\"buy\" or \"sell\"\)$"):
        eng.accept(two)

    fill = eng.accept(two, "Sell", "2")
    assert (fill.side, fill.qty, fill.price, fill.currency) == (ClientSide.SELL, Decimal(2), two.sell_price, "USDT")
    assert fill.notional == fill.price * fill.qty and fill.notional_raw == fill.price_raw * fill.qty_raw
    desk = eng.positions()["BTC"]
    assert (desk.qty, desk.avg_price, desk.currency) == (Decimal(2), two.sell_price, "USDT")
    # two_way's bid is 59988.89 (2 BTC: a wider size spread); the mid is 60000.05; gold pays 0.5 bp
    assert two.sell_price == Decimal("59988.89") and eng.composite_mid("BTC") == Decimal("60000.05")
    assert (desk.cost, desk.unrealised, desk.fees) == (2 * two.sell_price, 2 * Decimal("60000.05") - desk.cost,
                                                       desk.cost * Decimal("0.00005"))
    assert repr(desk) == ("Position(composite=BTC, qty=2 BTC, avg_price=59988.89 USDT, cost=119977.78 USDT, "
                          "realised=0.00 USDT, unrealised=22.32 USDT, fees=5.998889 USDT, trades=1)")
    assert repr(fill) == (f"Execution(trade_id={fill.trade_id}, instrument=BTC, client=1, side=SELL, qty=2 BTC, "
                          f"price=59988.89 USDT, notional=119977.78 USDT, fee=5.998889 USDT, quote_id={two.quote_id}, "
                          f"rfq_id={two.rfq_id}, accept_id={fill.accept_id}, core_time={fill.core_time})")


def test_hooks_see_the_ladder_in_human_units(eng: Engine, frozen_clock: int) -> None:
    got: list = []

    class Watch(Strategy):
        def on_book(self, event) -> None:  # noqa: ANN001
            got.append(event)

    runner = eng.add_strategy(Watch())
    eng.feed(spot_book(frozen_clock, bid=6_000_100, ask=6_000_110))
    eng.run_once()
    deadline = time.time() + 5
    while runner.backlog() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    rung = [e for e in got if e.kind == Kind.QUOTE and e.level == 0][-1]  # the ladder's first rung now
    now = eng.quotes("BTC")[0]
    assert (rung.size_raw, rung.bid_raw, rung.ask_raw) == (now.size_raw, now.bid_raw, now.ask_raw)
    assert (now.size_raw, now.bid_raw, now.ask_raw) == (10**7, 5_999_499, 6_000_711)
    assert (rung.size, rung.bid, rung.ask) == (Decimal("0.1"), Decimal("59994.99"), Decimal("60007.11"))
    assert repr(rung) == ("BookEvent(kind=QUOTE, instrument=BTC, level=0, size=0.1 BTC, bid=59994.99 USDT, "
                          "ask=60007.11 USDT, withdrawal=NONE)")
