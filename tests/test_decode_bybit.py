"""Bybit handler: the real XRPUSDT ob500 file replays with u contiguous and the book equal to a plain
reference after every message; a gap goes stale and a snapshot resyncs; bad input changes nothing."""

from __future__ import annotations

import os
import re
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import orjson
import pytest

from rfqcore.errors import (
    BadDecimal, MalformedMessage, NegativeQuantity, OffTickPrice, PrecisionLoss, UnknownInstrument,
    UnsupportedMessage,
)
from rfqcore.handlers.bybit import BybitHandler
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side, StaleReason
from rfqcore.replay import ReplayDriver, ReplayFile, read_f4

DATA = Path(os.environ.get("RFQCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CAPTURE = DATA / "bybit" / "nautilus_xrpusdt-ob500.data.zip"


@pytest.fixture(scope="module")
def messages() -> list[tuple[int, bytes]]:
    if not CAPTURE.is_file():
        pytest.skip(f"recorded venue capture not found at {CAPTURE} (../shared/data or $RFQCORE_DATA)")
    return list(read_f4(CAPTURE))


@pytest.fixture
def handler() -> BybitHandler:
    return BybitHandler(Registry.load())  # the shipped registry's bybit-linear:XRPUSDT


def test_real_file_replays_and_book_matches_reference(messages: list[tuple[int, bytes]],
                                                      handler: BybitHandler) -> None:
    assert len(messages) == 50
    ins = Registry.load().by_key("bybit-linear:XRPUSDT")
    ref_b: dict[D, D] = {}
    ref_a: dict[D, D] = {}
    rec_b: dict[int, int] = {}
    rec_a: dict[int, int] = {}
    for i, (ts, raw) in enumerate(messages):
        n = handler.on_message(ts, raw)
        msg = orjson.loads(raw)
        d = msg["data"]
        if msg["type"] == "snapshot":
            ref_b, ref_a = {}, {}
        for side, levels in ((ref_b, d["b"]), (ref_a, d["a"])):
            for p, q in levels:
                if D(q) == 0:
                    side.pop(D(p), None)
                else:
                    side[D(p)] = D(q)
        recs = handler.out[:n]
        assert n == len(d["b"]) + len(d["a"]) + (i == 0)
        assert recs[-1]["flags"] & Flag.END and not (recs["flags"][:-1] & Flag.END).any()
        assert (recs["seq"] == d["u"]).all() and (recs["ts_event"] == msg["ts"] * 1_000_000).all()
        assert not (recs["kind"] == Kind.BOOK_STALE).any()
        for r in recs:
            if r["kind"] == Kind.BOOK_CLEAR:
                rec_b.clear()
                rec_a.clear()
                continue
            side = rec_b if r["side"] == Side.BID else rec_a
            if r["qty"]:
                side[int(r["price"])] = int(r["qty"])
            else:
                side.pop(int(r["price"]), None)
        bids, asks = handler.book("XRPUSDT")
        ps, qs = D(10) ** ins.price_decimals, D(10) ** ins.qty_decimals
        assert bids == {int(p * ps): int(q * qs) for p, q in ref_b.items()} == rec_b
        assert asks == {int(p * ps): int(q * qs) for p, q in ref_a.items()} == rec_a
        assert len(bids) == len(asks) == 500 and max(bids) < min(asks)
        assert handler.last_update_id("XRPUSDT") == d["u"]
    st = handler.stats
    assert (st.snapshots, st.gaps, st.rejects, st.dropped_while_stale) == (1, 0, 0, 0)
    assert handler.needs_snapshot() == []


def test_replay_driver_reads_the_zip(messages: list[tuple[int, bytes]]) -> None:
    f = ReplayFile.infer(CAPTURE)
    assert (f.venue, f.symbol, f.format) == ("bybit-linear", None, "f4")
    drv = ReplayDriver([f], Registry.load(), None)
    st = drv.run()
    assert st.messages == 50 and not st.rejects and st.first_ts_ns == messages[0][0]
    assert st.handlers["bybit-linear:*"]["gaps"] == 0


def test_gap_goes_stale_and_snapshot_resyncs(messages: list[tuple[int, bytes]], handler: BybitHandler) -> None:
    for ts, raw in messages[:10]:
        handler.on_message(ts, raw)
    u_before = handler.last_update_id("XRPUSDT")
    ts, raw = messages[11]  # messages[10] is lost
    n = handler.on_message(ts, raw)
    assert n == 1
    rec = handler.out[0]
    assert rec["kind"] == Kind.BOOK_STALE and rec["aux"] == StaleReason.SEQUENCE_GAP and rec["flags"] & Flag.END
    assert rec["seq"] == orjson.loads(raw)["data"]["u"] == u_before + 2
    assert handler.needs_snapshot() == ["XRPUSDT"] and handler.book("XRPUSDT") == ({}, {})
    assert handler.stats.gaps == 1
    # deltas while stale: counted, not applied
    assert handler.on_message(*messages[12]) == 0 and handler.stats.dropped_while_stale == 1
    # a snapshot (Bybit resends one on resubscribe; u = 1 after a service restart) resets
    snap = orjson.loads(messages[0][1])
    snap["data"]["u"] = 1
    assert handler.on_message(0, orjson.dumps(snap)) == 1001
    assert handler.out[0]["kind"] == Kind.BOOK_CLEAR and handler.is_live("XRPUSDT")
    assert handler.stats.resyncs == 1 and handler.last_update_id("XRPUSDT") == 1


def test_replayed_delta_is_a_gap(messages: list[tuple[int, bytes]], handler: BybitHandler) -> None:
    for ts, raw in messages[:5]:
        handler.on_message(ts, raw)
    assert handler.on_message(*messages[4]) == 1 and handler.out[0]["kind"] == Kind.BOOK_STALE


def _level(m: dict[str, Any], i: int, v: Any) -> bytes:
    m["data"]["a"][0][i] = v
    return orjson.dumps(m)


def _data(m: dict[str, Any], k: str, v: Any) -> bytes:
    m["data"][k] = v
    return orjson.dumps(m)


BAD: list[tuple[str, Any, type[Exception], str]] = [
    ("truncated JSON", lambda m, raw: raw[:-3], MalformedMessage, "invalid JSON"),
    ("array", lambda m, raw: b"[1]", MalformedMessage, "JSON object"),
    ("no topic", lambda m, raw: orjson.dumps({k: v for k, v in m.items() if k != "topic"}), MalformedMessage,
     "'topic'"),
    ("trade topic", lambda m, raw: orjson.dumps({**m, "topic": "publicTrade.XRPUSDT"}), UnsupportedMessage,
     "orderbook.N.SYMBOL"),
    ("unknown symbol", lambda m, raw: orjson.dumps({**m, "topic": "orderbook.500.DOGEUSDT"}), UnknownInstrument,
     "DOGEUSDT"),
    ("symbol mismatch", lambda m, raw: _data(m, "s", "BTCUSDT"), MalformedMessage, "data.s"),
    ("bad type", lambda m, raw: orjson.dumps({**m, "type": "update"}), MalformedMessage, "'snapshot' or 'delta'"),
    ("u missing", lambda m, raw: _data(m, "u", None), MalformedMessage, "update id u"),
    ("u a string", lambda m, raw: _data(m, "u", "20254870"), MalformedMessage, "update id u"),
    ("seq negative", lambda m, raw: _data(m, "seq", -1), MalformedMessage, "seq"),
    ("ts a float", lambda m, raw: orjson.dumps({**m, "ts": 1.5}), MalformedMessage, "timestamp"),
    ("b not a list", lambda m, raw: _data(m, "b", {}), MalformedMessage, "b/a"),
    ("over-precise price", lambda m, raw: _level(m, 0, "1.95355"), PrecisionLoss, "beyond 4 decimals"),
    ("over-precise size", lambda m, raw: _level(m, 1, "10.5"), PrecisionLoss, "beyond 0 decimals"),
    ("negative size", lambda m, raw: _level(m, 1, "-5"), NegativeQuantity, "bybit-linear:XRPUSDT"),
    ("number not string", lambda m, raw: _level(m, 0, 1.9535), MalformedMessage, "decimal string"),
    ("exponent", lambda m, raw: _level(m, 0, "1.9e0"), BadDecimal, "not a plain decimal"),
]


@pytest.mark.parametrize(("what", "mutate", "exc", "part"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_changes_nothing(messages: list[tuple[int, bytes]], what: str, mutate: Any,
                                                  exc: type[Exception], part: str) -> None:
    handler = BybitHandler(Registry.load())
    for ts, raw in messages[:3]:
        handler.on_message(ts, raw)
    before = (handler.book("XRPUSDT"), handler.last_update_id("XRPUSDT"), handler.stats.as_dict())
    ts, raw = messages[3]
    with pytest.raises(exc, match=re.escape(part)):
        handler.on_message(ts, mutate(orjson.loads(raw), raw))
    after = handler.stats.as_dict()
    assert after.pop("rejects") == before[2].pop("rejects") + 1
    assert (handler.book("XRPUSDT"), handler.last_update_id("XRPUSDT"), after) == before
    assert handler.on_message(ts, raw) > 0 and handler.stats.gaps == 0


def test_off_tick_price_refused() -> None:
    reg = Registry.from_toml('[[instrument]]\nsymbol = "XRPUSDT"\nvenue = "bybit-linear"\nkind = "linear"\n'
                             'base = "XRP"\nquote = "USDT"\ntick = "0.0005"\nlot = "1"\nmax_qty = "1000000000"\n')
    h = BybitHandler(reg)
    raw = orjson.dumps({"topic": "orderbook.1.XRPUSDT", "type": "snapshot", "ts": 1,
                        "data": {"s": "XRPUSDT", "b": [["1.9531", "10"]], "a": [], "u": 5, "seq": 9}})
    with pytest.raises(OffTickPrice):
        h.on_message(1, raw)
    assert h.needs_snapshot() == ["XRPUSDT"] and h.stats.snapshots == 0


def test_acks_are_control_and_empty_delta_is_a_heartbeat() -> None:
    h = BybitHandler(Registry.load())
    assert h.on_message(1, b'{"success":true,"ret_msg":"","op":"subscribe","conn_id":"x"}') == 0
    assert h.stats.control == 1
    snap = {"topic": "orderbook.1.XRPUSDT", "type": "snapshot", "ts": 1,
            "data": {"s": "XRPUSDT", "b": [["1.9531", "10"]], "a": [["1.9532", "7"]], "u": 5, "seq": 9}}
    assert h.on_message(2, orjson.dumps(snap)) == 3
    delta = {**snap, "type": "delta", "data": {"s": "XRPUSDT", "b": [], "a": [], "u": 6, "seq": 10}}
    assert h.on_message(3, orjson.dumps(delta)) == 1 and h.out[0]["kind"] == Kind.HEARTBEAT
    assert h.last_update_id("XRPUSDT") == 6
