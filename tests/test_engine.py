"""The Python Engine over the Rust core: feeding, queries, quotes, rejects, thread vs inline."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from rfqcore import Engine, Registry
from rfqcore.records import RECORD_DTYPE, Flag, Kind, QuoteWithdrawal, RejectReason, Side

TOML = """
[[instrument]]
symbol = "BTCUSDT"
venue = "binance-spot"
kind = "spot"
base = "BTC"
quote = "USDT"
tick = "0.01"
lot = "0.00001"
max_qty = "1000"

[[instrument]]
symbol = "BTCUSDT"
venue = "binance-usdm"
kind = "linear"
base = "BTC"
quote = "USDT"
tick = "0.10"
lot = "0.001"
max_qty = "1000"

[[composite]]
name = "BTC"
members = ["binance-spot:BTCUSDT", "binance-usdm:BTCUSDT"]
stale_after_ms = 5000
sizes = ["1", "10"]
base_bps = "1.0"
size_bps_per_unit = "0"
"""

SPOT, PERP = 1, 2
SAT = 100_000_000


@pytest.fixture
def registry() -> Registry:
    return Registry.from_toml(TOML)


def records(*rows: tuple[int, int, int, int, int, int, int]) -> np.ndarray:
    """rows of (kind, instrument, side, flags, ts_recv, price, qty)."""
    a = np.zeros(len(rows), dtype=RECORD_DTYPE)
    for i, (k, ins, side, fl, ts, px, q) in enumerate(rows):
        a[i] = (k, ins, side, fl, 0, i, ts, ts, px, q, 0, 0)
    return a


def spot_snapshot(ts: int = 1) -> np.ndarray:
    # bids 60000.00 x 2 BTC, 59999.00 x 3; asks 60001.00 x 2, 60002.00 x 10 (5-dp quantities)
    S = int(Flag.SNAPSHOT)
    return records(
        (Kind.BOOK_CLEAR, SPOT, 255, S, ts, 0, 0),
        (Kind.BOOK_LEVEL, SPOT, Side.BID, S, ts, 6_000_000, 200_000),
        (Kind.BOOK_LEVEL, SPOT, Side.BID, S, ts, 5_999_900, 300_000),
        (Kind.BOOK_LEVEL, SPOT, Side.ASK, S, ts, 6_000_100, 200_000),
        (Kind.BOOK_LEVEL, SPOT, Side.ASK, S | Flag.END, ts, 6_000_200, 1_000_000),
    )


def test_inline_feed_and_book_queries(registry: Registry) -> None:
    with Engine(registry) as eng:
        eng.feed(spot_snapshot())
        eng.run_once()
        tob = eng.best("binance-spot:BTCUSDT")
        assert tob is not None
        assert (tob.bid_price_raw, tob.bid_qty_raw, tob.ask_price_raw, tob.ask_qty_raw) == (
            6_000_000, 200_000, 6_000_100, 200_000)
        assert (tob.bid_price, tob.bid_qty, tob.ask_price, tob.ask_qty) == (
            Decimal("60000"), Decimal(2), Decimal("60001"), Decimal(2))  # this registry: qty at 5 decimals
        assert repr(tob) == "TopOfBook(bid=2 BTC @ 60000.00 USDT, ask=2 BTC @ 60001.00 USDT)"
        assert eng.depth_raw(SPOT, Side.BID, 5) == [(6_000_000, 200_000), (5_999_900, 300_000)]
        assert eng.depth(SPOT, "bid", 5) == [(Decimal("60000"), Decimal(2)), (Decimal("59999"), Decimal(3))]
        # 3 BTC from the asks: 2 @ 60001 + 1 @ 60002 = 180004 / 3 = 60001.3333 -> rounded up
        assert eng.vwap_raw(SPOT, Side.ASK, 300_000) == 6_000_134
        assert eng.vwap(SPOT, "ASK", 3) == eng.vwap(SPOT, Side.ASK, "3.00000") == Decimal("60001.34")
        assert eng.vwap_raw(SPOT, Side.BID, 600_000) is None and eng.vwap(SPOT, "bid", 6) is None  # 5 BTC of bids
        cv = eng.composite_vwap_raw("BTC", Side.ASK, 3 * SAT)
        assert cv is not None and eng.composite_vwap("BTC", "ask", 3) == Decimal(cv).scaleb(-2)
        with pytest.raises(ValueError, match=r"^book side must be bid or ask \(or a Side\), got 'buy'$"):
            eng.vwap(SPOT, "buy", 1)
        assert eng.book_status(SPOT) == 0
        assert eng.book_status(PERP) == 3  # never synced
        assert eng.book_status(PERP).name == "BUILDING" and eng.book_status(SPOT).name == "LIVE"


def test_quotes_are_published_and_follow_parameters(registry: Registry) -> None:
    seen: list[np.ndarray] = []
    with Engine(registry) as eng:
        eng.subscribe(seen.append)
        eng.feed(spot_snapshot())
        eng.run_once()
        q1, q10 = eng.quotes("BTC")
        # perp never synced: the composite is the spot book alone
        assert q1.bid_raw == 5_999_400 and q1.ask_raw == 6_000_701  # 60000.00 -1bp down, 60001.00 +1bp up
        assert (q1.size, q1.bid, q1.ask) == (Decimal(1), Decimal("59994.00"), Decimal("60007.01"))
        assert q10.bid_raw is None and q10.bid is None and q10.reason == QuoteWithdrawal.TOO_THIN
        assert q10.ask_raw is not None  # 10 BTC of asks exist: 2 @ 60001 + 8 @ 60002
        assert repr(q10) == ("QuoteLevel(composite=BTC, level=1, size=10 BTC, bid=None, ask=60007.81 USDT, "
                             "reason=TOO_THIN)")
        assert sum(len(b) for b in seen) == 2 and all((b["kind"] == Kind.QUOTE).all() for b in seen)
        eng.set_pricing_raw("BTC", base_cbps=0, size_cbps_per_unit=0, sizes=[SAT])
        eng.feed(records((Kind.HEARTBEAT, 0, 255, Flag.END, 2, 0, 0)))
        eng.run_once()
        (q,) = eng.quotes("BTC")
        assert (q.bid_raw, q.ask_raw) == (6_000_000, 6_000_100)
        assert eng.last_quotes[(q.composite, 0)].bid == Decimal("60000.00")  # the pump's copy speaks units too
        assert eng.subscriber_latency.summary().count >= 3
        assert eng.tick_to_quote().count >= 2  # quote-causing records pushed from Python


def test_bad_records_are_rejected_and_change_nothing(registry: Registry) -> None:
    rejects: list[np.ndarray] = []
    with Engine(registry) as eng:
        eng.subscribe(rejects.append, kinds=[Kind.REJECT])
        eng.feed(spot_snapshot())
        eng.run_once()
        before = eng.state_hash()
        bad = records(
            (Kind.BOOK_LEVEL, 99, Side.BID, Flag.END, 5, 6_000_000, 100),  # unknown instrument
            (Kind.BOOK_LEVEL, SPOT, Side.BID, Flag.END, 5, 6_000_000, -100),  # negative size
            (Kind.BOOK_LEVEL, SPOT, Side.BID, Flag.END, 5, 0, 100),  # zero price
            (Kind.BOOK_LEVEL, SPOT, 9, Flag.END, 5, 6_000_000, 100),  # bad side
            (Kind.BOOK_LEVEL, SPOT, Side.BID, Flag.END, 5, 6_000_000, 10**15),  # absurd size
            (Kind.BOOK_LEVEL, PERP, Side.BID, Flag.END, 5, 6_000_010, 1_000),  # perp not synced
            (Kind.BOOK_LEVEL, PERP, Side.BID, Flag.END, 5, 6_000_005, 1_000),  # off the 0.10 tick
            (77, SPOT, Side.BID, Flag.END, 5, 1, 1),  # unknown kind
        )
        eng.feed(bad)
        eng.run_once()
        got = np.concatenate(rejects)
        assert got["aux"].tolist() == [
            RejectReason.UNKNOWN_INSTRUMENT,
            RejectReason.NEGATIVE_QUANTITY,
            RejectReason.PRICE_NOT_POSITIVE,
            RejectReason.BAD_SIDE,
            RejectReason.QUANTITY_ABOVE_MAX,
            RejectReason.BOOK_NOT_SYNCED,
            RejectReason.OFF_TICK_PRICE,
            RejectReason.UNKNOWN_KIND,
        ]
        assert eng.state_hash() == before
        assert eng.stats()["rejects"] == 8


def synthetic_stream(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = [spot_snapshot()]
    rows = []
    for i in range(n):
        side = int(rng.integers(0, 2))
        off = int(rng.integers(0, 500))
        px = 6_000_000 - off if side == Side.BID else 6_000_100 + off
        qty = int(rng.integers(0, 4)) * 1000
        rows.append((Kind.BOOK_LEVEL, SPOT, side, Flag.END, 10 + i, px, qty))
    parts.append(records(*rows))
    return np.concatenate(parts)


def test_threaded_core_matches_inline_run(registry: Registry) -> None:
    stream = synthetic_stream(20_000)
    with Engine(registry) as inline:
        inline.feed(stream)
        inline.run_once()
        want_hash, want_stats = inline.state_hash(), inline.stats()
    with Engine(registry, ring_capacity=1024, out_capacity=1024) as threaded:
        # same inputs: no idle heartbeats (they are inputs too, with wall-clock times)
        threaded.start(heartbeat_ms=None)
        threaded.feed(stream)
        mid = threaded.best(SPOT)  # answered by the running core thread
        assert mid is not None
        threaded.stop()
        assert threaded.state_hash() == want_hash
        got = threaded.stats()
        for key in ("records", "level_updates", "quotes", "rejects"):
            assert got[key] == want_stats[key], key
        assert got["records"] == len(stream)
        assert threaded.counts["quotes"] == got["quotes"]  # every published quote reached Python


def test_two_producers_are_merged_without_loss(registry: Registry) -> None:
    with Engine(registry, ring_capacity=256) as eng:
        eng.feed(spot_snapshot(), producer="a")
        eng.run_once()
        eng.start()
        a = synthetic_stream(3000, seed=1)[5:]
        b = synthetic_stream(3000, seed=2)[5:]
        pa, pb = eng.producer("a"), eng.add_producer("b")
        import threading

        t = threading.Thread(target=pb.push_batch_blocking, args=(b,))
        t.start()
        pa.push_batch_blocking(a)
        t.join()
        eng.stop()
        st = eng.stats()  # plus the heartbeats the idle core thread injected
        assert st["records"] == 5 + len(a) + len(b) + st["heartbeats"]


def test_subscriber_errors_are_contained(registry: Registry) -> None:
    def boom(_: np.ndarray) -> None:
        raise RuntimeError("strategy bug")

    with Engine(registry) as eng:
        sub = eng.subscribe(boom)
        ok: list[np.ndarray] = []
        eng.subscribe(ok.append)
        eng.feed(spot_snapshot())
        eng.run_once()
        assert sub.errors >= 1 and isinstance(sub.last_error, RuntimeError)
        assert ok


def test_bad_config_is_a_clear_error(tmp_path) -> None:
    import rfqcore_core

    reg = Registry.from_toml(TOML)
    specs = reg.instrument_specs()
    specs[0]["tick"] = 0
    rfqcore_core.ring_create(str(tmp_path / "o"), 1024)
    with pytest.raises(rfqcore_core.ConfigError, match="tick"):
        rfqcore_core.Engine(specs, reg.composite_specs(), str(tmp_path / "o"))
    with pytest.raises(rfqcore_core.RingError):
        rfqcore_core.Engine(reg.instrument_specs(), reg.composite_specs(), str(tmp_path / "missing"))


def test_an_engine_never_closed_still_removes_its_ring_files(registry: Registry, tmp_path) -> None:
    import gc

    eng = Engine(registry)
    ring_dir = eng.ring_dir
    assert (ring_dir / "out.ring").is_file()
    del eng
    gc.collect()
    assert not ring_dir.exists(), "the ring directory of a collected engine is left behind"
    # a closed engine removes them at once; one given a directory leaves that directory alone
    with Engine(registry) as eng:
        own = eng.ring_dir
    assert not own.exists()
    given = tmp_path / "rings"
    with Engine(registry, ring_dir=given):
        pass
    assert given.is_dir()
