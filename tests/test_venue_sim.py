"""Simulated venues: the recorded-book seed, SimBook (matching, balances, fees, listeners, rejects
that change nothing) and the process runner (a real subprocess on loopback)."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from decimal import Decimal as D
from pathlib import Path

from typing import Any

import pytest

from rfqcore.venuesim.seed import SeedDataMissing, SeedError, load_book_seed
from rfqcore.venuesim.sim import SimConfig, SimProcess, SimStartError
from rfqcore.venuesim.simbook import DepthDiff, SimAccount, SimBook, SimReject


@pytest.mark.parametrize("n", [0, 1, 700])
def test_seed_equals_recorded_book(data_dir: Path, reference_books: Any, n: int) -> None:
    seed = load_book_seed("binance-spot", "BTCUSDT", data_dir=data_dir, at_index=n)
    bids, asks, last = reference_books(data_dir / "binance/spot/btcusdt_20240808.gz", [n])[n]
    assert seed.update_id == last
    assert seed.bids == sorted(bids.items(), reverse=True)
    assert seed.asks == sorted(asks.items())
    assert seed.source == "binance-spot" and seed.symbol == "BTCUSDT" and seed.ts_ns > 0


def test_seed_errors(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="unknown seed source"):
        load_book_seed("nasdaq", "BTCUSDT", data_dir=data_dir)
    with pytest.raises(SeedDataMissing, match="DOGEUSDT"):
        load_book_seed("binance-spot", "DOGEUSDT", data_dir=data_dir)
    with pytest.raises(SeedDataMissing, match="not found"):
        load_book_seed("binance-spot", "BTCUSDT", data_dir=tmp_path / "nowhere")
    with pytest.raises(SeedError, match="fewer than at_index"):
        load_book_seed("binance-usdm", "BTCUSDT", data_dir=data_dir, at_index=10**6)


# -- SimBook -------------------------------------------------------------------------------

def make_book(data_dir: Path, **acc_kw: object) -> SimBook:
    seed = load_book_seed("binance-spot", "BTCUSDT", data_dir=data_dir, at_index=0)
    def acc(name: str) -> SimAccount:
        kw: dict = {"balances": {"USDT": D("1000000"), "BTC": D("10")}, "maker_cbps": 500, "taker_cbps": 1000}
        kw.update(acc_kw)
        return SimAccount(name, "k" + name, "s" + name, **kw)
    return SimBook(symbol="BTCUSDT", base="BTC", quote="USDT", tick=D("0.01"), lot=D("0.000001"), seed=seed,
                   accounts=[acc("alice"), acc("bob")])


@pytest.fixture()
def book(data_dir: Path) -> SimBook:
    return make_book(data_dir)


def test_seeded_levels_rest_as_lp_orders(book: SimBook) -> None:
    uid, bids, asks = book.depth(5000)
    assert uid == book.seed.update_id
    assert bids == book.seed.bids and asks == book.seed.asks  # the snapshot spans < ±5%
    assert len(book.open_orders("lp")) == len(bids) + len(asks) and book.seed_dropped == 0


def test_ioc_sweep_fills_fees_balances(book: SimBook) -> None:
    asks = book.seed.asks[:3]
    limit = asks[2][0]
    qty = asks[0][1] + asks[1][1] + asks[2][1] + D("5")  # more than the three levels hold
    updates: list = []
    diffs: list[DepthDiff] = []
    book.add_listener(lambda a, o, f: updates.append((a, o.status, o.cum_qty, f)))
    book.add_depth_listener(diffs.append)
    order, fills = book.place("alice", "c1", "BUY", "LIMIT", qty, limit, "IOC")
    assert [(f.price, f.qty) for f in fills] == asks
    assert order.status == "EXPIRED" and order.cum_qty == sum(q for _, q in asks)
    cost = sum(p * q for p, q in asks)
    assert order.cum_quote == cost
    fees = [(q * 1000 / D(10**6)).quantize(D("1e-8"), rounding="ROUND_CEILING") for _, q in asks]
    assert [f.fee for f in fills] == fees and all(f.fee_asset == "BTC" and not f.maker for f in fills)
    acc = book.accounts["alice"]
    assert acc.balances["USDT"] == D("1000000") - cost
    assert acc.balances["BTC"] == D("10") + order.cum_qty - sum(fees)
    assert acc.locked["USDT"] == 0
    # listener order: NEW, (maker, taker) per trade, then the expiry
    assert updates[0][:2] == ("alice", "NEW") and updates[-1][:2] == ("alice", "EXPIRED")
    assert [u[0] for u in updates[1:-1]] == ["lp", "alice"] * 3
    assert len(diffs) == 1 and diffs[0].first_id == diffs[0].last_id == book.seed.update_id + 1
    assert diffs[0].asks == [(p, D(0)) for p, _ in asks] and diffs[0].bids == []
    assert book.depth(1)[2][0] == book.seed.asks[3]


def test_gtc_rests_then_maker_fill_and_cancel(book: SimBook) -> None:
    bid, lp_qty = book.seed.bids[0]  # alice joins the best bid, behind the LP order
    o, fills = book.place("alice", "m1", "BUY", "LIMIT", D("2"), bid, "GTC")
    assert o.status == "NEW" and not fills
    assert book.accounts["alice"].locked["USDT"] == bid * 2
    assert book.depth(1)[1][0] == (bid, lp_qty + 2)
    t, tf = book.place("bob", "t1", "SELL", "LIMIT", lp_qty + D("0.5"), bid, "IOC")
    assert t.status == "FILLED" and [(f.price, f.qty) for f in tf] == [(bid, lp_qty), (bid, D("0.5"))]
    mfill = book.fills("alice")[-1]
    assert mfill.maker and mfill.fee == (D("0.5") * 500 / D(10**6)).quantize(D("1e-8"), rounding="ROUND_CEILING")
    assert book.accounts["bob"].balances["USDT"] == D("1000000") + bid * t.cum_qty - tf[0].fee - tf[1].fee
    assert book.accounts["bob"].balances["BTC"] == D("10") - t.cum_qty
    assert o.status == "PARTIALLY_FILLED"
    c = book.cancel("alice", cl_ord_id="m1")
    assert c.status == "CANCELED" and book.accounts["alice"].locked["USDT"] == 0
    assert book.accounts["alice"].balances["USDT"] == D("1000000") - bid / 2
    with pytest.raises(SimReject) as e:
        book.cancel("alice", cl_ord_id="m1")
    assert e.value.code == "unknown_order"


def test_fok_and_market(book: SimBook) -> None:
    total = sum(q for _, q in book.seed.asks[:2])
    o, f = book.place("alice", "f1", "BUY", "LIMIT", total + D("0.000001"), book.seed.asks[1][0], "FOK")
    assert o.status == "EXPIRED" and not f and book.accounts["alice"].locked.get("USDT", 0) == 0
    o, f = book.place("alice", "f2", "BUY", "LIMIT", total, book.seed.asks[1][0], "FOK")
    assert o.status == "FILLED" and len(f) == 2
    m, mf = book.place("bob", "mk", "SELL", "MARKET", D("1"), None, "IOC")
    assert m.status == "FILLED" and mf[0].price == book.seed.bids[0][0]
    assert book.accounts["bob"].balances["BTC"] == D("9")


@pytest.mark.parametrize("args,code", [
    (("nobody", "x", "BUY", "LIMIT", D("1"), D("60000"), "GTC"), "unknown_account"),
    (("alice", "x", "HOLD", "LIMIT", D("1"), D("60000"), "GTC"), "bad_side"),
    (("alice", "x", "BUY", "STOP", D("1"), D("60000"), "GTC"), "bad_type"),
    (("alice", "x", "BUY", "LIMIT", D("1"), D("60000"), "GTD"), "bad_tif"),
    (("alice", "dup", "BUY", "LIMIT", D("1"), D("60000"), "GTC"), "duplicate_order"),
    (("alice", "x", "BUY", "LIMIT", D("0"), D("60000"), "GTC"), "bad_qty"),
    (("alice", "x", "BUY", "LIMIT", D("0.0000001"), D("60000"), "GTC"), "off_lot"),
    (("alice", "x", "BUY", "LIMIT", D("1"), None, "GTC"), "bad_price"),
    (("alice", "x", "BUY", "LIMIT", D("1"), D("1"), "GTC"), "bad_price"),
    (("alice", "x", "BUY", "LIMIT", D("1"), D("60000.001"), "GTC"), "off_tick"),
    (("alice", "x", "BUY", "MARKET", D("1"), D("60000"), "IOC"), "bad_price"),
    (("alice", "x", "BUY", "LIMIT", D("100"), D("60000"), "GTC"), "insufficient_balance"),
    (("alice", "x", "SELL", "LIMIT", D("11"), D("62000"), "GTC"), "insufficient_balance"),
])
def test_rejects_change_nothing(book: SimBook, args: tuple, code: str) -> None:
    book.place("alice", "dup", "BUY", "LIMIT", D("0.1"), D("60000"), "GTC")
    h = book.state_hash()
    with pytest.raises(SimReject) as e:
        book.place(*args)
    assert e.value.code == code and h == book.state_hash()


def test_post_only_and_faults(book: SimBook) -> None:
    h = book.state_hash()
    with pytest.raises(SimReject) as e:
        book.place("alice", "p", "BUY", "LIMIT", D("1"), book.seed.asks[0][0], "GTC", post_only=True)
    assert e.value.code == "post_only_would_take" and book.state_hash() == h
    book.faults.reject_next(1)
    with pytest.raises(SimReject) as e:
        book.place("alice", "r", "BUY", "LIMIT", D("1"), D("60000"), "GTC")
    assert e.value.code == "rejected_by_fault" and book.state_hash() == h
    book.place("alice", "r", "BUY", "LIMIT", D("1"), D("60000"), "GTC")  # the next one passes
    book.faults.cap_fill(D("0.001"))
    o, f = book.place("alice", "cap", "BUY", "LIMIT", D("1"), book.seed.asks[5][0], "IOC")
    assert o.status == "EXPIRED" and o.cum_qty == D("0.001") and book.faults.fill_cap is None
    diffs: list[DepthDiff] = []
    book.add_depth_listener(diffs.append)
    book.faults.gap_next()
    before = book.update_id
    book.place("alice", "g", "BUY", "LIMIT", D("1"), D("60000.01"), "GTC")
    assert diffs[0].first_id == before + 2 == book.update_id


# -- the process runner ----------------------------------------------------------------------

def test_sim_process_ready_state_admin_stop(data_dir: Path) -> None:
    cfg = SimConfig(style="binance", symbol="BTCUSDT", at_index=10,
                    accounts=[SimAccount("alice", "ka", "sa", balances={"USDT": D("5000")})])
    with SimProcess(cfg) as sim:
        assert sim.http.startswith("http://127.0.0.1:") and sim.ws.startswith("ws://127.0.0.1:")
        st = sim.state()
        assert st["accounts"]["alice"]["balances"] == {"USDT": "5000"}
        assert st["seed"]["source"] == "binance-spot" and int(st["state_hash"]) != 0
        assert sim.admin("reject_next", n=2)["faults"]["reject_next"] == 2
        with pytest.raises(ValueError, match="unknown op"):
            sim.admin("explode")
        assert sim.admin("cap_fill", qty="0.01")["faults"]["fill_cap"] == "0.01"
        for op, kw in (("cap_fill", {"qty": 1}), ("disconnect", {}), ("slow_ack", {"ms": -5})):
            with pytest.raises(ValueError, match="HTTP 400"):
                sim.admin(op, **kw)
        assert sim.admin("clear")["faults"]["reject_next"] == 0
        with urllib.request.urlopen(sim.http + "/api/v3/ping", timeout=5) as r:
            assert r.read() == b"{}"
        sim.admin("disconnect", ms=400)  # venue routes refused (connection cut); admin still answers
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(sim.http + "/api/v3/ping", timeout=5)
        assert sim.state()["faults"]["epoch"] == 1
        time.sleep(0.5)
        with urllib.request.urlopen(sim.http + "/api/v3/ping", timeout=5) as r:
            assert r.read() == b"{}"
        pid = sim.pid
    assert sim.proc is not None and sim.proc.returncode == 0 and pid == sim.proc.pid


def test_sim_process_start_error_names_stderr(data_dir: Path) -> None:
    cfg = SimConfig(style="binance", symbol="NOSUCHUSDT")
    with pytest.raises(SimStartError, match="NOSUCHUSDT"):
        SimProcess(cfg, timeout=20).start()
