"""Coinbase handler: the real level2 capture replays with every book equal to a plain reference
model and no inferred loss; the loss rules (no sequence numbers on level2) go stale and resync;
bad input changes nothing."""

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
from rfqcore.handlers.coinbase import CoinbaseHandler, iso_to_ns
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side, StaleReason
from rfqcore.replay import read_f2

DATA = Path(os.environ.get("RFQCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CAPTURE = DATA / "coinbase" / "cryptofeed_master_COINBASE.ws.28.0.gz"

# the ten products of the capture: quote_increment / base_increment of its REST /products
# metadata (cryptofeed_master_COINBASE.0.gz)
PRODUCTS = {"SKL-USD": ("0.0001", "0.1"), "SKL-BTC": ("0.00000001", "0.1"), "SKL-GBP": ("0.0001", "0.1"),
            "BAND-GBP": ("0.0001", "0.01"), "BAND-BTC": ("0.00000001", "0.01"), "NMR-EUR": ("0.0001", "0.001"),
            "YFI-BTC": ("0.00001", "0.000001"), "DASH-BTC": ("0.00000001", "0.001"),
            "NU-GBP": ("0.0001", "0.000001"), "CRV-EUR": ("0.0001", "0.01")}


def _toml(products: dict[str, tuple[str, str]]) -> str:
    out = []
    for sym, (tick, lot) in products.items():
        base, quote = sym.split("-")
        out.append(f'[[instrument]]\nsymbol = "{sym}"\nvenue = "coinbase"\nkind = "spot"\nbase = "{base}"\n'
                   f'quote = "{quote}"\ntick = "{tick}"\nlot = "{lot}"\nmax_qty = "100000000"\n')
    return "\n".join(out)


REGISTRY = Registry.from_toml(_toml(PRODUCTS))


@pytest.fixture(scope="module")
def messages() -> list[tuple[int, bytes]]:
    if not CAPTURE.is_file():
        pytest.skip(f"recorded venue capture not found at {CAPTURE} (../shared/data or $RFQCORE_DATA)")
    return list(read_f2(CAPTURE))


def _of(messages: list[tuple[int, bytes]], product: str, kind: str = "l2update") -> list[int]:
    t, p = f'"type":"{kind}"'.encode(), f'"product_id":"{product}"'.encode()
    return [i for i, (_, raw) in enumerate(messages) if t in raw and p in raw]


def test_real_capture_replays_and_books_match_reference(messages: list[tuple[int, bytes]]) -> None:
    h = CoinbaseHandler(REGISTRY)
    ref: dict[str, tuple[dict[D, D], dict[D, D]]] = {}
    rec: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
    trades: list[tuple[int, int, int, int]] = []
    counts = {"ticker": 0, "l2update": 0}
    for ts, raw in messages:
        msg = orjson.loads(raw)
        kind = msg["type"]
        if kind == "ticker":
            with pytest.raises(UnsupportedMessage, match="ticker"):
                h.on_message(ts, raw)
            counts["ticker"] += 1
            continue
        n = h.on_message(ts, raw)
        if kind == "subscriptions":
            assert n == 0
            continue
        recs = h.out[:n]
        assert n > 0 and recs[-1]["flags"] & Flag.END and not (recs["flags"][:-1] & Flag.END).any()
        assert not (recs["kind"] == Kind.BOOK_STALE).any()
        if kind in ("match", "last_match"):
            r = recs[0]
            assert n == 1 and r["kind"] == Kind.TRADE and r["seq"] == msg["trade_id"]
            assert r["side"] == (Side.BID if msg["side"] == "sell" else Side.ASK)
            assert r["ts_event"] == iso_to_ns(msg["time"])
            trades.append((int(r["instrument"]), int(r["seq"]), int(r["price"]), int(r["qty"])))
            continue
        bids, asks = ref.setdefault(msg["product_id"], ({}, {}))
        if kind == "snapshot":
            bids.clear()
            asks.clear()
            changes = [["buy", p, q] for p, q in msg["bids"]] + [["sell", p, q] for p, q in msg["asks"]]
        else:
            counts["l2update"] += 1
            changes = msg["changes"]
            assert (recs["ts_event"] == iso_to_ns(msg["time"])).all()
        for side, p, q in changes:
            book = bids if side == "buy" else asks
            if D(q) == 0:
                book.pop(D(p))  # KeyError here would be a lost update in the recording itself
            else:
                book[D(p)] = D(q)
        for r in recs:
            rb, ra = rec.setdefault(int(r["instrument"]), ({}, {}))
            if r["kind"] == Kind.BOOK_CLEAR:
                rb.clear()
                ra.clear()
                continue
            side = rb if r["side"] == Side.BID else ra
            if r["qty"]:
                side[int(r["price"])] = int(r["qty"])
            else:
                del side[int(r["price"])]
    st = h.stats
    assert counts == {"ticker": 107, "l2update": 9719} and len(trades) == 107
    assert (st.snapshots, st.gaps, st.dropped_while_stale, st.rejects) == (10, 0, 0, 107)
    assert st.control > 0 and h.needs_snapshot() == []
    for product, (bids, asks) in ref.items():
        ins = REGISTRY.get("coinbase", product)
        ps, qs = D(10) ** ins.price_decimals, D(10) ** ins.qty_decimals
        hb, ha = h.book(product)
        assert hb == {int(p * ps): int(q * qs) for p, q in bids.items()} == rec[ins.id][0]
        assert ha == {int(p * ps): int(q * qs) for p, q in asks.items()} == rec[ins.id][1]
        assert max(hb) < min(ha)
    # trade ids run on per product (last_match then the matches)
    by_ins: dict[int, list[int]] = {}
    for ins_id, tid, _, _ in trades:
        by_ins.setdefault(ins_id, []).append(tid)
    assert all(t == list(range(t[0], t[0] + len(t))) for t in by_ins.values())


def test_default_registry_products_on_tick_and_lot(messages: list[tuple[int, bytes]]) -> None:
    """Every SKL-USD and DASH-BTC level and trade of the capture fits the shipped registry's scales."""
    h = CoinbaseHandler(Registry.load())
    decoded = 0
    for ts, raw in messages:
        if b'"type":"ticker"' in raw or b'"type":"subscriptions"' in raw:
            continue
        if b'"product_id":"SKL-USD"' in raw or b'"product_id":"DASH-BTC"' in raw:
            decoded += h.on_message(ts, raw)
        else:
            with pytest.raises(UnknownInstrument):
                h.on_message(ts, raw)
    assert decoded > 2000 and h.stats.gaps == 0 and h.needs_snapshot() == []


def test_inferred_loss_goes_stale_then_snapshot_resyncs(messages: list[tuple[int, bytes]]) -> None:
    h = CoinbaseHandler(REGISTRY, symbols=["SKL-USD"])
    snap = _of(messages, "SKL-USD", "snapshot")[0]
    ups = _of(messages, "SKL-USD")
    h.on_message(*messages[snap])
    # find an update that deletes a level; applying it twice is a delete of a level not held
    i = next(i for i in ups if b'","0"]' in messages[i][1] or b'","0.0"]' in messages[i][1])
    for j in ups:
        if j > i:
            break
        h.on_message(*messages[j])
    assert h.is_live("SKL-USD")
    ts, raw = messages[i]
    msg = orjson.loads(raw)
    msg["changes"] = [c for c in msg["changes"] if D(c[2]) == 0][:1]
    assert h.on_message(ts, orjson.dumps(msg)) == 1
    r = h.out[0]
    assert r["kind"] == Kind.BOOK_STALE and r["aux"] == StaleReason.SEQUENCE_GAP and r["flags"] & Flag.END
    assert h.needs_snapshot() == ["SKL-USD"] and h.book("SKL-USD") == ({}, {}) and h.stats.gaps == 1
    assert h.on_message(*messages[ups[-1]]) == 0 and h.stats.dropped_while_stale == 1
    assert h.on_message(*messages[snap]) > 1 and h.is_live("SKL-USD") and h.stats.resyncs == 1


SYN = Registry.from_toml(_toml({"BTC-USD": ("0.01", "0.00000001")}))
T0 = "2024-01-02T03:04:05.123456Z"


def _snap(**extra: Any) -> bytes:
    return orjson.dumps({"type": "snapshot", "product_id": "BTC-USD", "bids": [["100.00", "1.5"], ["99.00", "2"]],
                         "asks": [["101.00", "1"], ["102.50", "3"]], **extra})


def _upd(changes: list[list[str]], time: str = T0, **extra: Any) -> bytes:
    return orjson.dumps({"type": "l2update", "product_id": "BTC-USD", "changes": changes, "time": time, **extra})


@pytest.mark.parametrize(("what", "update"), [
    ("delete of a level not held", _upd([["buy", "98.00", "0"]])),
    ("crossed book", _upd([["buy", "101.00", "0.5"]])),
    ("time went back", _upd([["buy", "99.50", "1"]], time="2024-01-02T03:04:05.123455Z")),
    ("sequence repeated", _upd([["buy", "99.50", "1"]], sequence=7)),
])
def test_each_loss_rule(what: str, update: bytes) -> None:
    h = CoinbaseHandler(SYN)
    assert h.on_message(1, _snap(sequence=7)) == 5
    assert h.on_message(2, _upd([["sell", "102.50", "0"]], sequence=8)) == 1  # sets time T0 and sequence 8
    if "sequence" in what:
        assert h.on_message(3, _upd([["sell", "103.00", "1"]], sequence=12)) == 1  # a jump is not a gap
    n = h.on_message(4, update)
    assert n == 1 and h.out[0]["kind"] == Kind.BOOK_STALE, what
    assert h.stats.gaps == 1 and not h.is_live("BTC-USD")


def test_update_records_and_timestamps() -> None:
    h = CoinbaseHandler(SYN)
    assert h.on_message(1, _upd([["buy", "99.50", "1"]])) == 0 and h.stats.dropped_while_stale == 1
    h.on_message(2, _snap())
    n = h.on_message(3, _upd([["sell", "101.00", "0"], ["buy", "99.50", "0.25"], ["buy", "100.00", "0"]]))
    recs = h.out[:n]
    assert [(int(r["side"]), int(r["price"]), int(r["qty"])) for r in recs] == [
        (Side.BID, 9950, 25_000_000), (Side.BID, 10000, 0), (Side.ASK, 10100, 0)]
    assert (recs["ts_event"] == 1704164645_123456000).all() and (recs["ts_recv"] == 3).all()
    assert h.book("BTC-USD") == ({9950: 25_000_000, 9900: 200_000_000}, {10250: 300_000_000})
    assert iso_to_ns("1970-01-01T00:00:01Z") == 10**9 and iso_to_ns("2024-02-29T00:00:00.000000001Z") % 10**9 == 1


def _change(m: dict[str, Any], i: int, v: Any) -> bytes:
    m["changes"][0][i] = v
    return orjson.dumps(m)


BAD: list[tuple[str, Any, type[Exception], str]] = [
    ("truncated JSON", lambda m, raw: raw[:-4], MalformedMessage, "invalid JSON"),
    ("not an object", lambda m, raw: b"[]", MalformedMessage, "JSON object"),
    ("unknown type", lambda m, raw: orjson.dumps({**m, "type": "l3update"}), UnsupportedMessage, "unsupported"),
    ("venue error", lambda m, raw: b'{"type":"error","message":"Failed to subscribe"}', UnsupportedMessage,
     "Failed to subscribe"),
    ("unknown product", lambda m, raw: orjson.dumps({**m, "product_id": "BTC-USD"}), UnknownInstrument, "BTC-USD"),
    ("no changes", lambda m, raw: orjson.dumps({**m, "changes": []}), MalformedMessage, "non-empty 'changes'"),
    ("bad side", lambda m, raw: _change(m, 0, "bid"), MalformedMessage, "['buy'|'sell'"),
    ("two-element change", lambda m, raw: orjson.dumps({**m, "changes": [["buy", "0.7900"]]}), MalformedMessage,
     "change must be"),
    ("over-precise price", lambda m, raw: _change(m, 1, "0.79005"), PrecisionLoss, "beyond 4 decimals"),
    ("over-precise size", lambda m, raw: _change(m, 2, "10.05"), PrecisionLoss, "beyond 1 decimals"),
    ("negative size", lambda m, raw: _change(m, 2, "-1"), NegativeQuantity, "coinbase:SKL-USD"),
    ("exponent", lambda m, raw: _change(m, 1, "7.9e-1"), BadDecimal, "not a plain decimal"),
    ("size a number", lambda m, raw: _change(m, 2, 10), MalformedMessage, "decimal string"),
    ("bad time", lambda m, raw: orjson.dumps({**m, "time": "2021-04-17 16:43:37"}), MalformedMessage, "ISO-8601"),
    ("impossible date", lambda m, raw: orjson.dumps({**m, "time": "2021-02-30T16:43:37Z"}), MalformedMessage,
     "valid date"),
    ("sequence a string", lambda m, raw: orjson.dumps({**m, "sequence": "5"}), MalformedMessage, "sequence"),
]


@pytest.mark.parametrize(("what", "mutate", "exc", "part"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_changes_nothing(messages: list[tuple[int, bytes]], what: str, mutate: Any,
                                                  exc: type[Exception], part: str) -> None:
    h = CoinbaseHandler(REGISTRY)
    ups = _of(messages, "SKL-USD")
    h.on_message(*messages[_of(messages, "SKL-USD", "snapshot")[0]])
    for i in ups[:20]:
        h.on_message(*messages[i])
    before = (h.book("SKL-USD"), h.stats.as_dict())
    ts, raw = messages[ups[20]]
    with pytest.raises(exc, match=re.escape(part)):
        h.on_message(ts, mutate(orjson.loads(raw), raw))
    after = h.stats.as_dict()
    assert after.pop("rejects") == before[1].pop("rejects") + 1
    assert (h.book("SKL-USD"), after) == before
    assert h.on_message(ts, raw) > 0 and h.stats.gaps == 0


def test_bad_trade_refused() -> None:
    h = CoinbaseHandler(SYN)
    good = {"type": "match", "trade_id": 5, "side": "sell", "size": "0.5", "price": "100.01", "product_id": "BTC-USD",
            "sequence": 9, "time": T0}
    assert h.on_message(1, orjson.dumps(good)) == 1 and h.out[0]["side"] == Side.BID
    for bad, exc in (({"trade_id": "5"}, MalformedMessage), ({"side": "up"}, MalformedMessage),
                     ({"price": "100.015"}, PrecisionLoss), ({"time": None}, MalformedMessage)):
        with pytest.raises(exc):
            h.on_message(2, orjson.dumps({**good, **bad}))
    reg = Registry.from_toml(_toml({"BTC-USD": ("0.05", "0.00000001")}))
    with pytest.raises(OffTickPrice):
        CoinbaseHandler(reg).on_message(1, orjson.dumps(good))
