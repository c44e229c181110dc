"""Hedging from Python (docs/hedging.md): the [[hedging]] configuration, exact conversion of venue
reports into VENUE_REPORT records, and the engine's hedge outputs, OMS and positions driven by
records (the venues themselves are exercised in test_hedge_e2e.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from importlib import resources

import numpy as np
import pytest

from rfqcore.records import HedgeField
from rfqcore.engine import Engine
from rfqcore.errors import ConfigError
from rfqcore.hedger import report_records
from rfqcore.instruments import Registry
from rfqcore.records import HEDGE_ORDER_STATES, RECORD_DTYPE, Flag, Kind, RfqReject, VenueReportKind
from rfqcore.rfq import HedgeOrder, HedgeRejected, HedgeReport, HedgeStatus, RequestRejected
from rfqcore.rfqconfig import RfqSettings
from rfqcore.venues.base import ExecReport, OrdStatus


def _text(name: str) -> str:
    return resources.files("rfqcore").joinpath(f"defaults/{name}").read_text("utf-8")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_toml(_text("hedge-instruments.toml"), "hedge-instruments.toml")


@pytest.fixture(scope="module")
def settings(registry: Registry) -> RfqSettings:
    return RfqSettings.from_toml(_text("hedge-rfq.toml"), registry, "hedge-rfq.toml")


def test_packaged_hedging_config(settings: RfqSettings, registry: Registry) -> None:
    (h,) = settings.hedging
    assert (h.mode, h.max_slippage_cbps, h.retry_ns) == ("full", 500, 200_000_000)
    assert [(v.id, v.name, registry.instruments[v.instrument - 1].key, v.taker_cbps) for v in h.venues] == [
        (1, "binance-sim", "binance-spot:BTCUSDT", 100), (2, "okx-sim", "okx:BTC-USDT", 80)]
    # exact decimal limits in each instrument's own scale: 10 BTC at 6 and 8 decimals
    assert [v.max_order_qty for v in h.venues] == [10_000_000, 1_000_000_000]


@pytest.mark.parametrize("patch, message", [
    ('mode = "full"', None),
    ('mode = "sometimes"', "mode 'sometimes'"),
    ('mode = "partial"', "ratio_pct in 1..100"),
    ('mode = "threshold"', "threshold > 0"),
    ('instrument = "okx:BTC-USDT"\n', "not a member"),
    ('max_slippage_bps = "-1"', "max_slippage_bps"),
])
def test_bad_hedging_config_is_refused_with_a_clear_message(registry: Registry, patch: str, message: str | None) -> None:
    text = _text("hedge-rfq.toml")
    if patch.startswith("instrument"):
        text += '\n[[hedging]]\ncomposite = "BTC"\nmode = "full"\n[[hedging.venue]]\nid = 1\nname = "x"\n' \
                'instrument = "nowhere:BTC"\n'
        message = "duplicate hedging entry"
    elif patch.startswith("max_slippage"):
        text = text.replace('max_slippage_bps = "5"', patch)
    else:
        text = text.replace('mode = "full"', patch)
    if message is None:
        RfqSettings.from_toml(text, registry)
        return
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RfqSettings.from_toml(text, registry)


def test_report_records_convert_exactly(registry: Registry) -> None:
    spot = registry.by_key("binance-spot:BTCUSDT")   # 2 price / 6 qty decimals
    rep = ExecReport(venue="b", cl_ord_id="x7", status=OrdStatus.PARTIALLY_FILLED, last_qty=Decimal("0.012345"),
                     last_price=Decimal("61234.56"), cum_qty=Decimal("0.012345"), commission=Decimal("0.00000124"),
                     commission_asset="BTC", trade_id=991)
    (r,) = report_records(rep, 1, spot, 7, 123)
    assert r[:8] == (Kind.VENUE_REPORT, spot.id, VenueReportKind.PARTIAL_FILL, Flag.END, 1, 7, 991, 123)
    assert (r[8], r[9]) == (6_123_456, 12_345)
    # fee in BTC valued at the fill price, in quote units at 2+6 decimals, rounded up
    assert r[10] == int((Decimal("0.00000124") * Decimal("61234.56") * 10**8).to_integral_value("ROUND_CEILING"))
    # a fill that ends the order as cancelled (IOC rest): the fill, then the terminal state
    rep2 = ExecReport(venue="b", cl_ord_id="x7", status=OrdStatus.CANCELED, last_qty=Decimal("0.5"),
                      last_price=Decimal("61234.57"), trade_id=992, commission=Decimal("3.1"), commission_asset="USDT")
    a, b = report_records(rep2, 1, spot, 7, 124)
    assert (a[2], a[9], a[10]) == (VenueReportKind.PARTIAL_FILL, 500_000, 310_000_000)
    assert b[2] == VenueReportKind.CANCEL_ACK and b[6] >= 1 << 62
    # the venue's reject code travels in aux
    (rj,) = report_records(ExecReport(venue="b", cl_ord_id="x8", status=OrdStatus.REJECTED,
                                      reason="-2010 Account has insufficient balance"), 1, spot, 8, 1)
    assert (rj[2], rj[10]) == (VenueReportKind.REJECT, 2010)
    # amounts finer than the instrument's scale are refused, never rounded
    with pytest.raises(ValueError, match="decimals"):
        report_records(ExecReport(venue="b", cl_ord_id="x9", status=OrdStatus.FILLED, last_qty=Decimal("0.0000001"),
                                  last_price=Decimal("1"), trade_id=5), 1, spot, 9, 1)
    assert report_records(ExecReport(venue="b", cl_ord_id="x9", status=OrdStatus.UNKNOWN), 1, spot, 9, 1) == []


def _book(inst_id: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]], ts: int) -> np.ndarray:
    recs = np.zeros(1 + len(bids) + len(asks), dtype=RECORD_DTYPE)
    recs[0] = (Kind.BOOK_CLEAR, inst_id, 255, Flag.SNAPSHOT, 0, 1, 0, ts, 0, 0, 0, 0)
    for i, (p, q) in enumerate(bids + asks, 1):
        recs[i] = (Kind.BOOK_LEVEL, inst_id, 0 if i <= len(bids) else 1, Flag.SNAPSHOT, 0, 1, 0, ts, p, q, 0, 0)
    recs[-1]["flags"] |= Flag.END
    return recs


def _rec(kind: int, inst: int, side: int, source: int, seq: int, exec_id: int, price: int = 0, qty: int = 0,
         aux: int = 0, flags: int = Flag.END) -> np.ndarray:
    r = np.zeros(1, dtype=RECORD_DTYPE)
    r[0] = (kind, inst, side, flags, source, seq, exec_id, time.time_ns(), price, qty, aux, 0)
    return r

def _feed_venue_books(eng: Engine) -> None:
    """Both hedge venues' books: spot (2/6 decimals) asks 60001.00 + i, 0.5 BTC each; okx (1/8
    decimals) asks 60002.0 + i, 0.5 BTC each."""
    now = time.time_ns()
    eng.feed(_book(1, [(6_000_000, 2_000_000)], [(6_000_100 + 100 * i, 500_000) for i in range(10)], now), "md")
    eng.feed(_book(2, [(600_000 - 1, 200_000_000)], [(600_020 + 10 * i, 50_000_000) for i in range(10)], now), "md")


def _wait_for(pred: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll until ``pred`` (rings are merged: the core sees one producer's records after
    another's in its own time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred():
        time.sleep(0.005)



def test_engine_hedges_a_client_fill_through_records(registry: Registry, settings: RfqSettings) -> None:
    events: list[object] = []
    with Engine(registry, rfq=settings) as eng:
        eng.subscribe_events(lambda evs: events.extend(evs))
        eng.start()
        _feed_venue_books(eng)
        with pytest.raises(RequestRejected) as e:
            eng.request_quote("acme-capital", "BTC", "buy", 1)
        assert e.value.reason == RfqReject.HEDGE_UNAVAILABLE
        for venue in (1, 2):
            eng.feed(_rec(Kind.VENUE_STATUS, 0, 1, venue, 1, 0), "venues")
        _wait_for(lambda: any(isinstance(x, HedgeStatus) and x.available for x in events))
        q = eng.request_quote("acme-capital", "BTC", "buy", "1.2")  # client buys 1.2 BTC
        ex = eng.accept(q)
        _wait_for(lambda: any(isinstance(x, HedgeOrder) for x in events))
        orders = [x for x in events if isinstance(x, HedgeOrder)]
        assert any(isinstance(x, HedgeStatus) and x.available for x in events)
        # the router, by effective price (taker fee included): okx 60002.0 × 1.00008 = 60006.80 first,
        # then spot 60001.00 × 1.0001 = 60007.00, then okx 60003.0 (60007.80) before spot 60002.00
        # (60008.00): spot 0.5 BTC, okx 0.7 BTC, one IOC order per venue
        assert [(o.venue, o.instrument, o.side, o.qty) for o in orders] == [(1, 1, 0, 500_000), (2, 2, 0, 70_000_000)]
        # limits: the worst level taken + 5 bp, on tick
        assert [o.price for o in orders] == [6_003_100, 600_330]
        spot, okx = orders
        assert spot.ts_send > 0 and spot.composite == 1
        # fills come back as records (the venue link's job, done by hand here)
        eng.feed(_rec(Kind.VENUE_REPORT, 1, VenueReportKind.FILL, 1, spot.cl_ord_id, 11, 6_000_100, 500_000, 42), "venues")
        eng.feed(_rec(Kind.VENUE_REPORT, 2, VenueReportKind.FILL, 2, okx.cl_ord_id, 12, 600_020, 70_000_000, 0), "venues")
        # a duplicate and an overfill: ignored / refused, nothing changes
        eng.feed(_rec(Kind.VENUE_REPORT, 2, VenueReportKind.FILL, 2, okx.cl_ord_id, 12, 600_020, 70_000_000, 0), "venues")
        eng.feed(_rec(Kind.VENUE_REPORT, 2, VenueReportKind.FILL, 2, okx.cl_ord_id, 13, 600_020, 1, 0), "venues")
        _wait_for(lambda: any(isinstance(x, HedgeRejected) for x in events))
        reports = [x for x in events if isinstance(x, HedgeReport)]
        assert [(r.cl_ord_id, r.state, r.fill_qty) for r in reports] == [
            (spot.cl_ord_id, "filled", 500_000), (okx.cl_ord_id, "filled", 70_000_000)]
        (rej,) = [x for x in events if isinstance(x, HedgeRejected)]
        assert (rej.what, rej.reason_name) == ("report", "OMS_OVERFILL")
        (hs,) = eng.hedge_status_raw()
        assert (hs["client_flow"], hs["hedged"], hs["pending"]) == (-120_000_000, 120_000_000, 0)
        assert eng.positions()["BTC"].qty_raw == 0
        paid = 6_000_100 * 50_000_000 + 6_000_200 * 70_000_000   # composite scales (2/8 decimals)
        assert hs["slippage"] == paid - ex.price_raw * 120_000_000
        assert [HEDGE_ORDER_STATES[o["state"]] for o in eng.hedge_orders_raw()] == ["filled", "filled"]
        # the same in human units: composite BTC/USDT for the status, each venue's instrument for its orders
        (h,) = eng.hedge_status()
        assert (h.instrument, h.mode, h.client_flow, h.hedged, h.pending) == (
            "BTC", "full", Decimal("-1.2"), Decimal("1.2"), Decimal(0))
        assert h.slippage == Decimal(hs["slippage"]).scaleb(-10) and (h.base, h.currency) == ("BTC", "USDT")
        assert h.max_slippage_bps == Decimal("5") and h.raw == hs
        assert [(v.venue, v.up, v.base) for v in h.venues] == [(v.name, True, "BTC") for v in settings.hedging[0].venues]
        assert h.venues[0].position == Decimal("0.5") and h.venues[1].position == Decimal("0.7")
        o1, o2 = eng.hedge_orders()
        assert (o1.instrument, o1.side, o1.price, o1.qty, o1.filled, o1.state, o1.open) == (
            "binance-spot:BTCUSDT", "buy", Decimal("60031.00"), Decimal("0.500000"), Decimal("0.500000"), "filled", False)
        assert (o2.instrument, o2.price, o2.qty, o2.notional, o2.venue) == (   # okx: 1 and 8 decimals
            "okx:BTC-USDT", Decimal("60033.0"), Decimal("0.7"), Decimal("42001.4"), settings.hedging[0].venues[1].name)
        assert "price=60031.00 USDT" in repr(o1) and "hedged=1.2 BTC" in repr(h)


def test_internal_crossing_book_from_python(registry: Registry, settings: RfqSettings) -> None:
    from rfqcore.rfq import DeskOrderEvent
    from rfqcore.records import Side

    events: list[object] = []
    with Engine(registry, rfq=settings) as eng:
        eng.subscribe_events(lambda evs: events.extend(evs))
        eng.start()
        _feed_venue_books(eng)
        for venue in (1, 2):
            eng.feed(_rec(Kind.VENUE_STATUS, 0, 1, venue, 1, 0), "venues")
        # the internal book's tick is 0.1: 60000.45 is refused
        ok = eng.desk_order("BTC", "sell", "60000.45", "0.3")
        assert ok.event == "rejected" and ok.reason_name == "MATCH_OFF_TICK"
        # a desk sell order at 60000.40: better than every venue's ask
        ok = eng.desk_order_raw("BTC", Side.ASK, 6_000_040, 30_000_000)
        assert (ok.event, ok.qty) == ("accepted", 30_000_000)
        assert eng.hedge_status_raw()[0]["internal"]["resting_orders"] == 1
        _wait_for(lambda: eng.hedge_status_raw()[0]["available"])
        q = eng.request_quote("acme-capital", "BTC", "buy", Decimal("0.5"))   # client buys 0.5 BTC
        eng.accept(q)
        _wait_for(lambda: any(isinstance(x, HedgeOrder) for x in events))
        fills = [x for x in events if isinstance(x, DeskOrderEvent) and x.event == "fill"]
        assert [(f.order_id, f.price, f.qty, f.remaining) for f in fills] == [(ok.order_id, 6_000_040, 30_000_000, 0)]
        internal = [x for x in events if isinstance(x, HedgeReport) and x.venue == 0]
        assert [(r.fill_price, r.fill_qty) for r in internal] == [(6_000_040, 30_000_000)]
        # the other 0.2 BTC went to a venue
        orders = [x for x in events if isinstance(x, HedgeOrder)]
        assert sum(o.qty * (100 if o.venue == 1 else 1) for o in orders) == 20_000_000
        hs = eng.hedge_status_raw()[0]
        assert hs["internal"]["position"] == -30_000_000 and hs["hedged"] == 30_000_000
        internal = eng.hedge_status()[0].internal
        assert internal is not None and (internal.position, internal.fills) == (Decimal("-0.3"), 1)
        gone = eng.cancel_desk_order("BTC", ok.order_id)
        assert gone.event == "rejected" and gone.reason_name == "MATCH_UNKNOWN_ORDER"   # fully filled


def test_operator_changes_the_hedging_policy_live(registry: Registry, settings: RfqSettings) -> None:
    with Engine(registry, rfq=settings) as eng:
        eng.start()
        from rfqcore.operator import ControlRejected

        with pytest.raises(ControlRejected, match="BAD_COMMAND"):
            eng.operator.set_hedging("BTC", mode="partial")   # no ratio set yet
        acks = eng.operator.set_hedging("BTC", ratio_pct=40, threshold="0.5", max_slippage_bps="2.5", retry_ms=50)
        assert all(a.ok for a in acks)
        (ack,) = eng.operator.set_hedging("BTC", mode="threshold")
        assert ack.ok and ack.previous == 1   # was full
        assert eng.hedge_status_raw()[0]["mode"] == "threshold"
        # the mode goes after the ratio it needs, whatever the order of the arguments
        acks = eng.operator.set_hedging("BTC", mode="partial", ratio_pct=50)
        assert [(a.field, a.ok) for a in acks] == [(HedgeField.RATIO_PCT, True), (HedgeField.MODE, True)]
        assert eng.hedge_status_raw()[0]["mode"] == "partial"
        h = eng.hedge_status()[0]   # read back in the units they were set in
        assert (h.mode, h.ratio_pct, h.threshold, h.max_slippage_bps, h.retry_ms) == (
            "partial", 50, Decimal("0.5"), Decimal("2.5"), Decimal(50))
        with pytest.raises(ValueError, match="mode"):
            eng.operator.set_hedging("BTC", mode="sometimes")


def test_the_venue_order_id_prefix_lives_as_long_as_the_state(tmp_path) -> None:
    """A journal keeps its prefix (made once); another journal gets another; every node of a
    cluster derives the same one from its nodes, and another cluster another."""
    from rfqcore.hedger import cluster_id_prefix, journal_id_prefix

    first = journal_id_prefix(tmp_path / "j1")
    assert first.isalnum() and first.isascii() and first == journal_id_prefix(tmp_path / "j1")
    assert (tmp_path / "j1" / "hedge-id-prefix").read_text().strip() == first
    assert journal_id_prefix(tmp_path / "j2") != first
    nodes = "".join(f'[[node]]\nid = {n}\naddr = "10.0.0.{n}:7100"\nstatus = "0.0.0.0:7101"\ndir = "n{n}"\n'
                    for n in (1, 2, 3))
    (tmp_path / "a.toml").write_text("[cluster]\nheartbeat_ms = 50\n" + nodes)
    (tmp_path / "b.toml").write_text("[cluster]\nheartbeat_ms = 80\n" + nodes)   # another node's copy
    (tmp_path / "c.toml").write_text(nodes.replace("10.0.0.", "10.0.1."))
    a = cluster_id_prefix(tmp_path / "a.toml")
    assert a.isalnum() and a == cluster_id_prefix(tmp_path / "b.toml") != cluster_id_prefix(tmp_path / "c.toml")
