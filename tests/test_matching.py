"""The matching core through its Python binding (``rfqcore.matching.MatchingBook``).

1. Hand-written rule cases with exact events: price-time priority, IOC/FOK, post-only reject and
   slide, each STP mode, replace keeping/losing priority, bad arguments.
2. A hypothesis differential test against a small pure-Python reference matcher written from
   ``docs/matching.md`` (limit/market, GTC/IOC/FOK, post-only, STP, fees, cancel, replace,
   invalid prices/quantities/accounts/ids, a small arena): identical events and resting orders
   after every request; then the same stream through ``process`` (batched) must give exactly the
   one-by-one events and the same ``state_hash``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfqcore_core import ConfigError
from rfqcore.matching import (
    EVENT_DTYPE,
    KINDS,
    OP_CANCEL,
    OP_NEW,
    OP_REPLACE,
    POST_ONLY,
    REQUEST_DTYPE,
    TIFS,
    MatchingBook,
    MatchingError,
    event_tuples,
)

BID, ASK = 0, 1


def mk(max_orders: int = 64, max_accounts: int = 8) -> MatchingBook:
    return MatchingBook(tick=10, lot=1, max_qty=1000, min_price=10, max_price=1000,
                        max_orders=max_orders, max_accounts=max_accounts)


# ---- hand-written rules ------------------------------------------------------------------------

def test_price_time_priority_and_maker_price():
    b = mk()
    b.submit(1, 0, ASK, 110, 5)
    b.submit(2, 1, ASK, 100, 5)
    b.submit(3, 2, ASK, 100, 5)
    ev = b.submit(4, 3, BID, 120, 12)
    assert ev == [
        ("accepted", 4, 3, BID, 120, 12, False),
        ("trade", 2, 4, 1, 3, BID, 100, 5, 0, 0, 0, 7),
        ("trade", 3, 4, 2, 3, BID, 100, 5, 0, 0, 0, 2),
        ("trade", 1, 4, 0, 3, BID, 110, 2, 0, 0, 3, 0),
    ]
    assert b.orders(ASK) == [(1, 0, 110, 3, "off")]
    assert b.orders(BID) == []
    assert b.best_ask() == (110, 3) and b.best_bid() is None and len(b) == 1


def test_ioc_remainder_expires_and_fok_all_or_nothing():
    b = mk()
    b.submit(1, 0, ASK, 100, 5)
    assert b.submit(2, 1, BID, 100, 8, tif="ioc") == [
        ("accepted", 2, 1, BID, 100, 8, False),
        ("trade", 1, 2, 0, 1, BID, 100, 5, 0, 0, 0, 3),
        ("expired", 2, 3),
    ]
    b.submit(3, 0, ASK, 100, 5)
    h = b.state_hash()
    assert b.submit(4, 1, BID, 100, 6, tif="fok") == [("rejected", 4, "new", "fok_not_fillable")]
    assert b.state_hash() == h
    assert b.submit(5, 1, BID, 100, 5, tif="fok")[-1] == ("trade", 3, 5, 0, 1, BID, 100, 5, 0, 0, 0, 0)
    # market order: trades anything, remainder expires; empty side: no_liquidity
    b.submit(6, 0, ASK, 200, 2)
    assert b.submit(7, 1, BID, 0, 3, kind="market") == [
        ("accepted", 7, 1, BID, 0, 3, False),
        ("trade", 6, 7, 0, 1, BID, 200, 2, 0, 0, 0, 1),
        ("expired", 7, 1),
    ]
    assert b.submit(8, 1, BID, 0, 3, kind="market") == [("rejected", 8, "new", "no_liquidity")]


def test_post_only_reject_and_slide():
    b = mk()
    b.submit(1, 0, ASK, 100, 5)
    assert b.submit(2, 1, BID, 100, 5, post_only="reject") == [("rejected", 2, "new", "post_only_would_take")]
    assert b.submit(3, 1, BID, 120, 5, post_only="slide") == [("accepted", 3, 1, BID, 90, 5, True)]
    assert b.orders(BID) == [(3, 1, 90, 5, "slide")]
    # the mode applies again on a replace that would take
    assert b.replace(3, 110, 5) == [("replaced", 3, 90, 5, 90, 5, False)]
    assert b.submit(4, 1, BID, 90, 1, tif="ioc", post_only="reject") == [("rejected", 4, "new", "invalid_combination")]


@pytest.mark.parametrize("stp,expect,resting", [
    ("none", [("trade", 1, 2, 0, 0, BID, 100, 5, 0, 0, 0, 0)], [(3, 1, 100, 5, "off")]),
    ("cancel_newest", [("cancelled", 2, "self_trade", 5)], [(1, 0, 100, 5, "off"), (3, 1, 100, 5, "off")]),
    ("cancel_oldest", [("cancelled", 1, "self_trade", 5), ("trade", 3, 2, 1, 0, BID, 100, 5, 0, 0, 0, 0)], []),
    ("cancel_both", [("cancelled", 1, "self_trade", 5), ("cancelled", 2, "self_trade", 5)],
     [(3, 1, 100, 5, "off")]),
])
def test_stp_modes(stp, expect, resting):
    b = mk()
    b.set_account(0, stp)
    b.submit(1, 0, ASK, 100, 5)
    b.submit(3, 1, ASK, 100, 5)
    ev = b.submit(2, 0, BID, 100, 5)
    assert ev[0] == ("accepted", 2, 0, BID, 100, 5, False)
    assert ev[1:] == expect
    assert b.orders(ASK) == resting


def test_fees_rounded_up():
    b = mk()
    b.set_account(0, maker_cbps=-10)
    b.set_account(1, taker_cbps=40)
    b.submit(1, 0, ASK, 100, 7)
    # maker: ceil(700 * -10 / 1e6) = 0 ; taker: ceil(700 * 40 / 1e6) = 1
    assert b.submit(2, 1, BID, 100, 7)[1] == ("trade", 1, 2, 0, 1, BID, 100, 7, 0, 1, 0, 0)


def test_replace_keeps_or_loses_priority():
    b = mk()
    b.submit(1, 0, BID, 100, 5)
    b.submit(2, 1, BID, 100, 5)
    assert b.replace(1, 100, 3) == [("replaced", 1, 100, 5, 100, 3, True)]
    assert [o[0] for o in b.orders(BID)] == [1, 2]
    assert b.replace(1, 100, 4) == [("replaced", 1, 100, 3, 100, 4, False)]
    assert [o[0] for o in b.orders(BID)] == [2, 1]
    b.submit(3, 2, ASK, 110, 2)
    assert b.replace(2, 110, 5) == [("replaced", 2, 100, 5, 110, 5, False),
                                    ("trade", 3, 2, 2, 1, BID, 110, 2, 0, 0, 0, 3)]
    assert b.orders(BID) == [(2, 1, 110, 3, "off"), (1, 0, 100, 4, "off")]
    assert b.replace(99, 100, 1) == [("rejected", 99, "replace", "unknown_order")]
    assert b.cancel(99) == [("rejected", 99, "cancel", "unknown_order")]
    assert b.cancel(1) == [("cancelled", 1, "user", 4)]


def test_rejects_are_events_bad_arguments_raise():
    b = mk(max_orders=1, max_accounts=2)
    h = b.state_hash()
    for args, reason in [((1, 5, BID, 100, 1), "unknown_account"), ((1, 0, BID, 100, 0), "bad_qty"),
                         ((1, 0, BID, 105, 1), "off_tick"), ((1, 0, BID, 0, 1), "bad_price"),
                         ((1, 0, BID, 2000, 1), "price_out_of_band")]:
        assert b.submit(*args) == [("rejected", 1, "new", reason)]
    assert b.state_hash() == h
    b.submit(1, 0, BID, 100, 1)
    assert b.submit(1, 0, BID, 100, 1) == [("rejected", 1, "new", "duplicate_id")]
    assert b.submit(2, 0, BID, 100, 1) == [("rejected", 2, "new", "book_full")]
    with pytest.raises(MatchingError, match="tif"):
        b.submit(3, 0, BID, 100, 1, tif="day")  # type: ignore[arg-type]
    with pytest.raises(MatchingError, match="side"):
        b.submit(3, 0, 2, 100, 1)
    with pytest.raises(MatchingError, match="stp"):
        b.set_account(0, "sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        b.set_account(7, "none")
    with pytest.raises(ConfigError):
        MatchingBook(tick=0, lot=1, max_qty=10, min_price=1, max_price=10)
    with pytest.raises(MatchingError, match="dtype"):
        b.process(np.zeros(3, np.int64))
    req = np.zeros(4, REQUEST_DTYPE)
    with pytest.raises(MatchingError, match="contiguous"):
        b.process(req[::2])
    req["op"] = [OP_CANCEL, OP_CANCEL, 7, OP_CANCEL]
    with pytest.raises(MatchingError, match="row 2"):
        b.process(req)
    assert len(b) == 1  # nothing applied


def test_process_empty_and_fields():
    b = mk()
    ev = b.process(np.zeros(0, REQUEST_DTYPE))
    assert ev.dtype == EVENT_DTYPE and len(ev) == 0
    req = np.zeros(2, REQUEST_DTYPE)
    req[0] = (1, 100, 5, 0, OP_NEW, ASK, 0, 0, 0)
    req[1] = (2, 100, 3, 1, OP_NEW, BID, 0, 1, 0)
    ev = b.process(req)
    assert list(ev["req"]) == [0, 1, 1] and list(ev["kind"]) == [0, 0, 2]
    assert event_tuples(ev)[2] == ("trade", 1, 2, 0, 1, BID, 100, 3, 0, 0, 2, 0)


# ---- reference matcher -------------------------------------------------------------------------

class Ref:
    """Naive matcher from docs/matching.md: a list of resting orders, every lookup a scan/sort."""

    def __init__(self, tick, lot, max_qty, lo, hi, max_orders, max_accounts):
        self.tick, self.lot, self.max_qty, self.lo, self.hi = tick, lot, max_qty, lo, hi
        self.max_orders, self.max_accounts = max_orders, max_accounts
        self.acct: dict[int, tuple[str, int, int]] = {}
        self.rest: list[list] = []  # [id, account, side, price, qty, post_only, seq]
        self.seq = 0

    def set_account(self, a, stp, mk, tk):
        self.acct[a] = (stp, mk, tk)

    def cfg(self, a):
        return self.acct.get(a, ("none", 0, 0))

    def side(self, s):
        return sorted((o for o in self.rest if o[2] == s), key=lambda o: (-o[3] if s == BID else o[3], o[6]))

    def orders(self, s):
        return [(o[0], o[1], o[3], o[4], o[5]) for o in self.side(s)]

    @staticmethod
    def crosses(s, limit, p):
        return limit >= p if s == BID else limit <= p

    def find(self, i):
        return next((o for o in self.rest if o[0] == i), None)

    def qty_err(self, q):
        if q <= 0 or q > self.max_qty:
            return "bad_qty"
        return "off_lot" if q % self.lot else None

    def price_err(self, p):
        if p <= 0:
            return "bad_price"
        if p % self.tick:
            return "off_tick"
        return "price_out_of_band" if not self.lo <= p <= self.hi else None

    def slide(self, s, best):
        p = best - self.tick if s == BID else best + self.tick
        return p if self.lo <= p <= self.hi else None

    @staticmethod
    def fee(p, q, c):
        return -((-p * q * c) // 10**6)

    def put(self, i, a, s, p, q, po):
        self.seq += 1
        self.rest.append([i, a, s, p, q, po, self.seq])

    def fok_ok(self, a, s, limit, q):
        stp, tot = self.cfg(a)[0], 0
        for o in self.side(1 - s):
            if not self.crosses(s, limit, o[3]):
                break
            if o[1] == a and stp != "none":
                if stp != "cancel_oldest":
                    return tot >= q
                continue
            tot += o[4]
            if tot >= q:
                return True
        return tot >= q

    def match(self, i, a, s, limit, rem, ev):
        """Returns (remaining, stopped by STP)."""
        stp, _, tk = self.cfg(a)
        while rem > 0:
            opp = self.side(1 - s)
            if not opp or not self.crosses(s, limit, opp[0][3]):
                break
            m = opp[0]
            if m[1] == a and stp != "none":
                if stp != "cancel_newest":
                    self.rest.remove(m)
                    ev.append(("cancelled", m[0], "self_trade", m[4]))
                if stp != "cancel_oldest":
                    ev.append(("cancelled", i, "self_trade", rem))
                    return rem, True
                continue
            q = min(m[4], rem)
            rem -= q
            m[4] -= q
            if m[4] == 0:
                self.rest.remove(m)
            ev.append(("trade", m[0], i, m[1], a, s, m[3], q, self.fee(m[3], q, self.cfg(m[1])[1]),
                       self.fee(m[3], q, tk), m[4], rem))
        return rem, False

    def submit(self, i, a, s, p, q, kind, tif, po):
        def rej(r):
            return [("rejected", i, "new", r)]
        if self.find(i):
            return rej("duplicate_id")
        if a >= self.max_accounts:
            return rej("unknown_account")
        if (e := self.qty_err(q)):
            return rej(e)
        market = kind == "market"
        if po != "off" and (market or tif != "gtc"):
            return rej("invalid_combination")
        opp = self.side(1 - s)
        if market:
            if not opp:
                return rej("no_liquidity")
            limit = self.hi if s == BID else self.lo
        else:
            if (e := self.price_err(p)):
                return rej(e)
            limit = p
        if not market and tif == "gtc" and len(self.rest) == self.max_orders:
            return rej("book_full")
        crossing = bool(opp) and self.crosses(s, limit, opp[0][3])
        if tif == "fok" and not self.fok_ok(a, s, limit, q):
            return rej("fok_not_fillable")
        repriced = False
        if crossing and po == "reject":
            return rej("post_only_would_take")
        if crossing and po == "slide":
            limit = self.slide(s, opp[0][3])
            if limit is None:
                return rej("price_out_of_band")
            repriced = True
        ev = [("accepted", i, a, s, 0 if market else limit, q, repriced)]
        rem, stopped = self.match(i, a, s, limit, q, ev) if crossing and not repriced else (q, False)
        if not stopped and rem > 0:
            if market or tif != "gtc":
                ev.append(("expired", i, rem))
            else:
                self.put(i, a, s, limit, rem, po)
        return ev

    def cancel(self, i):
        o = self.find(i)
        if o is None:
            return [("rejected", i, "cancel", "unknown_order")]
        self.rest.remove(o)
        return [("cancelled", i, "user", o[4])]

    def replace(self, i, p, q):
        def rej(r):
            return [("rejected", i, "replace", r)]
        o = self.find(i)
        if o is None:
            return rej("unknown_order")
        if (e := self.qty_err(q)) or (e := self.price_err(p)):
            return rej(e)
        _, a, s, op, oq, po, _ = o
        if p == op and q <= oq:
            o[4] = q
            return [("replaced", i, op, oq, p, q, True)]
        opp = self.side(1 - s)
        crossing = bool(opp) and self.crosses(s, p, opp[0][3])
        if crossing and po == "reject":
            return rej("post_only_would_take")
        if crossing and po == "slide":
            p = self.slide(s, opp[0][3])
            if p is None:
                return rej("price_out_of_band")
            crossing = False
        self.rest.remove(o)
        ev = [("replaced", i, op, oq, p, q, False)]
        rem, stopped = self.match(i, a, s, p, q, ev) if crossing else (q, False)
        if not stopped and rem > 0:
            self.put(i, a, s, p, rem, po)
        return ev


# ---- differential test -------------------------------------------------------------------------

TICK, LOT, MAXQ, LO, HI = 10, 2, 100, 10, 300
# mostly valid requests near one price so orders cross; a few invalid values of each kind
PRICES = [10 * k for k in range(9, 17)] * 4 + [0, -10, 105, 10, 300, 310]
QTYS = [2 * k for k in range(1, 11)] * 3 + [0, 3, 102, -2]
prices = st.sampled_from(PRICES)
qtys = st.sampled_from(QTYS)
ids = st.integers(1, 25)
ACCTS = [0, 1, 2, 3] * 4 + [4]
KIND_W = ["limit"] * 6 + ["market"]
TIF_W = ["gtc"] * 4 + ["ioc", "fok"]
PO_W = ["off"] * 4 + ["reject", "slide"]
new_req = st.tuples(st.just("new"), ids, st.sampled_from(ACCTS), st.integers(0, 1), prices, qtys,
                    st.sampled_from(KIND_W), st.sampled_from(TIF_W), st.sampled_from(PO_W))
cancel_req = st.tuples(st.just("cancel"), ids)
replace_req = st.tuples(st.just("replace"), ids, prices, qtys)
accounts = st.lists(st.tuples(st.sampled_from(["none", "cancel_newest", "cancel_oldest", "cancel_both"]),
                              st.sampled_from([0, -10, 40, 3000]), st.sampled_from([0, 40, 5000, -20])),
                    min_size=4, max_size=4)


def to_row(r) -> tuple:
    # REQUEST_DTYPE field order: id, price, qty, account, op, side, kind, tif, post_only
    if r[0] == "new":
        _, i, a, s, p, q, k, t, po = r
        return (i, p, q, a, OP_NEW, s, KINDS.index(k), TIFS.index(t), POST_ONLY.index(po))
    if r[0] == "cancel":
        return (r[1], 0, 0, 0, OP_CANCEL, 0, 0, 0, 0)
    return (r[1], r[2], r[3], 0, OP_REPLACE, 0, 0, 0, 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accts=accounts, max_orders=st.sampled_from([4, 8, 64]),
       reqs=st.lists(st.one_of(new_req, new_req, replace_req, cancel_req), min_size=1, max_size=150))
def test_differential_against_reference(accts, max_orders, reqs):
    run_differential(accts, max_orders, reqs)


def run_differential(accts, max_orders, reqs) -> list[list[tuple]]:
    args = (TICK, LOT, MAXQ, LO, HI, max_orders, 4)
    book, ref = MatchingBook(*args), Ref(*args)
    for a, (stp, mk_, tk) in enumerate(accts):
        book.set_account(a, stp, mk_, tk)
        ref.set_account(a, stp, mk_, tk)
    all_events = []
    for r in reqs:
        if r[0] == "new":
            _, i, a, s, p, q, k, t, po = r
            got, want = book.submit(i, a, s, p, q, k, t, po), ref.submit(i, a, s, p, q, k, t, po)
        elif r[0] == "cancel":
            got, want = book.cancel(r[1]), ref.cancel(r[1])
        else:
            got, want = book.replace(*r[1:]), ref.replace(*r[1:])
        assert got == want, r
        assert book.orders(BID) == ref.orders(BID) and book.orders(ASK) == ref.orders(ASK), r
        bb, ba = book.best_bid(), book.best_ask()
        assert bb is None or ba is None or bb[0] < ba[0]
        all_events.append(got)
    # batched: the same stream in one process() call gives exactly the same events
    batch = MatchingBook(*args)
    for a, (stp, mk_, tk) in enumerate(accts):
        batch.set_account(a, stp, mk_, tk)
    ev = batch.process(np.array([to_row(r) for r in reqs], dtype=REQUEST_DTYPE))
    assert event_tuples(ev) == [e for es in all_events for e in es]
    assert list(ev["req"]) == [k for k, es in enumerate(all_events) for _ in es]
    assert batch.state_hash() == book.state_hash()
    return all_events


def test_long_fixed_stream_covers_every_rule():
    """One long seeded stream (not shrunk, but long): every rule must actually occur."""
    import random
    from collections import Counter

    rng = random.Random(20261121)
    reqs: list[tuple] = []
    for _ in range(6000):
        r = rng.random()
        i = rng.randint(1, 40)
        if r < 0.55:
            reqs.append(("new", i, rng.choice(ACCTS), rng.randint(0, 1), rng.choice(PRICES), rng.choice(QTYS),
                         rng.choice(KIND_W), rng.choice(TIF_W), rng.choice(PO_W)))
        elif r < 0.85:
            reqs.append(("replace", i, rng.choice(PRICES), rng.choice(QTYS)))
        else:
            reqs.append(("cancel", i))
    accts = [("cancel_newest", 0, 40), ("cancel_oldest", -10, 40), ("cancel_both", 3000, 5000), ("none", 0, 0)]
    events = run_differential(accts, 12, reqs)
    seen = Counter()
    for e in (e for es in events for e in es):
        seen[e[0]] += 1
        if e[0] in ("rejected", "cancelled"):
            seen[e[-2] if e[0] == "cancelled" else e[3]] += 1
        if e[0] == "replaced":
            seen[f"priority_kept={e[-1]}"] += 1
        if e[0] == "accepted" and e[-1]:
            seen["slid"] += 1
    need = ["accepted", "trade", "expired", "replaced", "priority_kept=True", "priority_kept=False", "user",
            "self_trade", "slid", "fok_not_fillable", "post_only_would_take", "book_full", "no_liquidity",
            "duplicate_id", "unknown_order", "unknown_account", "bad_qty", "off_lot", "bad_price", "off_tick",
            "price_out_of_band", "invalid_combination"]
    assert not [k for k in need if not seen[k]], seen
