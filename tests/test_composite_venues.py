"""A composite across Bybit, Coinbase and Kraken books, on synthetic aligned streams built from
each venue's real levels.

The recordings share no instrument and no time window, so one synthetic underlying is made: the
real Bybit XRPUSDT stream is the reference member as recorded; the real Coinbase SKL-USD and
Kraken SC/EUR streams are renamed to XRP-USD and XRP/USD and every price shifted by one constant
(a whole number of ticks) so that their first mids meet Bybit's; Kraken's checksums are
recomputed for the shifted strings. The three streams are rebased to start together and merged
by time, each message decoded by its venue's unchanged handler and fed to an inline core. At
checkpoints the core's composite VWAP for sizes from one unit to more than the whole book, both
sides, must equal a plain sweep of the three handler books merged in composite units (price ×
10^(5 − member decimals), quantity × 10^(8 − member decimals)), rounded against the taker;
once with the basis off (offsets 0), once with it on (offsets read from the core).
"""

from __future__ import annotations

import heapq
import os
import zipfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import orjson
import pytest

from rfqcore import Engine
from rfqcore.handlers import BybitHandler, CoinbaseHandler, KrakenHandler
from rfqcore.handlers.kraken import kraken_checksum
from rfqcore.instruments import Registry
from rfqcore.records import Side
from rfqcore.replay import read_f2, read_f4

DATA = Path(os.environ.get("RFQCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BYBIT = DATA / "bybit" / "nautilus_xrpusdt-ob500.data.zip"
COINBASE = DATA / "coinbase" / "cryptofeed_master_COINBASE.ws.28.0.gz"
KRAKEN = DATA / "kraken" / "cryptofeed_master_KRAKEN.ws.50.0.gz"


def registry(basis_ema_shift: int) -> Registry:
    return Registry.from_toml(f"""
[[instrument]]
symbol = "XRPUSDT"
venue = "bybit-linear"
kind = "linear"
base = "XRP"
quote = "USDT"
tick = "0.0001"
lot = "1"
max_qty = "1000000000"

[[instrument]]
symbol = "XRP-USD"
venue = "coinbase"
kind = "spot"
base = "XRP"
quote = "USD"
tick = "0.0001"
lot = "0.1"
max_qty = "1000000000"

[[instrument]]
symbol = "XRP/USD"
venue = "kraken"
kind = "spot"
base = "XRP"
quote = "USD"
tick = "0.00001"
lot = "0.00000001"
max_qty = "1000000000"

[[composite]]
name = "XRP"
members = ["bybit-linear:XRPUSDT", "coinbase:XRP-USD", "kraken:XRP/USD"]
stale_after_ms = 3600000
sizes = ["1000", "100000"]
base_bps = "1.0"
size_bps_per_unit = "0"
basis_ema_shift = {basis_ema_shift}
cross_tolerance_bps = "50"
""")


def _shift(px: str, by: D) -> str:
    """``px + by`` written with ``px``'s number of decimals (exact: ``by`` is on that grid)."""
    places = len(px.partition(".")[2])
    out = D(px) + by
    assert out > 0
    return f"{out:.{places}f}"


def _mid(bids: list[list[str]], asks: list[list[str]]) -> D:
    return (max(D(b[0]) for b in bids) + min(D(a[0]) for a in asks)) / 2


def _streams() -> list[tuple[int, str, bytes]]:
    """(rebased ts, venue, raw) of the three synthetic streams, merged by time."""
    bybit = list(read_f4(BYBIT))
    first = orjson.loads(bybit[0][1])["data"]
    target = _mid(first["b"], first["a"])

    cb = [(ts, orjson.loads(raw)) for ts, raw in read_f2(COINBASE)
          if b'"product_id":"SKL-USD"' in raw and (b'"snapshot"' in raw or b'"l2update"' in raw)]
    assert cb[0][1]["type"] == "snapshot"
    cb_shift = (target - _mid(cb[0][1]["bids"], cb[0][1]["asks"])).quantize(D("0.0001"))
    cb_out = []
    for ts, m in cb:
        m["product_id"] = "XRP-USD"
        if m["type"] == "snapshot":
            m["bids"] = [[_shift(p, cb_shift), q] for p, q in m["bids"]]
            m["asks"] = [[_shift(p, cb_shift), q] for p, q in m["asks"]]
        else:
            m["changes"] = [[s, _shift(p, cb_shift), q] for s, p, q in m["changes"]]
        cb_out.append((ts, orjson.dumps(m)))

    kr = [(ts, orjson.loads(raw)) for ts, raw in read_f2(KRAKEN) if raw.endswith(b'"SC/EUR"]')]
    snap = kr[0][1][1]
    kr_shift = (target - _mid(snap["bs"], snap["as"])).quantize(D("0.00001"))
    bids: dict[D, tuple[str, str]] = {}
    asks: dict[D, tuple[str, str]] = {}
    kr_out = []
    for ts, m in kr:
        for part in m[1:-2]:
            for key in ("as", "bs", "a", "b"):
                if key in part:
                    part[key] = [[_shift(lv[0], kr_shift), *lv[1:]] for lv in part[key]]
                    side = asks if key.startswith("a") else bids
                    if key in ("as", "bs"):
                        side.clear()
                    for lv in part[key]:
                        if D(lv[1]) == 0:
                            side.pop(D(lv[0]), None)
                        else:
                            side[D(lv[0])] = (lv[0], lv[1])
        for side, worst_first in ((bids, sorted(bids)), (asks, sorted(asks, reverse=True))):
            for px in worst_first[: max(0, len(side) - 1000)]:
                del side[px]
        if "c" in m[-3]:
            m[-3]["c"] = str(kraken_checksum({int(p * 10**5): v for p, v in bids.items()},
                                             {int(p * 10**5): v for p, v in asks.items()}))
        m[-1] = "XRP/USD"
        kr_out.append((ts, orjson.dumps(m)))

    merged = []
    for venue, msgs in (("bybit-linear", bybit), ("coinbase", cb_out), ("kraken", kr_out)):
        t0 = msgs[0][0]
        merged.extend((ts - t0 + 1_000_000_000, venue, raw) for ts, raw in msgs)
    merged.sort(key=lambda x: x[0])
    return merged


def _reference_vwap(books: list[tuple[dict[int, int], dict[int, int], int, int]], side: int, qty: int,
                    offsets: list[int]) -> int | None:
    """Plain merged sweep: composite price = member price × 10^(5−pd) + offset, qty × 10^(8−qd)."""
    levels = []
    for (bids, asks, pd, qd), off in zip(books, offsets):
        src = bids if side == Side.BID else asks
        levels.extend((p * 10 ** (5 - pd) + off, q * 10 ** (8 - qd)) for p, q in src.items())
    ordered = heapq.nlargest(len(levels), levels) if side == Side.BID else heapq.nsmallest(len(levels), levels)
    left, notional = qty, 0
    for p, q in ordered:
        take = min(left, q)
        notional += take * p
        left -= take
        if not left:
            return -(-notional // qty) if side == Side.ASK else notional // qty
    return None


@pytest.mark.parametrize("basis_ema_shift", [0, 3])
def test_composite_sweep_equals_merged_reference(basis_ema_shift: int) -> None:
    missing = [str(p) for p in (BYBIT, COINBASE, KRAKEN) if not p.is_file()]
    if missing:
        pytest.skip(f"recorded venue data missing: {', '.join(missing)}")
    reg = registry(basis_ema_shift)
    handlers: dict[str, Any] = {"bybit-linear": BybitHandler(reg), "coinbase": CoinbaseHandler(reg),
                                "kraken": KrakenHandler(reg)}
    syms = {"bybit-linear": "XRPUSDT", "coinbase": "XRP-USD", "kraken": "XRP/USD"}
    members = [reg.by_key(k) for k in ("bybit-linear:XRPUSDT", "coinbase:XRP-USD", "kraken:XRP/USD")]
    stream = _streams()
    assert zipfile.is_zipfile(BYBIT) and len(stream) > 1000
    unit = 10**8
    sizes = [1, unit, 1000 * unit, 100_000 * unit, 3_000_000 * unit, 10**9 * unit]
    checked = quoted = 0
    with Engine(reg, ring_capacity=1 << 16) as eng:
        xrp = reg.composite("XRP").id
        for i, (ts, venue, raw) in enumerate(stream):
            h = handlers[venue]
            n = h.on_message(ts, raw)
            assert n > 0
            eng.feed(h.out[:n].copy())
            eng.run_once()
            if i % 97 and i != len(stream) - 1:
                continue
            books = []
            for ins, venue_name in zip(members, ("bybit-linear", "coinbase", "kraken")):
                hb = handlers[venue_name]
                if not hb.is_live(syms[venue_name]):
                    break
                bids, asks = hb.book(syms[venue_name])
                if venue_name == "kraken":
                    bids = {p: int(D(v) * 10**8) for p, v in bids.items()}
                    asks = {p: int(D(v) * 10**8) for p, v in asks.items()}
                books.append((bids, asks, ins.price_decimals, ins.qty_decimals))
            if len(books) < 3:
                continue  # a member has not had its snapshot yet
            basis = {m: (off, known) for m, off, known in eng.basis_raw(xrp)}
            pd = eng.registry.composite(xrp).price_decimals
            assert eng.basis(xrp) == [(eng.registry.by_id(m).key, D(off).scaleb(-pd), known)
                                      for m, (off, known) in basis.items()]
            offsets = [basis[m.id][0] if basis.get(m.id, (0, False))[1] else 0 for m in members]
            if basis_ema_shift == 0:
                assert offsets == [0, 0, 0]
            for side in (Side.BID, Side.ASK):
                for q in sizes:
                    got = eng.composite_vwap_raw(xrp, side, q)
                    assert got == _reference_vwap(books, side, q, offsets), (i, side, q, offsets)
                    checked += got is not None
            quoted += any(ql.bid_raw is not None and ql.ask_raw is not None for ql in eng.quotes(xrp))
    for h in handlers.values():
        assert h.stats.gaps == 0 and h.stats.rejects == 0 and h.needs_snapshot() == []
    assert handlers["kraken"].stats.checksum_failures == 0
    assert checked > 300 and quoted > 30
    if basis_ema_shift:
        assert offsets[1:] != [0, 0]  # the basis moved the other members
