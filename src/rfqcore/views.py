"""The operator views in human units: what :class:`rfqcore.engine.Engine` answers about a
client's risk, a composite's limits and pricing, a tier, the desk, hedging, hedge orders and a
quote.

Each view names a setting as the :class:`rfqcore.operator.Operator` setter takes it and holds
it in that unit (``collar_bps``, ``approval_timeout_ms``, ``long_limit`` in the base asset,
``credit_limit`` in the desk currency), so what you read is what you may give back:
``op.set_instrument("BTC", long_limit=view.long_limit + 1)``. Amounts are exact ``Decimal``s;
the core's integers behind a view stay available as its ``raw`` dict (the ``Engine.*_raw``
queries return those dicts alone). Every repr labels its values with their units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, ClassVar

from rfqcore.operator import _UNIT_DECIMALS, _UNIT_LABELS, FIELDS, field_unit, field_value, setting_raw
from rfqcore.records import HEDGE_ORDER_STATES
from rfqcore.units import from_units, human

__all__ = ["ClientRisk", "DeskSettings", "HedgeOrderState", "HedgeVenueState", "HedgingState", "InstrumentRisk",
           "InternalBookState", "QuoteState", "TierTerms"]


def _setting_values(what: str, view: Mapping[str, Any], qty_decimals: int | None) -> dict[str, Any]:
    """Every field ``set_<what>`` takes, read from the core's ``view``, in the setter's unit."""
    return {name: field_value(field_unit(what, name), setting_raw(what, name, view), qty_decimals)
            for name in FIELDS[what]}


def _text(value: object, unit: str, min_decimals: int) -> str:
    if value is None:
        return "None"
    if isinstance(value, Decimal):
        decimals = -int(value.as_tuple().exponent)  # finite: from_units
        value = human(int(value.scaleb(decimals)), decimals, min_decimals=min_decimals)
    elif isinstance(value, str):
        return repr(value)
    return f"{value} {unit}" if unit else str(value)


class _View:
    """Shared repr: every field but ``raw``, each with its unit (:meth:`_units`)."""

    __slots__ = ()
    #: field -> unit label that does not depend on the instance (bps, ms)
    _FIXED: ClassVar[dict[str, str]] = {}

    def _units(self) -> dict[str, str]:
        return dict(self._FIXED)

    def __repr__(self) -> str:
        units = self._units()
        money = getattr(self, "currency", None)
        parts = [f"{f.name}={_text(getattr(self, f.name), units.get(f.name, ''), 2 if units.get(f.name) == money else 0)}"
                 for f in fields(self)  # type: ignore[arg-type]
                 if f.repr and f.name != "raw"]
        return f"{type(self).__name__}({', '.join(parts)})"


def _fixed(what: str) -> dict[str, str]:
    """The unit labels of ``set_<what>``'s bps and ms fields."""
    return {n: _UNIT_LABELS[u] for n in FIELDS[what] if (u := field_unit(what, n)) in _UNIT_LABELS}


@dataclass(frozen=True, slots=True, repr=False)
class ClientRisk(_View):
    """A client's risk now: its switches, credit (limit, used, still available; in the desk
    currency, cents exact), live quotes and throttles (``set_client``'s fields)."""

    client: str
    id: int
    tier: str
    enabled: bool
    killed: bool
    halted: bool
    credit_limit: Decimal
    utilised: Decimal
    available: Decimal
    currency: str
    open_quotes: int
    max_open_quotes: int
    rfq_rate: int
    rfq_burst: int
    accept_rate: int
    accept_burst: int
    raw: dict[str, Any] = field(compare=False)

    def _units(self) -> dict[str, str]:
        return {"credit_limit": self.currency, "utilised": self.currency, "available": self.currency,
                "rfq_rate": "/s", "accept_rate": "/s"}

    @classmethod
    def of(cls, raw: Mapping[str, Any], tier: str, currency: str) -> ClientRisk:
        v = _setting_values("client", raw, None)
        cents = _UNIT_DECIMALS["cents"]
        return cls(str(raw["name"]), int(raw["id"]), tier, bool(raw["enabled"]), bool(raw["killed"]),
                   bool(raw["halted"]), v["credit_limit"], from_units(int(raw["utilised"]), cents),
                   from_units(int(raw["available"]), cents), currency, int(raw["open_quotes"]),
                   int(raw["max_open_quotes"]), v["rfq_rate"], v["rfq_burst"], v["accept_rate"], v["accept_burst"],
                   dict(raw))


@dataclass(frozen=True, slots=True, repr=False)
class InstrumentRisk(_View):
    """A composite's switches, risk limits (``set_instrument``) and pricing knobs
    (``set_pricing``) now, in the setters' units, and the volatility estimate (``vol_bps``)."""

    instrument: str
    killed: bool
    halted: bool
    restricted: bool
    min_qty: Decimal
    max_qty: Decimal
    max_notional: Decimal
    long_limit: Decimal
    short_limit: Decimal
    collar_bps: Decimal
    approval_qty: Decimal
    approval_notional: Decimal
    approval_timeout_ms: Decimal
    base_bps: Decimal
    size_bps_per_unit: Decimal
    skew_bps_per_unit: Decimal
    max_skew_bps: Decimal
    vol_mult_pct: int
    vol_ema_shift: int
    hedge_fee_bps: Decimal
    vol_bps: Decimal
    base: str
    currency: str
    raw: dict[str, Any] = field(compare=False)

    _FIXED: ClassVar[dict[str, str]] = {**_fixed("instrument"), **_fixed("pricing"), "vol_bps": "bps",
                                        "vol_mult_pct": "%"}

    def _units(self) -> dict[str, str]:
        qty = {n: self.base for n in ("min_qty", "max_qty", "long_limit", "short_limit", "approval_qty")}
        return {**self._FIXED, **qty, "max_notional": self.currency, "approval_notional": self.currency}

    @classmethod
    def of(cls, raw: Mapping[str, Any], name: str, qty_decimals: int, base: str, currency: str) -> InstrumentRisk:
        v = {**_setting_values("instrument", raw, qty_decimals), **_setting_values("pricing", raw, qty_decimals)}
        return cls(name, bool(raw["killed"]), bool(raw["halted"]), bool(raw["restricted"]),
                   vol_bps=from_units(int(raw["vol_cbps"]), _UNIT_DECIMALS["cbps"]), base=base, currency=currency,
                   raw=dict(raw), **v)


@dataclass(frozen=True, slots=True, repr=False)
class TierTerms(_View):
    """A client tier's terms now (``set_tier``'s fields)."""

    tier: str
    id: int
    markup_bps: Decimal
    fee_bps: Decimal
    ttl_ms: Decimal
    max_ttl_ms: Decimal
    allow_partial: bool
    raw: dict[str, Any] = field(compare=False)

    _FIXED: ClassVar[dict[str, str]] = _fixed("tier")

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> TierTerms:
        return cls(str(raw["name"]), int(raw["id"]), raw=dict(raw), **_setting_values("tier", raw, None))


@dataclass(frozen=True, slots=True, repr=False)
class DeskSettings(_View):
    """The desk-wide settings now: the repeated-execution throttle (``set_desk``'s fields), the
    desk kill switch and the core's table sizes."""

    exec_count: int
    exec_window_ms: Decimal
    killed: bool
    max_pending: int
    quote_table: int
    raw: dict[str, Any] = field(compare=False)

    _FIXED: ClassVar[dict[str, str]] = _fixed("desk")

    @classmethod
    def of(cls, raw: Mapping[str, Any], killed: bool) -> DeskSettings:
        v = _setting_values("desk", raw, None)
        return cls(v["exec_count"], v["exec_window_ms"], killed, int(raw["max_pending"]), int(raw["quote_table"]),
                   dict(raw))


@dataclass(frozen=True, slots=True, repr=False)
class HedgeVenueState(_View):
    """One venue a composite hedges on: link up, the desk's position there and its working
    orders' quantity (the venue instrument's base asset)."""

    venue: str
    up: bool
    position: Decimal | None
    working: Decimal | None
    base: str

    def _units(self) -> dict[str, str]:
        return {"position": self.base, "working": self.base}


@dataclass(frozen=True, slots=True, repr=False)
class InternalBookState(_View):
    """The internal crossing book of a hedged composite: the desk orders' position, its cost
    and realised P&L, fills, resting desk orders."""

    position: Decimal
    cost: Decimal
    realised: Decimal
    fills: int
    resting_orders: int
    base: str
    currency: str

    def _units(self) -> dict[str, str]:
        return {"position": self.base, "cost": self.currency, "realised": self.currency}


@dataclass(frozen=True, slots=True, repr=False)
class HedgingState(_View):
    """Hedging of one composite: the policy (``set_hedging``'s fields), whether it can hedge now,
    client flow, hedged and pending quantities (base asset), slippage against the quoted prices,
    the quoted notional matched and the fees (quote currency, exact), counters, venues."""

    instrument: str
    mode: str
    ratio_pct: int
    threshold: Decimal
    max_slippage_bps: Decimal
    retry_ms: Decimal
    available: bool
    client_flow: Decimal
    hedged: Decimal
    pending: Decimal
    slippage: Decimal
    matched_notional: Decimal
    fees: Decimal
    orders: int
    fills: int
    refused: int
    venues: tuple[HedgeVenueState, ...]
    internal: InternalBookState | None
    base: str
    currency: str
    raw: dict[str, Any] = field(compare=False)

    _FIXED: ClassVar[dict[str, str]] = {**_fixed("hedging"), "ratio_pct": "%"}

    def _units(self) -> dict[str, str]:
        qty = {n: self.base for n in ("threshold", "client_flow", "hedged", "pending")}
        money = {n: self.currency for n in ("slippage", "matched_notional", "fees")}
        return {**self._FIXED, **qty, **money}

    @classmethod
    def of(cls, raw: Mapping[str, Any], name: str, price_decimals: int, qty_decimals: int, base: str,
           currency: str, venues: tuple[HedgeVenueState, ...]) -> HedgingState:
        v = _setting_values("hedging", raw, qty_decimals)
        md = price_decimals + qty_decimals
        i = raw.get("internal")
        internal = None if i is None else InternalBookState(
            from_units(int(i["position"]), qty_decimals), from_units(int(i["cost"]), md),
            from_units(int(i["realised"]), md), int(i["fills"]), int(i["resting_orders"]), base, currency)
        return cls(name, v["mode"], v["ratio_pct"], v["threshold"], v["max_slippage_bps"], v["retry_ms"],
                   bool(raw["available"]), from_units(int(raw["client_flow"]), qty_decimals),
                   from_units(int(raw["hedged"]), qty_decimals), from_units(int(raw["pending"]), qty_decimals),
                   from_units(int(raw["slippage"]), md), from_units(int(raw["matched_notional"]), md),
                   from_units(int(raw["fees"]), md), int(raw["orders"]), int(raw["fills"]), int(raw["refused"]),
                   venues, internal, base, currency, dict(raw))


@dataclass(frozen=True, slots=True, repr=False)
class HedgeOrderState(_View):
    """One hedge order the core's OMS holds, in its venue instrument's units: side (the desk's),
    limit price, quantity, filled quantity, the fills' notional, OMS state."""

    cl_ord_id: int
    venue: str
    instrument: str
    side: str
    price: Decimal
    qty: Decimal
    filled: Decimal
    notional: Decimal
    state: str
    base: str
    currency: str
    raw: dict[str, Any] = field(compare=False)

    def _units(self) -> dict[str, str]:
        return {"price": self.currency, "qty": self.base, "filled": self.base, "notional": self.currency}

    @property
    def open(self) -> bool:
        """Still working at the venue (not filled, cancelled, rejected or expired)."""
        return self.state not in ("filled", "cancelled", "rejected", "expired")

    @classmethod
    def of(cls, raw: Mapping[str, Any], venue: str, instrument: str, price_decimals: int, qty_decimals: int,
           base: str, currency: str) -> HedgeOrderState:
        s = int(raw["state"])
        return cls(int(raw["cl_ord_id"]), venue, instrument, "buy" if int(raw["side"]) == 0 else "sell",
                   from_units(int(raw["price"]), price_decimals), from_units(int(raw["qty"]), qty_decimals),
                   from_units(int(raw["filled"]), qty_decimals),
                   from_units(int(raw["notional"]), price_decimals + qty_decimals),
                   HEDGE_ORDER_STATES[s] if 0 <= s < len(HEDGE_ORDER_STATES) else str(s), base, currency, dict(raw))


@dataclass(frozen=True, slots=True, repr=False)
class QuoteState(_View):
    """A quote the core holds: its sides (``buy_*``: the client buys at the desk's ask;
    ``sell_*``: the client sells at its bid; None for a side it lacks), state (``live``,
    ``filled``, ``expired``, ``cancelled`` ...), times (core wall-clock ns)."""

    quote_id: int
    client: str
    instrument: str
    rfq_id: int
    state: str
    buy_price: Decimal | None
    buy_qty: Decimal | None
    sell_price: Decimal | None
    sell_qty: Decimal | None
    partial_ok: bool
    created: int
    valid_until: int
    base: str
    currency: str
    raw: dict[str, Any] = field(compare=False)

    def _units(self) -> dict[str, str]:
        return {"buy_price": self.currency, "sell_price": self.currency, "buy_qty": self.base,
                "sell_qty": self.base, "created": "ns", "valid_until": "ns"}

    @classmethod
    def of(cls, raw: Mapping[str, Any], client: str, name: str, price_decimals: int, qty_decimals: int, base: str,
           currency: str) -> QuoteState:
        def side(key: str) -> tuple[Decimal | None, Decimal | None]:
            pq = raw.get(key)
            if pq is None:
                return None, None
            return from_units(int(pq[0]), price_decimals), from_units(int(pq[1]), qty_decimals)

        (bp, bq), (sp, sq) = side("ask"), side("bid")
        return cls(int(raw["quote_id"]), client, name, int(raw["rfq_id"]), str(raw["state"]), bp, bq, sp, sq,
                   bool(raw["partial_ok"]), int(raw["created"]), int(raw["valid_until"]), base, currency, dict(raw))
