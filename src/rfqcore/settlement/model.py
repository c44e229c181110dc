"""Settlement domain model: captured trades, settlement cycles, netting legs, instructions.

Every amount is an exact Python ``int`` in a stated decimal scale (``units × 10^-scale``),
never a float. A trade keeps the core's fixed-point values as they came in the execution
report (``docs/rfq-protocol.md``: price in the composite price scale, qty in its quantity
scale, notional and fee exact at price + quantity decimals).

Sign convention of every leg, net and instruction: **from the desk's point of view**, positive
= the desk *receives* from the client, negative = the desk *delivers* to the client.

Per trade (client side ``BUY`` = the client bought base from the desk):

=========  ======================  ======================
leg        client BUY              client SELL
=========  ======================  ======================
base       ``-qty``                ``+qty``
principal  ``+notional``           ``-notional``
fee        ``+fee``                ``+fee``
=========  ======================  ======================

The fee is always paid by the client to the desk (as in ``Engine.exposures()``).
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from rfqcore.errors import RfqCoreError
from rfqcore.records import ClientSide

if TYPE_CHECKING:  # settlement imports nothing of the engine at run time
    from rfqcore.engine import Engine
    from rfqcore.rfq import Execution

__all__ = [
    "SettlementError",
    "InvalidTransition",
    "UnknownInstruction",
    "Trade",
    "Cycle",
    "CycleCalendar",
    "Leg",
    "NetAmount",
    "State",
    "TRANSITIONS",
    "Instruction",
    "InstructionEvent",
    "Catalog",
    "legs",
    "net_trades",
    "rescale",
    "reference_id",
    "to_decimal",
    "fmt_units",
    "PnlDay",
    "pnl_by_day",
]

INT64_MAX: Final[int] = (1 << 63) - 1
DAY_S: Final[int] = 86_400
_NS: Final[int] = 1_000_000_000


class SettlementError(RfqCoreError):
    """A settlement operation was refused; nothing was changed."""


class InvalidTransition(SettlementError):
    """An instruction cannot go from its current state to the requested one."""


class UnknownInstruction(SettlementError, KeyError):
    """No instruction with that reference id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


# -- trades ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trade:
    """One captured execution (the client's side), exact fixed-point values.

    ``price`` in 10^-price_decimals of ``quote``; ``qty`` in 10^-qty_decimals of ``base``;
    ``notional`` and ``fee`` in 10^-money_decimals of ``quote`` (money_decimals = price +
    qty decimals). ``core_time_ns`` is the core time of the fill (the accept's ``ts_recv``).
    """

    trade_id: int
    client_id: int
    client: str
    composite_id: int
    composite: str
    base: str
    quote: str
    side: ClientSide
    price: int
    qty: int
    notional: int
    fee: int
    price_decimals: int
    qty_decimals: int
    quote_id: int
    rfq_id: int
    accept_id: int
    core_time_ns: int

    @property
    def money_decimals(self) -> int:
        return self.price_decimals + self.qty_decimals

    def problems(self) -> list[str]:
        """Why this trade cannot be captured (empty = fine)."""
        p: list[str] = []
        for name in ("trade_id", "client_id", "composite_id", "price", "qty", "notional", "fee", "quote_id",
                     "rfq_id", "accept_id", "core_time_ns"):
            v = getattr(self, name)
            if type(v) is not int:
                p.append(f"{name} is {type(v).__name__}, not int")
            elif not 0 <= v <= INT64_MAX:
                p.append(f"{name}={v} outside 0..2^63-1")
        if self.trade_id == 0:
            p.append("trade_id is 0")
        if self.side not in (ClientSide.BUY, ClientSide.SELL):
            p.append(f"side {self.side!r} is not BUY or SELL")
        if not p and self.qty <= 0:
            p.append("qty <= 0")
        if not p and self.price * self.qty != self.notional:
            p.append(f"notional {self.notional} != price {self.price} x qty {self.qty}")
        if not (0 <= self.price_decimals <= 18 and 0 <= self.qty_decimals <= 18):
            p.append("decimals outside 0..18")
        if not (self.base and self.quote and self.client and self.composite):
            p.append("empty name")
        return p


# -- settlement cycles -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Cycle:
    """A settlement cycle: trades with ``start_ns <= core time < end_ns``; ``end_ns`` is the cut-off."""

    end_ns: int
    start_ns: int
    label: str

    @property
    def compact(self) -> str:
        return self.label.replace("-", "").replace(":", "")


def _parse_hms(text: str) -> int:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if not m:
        raise ValueError(f"cut-off {text!r}: expected HH:MM or HH:MM:SS (UTC)")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"cut-off {text!r}: not a time of day")
    return h * 3600 + mi * 60 + s


def _parse_period(text: str | int) -> int:
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"(\d+)([dhms])", text.strip())
    if not m:
        raise ValueError(f"period {text!r}: expected e.g. 1d, 4h, 30m")
    return int(m.group(1)) * {"d": DAY_S, "h": 3600, "m": 60, "s": 1}[m.group(2)]


@dataclass(frozen=True, slots=True)
class CycleCalendar:
    """Settlement cycles: one every ``period_s`` seconds, cut off at ``cutoff_s`` after 00:00 UTC.

    Daily cycles (the default, cut-off 00:00 UTC) are labelled by their trade date, the UTC
    date of the last instant before the cut-off: with a 17:00 cut-off, a trade at 18:00 on the
    8th belongs to the cycle labelled the 9th (the FX roll convention). Shorter periods (which
    must divide a day) are labelled by their cut-off instant, ``YYYY-MM-DDTHH:MM:SSZ``.
    """

    cutoff_s: int = 0
    period_s: int = DAY_S

    def __post_init__(self) -> None:
        if not 0 <= self.cutoff_s < DAY_S:
            raise ValueError(f"cut-off {self.cutoff_s}s is not within a day")
        if self.period_s <= 0 or DAY_S % self.period_s:
            raise ValueError(f"period {self.period_s}s must divide a day")

    @classmethod
    def parse(cls, cutoff: str = "00:00", period: str | int = "1d") -> CycleCalendar:
        return cls(_parse_hms(cutoff), _parse_period(period))

    @property
    def daily(self) -> bool:
        return self.period_s == DAY_S

    def describe(self) -> str:
        c = self.cutoff_s
        hms = f"{c // 3600:02d}:{c // 60 % 60:02d}" + (f":{c % 60:02d}" if c % 60 else "")
        return f"{'daily' if self.daily else f'every {self.period_s}s'} at {hms} UTC"

    def _make(self, end_ns: int) -> Cycle:
        start = end_ns - self.period_s * _NS
        if self.daily:
            label = datetime.fromtimestamp((end_ns - 1) // _NS, UTC).strftime("%Y-%m-%d")
        else:
            label = datetime.fromtimestamp(end_ns // _NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Cycle(end_ns, start, label)

    def cycle_of(self, ts_ns: int) -> Cycle:
        """The cycle a trade at core time ``ts_ns`` belongs to."""
        off = self.cutoff_s * _NS
        p = self.period_s * _NS
        k = (ts_ns - off) // p
        return self._make(off + (k + 1) * p)

    def cycle(self, label: str) -> Cycle:
        """The cycle with this label (``YYYY-MM-DD`` for daily cycles, else its cut-off instant)."""
        label = label.strip()
        try:
            if self.daily:
                d = datetime.strptime(label, "%Y-%m-%d").replace(tzinfo=UTC)
                midnight = calendar.timegm(d.timetuple())
                end_s = midnight + (self.cutoff_s if self.cutoff_s else DAY_S)
            else:
                d = datetime.strptime(label, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                end_s = calendar.timegm(d.timetuple())
        except ValueError:
            form = "YYYY-MM-DD" if self.daily else "YYYY-MM-DDTHH:MM:SSZ"
            raise SettlementError(f"cycle {label!r}: expected {form} ({self.describe()})") from None
        c = self.cycle_of(end_s * _NS - 1)
        if c.label != label:
            raise SettlementError(f"{label!r} is not a cycle cut-off ({self.describe()}); did you mean {c.label}?")
        return c


# -- netting -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leg:
    """One settlement leg of a trade, desk's view (positive = the desk receives)."""

    trade_id: int
    client_id: int
    asset: str
    kind: str  # "base" | "principal" | "fee"
    amount: int
    scale: int


def legs(t: Trade) -> tuple[Leg, Leg, Leg]:
    """The three legs of a trade (see the module doc for the signs)."""
    sign = 1 if t.side == ClientSide.BUY else -1
    return (
        Leg(t.trade_id, t.client_id, t.base, "base", -sign * t.qty, t.qty_decimals),
        Leg(t.trade_id, t.client_id, t.quote, "principal", sign * t.notional, t.money_decimals),
        Leg(t.trade_id, t.client_id, t.quote, "fee", t.fee, t.money_decimals),
    )


def rescale(units: int, scale: int, to: int) -> int:
    """``units`` at ``scale`` expressed at the finer scale ``to`` (exact; never rounds)."""
    if to < scale:
        raise ValueError(f"cannot rescale from {scale} to fewer decimals ({to}) exactly")
    factor: int = 10 ** (to - scale)
    return units * factor


@dataclass(frozen=True, slots=True)
class NetAmount:
    """Net of one client and asset over a set of trades: ``net = principal + fees`` (desk's view).

    For a base asset ``principal`` is the quantity delivered/received and ``fees`` is 0.
    """

    client_id: int
    client: str
    asset: str
    scale: int
    principal: int
    fees: int
    trades: int

    @property
    def net(self) -> int:
        return self.principal + self.fees

    @property
    def direction(self) -> str:
        return "receive" if self.net > 0 else "deliver" if self.net < 0 else "flat"


def net_trades(trades: Iterable[Trade]) -> list[NetAmount]:
    """Net every client and asset over ``trades``, exactly; sorted by (client id, asset).

    Amounts of one asset with different scales (e.g. two composites quoting in USDT with
    different price decimals) are brought to the finest scale exactly before adding.
    """
    acc: dict[tuple[int, str], _NetAcc] = {}
    for t in trades:
        for leg in legs(t):
            key = (leg.client_id, leg.asset)
            a = acc.get(key)
            if a is None:
                a = acc[key] = _NetAcc(t.client, leg.scale)
            if leg.scale > a.scale:
                a.principal = rescale(a.principal, a.scale, leg.scale)
                a.fees = rescale(a.fees, a.scale, leg.scale)
                a.scale = leg.scale
            amount = rescale(leg.amount, leg.scale, a.scale)
            if leg.kind == "fee":
                a.fees += amount
            else:
                a.principal += amount
            a.trade_ids.add(t.trade_id)
    return [NetAmount(cid, a.client, asset, a.scale, a.principal, a.fees, len(a.trade_ids))
            for (cid, asset), a in sorted(acc.items(), key=lambda kv: kv[0])]


@dataclass(slots=True)
class _NetAcc:
    """:func:`net_trades`' running sums of one (client, asset), at the finest scale seen so far."""

    client: str
    scale: int
    principal: int = 0
    fees: int = 0
    trade_ids: set[int] = field(default_factory=set)


# -- instructions ------------------------------------------------------------------------


class State(StrEnum):
    PENDING = "pending"
    AFFIRMED = "affirmed"
    SETTLED = "settled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


#: Allowed moves; settled, expired and cancelled are final.
TRANSITIONS: Final[Mapping[State, frozenset[State]]] = {
    State.PENDING: frozenset({State.AFFIRMED, State.EXPIRED, State.CANCELLED}),
    State.AFFIRMED: frozenset({State.SETTLED, State.EXPIRED, State.CANCELLED}),
    State.SETTLED: frozenset(),
    State.EXPIRED: frozenset(),
    State.CANCELLED: frozenset(),
}


def reference_id(cycle: Cycle, client_id: int, asset: str) -> str:
    """Deterministic instruction reference: the same cycle, client and asset always give the
    same id (readable part + 8 hex digits of SHA-256 over the exact triple)."""
    h = hashlib.sha256(f"{cycle.end_ns}|{client_id}|{asset}".encode()).hexdigest()[:8]
    return f"STL-{cycle.compact}-{client_id}-{asset}-{h}"


@dataclass(frozen=True, slots=True)
class Instruction:
    """A settlement instruction: ``amount`` of ``asset`` at ``scale`` (desk's view: positive = the
    desk receives from the client)."""

    ref: str
    cycle: str
    cycle_start_ns: int
    cycle_end_ns: int
    client_id: int
    client: str
    asset: str
    scale: int
    principal: int
    fees: int
    amount: int
    trades: int
    state: State
    created_by: str
    created_at_ns: int
    updated_by: str
    updated_at_ns: int
    version: int

    @property
    def direction(self) -> str:
        return "receive" if self.amount > 0 else "deliver" if self.amount < 0 else "flat"


@dataclass(frozen=True, slots=True)
class InstructionEvent:
    """One step of an instruction's life: who moved it from ``from_state`` to ``to_state`` when."""

    ref: str
    seq: int
    from_state: State | None
    to_state: State
    actor: str
    at_ns: int
    note: str


# -- ids -> names, assets and scales -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CompositeInfo:
    name: str
    base: str
    quote: str
    price_decimals: int
    qty_decimals: int


@dataclass(slots=True)
class Catalog:
    """What a trade's ids mean: composite name, base/quote assets and scales, client names."""

    composites: dict[int, _CompositeInfo] = field(default_factory=dict)
    clients: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, registry: object, rfq: object | None = None) -> Catalog:
        """From a :class:`~rfqcore.instruments.Registry` and (optionally) the
        :class:`~rfqcore.rfqconfig.RfqSettings` (client names)."""
        from rfqcore.instruments import Registry

        assert isinstance(registry, Registry)
        comps = {}
        for c in registry.composites:
            ins = registry.by_id(c.members[0])
            comps[c.id] = _CompositeInfo(c.name, ins.base, ins.quote, c.price_decimals, c.qty_decimals)
        clients = {c.id: c.name for c in getattr(rfq, "clients", ())}
        return cls(comps, clients)

    @classmethod
    def from_engine(cls, engine: Engine) -> Catalog:
        return cls.from_config(engine.registry, engine.rfq)

    def trade(self, ex: Execution) -> Trade:
        """The :class:`Trade` of an :class:`rfqcore.rfq.Execution`."""
        c = self.composites.get(ex.composite)
        if c is None:
            raise SettlementError(f"trade {ex.trade_id}: unknown composite id {ex.composite}")
        cid = int(ex.client)
        return Trade(
            trade_id=int(ex.trade_id), client_id=cid, client=self.clients.get(cid, f"client-{cid}"),
            composite_id=int(ex.composite), composite=c.name, base=c.base, quote=c.quote,
            side=ClientSide(int(ex.side)), price=int(ex.price_raw), qty=int(ex.qty_raw),
            notional=int(ex.notional_raw), fee=int(ex.fee_raw),
            price_decimals=c.price_decimals, qty_decimals=c.qty_decimals,
            quote_id=int(ex.quote_id), rfq_id=int(ex.rfq_id), accept_id=int(ex.accept_id),
            core_time_ns=int(ex.core_time),
        )


# -- formatting --------------------------------------------------------------------------


def to_decimal(units: int, scale: int) -> Decimal:
    """Exact :class:`~decimal.Decimal` of ``units × 10^-scale`` (keeps ``scale`` digits)."""
    return Decimal(units).scaleb(-scale)


def fmt_units(units: int, scale: int) -> str:
    """``units × 10^-scale`` as a decimal string with exactly ``scale`` decimals."""
    s = str(abs(units)).rjust(scale + 1, "0")
    body = s[:-scale] + "." + s[-scale:] if scale else s
    return ("-" if units < 0 else "") + body


def iso_ns(ts_ns: int) -> str:
    """UTC ISO-8601 with nanoseconds."""
    s, ns = divmod(ts_ns, _NS)
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def now_ns() -> int:
    return time.time_ns()


# -- desk P&L ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PnlDay:
    """Desk realised P&L of one composite over one cycle (exact, money scale ``scale``)."""

    day: str
    composite: str
    quote: str
    scale: int
    qty_decimals: int
    trades: int
    volume_qty: int
    volume_notional: int
    realised: int
    fees: int
    position_qty: int
    position_cost: int

    @property
    def total(self) -> int:
        return self.realised + self.fees


def _tdiv(a: int, b: int) -> int:
    """Integer division rounded toward zero (Rust's i128 ``/``)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def pnl_by_day(trades: Iterable[Trade], cal: CycleCalendar) -> list[PnlDay]:
    """Desk realised P&L per cycle and composite with the core's average-cost method
    (``rfq-engine/src/positions.rs``: removed cost rounded toward zero, exact once flat), so
    the cumulative figure equals ``Engine.positions()[c].realised``. Trades are applied in
    trade-id order (the core's order) from a flat desk: pass the whole history."""
    pos: dict[str, list[int]] = {}  # composite -> [qty, cost, realised]
    out: dict[tuple[str, str], _DayAcc] = {}
    for t in sorted(trades, key=lambda t: t.trade_id):
        p = pos.setdefault(t.composite, [0, 0, 0])
        dq = -t.qty if t.side == ClientSide.BUY else t.qty  # desk side
        before = p[2]
        qty, cost = p[0], p[1]
        if qty == 0 or (qty > 0) == (dq > 0):
            p[1] += dq * t.price
            p[0] += dq
        else:
            open_ = abs(qty)
            closing = min(abs(dq), open_)
            close_dq = closing if dq > 0 else -closing
            removed = _tdiv(cost * closing, open_)
            p[2] += -close_dq * t.price - removed
            p[1] -= removed
            p[0] += close_dq
            rest = dq - close_dq
            if rest:
                p[1] = rest * t.price
                p[0] = rest
        day = cal.cycle_of(t.core_time_ns).label
        d = out.setdefault((day, t.composite), _DayAcc(t.quote, t.money_decimals, t.qty_decimals))
        d.trades += 1
        d.volume_qty += t.qty
        d.volume_notional += t.notional
        d.realised += p[2] - before
        d.fees += t.fee
        d.position_qty, d.position_cost = p[0], p[1]
    return [PnlDay(day, comp, d.quote, d.scale, d.qty_decimals, d.trades, d.volume_qty, d.volume_notional,
                   d.realised, d.fees, d.position_qty, d.position_cost)
            for (day, comp), d in sorted(out.items(), key=lambda kv: kv[0])]


@dataclass(slots=True)
class _DayAcc:
    """:func:`pnl_by_day`'s running sums of one (cycle, composite)."""

    quote: str
    scale: int
    qty_decimals: int
    trades: int = 0
    volume_qty: int = 0
    volume_notional: int = 0
    realised: int = 0
    fees: int = 0
    position_qty: int = 0
    position_cost: int = 0
