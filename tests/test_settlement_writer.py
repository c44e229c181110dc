"""SettlementWriter: store outages (a store that raises for a while, one that hangs, and a real
PostgreSQL server stopped and started), spill file and restart, the EXEC/EXEC_FEES assembler,
and end to end from a real Engine (RFQs + accepts -> EXEC events -> tap ring -> store), inline
and on the core thread, plus the journal-replay hook (raw output records captured again:
duplicates only)."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from rfqcore.engine import Engine
from rfqcore.records import RECORD_DTYPE, ClientSide, Flag, Kind
from rfqcore.rfq import Execution
from rfqcore.settlement import (
    Catalog,
    ExecutionAssembler,
    PostgresStore,
    SettlementWriter,
    StoreUnavailable,
    Trade,
    capture_records,
    net_trades,
    open_store,
    pnl_by_day,
)
from rfqcore.settlement.model import rescale

NS = 10**9
T0 = 1_723_075_200 * NS
BTC = 10**8
SPOT = 1


def mk(tid: int, t: int | None = None, client: int = 1) -> Trade:
    price, qty = 6_000_000 + tid, BTC // 10
    return Trade(trade_id=tid, client_id=client, client=f"client-{client}", composite_id=1, composite="BTC",
                 base="BTC", quote="USDT", side=ClientSide.BUY if tid % 3 else ClientSide.SELL, price=price, qty=qty,
                 notional=price * qty, fee=tid, price_decimals=2, qty_decimals=8, quote_id=tid, rfq_id=tid,
                 accept_id=tid, core_time_ns=T0 + tid * NS if t is None else t)


class FlakyStore:
    """A real SQLite store that raises StoreUnavailable while ``down``; ``ack_lost`` commits and
    then raises (the commit happened but the writer is not told)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.down = False
        self.ack_lost = 0
        self.calls = 0

    def capture(self, trades, watermark_ns=None):
        self.calls += 1
        if self.down:
            raise StoreUnavailable("test: store down")
        r = self.inner.capture(trades, watermark_ns)
        if self.ack_lost:
            self.ack_lost -= 1
            raise StoreUnavailable("test: connection lost after the commit")
        return r

    def close(self) -> None:
        pass


@pytest.fixture
def sqlite_store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path}/s.db")
    yield s
    s.close()


def _writer(store, tmp_path: Path, **kw) -> SettlementWriter:
    opts = dict(spill_path=tmp_path / "spill.jsonl", max_memory=50, batch_size=20, flush_interval_s=0.005,
                retry_initial_s=0.01, retry_max_s=0.05)
    opts.update(kw)
    return SettlementWriter(store, Catalog(), **opts)


def test_outage_spills_then_catches_up_without_loss_or_duplication(sqlite_store, tmp_path: Path) -> None:
    flaky = FlakyStore(sqlite_store)
    w = _writer(flaky, tmp_path)
    w.start()
    flaky.down = True
    trades = [mk(i) for i in range(1, 501)]
    for k in range(0, 500, 7):
        w.offer_trades(trades[k:k + 7], watermark_ns=trades[min(k + 6, 499)].core_time_ns + 1)
    deadline = time.time() + 5
    while flaky.calls < 3 and time.time() < deadline:
        time.sleep(0.01)
    assert w.stats["failures"] >= 2 and "store down" in w.stats["last_error"]
    assert w.stats["spilled"] >= 450 and (tmp_path / "spill.jsonl").stat().st_size > 0
    assert sqlite_store.trade_count() == 0 and sqlite_store.watermark() == 0
    assert w.backlog == 500 + 72  # 500 trades + 72 watermark marks
    flaky.down = False
    assert w.flush(10)
    assert sqlite_store.trades() == trades
    assert sqlite_store.watermark() == trades[-1].core_time_ns + 1
    assert w.stats["inserted"] == 500 and w.stats["duplicates"] == 0 and w.stats["store_down_since"] is None
    deadline = time.time() + 5  # the writer truncates the drained file, then leaves spill mode
    while ((tmp_path / "spill.jsonl").stat().st_size or w._spilling) and time.time() < deadline:
        time.sleep(0.01)
    assert (tmp_path / "spill.jsonl").stat().st_size == 0 and not w._spilling  # drained, back to memory
    # a commit whose acknowledgement is lost is retried: a duplicate, never a second row
    flaky.ack_lost = 2
    more = [mk(i) for i in range(501, 541)]
    w.offer_trades(more)
    assert w.flush(10)
    assert sqlite_store.trades() == trades + more
    # the unacknowledged insert shows up as duplicates on the retry that is acknowledged
    assert w.stats["duplicates"] == 20 and w.stats["inserted"] + w.stats["duplicates"] == 540
    assert w.stop()


class HangingStore:
    """A real SQLite store whose ``capture`` hangs (as on a stalled connection) until released."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.entered = threading.Event()  # a capture call is inside the store
        self.release = threading.Event()
        self.calls = 0

    def capture(self, trades, watermark_ns=None):
        self.calls += 1
        self.entered.set()
        if not self.release.wait(60):
            raise StoreUnavailable("test: never released")
        return self.inner.capture(trades, watermark_ns)

    def close(self) -> None:
        pass


def test_a_hanging_store_never_blocks_the_producer(sqlite_store, tmp_path: Path) -> None:
    """The writer's promise that ``offer_*`` never waits for the store, shown without a clock:
    while the writer thread is stuck inside ``capture``, a producer offers far more than the
    memory queue holds; every offer returns while the store is still held, the overflow goes to
    the spill file, and once released everything is committed once, in order."""
    store = HangingStore(sqlite_store)
    w = _writer(store, tmp_path, max_memory=50, batch_size=20)
    w.start()
    trades = [mk(i) for i in range(1, 501)]
    w.offer_trades(trades[:1])
    assert store.entered.wait(10), "the writer never called the store"
    offered = threading.Event()

    def produce() -> None:
        for k in range(1, 500, 7):
            w.offer_trades(trades[k:k + 7], watermark_ns=trades[min(k + 6, 499)].core_time_ns + 1)
        offered.set()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    # a hang guard, not a speed limit: the offers return even though the store never does
    assert offered.wait(30), "offer_trades blocked on a store that does not answer"
    assert not store.release.is_set() and store.calls == 1  # still the first capture, still held
    assert w.stats["inserted"] == 0 and sqlite_store.trade_count() == 0
    assert w.backlog == 500 + 72  # 500 trades + 72 watermark marks, all queued
    assert w.stats["spilled"] >= 500 + 72 - 50 and (tmp_path / "spill.jsonl").stat().st_size > 0
    store.release.set()
    assert w.flush(10)
    assert sqlite_store.trades() == trades and w.stats["inserted"] == 500 and w.stats["duplicates"] == 0
    assert sqlite_store.watermark() == trades[-1].core_time_ns + 1
    assert w.stop()


def test_stop_while_down_keeps_everything_for_the_next_start(sqlite_store, tmp_path: Path) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    w = _writer(flaky, tmp_path, max_memory=100)
    w.start()
    trades = [mk(i) for i in range(1, 301)]
    for k in range(0, 300, 10):
        w.offer_trades(trades[k:k + 10])
    assert not w.stop(timeout=0.2)  # the store is still down: not everything was committed
    spill = tmp_path / "spill.jsonl"
    lines = spill.read_text().splitlines()
    assert [json.loads(x)["t"]["trade_id"] for x in lines] == list(range(1, 301))  # memory first, in order
    with open(spill, "a") as f:
        f.write('{"t": {"trade_id": 9')  # a line torn by a crash: never acknowledged, ignored
    w2 = _writer(sqlite_store, tmp_path)
    w2.start()
    assert w2.stats["recovered"] == 300
    assert w2.flush(10)
    assert sqlite_store.trades() == trades
    assert w2.stop()


def _exec_records(tid: int, ts: int, client: int = 1) -> np.ndarray:
    a = np.zeros(2, dtype=RECORD_DTYPE)
    a[0] = (Kind.EXEC, 1, ClientSide.BUY, 0, client, tid, 77, ts, 6_000_000, BTC, 900 + tid, 0)
    a[1] = (Kind.EXEC_FEES, 1, ClientSide.BUY, Flag.END, client, tid, 0, ts, 3_000, 6_000_000 * BTC, 500 + tid, 0)
    return a


def test_assembler_joins_across_batches_and_holds_the_watermark() -> None:
    cat = Catalog.from_engine(type("E", (), {"registry": __import__("rfqcore").Registry.load(),
                                             "rfq": None})())
    asm = ExecutionAssembler(cat)
    r1, r2 = _exec_records(1, T0 + 5), _exec_records(2, T0 + 9)
    quote = np.zeros(1, dtype=RECORD_DTYPE)
    quote[0] = (Kind.RFQ_QUOTE, 1, 0, Flag.END, 1, 3, 0, T0 + 3, 1, 1, 1, 0)
    trades, wm = asm.feed(np.concatenate([quote, r1, r2[:1]]))  # the second EXEC's fees come later
    assert [t.trade_id for t in trades] == [1] and wm == T0 + 9 - 1
    t1 = trades[0]
    assert (t1.client, t1.composite, t1.base, t1.quote, t1.price, t1.qty, t1.notional, t1.fee, t1.quote_id,
            t1.rfq_id, t1.accept_id, t1.core_time_ns) == ("client-1", "BTC", "BTC", "USDT", 6_000_000, BTC,
                                                          6_000_000 * BTC, 3_000, 901, 501, 77, T0 + 5)
    trades, wm = asm.feed(r2[1:])
    assert [t.trade_id for t in trades] == [2] and wm == T0 + 9


# -- end to end from a real engine ---------------------------------------------------------


from test_rfq_engine import spot_book  # noqa: E402  (the same synthetic BTC book as the RFQ tests)


def _trade_a_while(eng: Engine, rounds: int = 6) -> list[Execution]:
    fills = []
    for k in range(rounds):
        for client, side, qty in (("acme-capital", ClientSide.BUY, BTC), ("beta-fund", ClientSide.SELL, BTC // 10),
                                  ("acme-capital", ClientSide.SELL, BTC // 2 + k)):
            q = eng.request_quote_raw(client, "BTC", side, qty)
            fills.append(eng.accept(q))
    return fills


def _check_against_engine(store, eng: Engine, fills: list[Execution]) -> None:
    cat = Catalog.from_engine(eng)
    assert store.trades() == sorted((cat.trade(f) for f in fills), key=lambda t: t.trade_id)
    trades = store.trades()
    assert {t.client for t in trades} == {"acme-capital", "beta-fund"}
    # desk P&L from the store = the core's positions, exactly
    desk = eng.positions()["BTC"]
    days = pnl_by_day(trades, store.calendar())
    assert sum(d.realised for d in days) == desk.realised_raw and sum(d.fees for d in days) == desk.fees_raw
    assert days[-1].position_qty == desk.qty_raw and days[-1].position_cost == desk.cost_raw
    # nets over every client = the desk's exposures per asset (same money scale here)
    tot: dict[str, int] = defaultdict(int)
    for n in net_trades(trades):
        tot[n.asset] += rescale(n.net, n.scale, 10 if n.asset == "USDT" else 8)
    assert dict(tot) == {a: v for a, v in eng.exposures_raw().items() if v or a in tot}


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    """A deterministic wall clock the API stamps records with: +60 ms per reading (so the
    accept throttles refill: beta-fund may hit 20/s with a burst of 5)."""
    start = time.time_ns()
    clock = iter(range(start, start + 10**15, 60_000_000))
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    return start


def test_engine_inline_tap_to_store_and_journal_replay_hook(sqlite_store, tmp_path: Path, frozen_clock: int) -> None:
    raw: list[np.ndarray] = []
    with Engine() as eng:
        eng.subscribe(raw.append, kinds=None)  # every output record: what a journal replay regenerates
        w = SettlementWriter(sqlite_store, Catalog.from_engine(eng), spill_path=tmp_path / "spill.jsonl")
        w.attach_tap(eng)
        w.start()
        eng.feed(spot_book(frozen_clock))
        eng.run_once()
        fills = _trade_a_while(eng)
        assert w.stop()
        assert w.stats["inserted"] == len(fills) == 18
        _check_against_engine(sqlite_store, eng, fills)
        assert sqlite_store.watermark() == sqlite_store.trades()[-1].core_time_ns  # the last accept's time
        # the replay hook: the same outputs again are duplicates only; into a fresh store, the same trades
        r = capture_records(sqlite_store, Catalog.from_engine(eng), raw, batch_size=5)
        assert (r.inserted, r.duplicates, r.rejected) == (0, 18, [])
        fresh = open_store(f"sqlite:///{tmp_path}/replayed.db")
        w2 = SettlementWriter(fresh, Catalog.from_engine(eng), spill_path=tmp_path / "spill2.jsonl")
        w2.start()
        for b in raw:
            w2.offer_records(b)
        assert w2.stop()
        assert fresh.trades() == sqlite_store.trades() and fresh.watermark() == sqlite_store.watermark()
        fresh.close()


def test_engine_on_its_thread_events_and_tap_agree(tmp_path: Path) -> None:
    a = open_store(f"sqlite:///{tmp_path}/a.db")
    b = open_store(f"sqlite:///{tmp_path}/b.db")
    with Engine() as eng:
        cat = Catalog.from_engine(eng)
        wa = SettlementWriter(a, cat, spill_path=tmp_path / "a.jsonl")
        wa.attach_tap(eng)
        wb = SettlementWriter(b, cat, spill_path=tmp_path / "b.jsonl")
        wb.attach_events(eng)
        wa.start()
        wb.start()
        eng.start(heartbeat_ms=None)
        eng.feed(spot_book(time.time_ns()))
        fills = _trade_a_while(eng, rounds=3)
        eng.stop()
        assert wa.stop() and wb.stop()
        _check_against_engine(a, eng, fills)
        assert b.trades() == a.trades()
    a.close()
    b.close()


# -- PostgreSQL: a real server stopped and started under the writer ------------------------


def test_postgres_stopped_and_started_under_the_writer(pg_server, tmp_path: Path) -> None:
    dsn = pg_server.create_database("writer_outage")
    check = PostgresStore(dsn)
    w = SettlementWriter(lambda: PostgresStore(dsn, connect_timeout_s=1), Catalog(),
                         spill_path=tmp_path / "spill.jsonl", max_memory=100, batch_size=25, flush_interval_s=0.005,
                         retry_initial_s=0.02, retry_max_s=0.2)
    w.start()
    trades = [mk(i, client=1 + i % 3) for i in range(1, 601)]
    try:
        w.offer_trades(trades[:200])
        assert w.flush(10)
        pg_server.stop()  # the store goes away under the writer
        for k in range(200, 600, 20):
            w.offer_trades(trades[k:k + 20], watermark_ns=trades[k + 19].core_time_ns)
        deadline = time.time() + 10
        while w.stats["failures"] < 2 and time.time() < deadline:
            time.sleep(0.02)
        assert w.stats["failures"] >= 2 and w.stats["spilled"] > 0
        assert not w.flush(0.3)
    finally:
        pg_server.start()
    assert w.flush(20), w.stats
    with pytest.raises(StoreUnavailable):  # its connection died with the server: said once, then reconnected
        check.trades()
    assert check.trades() == trades  # every trade once, in order: none lost, none duplicated
    assert check.watermark() == trades[-1].core_time_ns
    assert w.stop()
    check.close()
