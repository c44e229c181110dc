"""Operator and strategy commands: kill switches, limits, approvals, live parameters.

Every command becomes one ``CONTROL`` ring record (docs/rfq-protocol.md) that travels to the
core like any other input — so the journal records it and replay rebuilds it — and is
answered by exactly one ``CONTROL_ACK`` (the audit event). :class:`Operator` converts
human units (``Decimal`` sizes, bps, ms) exactly into the core's integers and hands each
:class:`ControlRequest` to a *sender*: the in-process :class:`rfqcore.engine.Engine`, or
the Aeron operator client of :mod:`rfqcore.client` for a desk running ``rfqcore serve``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from rfqcore.errors import RfqCoreError
from rfqcore.instruments import Registry
from rfqcore.records import ClientField, Command, DeskField, HedgeField, InstrumentField, PricingField, TierField
from rfqcore.rfq import ApprovalPending, ControlAck, composite_units
from rfqcore.units import from_units, human, to_units  # re-exported: the CLI and older callers import it from here

__all__ = ["ControlRequest", "ControlRejected", "HEDGE_MODES", "Operator", "ack_values", "field_value", "setting_raw",
           "tier_change", "to_units"]

_MS = 1_000_000


class ControlRequest(NamedTuple):
    """The fields of one CONTROL record (see docs/rfq-protocol.md)."""

    command: int
    field: int = 0
    instrument: int = 0
    scope: int = 0  # client id, tier id, approval request id or quote id
    value: int = 0
    aux: int = 0


class ControlRejected(RfqCoreError):
    """The core refused a CONTROL command (nothing changed)."""

    def __init__(self, ack: ControlAck) -> None:
        super().__init__(f"control command {Command(ack.command).name} refused: {ack.reason_name}")
        self.ack = ack


Sender = Callable[[ControlRequest], ControlAck]

# name -> (field code, unit) where unit is "qty" (composite qty scale), "cents", "cbps" (given
# in bps), "ns" (given in ms), "int" or "bool"
_CLIENT: dict[str, tuple[int, str]] = {
    "credit_limit": (ClientField.CREDIT_LIMIT, "cents"), "max_open_quotes": (ClientField.MAX_OPEN_QUOTES, "int"),
    "rfq_rate": (ClientField.RFQ_RATE, "int"), "rfq_burst": (ClientField.RFQ_BURST, "int"),
    "accept_rate": (ClientField.ACCEPT_RATE, "int"), "accept_burst": (ClientField.ACCEPT_BURST, "int"),
    "tier": (ClientField.TIER, "int"), "enabled": (ClientField.ENABLED, "bool"),
}
_INSTRUMENT: dict[str, tuple[int, str]] = {
    "min_qty": (InstrumentField.MIN_QTY, "qty"), "max_qty": (InstrumentField.MAX_QTY, "qty"),
    "max_notional": (InstrumentField.MAX_NOTIONAL, "cents"), "long_limit": (InstrumentField.LONG_LIMIT, "qty"),
    "short_limit": (InstrumentField.SHORT_LIMIT, "qty"), "collar_bps": (InstrumentField.COLLAR_CBPS, "cbps"),
    "approval_qty": (InstrumentField.APPROVAL_QTY, "qty"),
    "approval_notional": (InstrumentField.APPROVAL_NOTIONAL, "cents"),
    "approval_timeout_ms": (InstrumentField.APPROVAL_TIMEOUT_NS, "ns"),
}
_TIER: dict[str, tuple[int, str]] = {
    "markup_bps": (TierField.MARKUP_CBPS, "cbps"), "fee_bps": (TierField.FEE_CBPS, "cbps"),
    "ttl_ms": (TierField.TTL_NS, "ns"), "max_ttl_ms": (TierField.MAX_TTL_NS, "ns"),
    "allow_partial": (TierField.ALLOW_PARTIAL, "bool"),
}
_PRICING: dict[str, tuple[int, str]] = {
    "skew_bps_per_unit": (PricingField.SKEW_CBPS_PER_UNIT, "cbps"),
    "max_skew_bps": (PricingField.MAX_SKEW_CBPS, "cbps"), "vol_mult_pct": (PricingField.VOL_MULT_PCT, "int"),
    "vol_ema_shift": (PricingField.VOL_EMA_SHIFT, "int"), "hedge_fee_bps": (PricingField.HEDGE_FEE_CBPS, "cbps"),
    "base_bps": (PricingField.BASE_CBPS, "cbps"), "size_bps_per_unit": (PricingField.SIZE_CBPS_PER_UNIT, "cbps"),
}
_DESK: dict[str, tuple[int, str]] = {
    "exec_count": (DeskField.EXEC_COUNT, "int"), "exec_window_ms": (DeskField.EXEC_WINDOW_NS, "ns"),
}

_HEDGING: dict[str, tuple[int, str]] = {
    "mode": (HedgeField.MODE, "mode"), "ratio_pct": (HedgeField.RATIO_PCT, "int"),
    "threshold": (HedgeField.THRESHOLD, "qty"), "max_slippage_bps": (HedgeField.MAX_SLIPPAGE_CBPS, "cbps"),
    "retry_ms": (HedgeField.RETRY_NS, "ns"),
}
#: ``set_hedging(mode=...)`` names, by their ``SET_HEDGE`` mode code
HEDGE_MODES = ("off", "full", "partial", "threshold")

#: the settable fields per command, for CLIs and docs
FIELDS: dict[str, tuple[str, ...]] = {
    "client": tuple(_CLIENT), "instrument": tuple(_INSTRUMENT), "tier": tuple(_TIER),
    "pricing": tuple(_PRICING), "desk": tuple(_DESK), "hedging": tuple(_HEDGING),
}

_TABLES: dict[str, dict[str, tuple[int, str]]] = {
    "client": _CLIENT, "instrument": _INSTRUMENT, "tier": _TIER, "pricing": _PRICING, "desk": _DESK,
    "hedging": _HEDGING,
}


_SET_COMMANDS: dict[int, str] = {
    Command.SET_CLIENT: "client", Command.SET_INSTRUMENT: "instrument", Command.SET_TIER: "tier",
    Command.SET_PRICING: "pricing", Command.SET_DESK: "desk", Command.SET_HEDGE: "hedging",
}


def field_of(command: int, field: int) -> tuple[str, str, str] | None:
    """``(what, field name, unit)`` of a ``SET_*`` command's field code (what an audit line shows
    a value in), or None for another command or an unknown field."""
    what = _SET_COMMANDS.get(command)
    if what is None:
        return None
    for name, (code, unit) in _TABLES[what].items():
        if code == field:
            return what, name, unit
    return None


def tier_change(ack: ControlAck, tiers: Mapping[int, str]) -> tuple[str, str] | None:
    """``(new, previous)`` tier names of an ack of a client's tier change (``SET_CLIENT`` field
    ``tier``: the core's values are tier ids), given ``tiers`` (id -> name; an unknown id as its
    digits); None for any other ack."""
    known = field_of(ack.command, ack.field)
    if known is None or known[:2] != ("client", "tier"):
        return None
    return tiers.get(int(ack.value), str(ack.value)), tiers.get(int(ack.previous), str(ack.previous))


#: decimals of a scaled field unit (``qty`` takes the composite's)
_UNIT_DECIMALS = {"cents": 2, "cbps": 2, "ns": 6}
#: what a value in each unit is labelled with (``qty``: the base asset, ``cents``: the quote currency)
_UNIT_LABELS = {"cbps": "bps", "ns": "ms"}


def field_value(unit: str, raw: int, qty_decimals: int | None = None) -> Decimal | int | bool | str:
    """A field's core integer in the unit the operator gives it (:func:`field_unit`): ``Decimal``
    for sizes (base units at ``qty_decimals``), money, bps and ms; a hedging mode's name; ``bool``
    or ``int`` as they are."""
    if unit == "bool":
        return bool(raw)
    if unit == "mode":
        return HEDGE_MODES[raw] if 0 <= raw < len(HEDGE_MODES) else int(raw)
    if unit == "int" or (unit == "qty" and qty_decimals is None):
        return int(raw)
    return from_units(raw, qty_decimals if unit == "qty" else _UNIT_DECIMALS[unit])


def ack_values(ack: ControlAck, registry: Registry, tiers: Mapping[int, str] | None = None, *,
               labelled: bool = True) -> tuple[str, str]:
    """``(value, previous)`` of a CONTROL_ACK as an operator reads them: a ``SET_*`` field's values
    in the units they are given in, labelled (``"200 BTC"``, ``"50 bps"``, ``"1500 ms"``,
    ``"250000 USDT"``; a client's tier by its name in ``tiers``, id -> name); other values as sent.
    ``labelled=False``: the plain values as a form takes them back (every decimal of the scale:
    ``"150.00000000"``; the console)."""
    named = tier_change(ack, tiers) if tiers is not None else None
    if named is not None:
        return named
    known = field_of(ack.command, ack.field)
    if known is None:
        return str(ack.value), str(ack.previous)
    unit = known[2]
    units = composite_units(registry, ack.instrument) if ack.instrument else None
    label = _UNIT_LABELS.get(unit, "")
    if units is not None and unit in ("qty", "cents"):
        label = units.base if unit == "qty" else units.currency
    qd = units.qty_decimals if units is not None else None

    def text(raw: int) -> str:
        v = field_value(unit, raw, qd)
        if not labelled:
            return format(v, "f") if isinstance(v, Decimal) else str(v)
        if isinstance(v, Decimal):
            return human(raw, qd if unit == "qty" else _UNIT_DECIMALS[unit], label)
        return f"{v} {label}" if label else str(v)

    return text(ack.value), text(ack.previous)


def setting_raw(what: str, name: str, view: Mapping[str, Any]) -> int:
    """The core's integer of field ``name`` of ``set_<what>`` now, from the core's raw view of its
    target (``Engine.client_risk_raw``, ``instrument_risk_raw``, ``tier_view_raw``,
    ``desk_view_raw`` or one of ``hedge_status_raw``): the views name fields as the core does
    (``collar_cbps``, ``approval_timeout_ns``, rates as ``(rate, burst)``), the setters as the
    operator gives them (``collar_bps``, ``approval_timeout_ms``, ``rfq_burst``)."""
    if what == "client" and name in ("rfq_rate", "rfq_burst", "accept_rate", "accept_burst"):
        rate, burst = view[name.rsplit("_", 1)[0] + "_rate"]
        return int(burst if name.endswith("_burst") else rate)
    if what == "hedging" and name == "mode":
        return HEDGE_MODES.index(view["mode"])
    key = name.replace("_bps", "_cbps").replace("_ms", "_ns") if what != "client" else name
    return int(view[key])


def field_unit(what: str, name: str) -> str:
    """The unit of field ``name`` of ``set_<what>``: ``"qty"`` (base units of the composite),
    ``"cents"`` (given in the quote currency), ``"cbps"`` (given in bps), ``"ns"`` (given in
    ms), ``"int"``, ``"bool"`` or ``"mode"``; KeyError for an unknown one."""
    return _TABLES[what][name][1]


class Operator:
    """High-level operator/strategy commands; each call returns the core's ``ControlAck``
    (or raises :class:`ControlRejected` when ``strict`` and the core refused it)."""

    def __init__(self, send: Sender, registry: Registry, *, clients: dict[str, int] | None = None,
                 tiers: dict[str, int] | None = None, strict: bool = True) -> None:
        self._send = send
        self.registry = registry
        self._clients = clients or {}
        self._tiers = tiers or {}
        self.strict = strict

    def __repr__(self) -> str:
        return (f"Operator(clients {', '.join(self._clients) or 'by id'}, tiers {', '.join(self._tiers) or 'by id'}, "
                f"{'strict' if self.strict else 'not strict'})")

    def values(self, ack: ControlAck) -> tuple[str, str]:
        """``(value, previous)`` of ``ack`` in human units, labelled (:func:`ack_values`)."""
        return ack_values(ack, self.registry, {i: n for n, i in self._tiers.items()})

    # -- scopes ------------------------------------------------------------------------------

    def _client(self, client: int | str | None) -> int:
        if client is None:
            return 0
        if isinstance(client, int):
            return client
        if client not in self._clients:
            raise KeyError(f"unknown client {client!r}; known clients: {', '.join(self._clients)}")
        return self._clients[client]

    def _tier(self, tier: int | str) -> int:
        if isinstance(tier, int):
            return tier
        if tier not in self._tiers:
            raise KeyError(f"unknown tier {tier!r}; known tiers: {', '.join(self._tiers)}")
        return self._tiers[tier]

    def _composite(self, instrument: int | str | None) -> int:
        return 0 if instrument is None else self.registry.composite(instrument).id

    def _do(self, req: ControlRequest) -> ControlAck:
        ack = self._send(req)
        if self.strict and not ack.ok:
            raise ControlRejected(ack)
        return ack

    def _value(self, unit: str, value: Any, what: str, instrument: int = 0) -> int:
        if unit == "bool":
            if isinstance(value, str):  # from a command line
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(f"{what}: expected true/false, got {value!r}")
                return int(value.lower() in ("true", "1"))
            return int(bool(value))
        if unit == "int":
            if isinstance(value, str) and value.isdigit():  # from a command line
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{what}: expected a non-negative integer, got {value!r}")
            return value
        if unit == "qty":
            return to_units(value, self.registry.composite(instrument).qty_decimals, what)
        if unit == "cents":
            return to_units(value, 2, what)
        if unit == "cbps":
            return to_units(value, 2, what)
        if unit == "ns":
            return to_units(value, 6, what)  # ms with up to 6 decimals -> ns
        if unit == "mode":
            if value not in HEDGE_MODES:
                raise ValueError(f"{what}: expected one of {', '.join(HEDGE_MODES)}, got {value!r}")
            return HEDGE_MODES.index(value)
        raise AssertionError(unit)

    def parse(self, what: str, name: str, value: Any, instrument: int | str | None = None) -> int:
        """The core's integer for ``value`` of field ``name`` of ``set_<what>`` (as the set
        call would send it; ``instrument`` for the quantity scale); ValueError / TypeError
        saying what is wrong."""
        table = _TABLES[what]
        if name not in table:
            raise ValueError(f"unknown field {name!r}; fields: {', '.join(table)}")
        return self._value(table[name][1], value, name, self._composite(instrument))

    def _set(self, command: Command, table: dict[str, tuple[int, str]], fields: dict[str, Any], *,
             instrument: int = 0, scope: int = 0) -> list[ControlAck]:
        if not fields:
            raise ValueError(f"nothing to set; fields: {', '.join(table)}")
        reqs = []
        for name, value in fields.items():
            if name not in table:
                raise ValueError(f"unknown field {name!r}; fields: {', '.join(table)}")
            code, unit = table[name]
            reqs.append(ControlRequest(command, code, instrument, scope,
                                       self._value(unit, value, name, instrument)))
        return [self._do(r) for r in reqs]

    # -- commands ----------------------------------------------------------------------------

    def kill(self, on: bool = True, *, client: int | str | None = None,
             instrument: int | str | None = None) -> ControlAck:
        """Kill switch on/off: for one client, one instrument, or (neither given) everything.
        Risk-reducing trades stay allowed."""
        return self._do(ControlRequest(Command.KILL, 0, self._composite(instrument), self._client(client), int(on)))

    def reenable(self, *, client: int | str | None = None, instrument: int | str | None = None) -> ControlAck:
        """Clear a halt set by the repeated-execution throttle."""
        if client is None and instrument is None:
            raise ValueError("reenable needs a client or an instrument")
        return self._do(ControlRequest(Command.REENABLE, 0, self._composite(instrument), self._client(client)))

    def restrict(self, instrument: int | str, on: bool = True) -> ControlAck:
        return self._do(ControlRequest(Command.RESTRICT, 0, self._composite(instrument), 0, int(on)))

    def set_client(self, client: int | str, **fields: Any) -> list[ControlAck]:
        """E.g. ``set_client("acme-capital", credit_limit=Decimal("1000000"), max_open_quotes=20)``."""
        if "tier" in fields and isinstance(fields["tier"], str):
            fields["tier"] = self._tier(fields["tier"])
        return self._set(Command.SET_CLIENT, _CLIENT, fields, scope=self._client(client))

    def set_instrument(self, instrument: int | str, **fields: Any) -> list[ControlAck]:
        """E.g. ``set_instrument("BTC", long_limit=Decimal("100"), collar_bps=Decimal("50"))``."""
        return self._set(Command.SET_INSTRUMENT, _INSTRUMENT, fields, instrument=self._composite(instrument))

    def set_tier(self, tier: int | str, **fields: Any) -> list[ControlAck]:
        return self._set(Command.SET_TIER, _TIER, fields, scope=self._tier(tier))

    def set_pricing(self, instrument: int | str, **fields: Any) -> list[ControlAck]:
        """Pricing v2 and ladder knobs, e.g. ``set_pricing("BTC", skew_bps_per_unit="0.05")``."""
        return self._set(Command.SET_PRICING, _PRICING, fields, instrument=self._composite(instrument))

    def set_hedging(self, instrument: int | str, **fields: Any) -> list[ControlAck]:
        """Change a composite's hedging policy live (docs/hedging.md): ``mode`` (off / full /
        partial / threshold), ``ratio_pct``, ``threshold`` (base units), ``max_slippage_bps``,
        ``retry_ms``. Applied from the next record; a CONTROL record like every change. The
        mode is sent after the other fields of the call, so ``mode="partial", ratio_pct=50``
        works in either order (partial needs a ratio, threshold a threshold)."""
        ordered = dict(sorted(fields.items(), key=lambda kv: kv[0] == "mode"))
        return self._set(Command.SET_HEDGE, _HEDGING, ordered, instrument=self._composite(instrument))

    def set_desk(self, **fields: Any) -> list[ControlAck]:
        return self._set(Command.SET_DESK, _DESK, fields)

    def approve(self, request: int | ApprovalPending, *, adjust_bps: Decimal | int | str = 0,
                price: Decimal | int | str | None = None, instrument: int | str | None = None,
                price_raw: int | None = None) -> ControlAck:
        """Approve a pending RFQ (its ``request_id``, or the :class:`ApprovalPending` itself);
        ``adjust_bps`` widens (positive) or tightens the price, ``price`` overrides it
        (one-sided requests; in the instrument's units, so it needs the ``ApprovalPending`` or
        ``instrument`` for the scale). ``price_raw``: the override in composite price units."""
        request_id = request if isinstance(request, int) else request.request_id
        adj = to_units(adjust_bps, 2, "adjust_bps", signed=True)  # hundredths of a bp
        if price is not None:
            if price_raw is not None:
                raise ValueError("approve: give price or price_raw, not both")
            if instrument is not None:
                scope: int | str = instrument
            elif isinstance(request, int):
                raise ValueError("approve: a price needs the instrument (or the ApprovalPending) for its price scale")
            else:
                scope = request.composite
            comp = self.registry.composite(scope)
            price_raw = to_units(price, comp.price_decimals, "price")
        return self._do(ControlRequest(Command.APPROVE, 0, 0, request_id, int(price_raw or 0), adj))

    def decline(self, request_id: int) -> ControlAck:
        return self._do(ControlRequest(Command.DECLINE, 0, 0, request_id))

    def cancel_quote(self, quote_id: int) -> ControlAck:
        return self._do(ControlRequest(Command.CANCEL_QUOTE, 0, 0, quote_id))
