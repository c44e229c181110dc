"""Replay of recorded flow into the simulated venues (``SimConfig.replay_speed``).

SimBook level: the recorded diffs that follow the seed, applied as the LP's activity, give
exactly the recorded book (checked against a plain stdlib-``json`` application of the file);
the published DepthDiffs carry every change with consecutive ids; the crossing rule (held,
never traded) and "the LP never trades" — with itself or with a client. Process level: a real
``SimProcess`` replaying at 50x, its depth stream decoded by the unchanged ``BinanceHandler`` /
``OkxHandler`` (every checksum valid) tracks the sim's book exactly, and client IOC orders fill
with exact balances while the book moves; the end of the recording.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import time
import urllib.request
from collections.abc import Awaitable, Callable
from decimal import ROUND_CEILING
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from rfqcore.errors import DecodeError
from rfqcore.handlers.binance import BinanceHandler, SyncState
from rfqcore.handlers.okx import OkxHandler, okx_checksum
from rfqcore.instruments import Registry
from rfqcore.records import Kind
from rfqcore.venues.base import ExecReport, OrderRequest, OrderSide, OrdStatus, TimeInForce
from rfqcore.venues.binance import BinanceAdapter
from rfqcore.venues.okx import OkxAdapter
from rfqcore.venuesim.okx_sim import LOT, SEED_SOURCE, SEED_SYMBOL, TICK
from rfqcore.venuesim.okx_sim import SYMBOL as OKX_SYMBOL
from rfqcore.venuesim.sim import Replay, SimConfig, SimProcess, build_sim, config_argv
from rfqcore.venuesim.simbook import DepthDiff, SimAccount, SimBook

from aiotools import run, until

pytestmark = pytest.mark.data
SYM = "BTCUSDT"
AT = 300          # seed point of every test here (early: fast to load)
SPEED = 50.0
OKX_SPEED = 20.0  # binance-usdm: ~19 diffs/s of ~70 levels, each with an OKX checksum on both sides
TAKER, MAKER = 750, 200


def in_band(book: SimBook, levels: dict[D, D]) -> dict[D, D]:
    """The levels a SimBook can hold: inside the band, on the lot grid."""
    return {p: q for p, q in levels.items() if book.min_price <= p <= book.max_price and q % book.lot == 0}


def sim_levels(book: SimBook) -> tuple[dict[D, D], dict[D, D]]:
    _, bids, asks = book.depth(1 << 30)
    return dict(bids), dict(asks)


def spot_sim(data_dir: Path, at: int = AT, **acc: Any) -> tuple[SimBook, Replay]:
    accounts = [SimAccount("alice", "ak", "as", balances={"USDT": D("10000000"), "BTC": D("100")}, **acc),
                SimAccount("bob", "bk", "bs", balances={"USDT": D("10000000"), "BTC": D("100")}, **acc)]
    book, replay = build_sim(SimConfig(style="binance", symbol=SYM, at_index=at, replay_speed=SPEED,
                                       accounts=accounts, data_dir=data_dir))
    assert replay is not None
    return book, replay


def run_diffs(replay: Replay, n: int, each: Callable[[], None] | None = None) -> None:
    for _ in range(n):
        d = replay.next_diff()
        assert d is not None
        replay.step(d)
        if each is not None:
            each()


# -- SimBook level ---------------------------------------------------------------------------

def test_replay_equals_recorded_book_and_depth_diffs_carry_it(data_dir: Path, reference_books: Any) -> None:
    n = 700
    ref = reference_books(data_dir / "binance/spot/btcusdt_20240808.gz", [AT, AT + n])
    book, replay = spot_sim(data_dir)
    assert sim_levels(book) == (in_band(book, ref[AT][0]), in_band(book, ref[AT][1]))
    # a client order far from the touch, at a price no recorded level uses: never touched
    far = book.min_price + 7 * book.tick
    assert far not in ref[AT][0] and far not in ref[AT + n][0]
    client, _ = book.place("alice", "far", "BUY", "LIMIT", D("0.5"), far, "GTC")
    start_bids, start_asks = sim_levels(book)
    start_id = book.update_id
    diffs: list[DepthDiff] = []
    book.add_depth_listener(diffs.append)
    run_diffs(replay, n)
    st = replay.as_dict()
    assert st["diffs_applied"] == n and st["index"] == AT + n and st["recorded_update_id"] == ref[AT + n][2]
    assert not st["finished"] and st["held"] == 0 and st["levels_changed"] > n
    bids, asks = sim_levels(book)
    assert bids.pop(far) == D("0.5")  # the client's order, alone at its price
    assert bids == in_band(book, ref[AT + n][0]) and asks == in_band(book, ref[AT + n][1])
    assert sorted(bids, reverse=True) == [p for p, _ in book.depth(1 << 30)[1] if p != far]
    # the DepthDiffs: consecutive ids, and together they turn the start book into the end book
    assert [d.first_id for d in diffs] == list(range(start_id + 1, start_id + 1 + len(diffs)))
    assert all(d.first_id == d.last_id for d in diffs) and diffs[-1].last_id == book.update_id
    assert len(diffs) >= n - 5  # a recorded diff that changes nothing in the band takes no id
    for d in diffs:
        for side, levels in ((start_bids, d.bids), (start_asks, d.asks)):
            for p, q in levels:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
    assert (start_bids, start_asks) == sim_levels(book)
    # the client's order and the LP: no trade happened
    assert client.status == "NEW" and client.cum_qty == 0 and book.fills("alice") == [] and book.fills("lp") == []
    assert book.accounts["alice"].locked["USDT"] == far * D("0.5")


def test_crossing_level_is_held_never_traded(data_dir: Path) -> None:
    book, replay = spot_sim(data_dir)
    (bb, _), (ba, baq) = book.top()  # type: ignore[misc]
    tick = book.tick
    # the LP never trades with itself: a recorded bid at the LP's own best ask is held, nothing trades
    uid = book.update_id
    r = book.set_lp_levels([(ba, D("0.3")), (ba + 5 * tick, D("0.1"))], [])
    assert r.held == 2 and r.update_id is None and book.update_id == uid and book.fills("lp") == []
    assert book.top() == ((bb, book.top()[0][1]), (ba, baq))  # type: ignore[index]
    r = book.set_lp_levels([(ba, D("0")), (ba + 5 * tick, D("0"))], [])  # newer recorded values: dropped
    assert r.held == 0 and r.changed == 0 and book.update_id == uid
    # a client's ask inside the spread, or joining the best ask when the spread is one tick
    px = bb + tick
    book.place("alice", "ask1", "SELL", "LIMIT", D("0.2"), px, "GTC")
    h0_fills = (book.fills("alice"), book.fills("lp"))
    uid = book.update_id
    # the recording puts the LP's bid at the client's ask price and one tick above: both cross
    r = book.set_lp_levels([(px + tick, D("1.5")), (px, D("0.7"))], [])
    assert r.held == 2 and book.lp_held == 2 and r.changed == 0 and r.update_id is None
    assert book.update_id == uid and (book.fills("alice"), book.fills("lp")) == h0_fills
    top_bid = book.top()[0]
    assert top_bid is not None and top_bid[0] == bb
    ask1 = book.order("alice", cl_ord_id="ask1")
    assert ask1 is not None and ask1.status == "NEW" and ask1.cum_qty == 0
    # a newer recorded value for a held level replaces it
    r = book.set_lp_levels([(px + tick, D("0"))], [])
    assert r.held == 1 and r.changed == 0
    # still crossing: retried, still held, nothing changed
    r = book.set_lp_levels([], [])
    assert r.held == 1 and r.update_id is None
    # the client's ask goes: the held level is placed at the next diff, as recorded
    diffs: list[DepthDiff] = []
    book.add_depth_listener(diffs.append)
    book.cancel("alice", cl_ord_id="ask1")
    # the recorded asks at and below px have to go first for the bid to be placed (a consistent book)
    asks_below = [(p, D(0)) for p in sorted(sim_levels(book)[1]) if p <= px]
    r = book.set_lp_levels([], asks_below)
    assert r.held == 0 and book.lp_held == 0
    assert book.top()[0] == (px, D("0.7")) and book.fills("lp") == [] and book.fills("alice") == []
    assert diffs[-1].bids == [(px, D("0.7"))] and diffs[-1].first_id == diffs[-2].last_id + 1


def test_client_orders_at_the_touch_are_never_traded_by_the_replay(data_dir: Path, reference_books: Any) -> None:
    n = 700
    ref = reference_books(data_dir / "binance/spot/btcusdt_20240808.gz", [AT + n])
    book, replay = spot_sim(data_dir)
    (bb, _), (ba, _) = book.top()  # type: ignore[misc]
    book.place("alice", "bid", "BUY", "LIMIT", D("0.05"), bb, "GTC")
    book.place("bob", "ask", "SELL", "LIMIT", D("0.05"), ba, "GTC")
    held_max = 0

    def check() -> None:
        nonlocal held_max
        bid, ask = book.top()
        assert bid is not None and ask is not None and bid[0] < ask[0]  # never crossed
        held_max = max(held_max, book.lp_held)

    run_diffs(replay, n, check)
    # the recorded market moved through one of the client orders: its levels were held
    assert held_max > 0
    for name, cl in (("alice", "bid"), ("bob", "ask")):
        o = book.order(name, cl_ord_id=cl)
        assert o is not None and o.status == "NEW" and o.cum_qty == 0 and book.fills(name) == []
    assert book.fills("lp") == []
    # the clients leave; the next diff places every held level: the book is the recorded one again
    book.cancel("alice", cl_ord_id="bid")
    book.cancel("bob", cl_ord_id="ask")
    book.set_lp_levels([], [])
    assert book.lp_held == 0
    assert sim_levels(book) == (in_band(book, ref[AT + n][0]), in_band(book, ref[AT + n][1]))


def test_replay_speed_is_validated_and_passed_on(data_dir: Path) -> None:
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="replay_speed"):
            build_sim(SimConfig(style="binance", symbol=SYM, replay_speed=bad, data_dir=data_dir))
    argv = config_argv(SimConfig(style="okx", symbol="BTC-USDT", replay_speed=2.5))
    assert argv[argv.index("--replay-speed") + 1] == "2.5"
    book, replay = build_sim(SimConfig(style="binance", symbol=SYM, at_index=AT, data_dir=data_dir))
    assert replay is None and book.update_id == book.seed.update_id


# -- process level ---------------------------------------------------------------------------


async def state(sim: SimProcess) -> dict[str, Any]:
    return await asyncio.to_thread(sim.state)


async def admin(sim: SimProcess, op: str) -> dict[str, Any]:
    return await asyncio.to_thread(sim.admin, op)


def fee(amount: D, cbps: int = TAKER) -> D:
    return (amount * cbps / D(10**6)).quantize(D("1e-8"), rounding=ROUND_CEILING)


def terminal(reps: list[ExecReport]) -> ExecReport | None:
    done = [r for r in reps if r.status in (OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.EXPIRED,
                                            OrdStatus.REJECTED)]
    return done[-1] if done else None


def accounts() -> list[SimAccount]:
    return [SimAccount("alice", "alice-key", "alice-secret", "alice-pass",
                       {"USDT": D("5000000"), "BTC": D("50")}, MAKER, TAKER)]


class BinanceClient:
    """BinanceAdapter + BinanceHandler -> an L2 book in fixed point, as a client builds it."""

    def __init__(self, sim: SimProcess) -> None:
        self.sim = sim
        reg = Registry.load()
        self.ins = reg.lookup("binance-spot", SYM)
        self.handler = BinanceHandler(reg, "binance-spot", [SYM])
        self.book: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.reports: list[ExecReport] = []
        self.errors: list[DecodeError] = []
        self.stale = 0
        self.adapter = BinanceAdapter("binance-sim", rest_url=sim.http, ws_url=sim.ws, api_key="alice-key",
                                      secret="alice-secret", symbols=[SYM], on_report=self.reports.append,
                                      on_market_data=self.on_md, market_streams=("depth@100ms",))

    def on_md(self, raw: bytes, ts: int) -> None:
        try:
            self.apply(self.handler.on_message(ts, raw))
        except DecodeError as e:
            self.errors.append(e)

    def apply(self, n: int) -> None:
        for rec in self.handler.out[:n].tolist():
            kind, side, price, qty = rec[0], rec[2], rec[8], rec[9]
            if kind == Kind.BOOK_CLEAR:
                self.book[0].clear()
                self.book[1].clear()
            elif kind == Kind.BOOK_STALE:
                self.stale += 1
            elif kind == Kind.BOOK_LEVEL:
                if qty:
                    self.book[side][price] = qty
                else:
                    self.book[side].pop(price, None)

    def venue_book(self) -> tuple[int, dict[int, int], dict[int, int]]:
        with urllib.request.urlopen(f"{self.sim.http}/api/v3/depth?symbol={SYM}&limit=5000", timeout=10) as r:
            d = json.loads(r.read())
        pd, qd = self.ins.price_decimals, self.ins.qty_decimals
        bids, asks = ({int(D(p).scaleb(pd)): int(D(q).scaleb(qd)) for p, q in d[k]} for k in ("bids", "asks"))
        return d["lastUpdateId"], bids, asks

    async def matches_paused_venue(self) -> int:
        """With the replay paused: the stream-built book equals the venue's, level by level."""
        deadline = time.monotonic() + 5
        while True:
            uid, bids, asks = await asyncio.to_thread(self.venue_book)
            if self.handler.state(SYM) == SyncState.LIVE and (bids, asks) == self.book:
                return uid
            if time.monotonic() > deadline:
                raise AssertionError("the book built from the depth stream differs from the venue's")
            await asyncio.sleep(0.05)


async def check_ioc_balances(sim: SimProcess, reps: Callable[[str], list[ExecReport]],
                             place: Callable[[str], Awaitable[None]], cl: str, side: OrderSide) -> list[ExecReport]:
    """Place one IOC (``place(cl)``) and check alice's balances moved by exactly its fills."""
    before = (await state(sim))["accounts"]["alice"]["balances"]
    await place(cl)
    await until(lambda: terminal(reps(cl)) is not None, what=f"{cl} to end")
    fills = [r for r in reps(cl) if r.last_qty > 0]
    assert fills, f"{cl} filled nothing"
    qty = sum(r.last_qty for r in fills)
    cost = sum(r.last_price * r.last_qty for r in fills)
    after = (await state(sim))["accounts"]["alice"]
    if side is OrderSide.BUY:
        assert [r.commission for r in fills] == [fee(r.last_qty) for r in fills]
        assert D(after["balances"]["USDT"]) == D(before["USDT"]) - cost
        assert D(after["balances"]["BTC"]) == D(before["BTC"]) + qty - sum(r.commission for r in fills)
    else:
        assert [r.commission for r in fills] == [fee(r.last_price * r.last_qty) for r in fills]
        assert D(after["balances"]["BTC"]) == D(before["BTC"]) - qty
        assert D(after["balances"]["USDT"]) == D(before["USDT"]) + cost - sum(r.commission for r in fills)
    assert all(D(v) == 0 for v in after["locked"].values())
    venue = {f["trade_id"]: (D(f["price"]), D(f["qty"]), D(f["fee"])) for f in after["fills"]}
    assert [venue[r.trade_id] for r in fills] == [(r.last_price, r.last_qty, r.commission) for r in fills]
    return fills


def test_binance_stream_tracks_the_replaying_sim_and_ioc_fills_exactly(data_dir: Path) -> None:
    cfg = SimConfig(style="binance", symbol=SYM, at_index=AT, replay_speed=SPEED, accounts=accounts(),
                    data_dir=data_dir)
    with SimProcess(cfg) as sim:
        async def go() -> None:
            c = BinanceClient(sim)
            await c.adapter.start()
            try:
                snap = await c.adapter.fetch_snapshot(SYM)
                assert snap is not None
                c.apply(c.handler.on_snapshot(time.time_ns(), snap, symbol=SYM))
                applied, uid = 0, 0
                for rnd in range(3):
                    await asyncio.sleep(0.4)               # the replay runs, the stream follows
                    st = (await admin(sim, "replay_pause"))["replay"]
                    assert st["paused"] and st["diffs_applied"] > applied and not st["finished"]
                    applied = st["diffs_applied"]
                    new_uid = await c.matches_paused_venue()
                    assert new_uid > uid
                    uid = new_uid
                    if rnd == 1:  # paused: an IOC through the two best asks fills exactly those
                        _, _, asks = await asyncio.to_thread(c.venue_book)
                        pd, qd = c.ins.price_decimals, c.ins.qty_decimals
                        (p1, q1), (p2, q2) = [(D(p).scaleb(-pd), D(q).scaleb(-qd)) for p, q in sorted(asks.items())[:2]]

                        async def place_paused(cl: str) -> None:
                            await c.adapter.place(OrderRequest(cl, SYM, OrderSide.BUY, q1 + q2, p2, TimeInForce.IOC))

                        fills = await check_ioc_balances(sim, lambda cl: [r for r in c.reports if r.cl_ord_id == cl],
                                                         place_paused, "paused1", OrderSide.BUY)
                        assert [(r.last_price, r.last_qty) for r in fills] == [(p1, q1), (p2, q2)]
                        await c.matches_paused_venue()
                    await admin(sim, "replay_resume")
                # while the replay runs: IOC orders still fill with exact balances (each priced off
                # the touch just before it is sent: the replay moves the market meanwhile, by more
                # than the 30 USDT margin when the machine is loaded)
                async def buy(cl: str) -> None:
                    ask = (await state(sim))["top"]["ask"]
                    await c.adapter.place(OrderRequest(cl, SYM, OrderSide.BUY, D("0.25"), D(ask[0]) + 30,
                                                       TimeInForce.IOC))

                async def sell(cl: str) -> None:
                    bid = (await state(sim))["top"]["bid"]
                    await c.adapter.place(OrderRequest(cl, SYM, OrderSide.SELL, D("0.25"), D(bid[0]) - 30,
                                                       TimeInForce.IOC))

                reps = lambda cl: [r for r in c.reports if r.cl_ord_id == cl]  # noqa: E731
                await check_ioc_balances(sim, reps, buy, "live-buy", OrderSide.BUY)
                await check_ioc_balances(sim, reps, sell, "live-sell", OrderSide.SELL)
                await asyncio.sleep(0.3)
                st = (await admin(sim, "replay_pause"))["replay"]
                assert st["diffs_applied"] > applied and st["held"] == 0
                await c.matches_paused_venue()
                assert c.handler.stats.gaps == 0 and c.stale == 0 and not c.errors
                full = await state(sim)
                assert full["replay"]["paused"] and full["accounts"]["alice"]["balances"]
            finally:
                await c.adapter.stop()
        run(go())
        assert "Traceback" not in sim.stderr_text()


def test_okx_books_feed_tracks_the_replaying_sim_checksums_valid(data_dir: Path) -> None:
    cfg = SimConfig(style="okx", symbol=OKX_SYMBOL, seed=SEED_SOURCE, seed_symbol=SEED_SYMBOL, tick=TICK, lot=LOT,
                    at_index=AT, replay_speed=OKX_SPEED, accounts=accounts(), data_dir=data_dir)
    with SimProcess(cfg) as sim:
        async def go() -> None:
            handler = OkxHandler(Registry.load(), [OKX_SYMBOL])
            errors: list[Exception] = []
            reports: list[ExecReport] = []
            books_msgs = 0

            def md(raw: bytes, ts: int) -> None:
                nonlocal books_msgs
                books_msgs += b'"books"' in raw[:60]
                try:
                    n = handler.on_message(ts, raw)
                except Exception as e:  # noqa: BLE001 - asserted empty
                    errors.append(e)
                    return
                if any(r[0] == Kind.BOOK_STALE for r in handler.out[:n].tolist()):
                    errors.append(AssertionError("stale book record"))

            a = OkxAdapter(on_report=reports.append, on_market_data=md, public_url=sim.ws + "/ws/v5/public",
                           private_url=sim.ws + "/ws/v5/private", rest_url=sim.http, api_key="alice-key",
                           secret="alice-secret", passphrase="alice-pass", symbols=[OKX_SYMBOL])
            await a.start()
            try:
                await until(lambda: handler.is_live(OKX_SYMBOL), what="books snapshot")
                reps = lambda cl: [r for r in reports if r.cl_ord_id == cl]  # noqa: E731

                async def buy(cl: str) -> None:
                    ask = (await state(sim))["top"]["ask"]
                    await a.place(OrderRequest(cl, OKX_SYMBOL, OrderSide.BUY, D("0.3"), D(ask[0]) + 30,
                                               TimeInForce.IOC))

                async def sell(cl: str) -> None:
                    bid = (await state(sim))["top"]["bid"]
                    await a.place(OrderRequest(cl, OKX_SYMBOL, OrderSide.SELL, D("0.3"), D(bid[0]) - 30,
                                               TimeInForce.IOC))

                applied = 0
                for rnd in range(3):
                    await asyncio.sleep(0.4)
                    if rnd == 1:
                        await check_ioc_balances(sim, reps, buy, "okxbuy1", OrderSide.BUY)
                        await check_ioc_balances(sim, reps, sell, "okxsell1", OrderSide.SELL)
                    st = (await admin(sim, "replay_pause"))["replay"]
                    assert st["diffs_applied"] > applied
                    applied = st["diffs_applied"]
                    uid = (await state(sim))["update_id"]
                    await until(lambda: handler._books[OKX_SYMBOL].seq_id == uid,
                                what="the handler at the sim's update id")
                    book = handler._books[OKX_SYMBOL]
                    # the whole book, level by level, against a fresh snapshot of the paused sim
                    snap = await fresh_okx_snapshot(sim)
                    assert snap["seqId"] == uid and snap["checksum"] == okx_checksum(book.bids, book.asks)
                    assert [(D(p), D(q)) for p, q, *_ in snap["bids"]] == \
                        [(D(book.bids[k][0]), D(book.bids[k][1])) for k in sorted(book.bids, reverse=True)]
                    assert [(D(p), D(q)) for p, q, *_ in snap["asks"]] == \
                        [(D(book.asks[k][0]), D(book.asks[k][1])) for k in sorted(book.asks)]
                    await admin(sim, "replay_resume")
                # the replay runs on in real time: on a loaded machine three 0.4 s rounds can carry
                # fewer than 100 updates, so wait for them (each one through the checksum check)
                await until(lambda: books_msgs > 100, timeout=30.0, what="100 replayed books updates")
                hs = handler.stats
                assert not errors and hs.checksum_failures == 0 and hs.gaps == 0 and handler.is_live(OKX_SYMBOL)
                assert books_msgs > 100  # every replayed update went through the checksum check
            finally:
                await a.stop()
        run(go())


async def fresh_okx_snapshot(sim: SimProcess) -> dict[str, Any]:
    import aiohttp
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws + "/ws/v5/public") as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": OKX_SYMBOL}]}))
        while True:
            obj = json.loads((await ws.receive(timeout=3)).data)
            if obj.get("action") == "snapshot":
                return obj["data"][0]  # type: ignore[no-any-return]


def test_replay_stops_at_the_end_of_the_recording(data_dir: Path) -> None:
    at = 6400  # the BTCUSDT spot recording has 6,493 diffs after its snapshot
    cfg = SimConfig(style="binance", symbol=SYM, at_index=at, replay_speed=SPEED, accounts=accounts(),
                    data_dir=data_dir)
    with SimProcess(cfg) as sim:
        deadline = time.monotonic() + 10
        while not (st := sim.state())["replay"]["finished"]:
            assert time.monotonic() < deadline, st["replay"]
            time.sleep(0.05)
        rp = st["replay"]
        assert rp["diffs_applied"] == 6493 - at and rp["index"] == 6493 and rp["error"] is None
        with gzip.open(data_dir / "binance/spot/btcusdt_20240809.gz", "rt") as fh:
            last_u = [json.loads(line.split(" ", 1)[1]) for line in fh if "@depth" in line[:80]][-1]["data"]["u"]
        assert rp["recorded_update_id"] == last_u
        time.sleep(0.3)
        again = sim.state()
        assert again["update_id"] == st["update_id"] and again["state_hash"] == st["state_hash"]
        assert sim.stderr_text().count("replay finished") == 1
