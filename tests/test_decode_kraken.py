"""Kraken handler: every checksum of the real cryptofeed capture verifies, the book equals a plain
reference model, the records rebuild that book, corruption is detected, bad input changes nothing."""

from __future__ import annotations

import os
import re
import zlib
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from rfqcore.errors import (
    BadDecimal, MalformedMessage, NegativeQuantity, OffTickPrice, PrecisionLoss, UnknownInstrument, UnsupportedMessage,
)
from rfqcore.handlers.kraken import KrakenHandler, kraken_checksum
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side, StaleReason
from rfqcore.replay import read_f2

DATA = Path(os.environ.get("RFQCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CAPTURE = DATA / "kraken" / "cryptofeed_master_KRAKEN.ws.50.0.gz"

# the ten pairs of the capture; price decimals = pair_decimals of the capture's AssetPairs metadata
# (cryptofeed_master_KRAKEN.0.gz), volumes lot_decimals 8
PAIRS = {"ADA/XBT": 8, "ETH/CHF": 2, "GRT/ETH": 7, "KSM/XBT": 6, "OCEAN/XBT": 8, "OMG/USD": 6,
         "SC/EUR": 5, "WAVES/EUR": 4, "XBT/CHF": 1, "XMR/USD": 2}


def _toml(pairs: dict[str, int]) -> str:
    out = []
    for sym, dec in pairs.items():
        base, quote = sym.split("/")
        tick = "1" if dec == 0 else "0." + "0" * (dec - 1) + "1"
        out.append(f'[[instrument]]\nsymbol = "{sym}"\nvenue = "kraken"\nkind = "spot"\nbase = "{base}"\n'
                   f'quote = "{quote}"\ntick = "{tick}"\nlot = "0.00000001"\nmax_qty = "1000000000"\n')
    return "\n".join(out)


REGISTRY = Registry.from_toml(_toml(PAIRS))


@pytest.fixture(scope="module")
def messages() -> list[tuple[int, bytes]]:
    if not CAPTURE.is_file():
        pytest.skip(f"recorded venue capture not found at {CAPTURE} (../shared/data or $RFQCORE_DATA)")
    return list(read_f2(CAPTURE))


@pytest.fixture
def handler() -> KrakenHandler:
    return KrakenHandler(REGISTRY)


def _is_book(raw: bytes) -> bool:
    return raw.startswith(b"[")


def _of(messages: list[tuple[int, bytes]], pair: str) -> list[int]:
    tag = f'"{pair}"]'.encode()
    return [i for i, (_, raw) in enumerate(messages) if _is_book(raw) and raw.endswith(tag)]


# -- the reference: Kraken's documented rules applied the plain way (stdlib Decimal) ---------------

class RefBook:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[D, tuple[str, str]] = {}
        self.asks: dict[D, tuple[str, str]] = {}

    def apply(self, msg: list[Any]) -> str | None:
        """Apply one book message; returns the checksum string it carries (None: snapshot)."""
        parts = msg[1:-2]
        crc = None
        for p in parts:
            if "as" in p or "bs" in p:
                self.bids, self.asks = {}, {}
            for key in ("as", "a", "bs", "b"):
                side = self.asks if key.startswith("a") else self.bids
                for px, vol, *_ in p.get(key, []):
                    if D(vol) == 0:
                        side.pop(D(px), None)
                    else:
                        side[D(px)] = (px, vol)
            crc = p.get("c", crc)
        for side, keep in ((self.bids, sorted(self.bids, reverse=True)), (self.asks, sorted(self.asks))):
            for px in keep[self.depth:]:
                del side[px]
        return crc

    def checksum(self) -> int:
        text = ""
        for side, order in ((self.asks, sorted(self.asks)), (self.bids, sorted(self.bids, reverse=True))):
            for px in order[:10]:
                p, v = side[px]
                text += p.replace(".", "").lstrip("0") + v.replace(".", "").lstrip("0")
        return zlib.crc32(text.encode())


def test_every_checksum_verifies_and_book_matches_reference(messages: list[tuple[int, bytes]],
                                                            handler: KrakenHandler) -> None:
    refs: dict[str, RefBook] = {}
    # the records, applied as the core applies them: price/qty integers per instrument
    rec_books: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
    n_updates = n_ref_checks = 0
    for ts, raw in messages:
        n = handler.on_message(ts, raw)
        if not _is_book(raw):
            assert n == 0
            continue
        msg = orjson.loads(raw)
        ref = refs.setdefault(msg[-1], RefBook(1000))
        crc = ref.apply(msg)
        if crc is not None:
            n_updates += 1
            assert ref.checksum() == int(crc)  # the reference agrees with Kraken, independently
            n_ref_checks += 1
        recs = handler.out[:n]
        assert n > 0 and recs[-1]["flags"] & Flag.END and not (recs["flags"][:-1] & Flag.END).any()
        assert not (recs["kind"] == Kind.BOOK_STALE).any()
        for r in recs:
            bids, asks = rec_books.setdefault(int(r["instrument"]), ({}, {}))
            if r["kind"] == Kind.BOOK_CLEAR:
                bids.clear()
                asks.clear()
                continue
            side = bids if r["side"] == Side.BID else asks
            if r["qty"] == 0:
                side.pop(int(r["price"]), None)
            else:
                side[int(r["price"])] = int(r["qty"])
    st = handler.stats
    assert st.snapshots == 10 and n_updates == 4269 and n_ref_checks == n_updates
    assert (st.gaps, st.checksum_failures, st.rejects, st.dropped_while_stale) == (0, 0, 0, 0)
    assert st.control > 0 and handler.needs_snapshot() == []
    for pair, ref in refs.items():
        ins = REGISTRY.get("kraken", pair)
        bids, asks = handler.book(pair)
        scale = D(10) ** ins.price_decimals
        assert {int(p * scale): v for p, (_, v) in ref.bids.items()} == bids
        assert {int(p * scale): v for p, (_, v) in ref.asks.items()} == asks
        rb, ra = rec_books[ins.id]
        qs = D(10) ** ins.qty_decimals
        assert rb == {p: int(D(v) * qs) for p, v in bids.items()}
        assert ra == {p: int(D(v) * qs) for p, v in asks.items()}
        top_b, top_a = handler.book_top(pair)
        assert top_b[0] < top_a[0]


def test_default_registry_kraken_pairs_on_tick_and_lot(messages: list[tuple[int, bytes]]) -> None:
    """Every XBT/CHF and ETH/CHF price/volume of the capture fits the shipped registry's scales."""
    h = KrakenHandler(Registry.load())
    decoded = 0
    for ts, raw in messages:
        if raw.endswith((b'"XBT/CHF"]', b'"ETH/CHF"]')):
            decoded += h.on_message(ts, raw)
        elif _is_book(raw):
            with pytest.raises(UnknownInstrument):
                h.on_message(ts, raw)
    assert decoded > 1000 and h.stats.checksum_failures == 0 and h.needs_snapshot() == []


def test_corrupted_volume_detected_then_resync(messages: list[tuple[int, bytes]], handler: KrakenHandler) -> None:
    xbt = _of(messages, "XBT/CHF")
    target = xbt[20]
    for ts, raw in messages[:target]:
        handler.on_message(ts, raw)
    before = handler.book("XBT/CHF")
    msg = orjson.loads(messages[target][1])
    lv = (msg[1].get("a") or msg[1].get("b"))[0]
    lv[1] = "0.12345678" if lv[1] != "0.12345678" else "0.12345679"  # valid and on lot: only the CRC knows
    n = handler.on_message(messages[target][0], orjson.dumps(msg))
    assert n == 1
    rec = handler.out[0]
    assert rec["kind"] == Kind.BOOK_STALE and rec["aux"] == StaleReason.CHECKSUM_MISMATCH and rec["flags"] & Flag.END
    assert handler.stats.checksum_failures == 1 and handler.stats.gaps == 1
    assert not handler.is_live("XBT/CHF") and handler.needs_snapshot() == ["XBT/CHF"]
    assert before != handler.book("XBT/CHF") == ({}, {})
    # later updates of that pair are counted, not applied; the other pairs go on verifying
    ts, raw = messages[xbt[21]]
    assert handler.on_message(ts, raw) == 0 and handler.stats.dropped_while_stale == 1
    eth = _of(messages, "ETH/CHF")[-1]
    for ts, raw in messages[xbt[21] + 1: eth + 1]:
        handler.on_message(ts, raw)
    assert handler.is_live("ETH/CHF") and handler.stats.checksum_failures == 1
    # a snapshot resyncs
    ts, raw = messages[xbt[0]]
    assert handler.on_message(ts, raw) > 1 and handler.is_live("XBT/CHF") and handler.stats.resyncs == 1
    assert handler.out[0]["kind"] == Kind.BOOK_CLEAR


def test_corrupted_checksum_field_detected(messages: list[tuple[int, bytes]], handler: KrakenHandler) -> None:
    eth = _of(messages, "ETH/CHF")
    handler.on_message(*messages[eth[0]])
    msg = orjson.loads(messages[eth[1]][1])
    msg[-3]["c"] = str((int(msg[-3]["c"]) + 1) % (1 << 32))
    assert handler.on_message(0, orjson.dumps(msg)) == 1
    assert handler.out[0]["aux"] == StaleReason.CHECKSUM_MISMATCH and not handler.is_live("ETH/CHF")


BAD: list[tuple[str, Any, type[Exception], str]] = [
    # (what, mutate(msg) -> raw, exception, message part)
    ("truncated JSON", lambda m, raw: raw[:-7], MalformedMessage, "invalid JSON"),
    ("no checksum", lambda m, raw: _drop_c(m), MalformedMessage, "checksum 'c'"),
    ("checksum not digits", lambda m, raw: _set_c(m, "12a"), MalformedMessage, "checksum 'c'"),
    ("checksum beyond u32", lambda m, raw: _set_c(m, "4294967296"), MalformedMessage, "checksum 'c'"),
    ("off-tick price", lambda m, raw: _set_level(m, 0, "56218.35000"), PrecisionLoss, "beyond 1 decimals"),
    ("over-precise volume", lambda m, raw: _set_level(m, 1, "0.123456789"), PrecisionLoss, "beyond 8"),
    ("negative volume", lambda m, raw: _set_level(m, 1, "-1.00000000"), NegativeQuantity, "kraken:XBT/CHF"),
    ("exponent price", lambda m, raw: _set_level(m, 0, "5.6e4"), BadDecimal, "not a plain decimal"),
    ("bad timestamp", lambda m, raw: _set_level(m, 2, "16186781x"), MalformedMessage, "timestamp"),
    ("five-element level", lambda m, raw: _set_level(m, 3, "x"), MalformedMessage, "level must be"),
    ("unknown pair", lambda m, raw: orjson.dumps(m[:-1] + ["DOGE/USD"]), UnknownInstrument, "DOGE/USD"),
    ("trade channel", lambda m, raw: orjson.dumps(m[:-2] + ["trade", m[-1]]), UnsupportedMessage, "book-N"),
    ("checksum in the first object", lambda m, raw: orjson.dumps([m[0], {**m[1], "c": "1"}, {"b": []}] + m[-2:]),
     MalformedMessage, "'c' in the last"),
    ("unknown key", lambda m, raw: orjson.dumps([m[0], {**m[1], "x": 1}] + m[2:]), MalformedMessage, "update objects"),
    ("channelID not int", lambda m, raw: orjson.dumps(["1"] + m[1:]), MalformedMessage, "channelID"),
    ("too short", lambda m, raw: orjson.dumps(m[:2]), MalformedMessage, "expected [channelID"),
    ("object without event", lambda m, raw: b'{"status": "online"}', MalformedMessage, "'event'"),
]


def _first_levels(m: list[Any]) -> list[Any]:
    return m[1].get("a") or m[1].get("b")


def _drop_c(m: list[Any]) -> bytes:
    del m[-3]["c"]
    return orjson.dumps(m)


def _set_c(m: list[Any], c: str) -> bytes:
    m[-3]["c"] = c
    return orjson.dumps(m)


def _set_level(m: list[Any], i: int, value: str) -> bytes:
    lv = _first_levels(m)[0]
    if i < len(lv):
        lv[i] = value
    else:
        lv.extend(["r", value][len(lv) - 3:] if len(lv) == 3 else [value])
    return orjson.dumps(m)


@pytest.mark.parametrize(("what", "mutate", "exc", "part"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_changes_nothing(messages: list[tuple[int, bytes]], what: str, mutate: Any,
                                                  exc: type[Exception], part: str) -> None:
    handler = KrakenHandler(REGISTRY)
    xbt = _of(messages, "XBT/CHF")
    for i in xbt[:6]:
        handler.on_message(*messages[i])
    before = (handler.book("XBT/CHF"), handler.stats.gaps, handler.stats.messages, handler.stats.control)
    ts, raw = messages[xbt[6]]
    bad = mutate(orjson.loads(raw), raw)
    with pytest.raises(exc, match=re.escape(part)):
        handler.on_message(ts, bad)
    assert (handler.book("XBT/CHF"), handler.stats.gaps, handler.stats.messages, handler.stats.control) == before
    assert handler.stats.rejects == 1
    assert handler.on_message(ts, raw) > 0 and handler.stats.checksum_failures == 0


# -- synthetic: the checksum text and the depth truncation -------------------------------------------

SYN = Registry.from_toml(_toml({"XBT/USD": 1}))


def _crc(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> str:
    text = "".join(p.replace(".", "").lstrip("0") + v.replace(".", "").lstrip("0") for p, v in asks + bids)
    return str(zlib.crc32(text.encode()))


def test_checksum_text_is_kraken_format() -> None:
    asks = {5000: ("500.0", "0.00100000"), 5001: ("500.1", "2.50000000")}
    bids = {4990: ("499.0", "10.00000000")}
    assert kraken_checksum(bids, asks) == zlib.crc32(b"5000100000" b"5001250000000" b"49901000000000")


def test_truncates_to_subscribed_depth_and_emits_the_deletes() -> None:
    h = KrakenHandler(SYN)
    ts = "1700000000.000001"
    bids = [[f"{100 - i}.0", "1.00000000", ts] for i in range(10)]
    asks = [[f"{101 + i}.0", "1.00000000", ts] for i in range(10)]
    snap = [7, {"as": asks, "bs": bids}, "book-10", "XBT/USD"]
    assert h.on_message(1, orjson.dumps(snap)) == 21
    # a better bid pushes the worst (91.0) out of the 10-level book: Kraken sends no delete for it
    new_bids = [("100.5", "2.00000000")] + [(b[0], b[1]) for b in bids[:9]]
    c = _crc([(a[0], a[1]) for a in asks], new_bids)
    n = h.on_message(2, orjson.dumps([7, {"b": [["100.5", "2.00000000", "1700000000.5"]], "c": c},
                                      "book-10", "XBT/USD"]))
    recs = h.out[:n]
    assert n == 2 and list(recs["price"]) == [1005, 910] and list(recs["qty"]) == [200_000_000, 0]
    assert recs[1]["side"] == Side.BID and recs[1]["flags"] & Flag.END and not recs[0]["flags"] & Flag.END
    assert np.all(recs["ts_event"] == 1_700_000_000_500_000_000)
    assert 910 not in h.book("XBT/USD")[0] and len(h.book("XBT/USD")[0]) == 10
    assert h.stats.checksum_failures == 0


def test_update_before_snapshot_is_counted_not_applied() -> None:
    h = KrakenHandler(SYN)
    raw = orjson.dumps([7, {"a": [["101.0", "1.00000000", "1.0"]], "c": "1"}, "book-10", "XBT/USD"])
    assert h.on_message(1, raw) == 0 and h.stats.dropped_while_stale == 1 and h.needs_snapshot() == ["XBT/USD"]
    with pytest.raises(OffTickPrice):
        KrakenHandler(Registry.from_toml(_toml({"XBT/USD": 1}).replace('tick = "0.1"', 'tick = "0.5"'))).on_message(
            1, orjson.dumps([7, {"as": [["101.3", "1.0", "1.0"]], "bs": []}, "book-10", "XBT/USD"]))
