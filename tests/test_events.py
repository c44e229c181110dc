"""The RFQ events are one type each for the in-process engine, its hooks and the Aeron client:
raw integers (``*_raw``) plus exact ``Decimal`` views in the composite's scales, and reprs in
human units with enum names (issues 10 and 15)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

import rfqcore.client as client
import rfqcore.rfq as rfq
from rfqcore.instruments import Registry
from rfqcore.records import (
    RECORD_DTYPE,
    ClientSide,
    Command,
    Flag,
    InstrumentField,
    Kind,
    QuoteEnd,
    RfqReject,
    RiskEvent,
)
from rfqcore.rfq import (
    ApprovalPending,
    ControlAck,
    EventDecoder,
    Execution,
    Quote,
    QuoteEnded,
    QuoteSide,
    RfqRejected,
    RiskAlert,
    composite_units,
)

BTC = 10**8
T = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def units() -> rfq.CompositeUnits:
    return composite_units(Registry.load(), 1)


def _execution(units: rfq.CompositeUnits) -> Execution:
    notional = 6_001_091 * 150_000_000
    return Execution(1, 1, 7, 9, 11, 13, ClientSide.BUY, 6_001_091, 150_000_000, notional,
                     -(-notional * 50 // 1_000_000), T, 0, *units)


def test_one_class_per_event_for_engine_and_client() -> None:
    for name in ("Quote", "Execution", "QuoteEnded", "ApprovalPending", "RiskAlert", "ControlAck", "RfqRejected",
                 "AcceptRejected", "CancelRejected", "RequestRejected"):
        assert getattr(client, name) is getattr(rfq, name), name


def test_composite_units_from_the_registry(units: rfq.CompositeUnits) -> None:
    assert units == ("BTC", 2, 8, "BTC", "USDT")
    assert composite_units(None, 1) == ("#1", None, None, "", "")
    assert composite_units(Registry.load(), 999) == ("#999", None, None, "", "")


def test_execution_raw_and_decimal(units: rfq.CompositeUnits) -> None:
    e = _execution(units)
    assert (e.price, e.qty) == (Decimal("60010.91"), Decimal("1.5"))
    assert e.notional == Decimal("90016.365") == e.price * e.qty  # exact, price + qty decimals
    assert e.fee == Decimal("4.50081825")
    assert e.money_decimals == 10 and e.currency == "USDT"
    assert repr(e) == ("Execution(trade_id=7, instrument=BTC, client=1, side=BUY, qty=1.5 BTC, price=60010.91 USDT, "
                       "notional=90016.365 USDT, fee=4.50081825 USDT, quote_id=9, rfq_id=11, accept_id=13, "
                       "core_time=1700000000000000000)")


def test_decimal_views_need_the_scales() -> None:
    e = Execution(1, 1, 7, 9, 11, 13, ClientSide.SELL, 6_001_091, BTC, 6_001_091 * BTC, 0, T)
    with pytest.raises(ValueError, match="price: the instrument's decimals are unknown"):
        _ = e.price
    assert repr(e) == ("Execution(trade_id=7, instrument=#1, client=1, side=SELL, qty=100000000 units, "
                       "price=6001091 units, notional=600109100000000 units, fee=0 units, quote_id=9, rfq_id=11, "
                       "accept_id=13, core_time=1700000000000000000)")


def test_reprs_name_enums_and_units(units: rfq.CompositeUnits) -> None:
    assert repr(QuoteEnded(1, 1, 9, 11, QuoteEnd.REJECTED, RfqReject.TOO_LATE, 5)) == (
        "QuoteEnded(quote_id=9, rfq_id=11, client=1, composite=1, state=REJECTED, reason=TOO_LATE, core_time=5)")
    assert repr(ApprovalPending(1, 1, 3, 11, ClientSide.BUY, 60 * BTC, 6_001_000, 123, 5, *units)) == (
        "ApprovalPending(request_id=3, rfq_id=11, client=1, instrument=BTC, side=BUY, qty=60 BTC, "
        "price=60010.00 USDT, deadline=123)")
    assert repr(RiskAlert(RiskEvent.CLIENT_HALTED, 2, 0, 5, 6)) == (
        "RiskAlert(event=CLIENT_HALTED, client=2, composite=0, count=5, core_time=6)")
    assert repr(ControlAck(4, Command.KILL, 0, 0, 2, 1, 0, 0, 8)) == (
        "ControlAck(control_id=4, command=KILL, field=0, instrument=0, scope=client 2, value=1, result=OK, "
        "previous=0, operator_id=0, core_time=8)")
    ack = ControlAck(5, Command.SET_INSTRUMENT, InstrumentField.LONG_LIMIT, 1, 0, 100 * BTC, RfqReject.BAD_COMMAND,
                     0, 8, 3)
    assert (ack.ok, ack.command_name, ack.field_name, ack.scope_name) == (False, "SET_INSTRUMENT", "LONG_LIMIT", "none")
    assert repr(ack) == ("ControlAck(control_id=5, command=SET_INSTRUMENT, field=LONG_LIMIT, instrument=1, scope=none, "
                         "value=10000000000, result=BAD_COMMAND, previous=0, operator_id=3, core_time=8)")
    assert repr(ControlAck(6, 99, 7, 0, 4, 0, 0, 0, 0)).startswith("ControlAck(control_id=6, command=99, field=7, "
                                                                   "instrument=0, scope=4,")
    q = Quote(1, 1, 9, 11, 123, (QuoteSide(ClientSide.BUY, 6_001_091, BTC), QuoteSide(ClientSide.SELL, 5_998_920, BTC)),
              False, 0, units.name, units.price_decimals, units.qty_decimals, 5, 0, units.base, units.currency)
    assert repr(q) == ("Quote(quote_id=9, rfq_id=11, client=1, instrument=BTC, buy=1 BTC @ 60010.91 USDT, "
                       "sell=1 BTC @ 59989.20 USDT, partial_ok=False, valid_until=123)")
    assert repr(q.sides[0]) == "QuoteSide(side=BUY, price_raw=6001091, qty_raw=100000000)"
    assert repr(RfqRejected(1, 1, 11, ClientSide.BUY, RfqReject.NO_MARKET, BTC, 0)) == (
        "RfqRejected(rfq_id=11, client=1, composite=1, side=BUY, qty=100000000, price=0, reason=NO_MARKET, "
        "by_gateway=False)")


def _rec(kind: int, inst: int, side: int, flags: int, source: int, seq: int, ts_event: int, ts_recv: int, price: int,
         qty: int, aux: int, ts_send: int = 0) -> tuple[int, ...]:
    return (kind, inst, side, flags, source, seq, ts_event, ts_recv, price, qty, aux, ts_send)


def test_decoder_fills_in_units_from_the_registry() -> None:
    E = int(Flag.END)
    recs = np.array([
        _rec(Kind.EXEC, 1, ClientSide.SELL, 0, 2, 7, 13, T, 5_998_920, BTC, 9, 55),
        _rec(Kind.EXEC_FEES, 1, ClientSide.SELL, E, 2, 7, 0, T, 300, 5_998_920 * BTC, 11, 55),
        _rec(Kind.QUOTE_END, 1, 0, E, 2, 9, 11, T, 0, 0, QuoteEnd.FILLED, 55),
        _rec(Kind.APPROVAL_PENDING, 1, ClientSide.BUY, E, 2, 12, T + 5, T, 6_001_000, 60 * BTC, 3),
        _rec(Kind.RISK_EVENT, 1, RiskEvent.INSTRUMENT_HALTED, E, 0, 0, 0, T, 0, 4, 0),
        _rec(Kind.CONTROL_ACK, 1, Command.SET_INSTRUMENT, E, InstrumentField.MAX_QTY, 4, 0, T, 0, 5 * BTC, 0),
    ], dtype=RECORD_DTYPE)
    ex, end, ap, risk, ack = EventDecoder(Registry.load()).feed(recs)
    assert isinstance(ex, Execution)
    assert (ex.client, ex.trade_id, ex.quote_id, ex.rfq_id, ex.accept_id, ex.side) == (2, 7, 9, 11, 13, ClientSide.SELL)
    assert (ex.price_raw, ex.qty_raw, ex.notional_raw, ex.fee_raw, ex.core_time, ex.ts_send) == (
        5_998_920, BTC, 5_998_920 * BTC, 300, T, 55)
    assert (ex.price, ex.qty, ex.notional, ex.fee) == (Decimal("59989.20"), Decimal(1), Decimal("59989.2"),
                                                     Decimal("0.00000003"))
    assert end == QuoteEnded(2, 1, 9, 11, QuoteEnd.FILLED, 0, T)
    assert isinstance(ap, ApprovalPending) and (ap.request_id, ap.rfq_id, ap.deadline) == (3, 12, T + 5)
    assert (ap.qty, ap.price) == (Decimal(60), Decimal("60010.00"))
    assert risk == RiskAlert(RiskEvent.INSTRUMENT_HALTED, 0, 1, 4, T)
    assert ack == ControlAck(4, Command.SET_INSTRUMENT, InstrumentField.MAX_QTY, 1, 0, 5 * BTC, 0, 0, T)


def test_latency_summary_says_its_unit() -> None:
    from rfqcore.latency import LatencySummary

    s = LatencySummary(1_234, 2_752_511, 9_000, 12_345_678, 60_000_000_000)
    assert repr(s) == ("LatencySummary(count=1,234, p50=2,752.51 µs, p99=9.00 µs, p99.9=12,345.68 µs, "
                       "max=60,000,000.00 µs)")
    assert s.p50 == 2_752_511  # the fields stay integer nanoseconds


def test_hedge_and_desk_order_reprs_name_their_codes() -> None:
    from rfqcore.rfq import DeskOrderEvent, HedgeOrder, HedgeRejected

    assert repr(HedgeOrder(7, 1, 1, 1, 6_000_000, 500_000, 1, 5, 6)) == (
        "HedgeOrder(cl_ord_id=7, venue=1, instrument=1, side=SELL, price=6000000, qty=500000, composite=1, "
        "ts_recv=5, ts_send=6)")
    assert repr(HedgeRejected("order", 1, 1, 7, RfqReject.HEDGE_UNAVAILABLE, 5, 6)) == (
        "HedgeRejected(what='order', venue=1, instrument=1, cl_ord_id=7, reason=HEDGE_UNAVAILABLE, qty=5, price=6)")
    assert repr(DeskOrderEvent(1, 9, "accepted", 6_000_040, 30_000_000, 0, 0)) == (
        "DeskOrderEvent(composite=1, order_id=9, event='accepted', price=6000040, qty=30000000, remaining=0, "
        "reason=OK)")


def test_a_side_the_quote_lacks_is_named_with_what_it_has() -> None:
    q = Quote(client=1, composite=1, quote_id=3, rfq_id=9, valid_until=0,
              sides=(QuoteSide(ClientSide.BUY, 6_186_076, 100_000_000),), partial_ok=False, ts_send=0,
              price_decimals=2, qty_decimals=8)
    with pytest.raises(ValueError, match=r"^quote 3 has no sell side \(the client may buy\): accept a side it quotes, "
                                         r"or ask for a two-way quote$"):
        q.raw(ClientSide.SELL)
    assert q.raw(ClientSide.BUY) == (6_186_076, 100_000_000)
