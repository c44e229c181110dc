"""One instrument of a simulated venue: the matching core plus accounts, balances and fills.

:class:`SimBook` wraps :class:`rfqcore.matching.MatchingBook` (price-time priority, exact
fixed-point) with what a venue adds around it: named accounts with API keys and balances,
client order ids, order records in venue terms (``NEW`` … ``FILLED``), fills with fees, an
L2 view with consecutive update ids, and listeners for the user-data and depth streams. The
protocol servers (:mod:`rfqcore.venuesim.binance_sim`, :mod:`rfqcore.venuesim.okx_sim`) only
translate their wire format to these calls.

Rules (documented in ``docs/venues.md``):

* **Seeding**: one resting order of the liquidity-provider account (``lp``, no balance
  checks) per seeded level with the level's quantity. Levels outside the price band
  (``band``, default ±5% of the seed's mid; the matching core keeps a dense array per tick) or
  not on the tick/lot grid are left out and counted in ``seed_dropped``.
* **Validation before any state change**: every :class:`SimReject` is raised before anything
  changes (``state_hash()`` equal before and after). Order: ``unknown_account`` → ``bad_side``
  → ``bad_type`` → ``bad_tif`` → ``duplicate_order`` (any earlier order of the account with
  that client id, open or closed: stricter than Binance, so a retried request can never make
  two orders) → ``bad_qty`` → ``off_lot`` → ``bad_price`` (limit without a positive price,
  market with a price, outside the band) → ``off_tick`` → ``bad_type`` (post-only other than
  limit GTC) → ``post_only_would_take`` → ``rejected_by_fault`` → ``insufficient_balance``.
* **FOK not fillable, market order on an empty side**: the order is accepted and ends
  ``EXPIRED`` with nothing filled (what Binance and OKX do), not a reject. An IOC or market
  remainder also ends ``EXPIRED`` (Binance's status; adapters normalise).
* **Balances** (``SimAccount.balances`` = free, ``SimAccount.locked`` = reserved by open
  orders): a limit BUY reserves ``qty × price`` of quote, a market BUY reserves the exact cost
  of sweeping ``qty`` through the current asks (the book is single-threaded, so that is what it
  will pay), a SELL reserves ``qty`` of base. A fill moves exact amounts; the fee is charged in
  the received asset, ``⌈amount × cbps / 10⁶⌉`` at the asset's precision (``asset_decimals``,
  default 8); what an order did not use is released when it ends.
* **Update ids**: every request that changes the book takes the next update id (one id per
  request); a depth listener gets one :class:`DepthDiff` per such request with the new
  quantity of every changed level (0 = removed). ``faults.gap_next()`` skips one id.
* **Recorded flow** (:meth:`SimBook.set_lp_levels`, driven by the replay in
  :mod:`rfqcore.venuesim.sim`): the LP's resting quantity at each given level becomes the given
  quantity — a decrease is a replace in place (queue position kept), an increase a replace that
  goes to the back of the level, a new level a new LP order, 0 a cancel — all through the
  matching core, and the whole call is one request (one update id, one :class:`DepthDiff`).
  Levels outside the band or off the grid are skipped as at seeding. **Crossing rule**: new LP
  liquidity is placed post-only (reject mode) and only when it does not cross; a level that
  would cross the opposite side (the resting order of a client) is *held* — the LP has
  nothing there — and retried on every later call until it no longer crosses or a newer
  recorded value replaces it. The LP account's STP is cancel-newest as well, so the LP never
  trades with itself or with a client through the replay. Orders of other accounts are never
  touched.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Final, Literal

from rfqcore.matching import MatchingBook
from rfqcore.venuesim.seed import BookSeed

__all__ = ["SimAccount", "SimFill", "SimOrder", "SimReject", "SimFaults", "DepthDiff", "SimBook", "LpUpdate",
           "REJECT_CODES", "OPEN_STATUSES", "now_ms"]

REJECT_CODES: Final = (
    "duplicate_order", "unknown_order", "bad_qty", "off_lot", "bad_price", "off_tick",
    "insufficient_balance", "unknown_account", "bad_side", "bad_type", "bad_tif", "no_liquidity",
    "fok_not_fillable", "post_only_would_take", "rejected_by_fault", "book_full",
)
OPEN_STATUSES: Final = frozenset({"NEW", "PARTIALLY_FILLED"})
_SIDES: Final = {"BUY": 0, "SELL": 1}
_TYPES: Final = ("LIMIT", "MARKET")
_TIFS: Final[dict[str, Literal["gtc", "ioc", "fok"]]] = {"GTC": "gtc", "IOC": "ioc", "FOK": "fok"}
_MAX_TICKS: Final = 1 << 24

Level = tuple[Decimal, Decimal]


@dataclass
class SimAccount:
    """A venue account. ``balances`` are free amounts, ``locked`` what open orders reserve.
    Fees in centi-basis-points (1 cbps = 10⁻⁶ of the amount received)."""

    name: str
    api_key: str
    secret: str
    passphrase: str = ""
    balances: dict[str, Decimal] = field(default_factory=dict)
    maker_cbps: int = 0
    taker_cbps: int = 0
    locked: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SimFill:
    """One side of one trade (the maker and the taker each get one, same ``trade_id``)."""

    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    ts_ms: int


@dataclass
class SimOrder:
    order_id: int
    cl_ord_id: str
    account: str
    symbol: str
    side: str               # BUY / SELL
    type: str               # LIMIT / MARKET
    tif: str                # GTC / IOC / FOK
    price: Decimal | None
    qty: Decimal
    cum_qty: Decimal
    cum_quote: Decimal
    status: str             # NEW PARTIALLY_FILLED FILLED CANCELED REJECTED EXPIRED
    created_ms: int
    updated_ms: int
    post_only: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class SimReject(Exception):
    """A request the simulated venue refuses; nothing changed. ``code`` is a stable name
    (:data:`REJECT_CODES`), ``text`` a human-readable reason."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """The book change of one request: update ids ``first_id..last_id``, changed levels with
    their new total quantity (0 = removed), bids best first, asks best first."""

    first_id: int
    last_id: int
    bids: list[Level]
    asks: list[Level]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class LpUpdate:
    """What one :meth:`SimBook.set_lp_levels` call did: ``changed`` levels (the DepthDiff's),
    levels ``skipped`` (outside the band / off the grid), ``held`` (would cross another
    account's order: not placed, retried later), ``update_id`` (None if nothing changed)."""

    changed: int
    skipped: int
    held: int
    update_id: int | None


class SimFaults:
    """Fault-injection state of one simulated venue, set through the admin API and read by the
    book (``reject_next``, ``gap_next``, ``cap_fill``) and the protocol servers (``disconnect``,
    ``slow_ack``). Clocks are ``time.monotonic``."""

    def __init__(self) -> None:
        self.down_until = 0.0
        self.epoch = 0                 # bumped by every disconnect (in-flight work checks it)
        self.reject_count = 0
        self.slow_ack_ms = 0
        self.gap_pending = False
        self.fill_cap: Decimal | None = None
        self._hooks: list[Callable[[], None]] = []

    def on_disconnect(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` on every :meth:`disconnect` (the servers close their sockets there)."""
        self._hooks.append(fn)

    def disconnect(self, ms: int) -> None:
        """Close every connection now and refuse new ones for ``ms`` milliseconds."""
        self.down_until = time.monotonic() + max(0, ms) / 1000
        self.epoch += 1
        for fn in list(self._hooks):
            fn()

    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    def reject_next(self, n: int = 1) -> None:
        """Reject the next ``n`` valid orders (``rejected_by_fault``)."""
        self.reject_count = max(0, n)

    def slow_ack(self, ms: int) -> None:
        """Delay every order response and execution report by ``ms`` (0 = off)."""
        self.slow_ack_ms = max(0, ms)

    def gap_next(self) -> None:
        """Skip one update id before the next depth change."""
        self.gap_pending = True

    def cap_fill(self, qty: Decimal | None) -> None:
        """Fill the next IOC/FOK/market order for at most ``qty`` (the rest expires)."""
        self.fill_cap = qty

    def clear(self) -> None:
        self.down_until = 0.0
        self.reject_count = 0
        self.slow_ack_ms = 0
        self.gap_pending = False
        self.fill_cap = None

    def as_dict(self) -> dict[str, Any]:
        return {"down_ms": max(0, int((self.down_until - time.monotonic()) * 1000)), "epoch": self.epoch,
                "reject_next": self.reject_count, "slow_ack_ms": self.slow_ack_ms,
                "gap_pending": self.gap_pending,
                "fill_cap": None if self.fill_cap is None else str(self.fill_cap)}


def _decimals(step: Decimal) -> int:
    exp = step.as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


def now_ms() -> int:
    """Wall-clock time in ms (the venues' event times)."""
    return time.time_ns() // 1_000_000


Listener = Callable[[str, SimOrder, "SimFill | None"], None]
DepthListener = Callable[[DepthDiff], None]


class SimBook:
    """One instrument's simulated exchange (see the module doc for the rules)."""

    def __init__(self, *, symbol: str, base: str, quote: str, tick: Decimal, lot: Decimal, seed: BookSeed,
                 accounts: list[SimAccount], lp_account: str = "lp", band: Decimal = Decimal("0.05"),
                 asset_decimals: dict[str, int] | None = None, max_orders: int = 1 << 16,
                 clock: Callable[[], int] | None = None) -> None:
        #: CLOCK_MONOTONIC ns at which each new-order request arrived, by client order id (the
        #: protocol layers stamp it before any check or fault delay; the last 20,000 are kept):
        #: the "on the wire" end of bench/hedge_bench.py
        self.order_recv_ns: dict[str, int] = {}
        if tick <= 0 or lot <= 0:
            raise ValueError("tick and lot must be positive")
        self.symbol, self.base, self.quote = symbol, base, quote
        self.tick, self.lot = tick, lot
        self.pd, self.qd = _decimals(tick), _decimals(lot)
        self._tick_u = self._units(tick, self.pd)
        self._lot_u = self._units(lot, self.qd)
        self.asset_decimals = {base: 8, quote: 8, **(asset_decimals or {})}
        self.clock = clock or now_ms
        self.faults = SimFaults()
        names = [lp_account] + [a.name for a in accounts]
        if len(set(names)) != len(names):
            raise ValueError(f"account names must be unique (and not {lp_account!r}): {names}")
        self.lp = lp_account
        self.accounts: dict[str, SimAccount] = {a.name: a for a in accounts}
        self._acc_id = {n: i for i, n in enumerate(names)}
        self._acc_name = dict(enumerate(names))
        self._by_key = {a.api_key: a for a in accounts}
        # price band around the seed's mid
        if not seed.bids or not seed.asks:
            raise ValueError(f"seed {seed.source}:{seed.symbol} has an empty side")
        mid = (seed.bids[0][0] + seed.asks[0][0]) / 2
        lo = max(int(((mid * (1 - band)) / tick).to_integral_value(ROUND_CEILING)) * self._tick_u, self._tick_u)
        hi = int(((mid * (1 + band)) / tick).to_integral_value(ROUND_FLOOR)) * self._tick_u
        if (hi - lo) // self._tick_u >= _MAX_TICKS:
            raise ValueError(f"price band {band} is {(hi - lo) // self._tick_u} ticks; at most {_MAX_TICKS}")
        self.min_price, self.max_price = self._dec(lo, self.pd), self._dec(hi, self.pd)
        self._max_qty_u = ((1 << 63) - 1) // hi // self._lot_u * self._lot_u
        self.max_qty = self._dec(self._max_qty_u, self.qd)
        self._book = MatchingBook(self._tick_u, self._lot_u, self._max_qty_u, lo, hi, max_orders=max_orders,
                                  max_accounts=max(2, len(names)))
        self.orders: dict[int, SimOrder] = {}
        self._by_cl: dict[tuple[str, str], int] = {}
        self._open: dict[str, dict[int, None]] = {n: {} for n in names}   # insertion-ordered sets
        self._fills: dict[str, list[SimFill]] = {n: [] for n in names}
        self._reserved: dict[int, Decimal] = {}    # open order id -> amount still reserved
        self._levels: tuple[dict[int, int], dict[int, int]] = ({}, {})  # side -> price units -> qty units
        self._lp_at: tuple[dict[int, int], dict[int, int]] = ({}, {})   # side -> price units -> LP order id
        self._lp_held: tuple[dict[int, int], dict[int, int]] = ({}, {})  # crossing LP levels not placed
        # the LP is never an aggressor (post-only), and if it were it would not trade with itself
        self._book.set_account(self._acc_id[lp_account], stp="cancel_newest")
        self._listeners: list[Listener] = []
        self._depth_listeners: list[DepthListener] = []
        self.next_order_id = 1
        self.next_trade_id = 1
        self.update_id = seed.update_id
        self.seed = seed
        self.seed_dropped = 0
        ts = seed.ts_ns // 1_000_000
        for side_name, levels in (("BUY", seed.bids), ("SELL", seed.asks)):
            for px, qty in levels:
                self._seed_level(side_name, px, qty, ts)

    # -- conversions -----------------------------------------------------------------------

    @staticmethod
    def _units(value: Decimal, decimals: int) -> int:
        v = value.scaleb(decimals)
        if v != v.to_integral_value():
            raise ValueError(f"{value} has more than {decimals} decimals")
        return int(v)

    @staticmethod
    def _dec(units: int, decimals: int) -> Decimal:
        return Decimal(units).scaleb(-decimals)

    def _on_grid(self, value: Decimal, decimals: int, step: int) -> int | None:
        v = value.scaleb(decimals)
        if not v.is_finite() or v != v.to_integral_value() or int(v) % step:
            return None
        return int(v)

    def _fee(self, amount: Decimal, cbps: int, asset: str) -> Decimal:
        if cbps == 0 or amount == 0:
            return Decimal(0).scaleb(-self.asset_decimals.get(asset, 8))
        return (amount * cbps).scaleb(-6).quantize(Decimal(1).scaleb(-self.asset_decimals.get(asset, 8)),
                                                   rounding=ROUND_CEILING)

    # -- seeding ---------------------------------------------------------------------------

    def _seed_level(self, side: str, px: Decimal, qty: Decimal, ts: int) -> None:
        p = self._on_grid(px, self.pd, self._tick_u)
        q = self._on_grid(qty, self.qd, self._lot_u)
        if p is None or q is None or q <= 0 or q > self._max_qty_u or not self.min_price <= px <= self.max_price:
            self.seed_dropped += 1
            return
        oid = self.next_order_id
        events = self._book.submit(oid, 0, _SIDES[side], p, q)
        if events[0][0] != "accepted" or len(events) != 1:
            raise ValueError(f"seed level {side} {px} x {qty} did not rest: {events}")
        self.next_order_id += 1
        o = SimOrder(oid, f"lp-{oid}", self.lp, self.symbol, side, "LIMIT", "GTC", self._dec(p, self.pd),
                     self._dec(q, self.qd), Decimal(0), Decimal(0), "NEW", ts, ts)
        self.orders[oid] = o
        self._open[self.lp][oid] = None
        self._lp_at[_SIDES[side]][p] = oid
        lv = self._levels[_SIDES[side]]
        lv[p] = lv.get(p, 0) + q

    # -- queries ---------------------------------------------------------------------------

    def note_order_arrival(self, cl_ord_id: object, t_ns: int) -> None:
        """Record when a new-order request for ``cl_ord_id`` arrived (monotonic ns)."""
        if isinstance(cl_ord_id, str) and cl_ord_id:
            self.order_recv_ns[cl_ord_id] = t_ns
            if len(self.order_recv_ns) > 20_000:
                del self.order_recv_ns[next(iter(self.order_recv_ns))]

    def account_by_key(self, api_key: str) -> SimAccount | None:
        return self._by_key.get(api_key)

    def order(self, account: str, *, cl_ord_id: str | None = None, order_id: int | None = None) -> SimOrder | None:
        if order_id is not None:
            o = self.orders.get(order_id)
            if o is None or o.account != account or (cl_ord_id is not None and o.cl_ord_id != cl_ord_id):
                return None
            return o
        if cl_ord_id is not None:
            oid = self._by_cl.get((account, cl_ord_id))
            return None if oid is None else self.orders[oid]
        return None

    def open_orders(self, account: str) -> list[SimOrder]:
        return [self.orders[i] for i in self._open.get(account, {})]

    def fills(self, account: str) -> list[SimFill]:
        return list(self._fills.get(account, ()))

    def depth(self, limit: int = 5000) -> tuple[int, list[Level], list[Level]]:
        """``(update_id, bids best first, asks best first)``, at most ``limit`` levels a side."""
        bids = sorted(self._levels[0].items(), reverse=True)[:limit]
        asks = sorted(self._levels[1].items())[:limit]
        return (self.update_id, [(self._dec(p, self.pd), self._dec(q, self.qd)) for p, q in bids],
                [(self._dec(p, self.pd), self._dec(q, self.qd)) for p, q in asks])

    def top(self) -> tuple[Level | None, Level | None]:
        bb, ba = self._book.best_bid(), self._book.best_ask()
        return (None if bb is None else (self._dec(bb[0], self.pd), self._dec(bb[1], self.qd)),
                None if ba is None else (self._dec(ba[0], self.pd), self._dec(ba[1], self.qd)))

    def add_listener(self, fn: Listener) -> None:
        """``fn(account, order, fill)`` for every order update, in sequence; ``order`` is a copy
        as of that update, ``fill`` the update's fill (or None)."""
        self._listeners.append(fn)

    def add_depth_listener(self, fn: DepthListener) -> None:
        self._depth_listeners.append(fn)

    def state_hash(self) -> int:
        """A hash of every order, balance, fill and the book (ids and counters included)."""
        h = hashlib.blake2b(digest_size=8)
        h.update(self._book.state_hash().to_bytes(8, "little", signed=False))
        h.update(repr((self.update_id, self.next_order_id, self.next_trade_id)).encode())
        for o in self.orders.values():
            h.update(repr((o.order_id, o.cl_ord_id, o.account, o.side, o.type, o.tif, o.price, o.qty, o.cum_qty,
                           o.cum_quote, o.status, o.updated_ms, o.post_only)).encode())
        for name in sorted(self.accounts):
            a = self.accounts[name]
            h.update(repr((name, sorted(a.balances.items()), sorted(a.locked.items()))).encode())
        for name in sorted(self._fills):
            h.update(repr((name, self._fills[name])).encode())
        h.update(repr((sorted(self._reserved.items()), sorted(self._levels[0].items()),
                       sorted(self._levels[1].items()))).encode())
        return int.from_bytes(h.digest(), "little")

    # -- orders ----------------------------------------------------------------------------

    def _sweep_cost(self, qty_u: int) -> tuple[Decimal, int]:
        """Exact quote cost and quantity of a market BUY of ``qty_u`` through the asks."""
        left, cost = qty_u, 0
        for p in sorted(self._levels[1]):
            if left <= 0:
                break
            take = min(left, self._levels[1][p])
            cost += p * take
            left -= take
        return self._dec(cost, self.pd + self.qd), qty_u - left

    def _crosses(self, side: int, p: int) -> bool:
        best = self._book.best_ask() if side == 0 else self._book.best_bid()
        return best is not None and (p >= best[0] if side == 0 else p <= best[0])

    def place(self, account: str, cl_ord_id: str, side: str, type: str, qty: Decimal, price: Decimal | None,
              tif: str, post_only: bool = False) -> tuple[SimOrder, list[SimFill]]:
        """Place an order; returns the order (as it stands after matching) and its fills (the
        account's side of each trade). Raises :class:`SimReject` before any state change."""
        acc = self.accounts.get(account)
        if acc is None:
            raise SimReject("unknown_account", f"unknown account {account!r}")
        if side not in _SIDES:
            raise SimReject("bad_side", f"side must be BUY or SELL, got {side!r}")
        if type not in _TYPES:
            raise SimReject("bad_type", f"type must be LIMIT or MARKET, got {type!r}")
        if tif not in _TIFS:
            raise SimReject("bad_tif", f"time in force must be GTC, IOC or FOK, got {tif!r}")
        if not isinstance(cl_ord_id, str) or not cl_ord_id:
            raise SimReject("duplicate_order", "client order id must be a non-empty string")
        if (account, cl_ord_id) in self._by_cl:
            raise SimReject("duplicate_order", f"client order id {cl_ord_id!r} already used")
        if not isinstance(qty, Decimal) or not qty.is_finite() or qty <= 0 or qty > self.max_qty:
            raise SimReject("bad_qty", f"quantity must be > 0 and <= {self.max_qty}, got {qty}")
        q = self._on_grid(qty, self.qd, self._lot_u)
        if q is None:
            raise SimReject("off_lot", f"quantity {qty} is not a multiple of the lot {self.lot}")
        s = _SIDES[side]
        p = 0
        if type == "LIMIT":
            if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
                raise SimReject("bad_price", f"a limit order needs a price > 0, got {price}")
            if not self.min_price <= price <= self.max_price:
                raise SimReject("bad_price", f"price {price} outside the band [{self.min_price}, {self.max_price}]")
            pp = self._on_grid(price, self.pd, self._tick_u)
            if pp is None:
                raise SimReject("off_tick", f"price {price} is not a multiple of the tick {self.tick}")
            p = pp
        elif price is not None:
            raise SimReject("bad_price", "a market order takes no price")
        if post_only:
            if type != "LIMIT" or tif != "GTC":
                raise SimReject("bad_type", "post-only needs a limit GTC order")
            if self._crosses(s, p):
                raise SimReject("post_only_would_take", "post-only order would take liquidity")
        if self.faults.reject_count > 0:
            self.faults.reject_count -= 1  # fault state only: the book state is untouched
            raise SimReject("rejected_by_fault", "rejected by fault injection (reject_next)")
        cap = self.faults.fill_cap
        sub_q = q
        if cap is not None and (tif != "GTC" or type == "MARKET"):
            cu = self._on_grid(cap, self.qd, self._lot_u)
            sub_q = min(q, cu if cu is not None else q)
        # balance reserve
        if s == 0:
            asset = self.quote
            reserve = self._sweep_cost(sub_q)[0] if type == "MARKET" else self._dec(p * q, self.pd + self.qd)
        else:
            asset, reserve = self.base, qty
        free = acc.balances.get(asset, Decimal(0))
        if free < reserve:
            raise SimReject("insufficient_balance", f"{account} has {free} {asset} free, the order needs {reserve}")
        # -- validated: match ------------------------------------------------------------
        oid = self.next_order_id
        now = self.clock()
        fok_short = tif == "FOK" and sub_q < q
        if fok_short:
            events: list[Any] = [("rejected", oid, "new", "fok_not_fillable")]
        else:
            events = self._book.submit(oid, self._acc_id[account], s, p, sub_q,
                                       kind="market" if type == "MARKET" else "limit", tif=_TIFS[tif],
                                       post_only="reject" if post_only else "off")
        expire_only = events[0][0] == "rejected"
        if expire_only and events[0][3] not in ("fok_not_fillable", "no_liquidity"):
            code = events[0][3] if events[0][3] in REJECT_CODES else "bad_price"
            raise SimReject(code, f"matching core refused the order: {events[0][3]}")
        # -- commit ----------------------------------------------------------------------
        if cap is not None and (tif != "GTC" or type == "MARKET"):
            self.faults.fill_cap = None  # one order only
        self.next_order_id += 1
        order = SimOrder(oid, cl_ord_id, account, self.symbol, side, type, tif,
                         self._dec(p, self.pd) if type == "LIMIT" else None, qty, Decimal(0), Decimal(0), "NEW", now, now, post_only)
        self.orders[oid] = order
        self._by_cl[(account, cl_ord_id)] = oid
        notes: list[tuple[str, SimOrder, SimFill | None]] = []
        changed: tuple[set[int], set[int]] = (set(), set())
        if expire_only:
            order.status = "EXPIRED"
            notes.append((account, copy.copy(order), None))
            self._notify(notes, None, now)
            return order, []
        acc.balances[asset] = free - reserve
        acc.locked[asset] = acc.locked.get(asset, Decimal(0)) + reserve
        self._reserved[oid] = reserve
        self._open[account][oid] = None
        notes.append((account, copy.copy(order), None))
        fills: list[SimFill] = []
        for ev in events[1:]:
            if ev[0] == "trade":
                _, mid, tid, _macc, _tacc, _tside, tp, tq, _mf, _tf, _mrem, _trem = ev
                maker = self.orders[mid]
                tpx, tqty = self._dec(tp, self.pd), self._dec(tq, self.qd)
                trade_id = self.next_trade_id
                self.next_trade_id += 1
                lv = self._levels[1 - s]
                lv[tp] -= tq
                if lv[tp] == 0:
                    del lv[tp]
                changed[1 - s].add(tp)
                mfill = self._apply_fill(maker, trade_id, tpx, tqty, True, now)
                notes.append((maker.account, copy.copy(maker), mfill))
                tfill = self._apply_fill(order, trade_id, tpx, tqty, False, now)
                fills.append(tfill)
                notes.append((account, copy.copy(order), tfill))
            elif ev[0] == "expired":
                order.status = "EXPIRED"
            elif ev[0] == "cancelled":
                order.status = "CANCELED"
        if order.status in OPEN_STATUSES and (type == "MARKET" or tif != "GTC"):
            order.status = "EXPIRED"  # capped by a fault: the rest was never submitted
        if order.status in OPEN_STATUSES:
            rest = q - self._units(order.cum_qty, self.qd)
            lv = self._levels[s]
            lv[p] = lv.get(p, 0) + rest
            changed[s].add(p)
        else:
            self._close(order)
            if order.status != "FILLED":  # a fill note already shows FILLED
                notes.append((account, copy.copy(order), None))
        order.updated_ms = now
        self._notify(notes, changed, now)
        return order, fills

    def _apply_fill(self, o: SimOrder, trade_id: int, px: Decimal, qty: Decimal, maker: bool, now: int) -> SimFill:
        quote_amt = px * qty
        o.cum_qty += qty
        o.cum_quote += quote_amt
        o.status = "FILLED" if o.cum_qty == o.qty else "PARTIALLY_FILLED"
        o.updated_ms = now
        acc = self.accounts.get(o.account)
        if acc is None:  # the liquidity provider: no balances
            recv_asset = self.base if o.side == "BUY" else self.quote
            fill = SimFill(trade_id, o.order_id, px, qty, Decimal(0), recv_asset, maker, now)
        else:
            cbps = acc.maker_cbps if maker else acc.taker_cbps
            if o.side == "BUY":
                spend_asset, spent, recv_asset, recv = self.quote, quote_amt, self.base, qty
                used = quote_amt if o.price is None else o.price * qty   # reserve released
            else:
                spend_asset, spent, recv_asset, recv = self.base, qty, self.quote, quote_amt
                used = qty
            fee = self._fee(recv, cbps, recv_asset)
            self._reserved[o.order_id] -= used
            acc.locked[spend_asset] -= used
            acc.balances[spend_asset] = acc.balances.get(spend_asset, Decimal(0)) + (used - spent)
            acc.balances[recv_asset] = acc.balances.get(recv_asset, Decimal(0)) + recv - fee
            fill = SimFill(trade_id, o.order_id, px, qty, fee, recv_asset, maker, now)
        self._fills[o.account].append(fill)
        if o.status == "FILLED":
            self._close(o)
        return fill

    def _close(self, o: SimOrder) -> None:
        """The order left the book: release what it still reserves."""
        self._open[o.account].pop(o.order_id, None)
        left = self._reserved.pop(o.order_id, None)
        acc = self.accounts.get(o.account)
        if left and acc is not None:
            asset = self.quote if o.side == "BUY" else self.base
            acc.locked[asset] -= left
            acc.balances[asset] = acc.balances.get(asset, Decimal(0)) + left

    def cancel(self, account: str, *, cl_ord_id: str | None = None, order_id: int | None = None) -> SimOrder:
        """Cancel an open order of ``account``; ``SimReject("unknown_order")`` if there is none."""
        if account not in self.accounts:
            raise SimReject("unknown_account", f"unknown account {account!r}")
        o = self.order(account, cl_ord_id=cl_ord_id, order_id=order_id)
        if o is None or not o.is_open:
            what = f"order id {order_id}" if order_id is not None else f"client order id {cl_ord_id!r}"
            raise SimReject("unknown_order", f"{what}: no open order")
        events = self._book.cancel(o.order_id)
        if events[0][0] != "cancelled":  # pragma: no cover - the book and the records agree
            raise SimReject("unknown_order", f"matching core: {events}")
        now = self.clock()
        s = _SIDES[o.side]
        assert o.price is not None
        p = self._units(o.price, self.pd)
        lv = self._levels[s]
        remaining = events[0][3]
        assert isinstance(remaining, int)
        lv[p] -= remaining
        if lv[p] == 0:
            del lv[p]
        o.status = "CANCELED"
        o.updated_ms = now
        self._close(o)
        self._notify([(account, copy.copy(o), None)], ({p}, set()) if s == 0 else (set(), {p}), now)
        return o

    # -- recorded flow (the liquidity provider's activity) ------------------------------------

    @property
    def lp_held(self) -> int:
        """LP levels held back because they would cross another account's order."""
        return len(self._lp_held[0]) + len(self._lp_held[1])

    def _lp_remaining(self, side: int, p: int) -> tuple[SimOrder | None, int]:
        oid = self._lp_at[side].get(p)
        if oid is None:
            return None, 0
        o = self.orders.get(oid)
        if o is None or not o.is_open:  # filled away by clients
            del self._lp_at[side][p]
            return None, 0
        return o, self._units(o.qty - o.cum_qty, self.qd)

    def set_lp_levels(self, bids: list[Level], asks: list[Level], *, whole_book: bool = False) -> LpUpdate:
        """Make the LP's resting quantity at each ``(price, qty)`` level the given quantity (0 =
        none), through the matching core; one request: one update id, one :class:`DepthDiff`.
        ``whole_book``: the levels are the whole recorded book (a re-synchronisation), every
        other LP level goes. Held (crossing) levels of earlier calls are retried. See the module
        doc for the rules; orders of other accounts are never touched."""
        targets: tuple[dict[int, int], dict[int, int]] = ({}, {})
        skipped = 0
        for s, levels in ((0, bids), (1, asks)):
            for px, qty in levels:
                p = self._on_grid(px, self.pd, self._tick_u)
                q = self._on_grid(qty, self.qd, self._lot_u)
                if (p is None or q is None or q < 0 or q > self._max_qty_u
                        or not self.min_price <= px <= self.max_price):
                    skipped += 1
                    continue
                targets[s][p] = q
                self._lp_held[s].pop(p, None)  # a newer recorded value replaces a held one
        for s in (0, 1):
            if whole_book:
                self._lp_held[s].clear()
                for p in list(self._lp_at[s]):
                    targets[s].setdefault(p, 0)
            for p, q in self._lp_held[s].items():
                targets[s].setdefault(p, q)
            self._lp_held[s].clear()
        now = self.clock()
        changed: tuple[set[int], set[int]] = (set(), set())
        work: list[tuple[int, int, int, SimOrder | None, int]] = []
        for s in (0, 1):
            for p, q in targets[s].items():
                o, cur = self._lp_remaining(s, p)
                if q != cur:
                    work.append((s, p, q, o, cur))
        # decreases first, then increases: a consistent recording never makes the LP cross itself
        for decrease in (True, False):
            for s, p, q, o, cur in work:
                if (q < cur) != decrease:
                    continue
                lv = self._levels[s]
                if o is not None and q == 0:
                    ev = self._book.cancel(o.order_id)
                    if ev[0][0] != "cancelled":  # pragma: no cover - the book and the records agree
                        raise RuntimeError(f"LP cancel {o.order_id}: {ev}")
                    o.status = "CANCELED"
                    self._open[self.lp].pop(o.order_id, None)
                    del self._lp_at[s][p]
                    del self.orders[o.order_id]  # LP bookkeeping only: keep the record set bounded
                elif o is not None:
                    # same price: a decrease keeps the queue position, an increase goes to the
                    # back of the level; the book is not crossed at p, so nothing can trade
                    ev = self._book.replace(o.order_id, p, q)
                    if ev[0][0] != "replaced" or len(ev) != 1:  # pragma: no cover
                        raise RuntimeError(f"LP replace {o.order_id} to {q} at {p}: {ev}")
                    o.qty = o.cum_qty + self._dec(q, self.qd)
                    o.updated_ms = now
                else:
                    if self._crosses(s, p):
                        self._lp_held[s][p] = q
                        continue
                    oid = self.next_order_id
                    ev = self._book.submit(oid, self._acc_id[self.lp], s, p, q, post_only="reject")
                    if ev[0][0] != "accepted":
                        if ev[0][3] == "post_only_would_take":  # pragma: no cover - checked above
                            self._lp_held[s][p] = q
                        else:
                            skipped += 1  # book_full
                        continue
                    assert len(ev) == 1, ev
                    self.next_order_id += 1
                    side_name = "BUY" if s == 0 else "SELL"
                    no = SimOrder(oid, f"lp-{oid}", self.lp, self.symbol, side_name, "LIMIT", "GTC",
                                  self._dec(p, self.pd), self._dec(q, self.qd), Decimal(0), Decimal(0), "NEW",
                                  now, now, True)
                    self.orders[oid] = no
                    self._open[self.lp][oid] = None
                    self._lp_at[s][p] = oid
                total = lv.get(p, 0) + q - cur
                if total:
                    lv[p] = total
                else:
                    lv.pop(p, None)
                changed[s].add(p)
        before = self.update_id
        self._notify([], changed, now)
        return LpUpdate(len(changed[0]) + len(changed[1]), skipped, self.lp_held,
                        self.update_id if self.update_id != before else None)

    def _notify(self, notes: list[tuple[str, SimOrder, SimFill | None]],
                changed: tuple[set[int], set[int]] | None, now: int) -> None:
        if changed is not None and (changed[0] or changed[1]):
            first = self.update_id + 1
            if self.faults.gap_pending:
                first += 1
                self.faults.gap_pending = False
            self.update_id = first
            diff = DepthDiff(first, first,
                             [(self._dec(p, self.pd), self._dec(self._levels[0].get(p, 0), self.qd))
                              for p in sorted(changed[0], reverse=True)],
                             [(self._dec(p, self.pd), self._dec(self._levels[1].get(p, 0), self.qd))
                              for p in sorted(changed[1])], now)
            for dfn in self._depth_listeners:
                dfn(diff)
        for account, order, fill in notes:
            for fn in self._listeners:
                fn(account, order, fill)
