"""Settlement: netting arithmetic (property tests), cycles, idempotent capture and instruction
ids, the instruction lifecycle (every transition), schema migrations, reports read back exactly,
and the ``rfqcore settlement`` CLI functions. Store tests run on SQLite and on a real throwaway
PostgreSQL server (skipped with the reason when none can be started)."""

from __future__ import annotations

import argparse
import io
import itertools
import uuid
from collections import defaultdict
from decimal import Decimal, localcontext
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfqcore.records import ClientSide
from rfqcore.settlement import (
    LATEST_VERSION,
    MIGRATIONS,
    CycleCalendar,
    InvalidTransition,
    SettlementError,
    State,
    Trade,
    UnknownInstruction,
    legs,
    net_trades,
    open_store,
    pnl_by_day,
    reference_id,
)
from rfqcore.settlement import cli as settlement_cli
from rfqcore.settlement.model import fmt_units, rescale, to_decimal
from rfqcore.settlement.reports import (blotter, pnl_report, read_csv, read_parquet, render_table, statement, write_csv,
                                        write_parquet)

NS = 10**9
DAY = 86_400 * NS
T0 = 1_723_075_200 * NS  # 2024-08-08 00:00:00 UTC
BTC = 10**8
# composite id -> (name, base, quote, price decimals, qty decimals); SOL quotes USDT at 4 price
# decimals, so USDT legs come at two scales (10 and 12) and must be rescaled exactly
COMPS = {1: ("BTC", "BTC", "USDT", 2, 8), 2: ("ETH", "ETH", "USDT", 2, 8), 3: ("SOL", "SOL", "USDT", 4, 8)}


def mk(tid: int, *, client: int = 1, side: ClientSide = ClientSide.BUY, price: int = 6_000_000, qty: int = BTC,
       t: int = T0 + NS, comp: int = 1, fee_cbps: int = 50, fee: int | None = None) -> Trade:
    name, base, quote, pd, qd = COMPS[comp]
    notional = price * qty
    return Trade(trade_id=tid, client_id=client, client=f"client-{client}", composite_id=comp, composite=name,
                 base=base, quote=quote, side=side, price=price, qty=qty, notional=notional,
                 fee=-(-notional * fee_cbps // 1_000_000) if fee is None else fee, price_decimals=pd,
                 qty_decimals=qd, quote_id=tid + 1000, rfq_id=tid + 2000, accept_id=tid + 3000, core_time_ns=t)


@st.composite
def trade_lists(draw: st.DrawFn, max_size: int = 40) -> list[Trade]:
    n = draw(st.integers(0, max_size))
    out = []
    for i in range(n):
        out.append(mk(i + 1, client=draw(st.integers(1, 4)), side=draw(st.sampled_from([ClientSide.BUY,
                                                                                       ClientSide.SELL])),
                      price=draw(st.integers(1, 10**8)), qty=draw(st.integers(1, 10**10)),
                      t=draw(st.integers(T0 - DAY, T0 + 4 * DAY)), comp=draw(st.sampled_from(list(COMPS))),
                      fee_cbps=draw(st.integers(0, 500))))
    return out


# -- netting arithmetic ------------------------------------------------------------------


def test_legs_have_the_desk_view_signs() -> None:
    buy = mk(1, side=ClientSide.BUY, price=6_001_091, qty=BTC)
    base, principal, fee = legs(buy)
    assert (base.asset, base.amount, base.scale) == ("BTC", -BTC, 8)  # desk delivers BTC
    assert (principal.asset, principal.amount, principal.scale) == ("USDT", 6_001_091 * BTC, 10)  # receives USDT
    assert fee.amount == buy.fee == -(-6_001_091 * BTC * 50 // 1_000_000) > 0
    sell = mk(2, side=ClientSide.SELL, price=5_998_920, qty=BTC // 2)
    base, principal, fee = legs(sell)
    assert base.amount == BTC // 2 and principal.amount == -5_998_920 * (BTC // 2) and fee.amount == sell.fee


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_lists())
def test_net_is_the_exact_sum_of_legs(trades: list[Trade]) -> None:
    nets = net_trades(trades)
    # oracle: Decimal sums with more than enough precision (no int code shared with net_trades)
    with localcontext() as ctx:
        ctx.prec = 200
        want: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        counts: dict[tuple[int, str], set[int]] = defaultdict(set)
        for t in trades:
            for leg in legs(t):
                v = Decimal(leg.amount).scaleb(-leg.scale)
                want[(leg.client_id, leg.asset)][1 if leg.kind == "fee" else 0] += v
                counts[(leg.client_id, leg.asset)].add(t.trade_id)
        assert {(n.client_id, n.asset) for n in nets} == set(want)
        for n in nets:
            principal, fees = want[(n.client_id, n.asset)]
            assert to_decimal(n.principal, n.scale) == principal
            assert to_decimal(n.fees, n.scale) == fees
            assert to_decimal(n.net, n.scale) == principal + fees  # sum of legs equals net
            assert n.net == n.principal + n.fees
            assert n.trades == len(counts[(n.client_id, n.asset)])
            if n.asset in ("BTC", "ETH", "SOL"):
                assert n.fees == 0 and n.scale == 8
            else:  # every fee lands in the quote asset, exactly, at the finest scale present
                assert n.scale == max(t.money_decimals for t in trades if t.client_id == n.client_id)
                assert n.fees == sum(rescale(t.fee, t.money_decimals, n.scale) for t in trades
                                     if t.client_id == n.client_id)


@settings(max_examples=100, deadline=None)
@given(trade_lists(), st.integers(0, 23), st.sampled_from([3600, 4 * 3600, 86_400]))
def test_netting_per_cycle_adds_up_without_drift(trades: list[Trade], hour: int, period: int) -> None:
    """Nets of the cycles add up exactly to the net of everything (per client and asset), and
    netting is independent of trade order."""
    cal = CycleCalendar(hour * 3600 % period, period)
    by_cycle: dict[int, list[Trade]] = defaultdict(list)
    for t in trades:
        c = cal.cycle_of(t.core_time_ns)
        assert c.start_ns <= t.core_time_ns < c.end_ns
        by_cycle[c.end_ns].append(t)
    total = {(n.client_id, n.asset): n for n in net_trades(trades)}
    summed: dict[tuple[int, str], int] = defaultdict(int)
    for ts in by_cycle.values():
        for n in net_trades(ts):
            summed[(n.client_id, n.asset)] += rescale(n.net, n.scale, total[(n.client_id, n.asset)].scale)
    assert summed == {k: n.net for k, n in total.items()}
    assert net_trades(list(reversed(trades))) == net_trades(trades)


def test_rescale_is_exact_and_refuses_to_round() -> None:
    assert rescale(-123, 2, 5) == -123_000
    with pytest.raises(ValueError):
        rescale(123, 5, 2)
    assert fmt_units(-5, 3) == "-0.005" and fmt_units(600109100030006, 10) == "60010.9100030006"
    assert fmt_units(7, 0) == "7"


# -- cycles and reference ids ------------------------------------------------------------


def test_cycle_calendar() -> None:
    cal = CycleCalendar()  # daily at 00:00 UTC
    c = cal.cycle_of(T0 + 5 * 3600 * NS)
    assert (c.label, c.start_ns, c.end_ns) == ("2024-08-08", T0, T0 + DAY)
    assert cal.cycle_of(T0) == c and cal.cycle_of(T0 - 1).label == "2024-08-07"
    assert cal.cycle("2024-08-08") == c
    ny = CycleCalendar.parse("17:00")  # FX roll: after the cut-off it is the next trade date
    assert ny.cycle_of(T0 + 18 * 3600 * NS).label == "2024-08-09"
    assert ny.cycle_of(T0 + 16 * 3600 * NS).label == "2024-08-08"
    assert ny.cycle("2024-08-09").start_ns == T0 + 17 * 3600 * NS
    hourly = CycleCalendar.parse("00:00", "4h")
    h = hourly.cycle_of(T0 + 5 * 3600 * NS)
    assert h.label == "2024-08-08T08:00:00Z" and hourly.cycle(h.label) == h
    with pytest.raises(SettlementError, match="did you mean 2024-08-08T08:00:00Z"):
        hourly.cycle("2024-08-08T07:00:00Z")
    with pytest.raises(SettlementError, match="expected YYYY-MM-DD"):
        cal.cycle("08/08/2024")
    with pytest.raises(ValueError):
        CycleCalendar.parse("25:00")
    with pytest.raises(ValueError):
        CycleCalendar.parse("00:00", "7h")  # must divide a day


@given(st.integers(0, 4_000_000_000 * NS), st.integers(0, 86_399), st.sampled_from([900, 3600, 86_400]))
def test_every_instant_is_in_exactly_one_cycle(ts: int, cutoff: int, period: int) -> None:
    cal = CycleCalendar(cutoff % period if period < 86_400 else cutoff, period)
    c = cal.cycle_of(ts)
    assert c.start_ns <= ts < c.end_ns and c.end_ns - c.start_ns == period * NS
    assert cal.cycle(c.label) == c


def test_reference_ids_are_deterministic_and_distinct() -> None:
    cal = CycleCalendar()
    c = cal.cycle_of(T0)
    a = reference_id(c, 1, "USDT")
    assert a == reference_id(cal.cycle("2024-08-08"), 1, "USDT") and a.startswith("STL-20240808-1-USDT-")
    ids = {reference_id(cal.cycle_of(T0 + d * DAY), cl, asset) for d in range(3) for cl in (1, 2, 11)
           for asset in ("BTC", "USDT", "1BTC")}
    assert len(ids) == 27


# -- stores (SQLite and PostgreSQL) ------------------------------------------------------


def _new_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/settlement.db"
    pg = request.getfixturevalue("pg_server")
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _new_url(request.param, request, tmp_path)


@pytest.fixture
def store(store_url: str):
    s = open_store(store_url)
    yield s
    s.close()


def test_capture_is_idempotent_by_trade_id(store) -> None:
    trades = [mk(i, client=1 + i % 2, t=T0 + i * NS) for i in range(1, 21)]
    r = store.capture(trades)
    assert (r.inserted, r.duplicates, r.rejected) == (20, 0, [])
    r = store.capture(trades[5:] + trades[:5])  # a replay, in another order
    assert (r.inserted, r.duplicates, r.rejected) == (0, 20, [])
    assert store.trades() == trades and store.trade_count() == 20
    assert store.watermark() == T0 + 20 * NS
    # same id, different content: not captured, kept with the reason; the captured one stays
    changed = mk(3, client=1, t=T0 + 3 * NS, price=6_000_001)
    bad = mk(99, t=T0 + 99 * NS)
    bad = Trade(**{**{f: getattr(bad, f) for f in bad.__slots__}, "notional": bad.notional + 1})
    r = store.capture([changed, bad, mk(21, t=T0 + 21 * NS)])
    assert r.inserted == 1 and sorted(tid for tid, _ in r.rejected) == [3, 99]
    assert [t.trade_id for t in store.trades(client_id=2)][:2] == [1, 3] and store.trades()[2] == trades[2]
    rej = store.rejects()
    assert [(tid, reason.split(":")[0]) for tid, reason, _ in rej] == [(3, "conflict"), (99, "malformed")]
    assert '"price": 6000001' in rej[0][2]
    store.capture([changed])  # seen again: still one reject row
    assert len(store.rejects()) == 2
    # the watermark never goes back
    store.capture([], watermark_ns=T0)
    assert store.watermark() == T0 + 21 * NS
    store.capture([], watermark_ns=T0 + DAY)
    assert store.watermark() == T0 + DAY


def test_instructions_are_idempotent_and_net_exactly(store) -> None:
    cal = store.calendar()
    day = cal.cycle_of(T0)
    trades = [mk(1, client=1, side=ClientSide.BUY, price=6_001_091, qty=BTC, t=T0 + NS),
              mk(2, client=1, side=ClientSide.SELL, price=5_998_920, qty=BTC // 4, t=T0 + 2 * NS),
              mk(3, client=2, side=ClientSide.SELL, price=300_000, qty=3 * BTC, comp=2, t=T0 + 3 * NS),
              mk(4, client=2, side=ClientSide.BUY, price=300_010, qty=3 * BTC, comp=2, t=T0 + 4 * NS),
              mk(5, client=1, t=T0 + DAY + NS)]  # next cycle
    store.capture(trades[:4])
    with pytest.raises(SettlementError, match="still open"):
        store.generate_instructions(day, actor="ops")
    assert store.instructions() == []
    store.capture(trades[4:])  # a trade after the cut-off: the captured flow passed it
    made = store.generate_instructions(day, actor="ops", at_ns=T0 + DAY + 5)
    nets = {(n.client_id, n.asset): n for n in net_trades(trades[:4])}
    # client 2 bought and sold 3 ETH: flat in ETH, no instruction for a zero net
    assert nets[(2, "ETH")].net == 0
    assert {(i.client_id, i.asset) for i in made} == {k for k, n in nets.items() if n.net}
    for i in made:
        n = nets[(i.client_id, i.asset)]
        assert (i.amount, i.principal, i.fees, i.scale, i.trades) == (n.net, n.principal, n.fees, n.scale, n.trades)
        assert i.ref == reference_id(day, i.client_id, i.asset) and i.state == State.PENDING
        assert (i.created_by, i.created_at_ns, i.version) == ("ops", T0 + DAY + 5, 1)
    usdt1 = next(i for i in made if (i.client_id, i.asset) == (1, "USDT"))
    assert usdt1.amount == 6_001_091 * BTC - 5_998_920 * (BTC // 4) + trades[0].fee + trades[1].fee
    # again: nothing new, nothing changed, no new events
    assert store.generate_instructions(day, actor="someone-else") == made
    assert [len(store.events(i.ref)) for i in made] == [1] * len(made)
    # a late trade of the cycle amends a pending instruction (recorded), ...
    store.capture([mk(6, client=1, qty=BTC // 10, t=T0 + 10 * NS)])
    again = {i.ref: i for i in store.generate_instructions(day, actor="ops2")}
    assert again[usdt1.ref].amount != usdt1.amount and again[usdt1.ref].version == 2
    assert store.events(usdt1.ref)[-1].note.startswith("amended:")
    # ... but one that was already affirmed is not touched: refused, nothing changes
    store.affirm(usdt1.ref, actor="ops")
    before = store.instructions()
    store.capture([mk(7, client=1, qty=BTC // 10, t=T0 + 11 * NS)])
    with pytest.raises(SettlementError, match="affirmed"):
        store.generate_instructions(day, actor="ops")
    assert store.instructions() == before
    # force closes a cycle the flow has not reached yet
    nxt = cal.cycle_of(T0 + DAY)
    assert len(store.generate_instructions(nxt, actor="ops", force=True)) == 2


# The lifecycle, written out independently of rfqcore.settlement.model.TRANSITIONS: every
# (state, requested state) pair -> True (allowed) or False (refused). settled, expired and
# cancelled are final; nothing goes back to pending; nothing "moves" to the state it is in.
EXPECTED_TRANSITIONS: dict[tuple[str, str], bool] = {
    ("pending", "pending"): False,    ("pending", "affirmed"): True,     ("pending", "settled"): False,
    ("pending", "expired"): True,     ("pending", "cancelled"): True,
    ("affirmed", "pending"): False,   ("affirmed", "affirmed"): False,   ("affirmed", "settled"): True,
    ("affirmed", "expired"): True,    ("affirmed", "cancelled"): True,
    ("settled", "pending"): False,    ("settled", "affirmed"): False,    ("settled", "settled"): False,
    ("settled", "expired"): False,    ("settled", "cancelled"): False,
    ("expired", "pending"): False,    ("expired", "affirmed"): False,    ("expired", "settled"): False,
    ("expired", "expired"): False,    ("expired", "cancelled"): False,
    ("cancelled", "pending"): False,  ("cancelled", "affirmed"): False,  ("cancelled", "settled"): False,
    ("cancelled", "expired"): False,  ("cancelled", "cancelled"): False,
}


def test_every_lifecycle_transition(store) -> None:
    """All 25 (from, to) pairs against the table above: the allowed ones record who/when and
    bump the version; every other one raises InvalidTransition and changes nothing. Moves with
    a named action (affirm, settle, expire, cancel) go through it."""
    assert set(EXPECTED_TRANSITIONS) == {(a.value, b.value) for a in State for b in State}, \
        "a lifecycle state was added or removed: write its row of EXPECTED_TRANSITIONS"
    day = store.calendar().cycle_of(T0)
    pairs = list(itertools.product(State, State))
    store.capture([mk(k + 1, client=k + 1, t=T0 + NS) for k in range(len(pairs))], watermark_ns=day.end_ns)
    by_client = {i.client_id: i for i in store.generate_instructions(day, actor="gen") if i.asset == "BTC"}
    path = {State.PENDING: [], State.AFFIRMED: [State.AFFIRMED], State.SETTLED: [State.AFFIRMED, State.SETTLED],
            State.EXPIRED: [State.EXPIRED], State.CANCELLED: [State.CANCELLED]}
    actions = {State.AFFIRMED: store.affirm, State.SETTLED: store.settle, State.EXPIRED: store.expire,
               State.CANCELLED: store.cancel}
    allowed = 0
    for k, (frm, to) in enumerate(pairs):
        ref = by_client[k + 1].ref
        for step in path[frm]:
            store.transition(ref, step, actor="setup")
        before, events = store.instruction(ref), store.events(ref)
        assert before.state == frm
        move = actions.get(to, partial(store.transition, to=to))
        if EXPECTED_TRANSITIONS[(frm.value, to.value)]:
            allowed += 1
            after = move(ref, actor=f"op-{k}", at_ns=T0 + k, note="n")
            assert (after.state, after.updated_by, after.updated_at_ns, after.version) == (to, f"op-{k}", T0 + k,
                                                                                          before.version + 1)
            ev = store.events(ref)[-1]
            assert (ev.from_state, ev.to_state, ev.actor, ev.at_ns, ev.note, ev.seq) == (frm, to, f"op-{k}", T0 + k,
                                                                                         "n", after.version)
        else:
            with pytest.raises(InvalidTransition, match=f"is {frm.value}: cannot become {to.value}"):
                move(ref, actor="op")
            assert store.instruction(ref) == before and store.events(ref) == events
    assert allowed == 6  # pending->affirmed/expired/cancelled, affirmed->settled/expired/cancelled
    with pytest.raises(UnknownInstruction, match="no settlement instruction"):
        store.affirm("STL-nope", actor="op")
    ref = by_client[1].ref
    with pytest.raises(SettlementError, match="actor"):
        store.transition(ref, State.AFFIRMED, actor="")
    with pytest.raises(InvalidTransition, match="no state 'done'"):
        store.transition(ref, "done", actor="op")


# -- migrations --------------------------------------------------------------------------


def test_migrations_from_empty_and_every_older_version(store_url: str, request: pytest.FixtureRequest,
                                                       tmp_path: Path) -> None:
    kind = "postgresql" if store_url.startswith("postgresql") else "sqlite"
    fresh = open_store(store_url, migrate=False)
    assert fresh.schema_version() == 0
    assert fresh.migrate() == LATEST_VERSION == len(MIGRATIONS)
    assert fresh.migrate() == LATEST_VERSION  # idempotent
    fresh.close()
    for start in range(1, LATEST_VERSION):
        url = _new_url(kind, request, tmp_path / f"v{start}")
        old = open_store(url, migrate=False)
        assert old.migrate(target=start) == start
        old.capture.__func__  # noqa: B018 - the API exists regardless of the version
        # data written at the old version, with the old schema's SQL
        with old._tx() as cur:
            old._exec(cur, "INSERT INTO trades (trade_id, client_id, client, composite_id, composite, base_asset, "
                           "quote_asset, side, price, qty, notional, fee, price_decimals, qty_decimals, quote_id, "
                           "rfq_id, accept_id, core_time_ns, captured_at_ns) VALUES "
                           "(1, 1, 'client-1', 1, 'BTC', 'BTC', 'USDT', 0, 6000000, 100000000, 600000000000000, "
                           "30000000000, 2, 8, 1001, 2001, 3001, ?, 0)", (T0 + NS,))
        old.close()
        s = open_store(url)  # opening migrates the rest
        assert s.schema_version() == LATEST_VERSION
        assert s.trades() == [mk(1, fee=30_000_000_000)]
        s.capture([mk(2, t=T0 + 2 * NS)], watermark_ns=T0 + DAY)
        made = s.generate_instructions(s.calendar().cycle_of(T0), actor="ops")
        assert {i.asset for i in made} == {"BTC", "USDT"}
        with s._tx() as cur:
            versions = [int(r[0]) for r in s._exec(cur, "SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, LATEST_VERSION + 1))
        s.close()
    # a step interrupted before its version row committed is simply applied again
    url = _new_url(kind, request, tmp_path / "half")
    s = open_store(url, migrate=False)
    s.migrate(target=1)
    with s._tx() as cur:
        s._exec(cur, s._ddl(MIGRATIONS[1].statements[0]))
    assert s.migrate() == LATEST_VERSION
    # a database from a newer rfqcore is refused
    with s._tx() as cur:
        s._exec(cur, "INSERT INTO schema_version (version, description, applied_at_ns) VALUES (?, 'future', 0)",
                (LATEST_VERSION + 1,))
    with pytest.raises(SettlementError, match="newer than this rfqcore"):
        s.migrate()
    s.close()


def test_sqlite_is_wal_and_strict(tmp_path: Path) -> None:
    s = open_store(f"sqlite:///{tmp_path}/x.db")
    assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(Exception, match="cannot store REAL"):  # a float can never land in a money column
        s._db.execute("INSERT INTO trades VALUES (1,1,'a',1,'BTC','BTC','USDT',0,1.5,1,1,0,2,8,1,1,1,1,1)")
    s.close()
    assert open_store(str(tmp_path / "plain.db")).url.endswith("plain.db")
    with pytest.raises(SettlementError, match="unsupported store URL"):
        open_store("mysql://x")


def test_calendar_is_stored_and_frozen_once_instructions_exist(store) -> None:
    cal = CycleCalendar.parse("17:00")
    store.set_calendar(cal)
    assert store.calendar() == cal
    store.capture([mk(1, t=T0 + 18 * 3600 * NS)], watermark_ns=T0 + 2 * DAY)
    assert [c.label for c in store.cycles()] == ["2024-08-09"]
    store.generate_instructions(cal.cycle("2024-08-09"), actor="ops")
    with pytest.raises(SettlementError, match="cannot change"):
        store.set_calendar(CycleCalendar())
    store.set_calendar(cal)  # the same: fine


# -- P&L and reports ---------------------------------------------------------------------


def test_pnl_by_day_is_the_cores_average_cost() -> None:
    """The example of rfq-engine/src/positions.rs, as desk fills (the desk is long when the
    client sells), spread over two days."""
    cal = CycleCalendar()
    S, B = ClientSide.SELL, ClientSide.BUY  # client side: desk dq = +qty when the client sells
    seq = [(S, 3, 100, 0), (S, 1, 104, 0), (B, 1, 110, 0), (B, 5, 90, 1), (S, 2, 80, 1)]
    trades = [mk(i + 1, side=s, qty=q, price=p, t=T0 + d * DAY + i, fee=i) for i, (s, q, p, d) in enumerate(seq)]
    days = pnl_by_day(trades, cal)
    assert [(d.day, d.trades, d.realised, d.fees, d.position_qty, d.position_cost) for d in days] == [
        ("2024-08-08", 3, 9, 0 + 1 + 2, 3, 303), ("2024-08-09", 2, -33 + 20, 3 + 4, 0, 0)]
    assert sum(d.realised for d in days) == -4  # exact once flat
    # rounding toward zero, as Rust's i128 division (short side)
    t2 = [mk(1, side=B, qty=3, price=10, fee=0), mk(2, side=B, qty=1, price=11, fee=0),
          mk(3, side=S, qty=1, price=9, fee=0)]
    (d,) = pnl_by_day(t2, cal)
    assert (d.position_cost, d.realised) == (-31, 1)


def test_reports_csv_and_parquet_read_back_exactly(tmp_path: Path) -> None:
    cal = CycleCalendar()
    trades = [mk(1, client=1, price=6_001_091, qty=123_456_789), mk(2, client=1, side=ClientSide.SELL, comp=3,
                                                                    price=1_234_567, qty=5, t=T0 + 2 * NS),
              mk(3, client=2, comp=2, price=300_001, qty=BTC, t=T0 + DAY)]
    day = cal.cycle_of(T0)
    for rep in (blotter([t for t in trades if t.client_id == 1], cal), statement(trades, day),
                pnl_report(trades, cal)):
        want = rep.decimal_rows()
        assert want
        write_csv(rep, tmp_path / f"{rep.name}.csv")
        got = read_csv(tmp_path / f"{rep.name}.csv")
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            for (name, typ) in rep.columns:
                if typ == "dec":
                    assert Decimal(g[name]) == w[name] and g[name] == str(w[name]) or \
                        g[name] == fmt_units(int(w[name].scaleb(-w[name].as_tuple().exponent)),
                                             -w[name].as_tuple().exponent)
                    assert Decimal(g[name]) == w[name]
                elif typ == "int":
                    assert int(g[name]) == w[name]
                else:
                    assert g[name] == w[name]
        write_parquet(rep, tmp_path / f"{rep.name}.parquet")
        back = read_parquet(tmp_path / f"{rep.name}.parquet")
        assert back == want  # Decimal == Decimal (exact), ints, strings
        for row in back:
            for name, typ in rep.columns:
                if typ == "dec":
                    assert isinstance(row[name], Decimal)
    b = blotter(trades, cal).decimal_rows()
    assert b[0]["price"] == Decimal("60010.91") and b[0]["qty"] == Decimal("1.23456789")
    assert b[0]["notional"] == Decimal(6_001_091 * 123_456_789).scaleb(-10)
    assert b[1]["price"] == Decimal("123.4567")
    st_rows = {(r["client_id"], r["asset"]): r for r in statement(trades, day).decimal_rows()}
    # client 1's USDT mixes scale 10 (BTC) and 12 (SOL): the net is at 12, exactly
    assert st_rows[(1, "USDT")]["scale"] == 12
    want_usdt = (Decimal(trades[0].notional + trades[0].fee).scaleb(-10)
                 + Decimal(-trades[1].notional + trades[1].fee).scaleb(-12))
    assert st_rows[(1, "USDT")]["net"] == want_usdt
    assert (2, "ETH") not in st_rows  # the next day


# -- CLI ---------------------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="rfqcore")
    sub = p.add_subparsers(dest="command", required=True)
    settlement_cli.add_parser(sub)
    args = p.parse_args(argv)
    return int(args.func(args))


def test_cli_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    s = open_store(url)
    s.capture([mk(1, client=1, t=T0 + NS), mk(2, client=2, side=ClientSide.SELL, t=T0 + 2 * NS),
               mk(3, client=1, t=T0 + DAY + NS)], watermark_ns=T0 + DAY + NS)
    s.close()
    base = ["settlement", "--store", url]
    assert _cli(base + ["net", "--cycle", "2024-08-08"]) == 0
    out = capsys.readouterr().out
    assert "cycle 2024-08-08" in out and "closed" in out and "not generated" in out
    assert _cli(base + ["net", "--cycle", "2024-08-08", "--generate", "--by", "alice"]) == 0
    assert "4 settlement instruction(s)" in capsys.readouterr().out
    assert _cli(base + ["net"]) == 0  # the latest cycle: still open
    assert "2024-08-09" in (o := capsys.readouterr().out) and "OPEN" in o
    with pytest.raises(SettlementError, match="still open"):
        _cli(base + ["net", "--generate"])
    assert _cli(base + ["list", "--client", "client-1"]) == 0
    out = capsys.readouterr().out
    refs = [line.split()[0] for line in out.splitlines() if line.startswith("STL-")]
    assert len(refs) == 2 and all("-1-" in r for r in refs)
    btc1 = next(r for r in refs if "-BTC-" in r)
    assert "-1.00000000" in out  # the desk delivers 1 BTC to client 1
    assert _cli(base + ["affirm", btc1, "--by", "bob"]) == 0
    assert "affirmed by bob" in capsys.readouterr().out
    assert _cli(base + ["affirm", btc1, "--by", "bob"]) == 1  # twice: refused, exit 1
    assert "cannot become affirmed" in capsys.readouterr().err
    assert _cli(base + ["settle", btc1, "--by", "carol", "--note", "SWIFT ok"]) == 0
    capsys.readouterr()
    usdt1 = next(r for r in refs if "-USDT-" in r)
    assert _cli(base + ["cancel", usdt1, "--by", "dave"]) == 0
    assert "cancelled by dave" in capsys.readouterr().out
    assert _cli(base + ["list", "--state", "pending"]) == 0
    out = capsys.readouterr().out
    pending = [line.split()[0] for line in out.splitlines() if line.startswith("STL-")]
    assert len(pending) == 2 and btc1 not in pending
    assert _cli(base + ["expire", pending[0], "--by", "eve"]) == 0
    assert _cli(base + ["list", "--events", btc1]) == 0
    out = capsys.readouterr().out
    assert "pending -> affirmed  by bob" in out and "affirmed -> settled   by carol: SWIFT ok" in out
    with pytest.raises(UnknownInstruction):
        _cli(base + ["list", "--events", "STL-nope"])
    assert _cli(base + ["list", "--trades", "--cycle", "2024-08-08"]) == 0
    assert "client-2" in capsys.readouterr().out
    # reports
    assert _cli(base + ["report", "blotter", "--client", "1", "--format", "csv", "-o", str(tmp_path / "b.csv")]) == 0
    assert [r["trade_id"] for r in read_csv(tmp_path / "b.csv")] == ["1", "3"]
    assert _cli(base + ["report", "statement", "--cycle", "2024-08-08", "--format", "parquet", "-o",
                        str(tmp_path / "s.parquet")]) == 0
    rows = read_parquet(tmp_path / "s.parquet")
    assert {(r["client"], r["asset"], r["state"]) for r in rows} == {
        ("client-1", "BTC", "settled"), ("client-1", "USDT", "cancelled"), ("client-2", "BTC", "expired"),
        ("client-2", "USDT", "pending")}
    with pytest.raises(SettlementError, match="needs an output file"):
        _cli(base + ["report", "blotter", "--format", "parquet"])
    capsys.readouterr()
    assert _cli(base + ["report", "blotter", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("trade_id,core_time,")
    assert _cli(base + ["pnl"]) == 0
    out = capsys.readouterr().out
    assert "2024-08-08" in out and "2024-08-09" in out
    assert _cli(base + ["pnl", "--day", "2024-08-09", "--format", "csv", "-o", str(tmp_path / "p.csv")]) == 0
    (row,) = read_csv(tmp_path / "p.csv")
    assert row["day"] == "2024-08-09" and row["trades"] == "1"
    with pytest.raises(SettlementError, match="unknown client 'nobody'"):
        _cli(base + ["list", "--client", "nobody"])
    with pytest.raises(SettlementError, match="cannot change"):
        _cli(base + ["--cutoff", "17:00", "list"])
    # the parser is what the lead registers: --help works
    with pytest.raises(SystemExit) as e:
        _cli(["settlement", "--help"])
    assert e.value.code == 0
    assert "affirm" in capsys.readouterr().out


def test_cli_stdout_default_is_not_buffered_into_files() -> None:
    buf = io.StringIO()
    cal = CycleCalendar()
    write_csv(blotter([mk(1)], cal), buf)
    assert buf.getvalue().splitlines()[1].startswith("1,2024-08-08T00:00:01.000000000Z,")


def test_a_table_shows_the_human_columns_and_all_of_them_on_request() -> None:
    rep = blotter([mk(1)], CycleCalendar())
    human = render_table(rep).splitlines()[0].split()
    assert human == ["trade_id", "core_time", "cycle", "client", "composite", "base", "quote", "side", "price", "qty",
                     "notional", "fee", "quote_id", "rfq_id", "accept_id"]
    every = render_table(rep, all_columns=True).splitlines()[0].split()
    assert every == [c for c, _ in rep.columns]
    assert {"price_units", "qty_decimals", "core_time_ns", "client_id"} <= set(every) - set(human)
    # the same row, fewer columns: every human value is the all-columns one
    row_h, row_a = render_table(rep).splitlines()[1].split(), render_table(rep, all_columns=True).splitlines()[1].split()
    assert row_h == [row_a[every.index(c)] for c in human]


def test_a_table_drops_trailing_zeros_but_no_digit_and_csv_keeps_the_full_scale() -> None:
    # 60000.00 × 4.04275292: notional 242565.1752 exactly (10 decimals in the store), fee rounded up
    rep = blotter([mk(1, qty=404_275_292), mk(2, price=6_000_001, qty=BTC)], CycleCalendar())
    head, first, second = render_table(rep).splitlines()[:3]
    cells = dict(zip(head.split(), first.split(), strict=True))
    assert (cells["price"], cells["qty"], cells["notional"], cells["fee"]) == (
        "60000.00", "4.04275292", "242565.1752", "12.12825876")
    assert dict(zip(head.split(), second.split(), strict=True))["notional"] == "60000.01"
    buf = io.StringIO()
    write_csv(rep, buf)
    row = dict(zip(*(line.split(",") for line in buf.getvalue().splitlines()[:2]), strict=True))
    assert (row["notional"], row["fee"], row["qty"]) == ("242565.1752000000", "12.1282587600", "4.04275292")
