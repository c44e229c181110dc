"""RFQ-family output records decoded into events (docs/rfq-protocol.md).

The core answers RFQs, accepts, cancels and operator commands with fixed-layout records on
the out ring. :func:`decode_events` turns a drained batch into typed events, joining the
records that belong together (both sides of a two-way quote share a quote id; an execution
report is ``EXEC`` + ``EXEC_FEES``). Every price and quantity stays an exact integer in the
composite's scales; :meth:`Registry.composite` gives the decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any, ClassVar, NamedTuple, Union

import numpy as np

from rfqcore.errors import RfqCoreError
from rfqcore.gateway.schema import CONTROL_ID_BITS
from rfqcore.instruments import Registry
from rfqcore.records import (
    HEDGE_ORDER_STATES,
    ClientField,
    ClientSide,
    Command,
    DeskField,
    Flag,
    HedgeField,
    InstrumentField,
    Kind,
    LadderField,
    PricingField,
    QuoteEnd,
    RfqReject,
    RiskEvent,
    TierField,
)
from rfqcore.units import Scaled, ScaledOrNone, from_units, human

__all__ = [
    "QuoteSide",
    "HedgeOrder",
    "HedgeReport",
    "HedgeRejected",
    "HedgeStatus",
    "DeskOrderEvent",
    "Quote",
    "RequestRejected",
    "RfqRejected",
    "AcceptRejected",
    "CancelRejected",
    "Execution",
    "QuoteEnded",
    "ApprovalPending",
    "RiskAlert",
    "ControlAck",
    "Event",
    "decode_events",
    "EventDecoder",
    "reason_name",
]


def reason_name(code: int) -> str:
    """``RfqReject`` name of a reason code (or ``"code N"`` for an unknown one)."""
    try:
        return RfqReject(code).name
    except ValueError:
        return f"code {code}"


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~5 µs to build here
class QuoteSide:
    """One side of a firm quote: the client may ``side`` (buy/sell) ``qty`` at ``price``
    (exact integers in the composite's scales; the :class:`Quote` gives them as ``Decimal``)."""

    side: ClientSide
    price_raw: int
    qty_raw: int

    def __repr__(self) -> str:
        return f"QuoteSide(side={_name(ClientSide, self.side)}, price_raw={self.price_raw}, qty_raw={self.qty_raw})"


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~5 µs to build here
class Quote:
    """A firm quote to a client (one or two sides): what :meth:`rfqcore.engine.Engine.request_quote`
    returns in-process and what :class:`rfqcore.client.RfqClient` receives over Aeron.

    ``sides`` hold exact integers in the composite's scales. The ``Decimal`` views
    (``buy_price``, ``sell_qty``, ...) need the composite's decimals, which the engine's decoder
    and the client library fill in from the registry (a decoder without a registry leaves them
    ``None`` and the views raise ``ValueError``).
    """

    client: int
    composite: int
    quote_id: int
    rfq_id: int
    valid_until: int  # core wall-clock ns until which the quote is good
    sides: tuple[QuoteSide, ...]
    partial_ok: bool
    ts_send: int  # CLOCK_MONOTONIC when the core published it (0 when it came over Aeron)
    instrument: str = ""  # the composite's name
    price_decimals: int | None = None
    qty_decimals: int | None = None
    core_time: int = 0  # core wall-clock ns of the answer
    received_ns: int = 0  # CLOCK_MONOTONIC when rfqcore.client decoded it (0 in-process)
    base: str = ""  # the composite's base asset (qty unit)
    currency: str = ""  # its quote currency (price unit)

    def side(self, side: ClientSide | int) -> QuoteSide | None:
        for s in self.sides:
            if s.side == side:
                return s
        return None

    def raw(self, side: ClientSide | int) -> tuple[int, int]:
        """(price, qty) integers of ``side``; ``ValueError`` if the quote lacks it."""
        s = self.side(side)
        if s is None:
            has = " and ".join(_name(ClientSide, x.side).lower() for x in self.sides) or "none"
            raise ValueError(f"quote {self.quote_id} has no {_name(ClientSide, side).lower()} side (the client may "
                             f"{has}): accept a side it quotes, or ask for a two-way quote")
        return s.price_raw, s.qty_raw

    def _dec(self, raw: int | None, decimals: int | None) -> Decimal | None:
        if raw is None:
            return None
        if decimals is None:
            raise ValueError(f"quote {self.quote_id}: the composite's decimals are unknown (decode with a registry)")
        return Decimal(raw).scaleb(-decimals)

    def __repr__(self) -> str:
        pd = self.price_decimals
        sides = ", ".join(f"{_name(ClientSide, s.side).lower()}={human(s.qty_raw, self.qty_decimals, self.base)} @ "
                          f"{human(s.price_raw, pd, self.currency, min_decimals=pd or 0)}" for s in self.sides)
        return (f"Quote(quote_id={self.quote_id}, rfq_id={self.rfq_id}, client={self.client}, "
                f"instrument={_inst(self.instrument, self.composite)}, {sides}, partial_ok={self.partial_ok}, "
                f"valid_until={self.valid_until})")

    @property
    def buy_price_raw(self) -> int | None:
        """The price the client may buy at (the desk's ask), None without a buy side."""
        s = self.side(ClientSide.BUY)
        return None if s is None else s.price_raw

    @property
    def buy_qty_raw(self) -> int | None:
        s = self.side(ClientSide.BUY)
        return None if s is None else s.qty_raw

    @property
    def sell_price_raw(self) -> int | None:
        """The price the client may sell at (the desk's bid), None without a sell side."""
        s = self.side(ClientSide.SELL)
        return None if s is None else s.price_raw

    @property
    def sell_qty_raw(self) -> int | None:
        s = self.side(ClientSide.SELL)
        return None if s is None else s.qty_raw

    @property
    def buy_price(self) -> Decimal | None:
        return self._dec(self.buy_price_raw, self.price_decimals)

    @property
    def buy_qty(self) -> Decimal | None:
        return self._dec(self.buy_qty_raw, self.qty_decimals)

    @property
    def sell_price(self) -> Decimal | None:
        return self._dec(self.sell_price_raw, self.price_decimals)

    @property
    def sell_qty(self) -> Decimal | None:
        return self._dec(self.sell_qty_raw, self.qty_decimals)


class RequestRejected(RfqCoreError):
    """A request refused: the exception the blocking calls raise and the event subscribers and
    callbacks receive, the same object either way (in-process and over Aeron).

    ``reason`` is a core code (:class:`~rfqcore.records.RfqReject`, 20 and up) or, when
    ``by_gateway``, a code of the Aeron gateway (:class:`rfqcore.gateway.schema.GatewayReject`,
    1..19), which refused it before the core saw it. ``ref_id`` is the id the refusal refers to
    (the RFQ id, accept id, quote id, ...).
    """

    kind: str = "request"  # a class default; GatewayRejected sets its own per instance
    _fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, reason: int, by_gateway: bool = False) -> None:
        self.reason = reason
        self.by_gateway = by_gateway
        super().__init__(f"{self.kind} {self.ref_id} rejected by the {'gateway' if by_gateway else 'core'}: "
                         f"{self.reason_name}")

    @property
    def ref_id(self) -> int:
        return int(getattr(self, self._fields[0])) if self._fields else 0

    @property
    def reason_name(self) -> str:
        if self.by_gateway:
            from rfqcore.gateway.schema import reason_name as gateway_reason_name

            return gateway_reason_name(self.reason)
        return reason_name(self.reason)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields) + (self.reason, self.by_gateway)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RequestRejected) and type(other) is type(self)
                and other._values() == self._values())

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={_name(ClientSide, v) if f == 'side' else repr(v)}"
                           for f in self._fields for v in (getattr(self, f),))
        return f"{type(self).__name__}({fields}, reason={self.reason_name}, by_gateway={self.by_gateway!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # pickles across processes (keyword-only fields)
        return _restore_rejected, (type(self), dict(self.__dict__), self.args)


def _restore_rejected(cls: type[RequestRejected], state: dict[str, Any], args: tuple[Any, ...]) -> RequestRejected:
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    obj.args = args
    return obj


class RfqRejected(RequestRejected):
    """An RFQ refused; ``qty`` and ``price`` (the limit) echo the request."""

    kind = "rfq"
    _fields = ("rfq_id", "client", "composite", "side", "qty", "price")

    def __init__(self, client: int, composite: int, rfq_id: int, side: int, reason: int, qty: int = 0,
                 price: int = 0, *, by_gateway: bool = False) -> None:
        self.client, self.composite, self.rfq_id, self.side, self.qty, self.price = (client, composite, rfq_id,
                                                                                    side, qty, price)
        super().__init__(reason, by_gateway)


class AcceptRejected(RequestRejected):
    """An accept refused; ``side``, ``qty`` and ``price`` echo the accept."""

    kind = "accept"
    _fields = ("accept_id", "client", "quote_id", "side", "qty", "price", "composite")

    def __init__(self, client: int, quote_id: int, accept_id: int, side: int, reason: int, qty: int = 0,
                 price: int = 0, composite: int = 0, *, by_gateway: bool = False) -> None:
        self.client, self.quote_id, self.accept_id, self.side, self.qty, self.price, self.composite = (
            client, quote_id, accept_id, side, qty, price, composite)
        super().__init__(reason, by_gateway)


class CancelRejected(RequestRejected):
    """A cancel of quote ``quote_id`` refused."""

    kind = "cancel"
    _fields = ("quote_id", "client")

    def __init__(self, client: int, quote_id: int, reason: int, *, by_gateway: bool = False) -> None:
        self.client, self.quote_id = client, quote_id
        super().__init__(reason, by_gateway)


# The events below are the one definition of each concept, for the in-process Engine, its
# strategy hooks and the Aeron client alike. Each keeps the core's exact integers (``*_raw``,
# composite scales) and gives them in human units as ``Decimal`` properties; the decoder (or
# the client) fills in the composite's name, decimals and currencies from the registry. Plain
# slotted dataclasses, to be treated as read-only: a frozen dataclass costs ~5 µs to build
# (every field goes through object.__setattr__), a slotted one ~0.9 µs.


@dataclass(slots=True)
class Execution:
    """An execution report: the client ``side`` (bought/sold) ``qty`` at ``price``.

    ``notional`` and ``fee`` are exact money in the quote ``currency`` (the fee rounded up);
    their raw integers are at price + qty decimals. ``core_time`` is the core's wall-clock ns
    of the accept; ``ts_send`` the CLOCK_MONOTONIC of its publication (0 over Aeron).
    """

    client: int
    composite: int
    trade_id: int
    quote_id: int
    rfq_id: int
    accept_id: int
    side: ClientSide
    price_raw: int
    qty_raw: int
    notional_raw: int
    fee_raw: int
    core_time: int
    ts_send: int = 0
    instrument: str = ""  # the composite's name
    price_decimals: int | None = None
    qty_decimals: int | None = None
    base: str = ""  # the composite's base asset (qty unit)
    currency: str = ""  # its quote currency (price and money unit)

    price = Scaled("price_raw", "price_decimals")
    qty = Scaled("qty_raw", "qty_decimals")
    notional = Scaled("notional_raw", "money_decimals")
    fee = Scaled("fee_raw", "money_decimals")

    @property
    def money_decimals(self) -> int | None:
        pd, qd = self.price_decimals, self.qty_decimals
        return None if pd is None or qd is None else pd + qd

    def __repr__(self) -> str:
        pd, md, ccy = self.price_decimals, self.money_decimals, self.currency
        return (f"Execution(trade_id={self.trade_id}, instrument={_inst(self.instrument, self.composite)}, "
                f"client={self.client}, side={_name(ClientSide, self.side)}, "
                f"qty={human(self.qty_raw, self.qty_decimals, self.base)}, "
                f"price={human(self.price_raw, pd, ccy, min_decimals=pd or 0)}, "
                f"notional={human(self.notional_raw, md, ccy, min_decimals=2)}, "
                f"fee={human(self.fee_raw, md, ccy, min_decimals=2)}, quote_id={self.quote_id}, "
                f"rfq_id={self.rfq_id}, accept_id={self.accept_id}, core_time={self.core_time})")


@dataclass(slots=True)
class QuoteEnded:
    """A quote's end, exactly one per quote: filled, rejected (``reason``, at the moment of the
    hit), expired or cancelled."""

    client: int
    composite: int
    quote_id: int
    rfq_id: int
    state: QuoteEnd
    reason: int
    core_time: int = 0

    @property
    def reason_name(self) -> str:
        return reason_name(self.reason) if self.reason else "OK"

    def __repr__(self) -> str:
        return (f"QuoteEnded(quote_id={self.quote_id}, rfq_id={self.rfq_id}, client={self.client}, "
                f"composite={self.composite}, state={_name(QuoteEnd, self.state)}, reason={self.reason_name}, "
                f"core_time={self.core_time})")


@dataclass(slots=True)
class ApprovalPending:
    """An RFQ waiting for an operator: approve/decline it by ``request_id`` before ``deadline``
    (core wall-clock ns). ``price`` is the indicative price of the requested ``side``; ``qty``
    the requested size, in the base asset, or with ``qty_in_quote`` an amount of the quote
    currency (``qty_unit`` says which). ``limit`` is the client's limit price (None: none;
    known from :meth:`rfqcore.engine.Engine.pending_approvals`, not from the event)."""

    client: int
    composite: int
    request_id: int
    rfq_id: int
    side: int
    qty_raw: int
    price_raw: int
    deadline: int
    core_time: int = 0
    instrument: str = ""
    price_decimals: int | None = None
    qty_decimals: int | None = None
    base: str = ""
    currency: str = ""
    qty_in_quote: bool = False
    limit_raw: int = 0

    @property
    def qty_scale(self) -> int | None:
        """Decimals of ``qty_raw``: the quantity scale, or the price scale for a quote amount."""
        return self.price_decimals if self.qty_in_quote else self.qty_decimals

    @property
    def qty_unit(self) -> str:
        return self.currency if self.qty_in_quote else self.base

    qty = Scaled("qty_raw", "qty_scale")
    price = Scaled("price_raw", "price_decimals")

    @property
    def limit(self) -> Decimal | None:
        return None if not self.limit_raw else from_units(self.limit_raw, self.price_decimals, "limit")

    def __repr__(self) -> str:
        pd = self.price_decimals
        limit = f", limit={human(self.limit_raw, pd, self.currency, min_decimals=pd or 0)}" if self.limit_raw else ""
        return (f"ApprovalPending(request_id={self.request_id}, rfq_id={self.rfq_id}, client={self.client}, "
                f"instrument={_inst(self.instrument, self.composite)}, side={_name(ClientSide, self.side)}, "
                f"qty={human(self.qty_raw, self.qty_scale, self.qty_unit)}, "
                f"price={human(self.price_raw, pd, self.currency, min_decimals=pd or 0)}{limit}, "
                f"deadline={self.deadline})")


@dataclass(slots=True)
class RiskAlert:
    """A risk event, e.g. a client or instrument halted by the repeated-execution throttle
    after ``count`` executions."""

    event: RiskEvent
    client: int
    composite: int
    count: int
    core_time: int = 0

    def __repr__(self) -> str:
        return (f"RiskAlert(event={_name(RiskEvent, self.event)}, client={self.client}, composite={self.composite}, "
                f"count={self.count}, core_time={self.core_time})")


@dataclass(frozen=True, slots=True)  # rare: frozen costs nothing that matters here
class ControlAck:
    """The audit event of a CONTROL command: ``result`` 0 = applied, else a reason code.

    ``field``, ``scope`` and ``value`` mean what docs/rfq-protocol.md says for ``command``
    (``value`` in the field's integer units). ``operator_id`` is the operator whose command it
    answers (over Aeron; 0 in-process)."""

    control_id: int
    command: int
    field: int
    instrument: int
    scope: int
    value: int
    result: int
    previous: int
    core_time: int
    operator_id: int = 0

    @property
    def ok(self) -> bool:
        return self.result == 0

    @property
    def reason_name(self) -> str:
        return "OK" if self.result == 0 else reason_name(self.result)

    @property
    def command_name(self) -> str:
        return _name(Command, self.command)

    @property
    def field_name(self) -> str:
        fields = _CONTROL_FIELDS.get(self.command)
        if fields is None:
            return str(self.field)
        return _name(fields, self.field)

    @property
    def scope_name(self) -> str:
        """The scope as words: ``"client 2"``, ``"tier 1"``, ``"request 7"``, ``"quote 9"``,
        ``"instrument 3"`` (a member of ``instrument``), or ``"none"``."""
        what = _CONTROL_SCOPE.get(self.command)
        if what is None or self.scope == 0:
            return "none" if self.scope == 0 else str(self.scope)
        return f"{what} {self.scope}"

    def __repr__(self) -> str:
        return (f"ControlAck(control_id={self.control_id}, command={self.command_name}, field={self.field_name}, "
                f"instrument={self.instrument}, scope={self.scope_name}, value={self.value}, "
                f"result={self.reason_name}, previous={self.previous}, operator_id={self.operator_id}, "
                f"core_time={self.core_time})")


_CONTROL_FIELDS: dict[int, type[IntEnum]] = {
    Command.SET_CLIENT: ClientField, Command.SET_INSTRUMENT: InstrumentField, Command.SET_TIER: TierField,
    Command.SET_PRICING: PricingField, Command.SET_DESK: DeskField, Command.SET_HEDGE: HedgeField,
    Command.SET_LADDER: LadderField,
}
_CONTROL_SCOPE: dict[int, str] = {
    Command.KILL: "client", Command.REENABLE: "client", Command.SET_CLIENT: "client", Command.SET_TIER: "tier",
    Command.APPROVE: "request", Command.DECLINE: "request", Command.CANCEL_QUOTE: "quote",
    Command.SET_MEMBER: "instrument",
}


def _name(enum: type[IntEnum], code: int) -> str:
    """``enum(code).name``, or the bare code when it is not one of them."""
    try:
        return enum(code).name
    except ValueError:
        return str(code)


def _inst(name: str, composite: int) -> str:
    return name if name else f"#{composite}"


@dataclass(slots=True)
class HedgeOrder:
    """``HEDGE_ORDER``: the core routed a hedge order (member instrument scales)."""

    cl_ord_id: int
    venue: int
    instrument: int
    side: int          # 0 buy, 1 sell
    price: int         # limit
    qty: int
    composite: int
    ts_recv: int
    ts_send: int

    def __repr__(self) -> str:
        return (f"HedgeOrder(cl_ord_id={self.cl_ord_id}, venue={self.venue}, instrument={self.instrument}, "
                f"side={_HEDGE_SIDE.get(self.side, str(self.side))}, price={self.price}, qty={self.qty}, "
                f"composite={self.composite}, ts_recv={self.ts_recv}, ts_send={self.ts_send})")


_HEDGE_SIDE = {0: "BUY", 1: "SELL"}
_CONTROL_ID_MASK = (1 << CONTROL_ID_BITS) - 1


@dataclass(slots=True)
class HedgeReport:
    """``HEDGE_REPORT``: a venue report applied to a hedge order."""

    cl_ord_id: int
    venue: int
    instrument: int
    state: str         # rfqcore.records.HEDGE_ORDER_STATES
    fill_price: int
    fill_qty: int
    slippage_cbps: int  # of this fill against the quoted prices (+ = cost)
    exec_id: int
    ts_recv: int


@dataclass(slots=True)
class HedgeRejected:
    """``HEDGE_REJECT``: a hedge order refused by the core (``what`` = "order") or a venue
    input refused ("report" / "status"); ``reason`` is an :class:`RfqReject` code."""

    what: str
    venue: int
    instrument: int
    cl_ord_id: int
    reason: int
    qty: int
    price: int

    @property
    def reason_name(self) -> str:
        return reason_name(self.reason)

    def __repr__(self) -> str:
        return (f"HedgeRejected(what={self.what!r}, venue={self.venue}, instrument={self.instrument}, "
                f"cl_ord_id={self.cl_ord_id}, reason={self.reason_name}, qty={self.qty}, price={self.price})")


@dataclass(slots=True)
class HedgeStatus:
    """``HEDGE_STATUS``: hedging of a composite became available / unavailable."""

    composite: int
    available: bool
    desk_position: int
    pending: int


@dataclass(slots=True)
class DeskOrderEvent:
    """``DESK_ORDER_EVENT``: what happened to a desk order of the internal crossing book.
    ``event``: accepted / rejected (``reason``) / fill (``price``, ``qty``, ``remaining``) /
    cancelled (``remaining`` = what was open)."""

    composite: int
    order_id: int
    event: str
    price: int
    qty: int
    remaining: int
    reason: int

    @property
    def reason_name(self) -> str:
        return reason_name(self.reason) if self.reason else "OK"

    def __repr__(self) -> str:
        return (f"DeskOrderEvent(composite={self.composite}, order_id={self.order_id}, event={self.event!r}, "
                f"price={self.price}, qty={self.qty}, remaining={self.remaining}, reason={self.reason_name})")


Event = Union[Quote, RfqRejected, AcceptRejected, CancelRejected, Execution, QuoteEnded, ApprovalPending,
              RiskAlert, ControlAck, HedgeOrder, HedgeReport, HedgeRejected, HedgeStatus, DeskOrderEvent]


class EventDecoder:
    """Decodes RFQ-family records batch after batch, in order; other kinds are skipped.

    A two-way quote or an execution report split across two batches is still joined: the
    first half is kept until its ``END`` record arrives. One decoder per output stream. With a
    ``registry``, quotes carry their composite's name and decimals (the ``Decimal`` views).
    """

    __slots__ = ("_sides", "_exec", "_registry", "_comp")

    def __init__(self, registry: Registry | None = None) -> None:
        self._sides: list[QuoteSide] = []
        self._exec: tuple[int, ...] | None = None
        self._registry = registry
        self._comp: dict[int, CompositeUnits] = {}

    def _composite(self, cid: int) -> CompositeUnits:
        c = self._comp.get(cid)
        if c is None:
            c = composite_units(self._registry, cid)
            self._comp[cid] = c
        return c

    def feed(self, batch: np.ndarray) -> list[Event]:
        out: list[Event] = []
        for r in batch.tolist():
            kind, inst, side, flags, source, seq, ts_event, ts_recv, price, qty, aux, ts_send = r
            if kind == Kind.RFQ_QUOTE:
                self._sides.append(QuoteSide(ClientSide(side), price, qty))
                if flags & Flag.END:
                    name, pd, qd, base, ccy = self._composite(inst)
                    out.append(Quote(source, inst, seq, aux, ts_event, tuple(self._sides),
                                     bool(flags & Flag.PARTIAL_OK), ts_send, name, pd, qd, ts_recv, 0, base, ccy))
                    self._sides.clear()
            elif kind == Kind.EXEC:
                self._exec = r
            elif kind == Kind.EXEC_FEES:
                e = self._exec
                if e is not None and e[5] == seq:
                    name, pd, qd, base, ccy = self._composite(e[1])
                    out.append(Execution(e[4], e[1], e[5], e[10], aux, e[6], ClientSide(e[2]), e[8], e[9], qty, price,
                                         e[7], e[11], name, pd, qd, base, ccy))
                self._exec = None
            elif kind == Kind.RFQ_REJECT:
                out.append(RfqRejected(source, inst, seq, side, aux, qty, price))
            elif kind == Kind.ACCEPT_REJECT:
                out.append(AcceptRejected(source, seq, ts_event, side, aux, qty, price, inst))
            elif kind == Kind.CANCEL_REJECT:
                out.append(CancelRejected(source, seq, aux))
            elif kind == Kind.QUOTE_END:
                out.append(QuoteEnded(source, inst, seq, ts_event, QuoteEnd(aux), side, ts_recv))
            elif kind == Kind.APPROVAL_PENDING:
                name, pd, qd, base, ccy = self._composite(inst)
                out.append(ApprovalPending(source, inst, aux, seq, side, qty, price, ts_event, ts_recv, name, pd, qd,
                                           base, ccy, bool(flags & Flag.QTY_IN_QUOTE)))
            elif kind == Kind.RISK_EVENT:
                out.append(RiskAlert(RiskEvent(side), price, inst, qty, ts_recv))
            elif kind == Kind.CONTROL_ACK:
                # the gateway (and the engine, for a named operator) puts the operator id above
                # the control id in ``seq`` (CONTROL_ID_BITS, docs/gateway-schema.md)
                out.append(ControlAck(seq & _CONTROL_ID_MASK, side, source, inst, price, qty, aux, ts_event, ts_recv,
                                      (seq >> CONTROL_ID_BITS) & 0xFFFF))
            elif kind == Kind.HEDGE_ORDER:
                out.append(HedgeOrder(seq, source, inst, side, price, qty, aux, ts_recv, ts_send))
            elif kind == Kind.HEDGE_REPORT:
                out.append(HedgeReport(seq, source, inst, HEDGE_ORDER_STATES[side], price, qty, aux, ts_event,
                                       ts_recv))
            elif kind == Kind.HEDGE_REJECT:
                out.append(HedgeRejected(_HEDGE_REJECT_WHAT.get(side, str(side)), source, inst, seq, aux, qty, price))
            elif kind == Kind.HEDGE_STATUS:
                out.append(HedgeStatus(inst, bool(side), qty, price))
            elif kind == Kind.DESK_ORDER_EVENT:
                what = _DESK_EVENT.get(side, str(side))
                out.append(DeskOrderEvent(inst, seq, what, price, qty,
                                          aux if what in ("fill", "cancelled") else 0,
                                          aux if what == "rejected" else 0))
        return out


_HEDGE_REJECT_WHAT = {1: "order", 2: "report", 3: "status"}


class CompositeUnits(NamedTuple):
    """What the events need of a composite to speak human units."""

    name: str
    price_decimals: int | None
    qty_decimals: int | None
    base: str
    currency: str


class LadderRung:
    """``size`` / ``bid`` / ``ask`` as exact ``Decimal``s for a rung of a composite's quote
    ladder (a base of :class:`rfqcore.engine.QuoteLevel` and :class:`rfqcore.hooks.BookEvent`,
    which hold the ``*_raw`` integers and the composite's ``units``)."""

    __slots__ = ()
    size_raw: int
    bid_raw: int | None
    ask_raw: int | None
    units: CompositeUnits | None

    size = Scaled("size_raw", "_qty_decimals")
    bid = ScaledOrNone("bid_raw", "_price_decimals")
    ask = ScaledOrNone("ask_raw", "_price_decimals")

    @property
    def _qty_decimals(self) -> int | None:
        return None if self.units is None else self.units.qty_decimals

    @property
    def _price_decimals(self) -> int | None:
        return None if self.units is None else self.units.price_decimals

    def _name(self, composite: int) -> str:
        return self.units.name if self.units is not None else f"#{composite}"

    def _prices(self) -> str:
        """``size=0.1 BTC, bid=59994.99 USDT, ask=60007.11 USDT`` for reprs."""
        u = self.units
        qd, pd = (None, None) if u is None else (u.qty_decimals, u.price_decimals)
        base, ccy = ("", "") if u is None else (u.base, u.currency)
        return (f"size={human(self.size_raw, qd, base)}, bid={human(self.bid_raw, pd, ccy, min_decimals=pd or 0)}, "
                f"ask={human(self.ask_raw, pd, ccy, min_decimals=pd or 0)}")


def composite_units(registry: Registry | None, cid: int) -> CompositeUnits:
    """The composite ``cid``'s name, decimals and assets from ``registry`` (``#id`` and unknown
    scales without one, or for an id it does not know)."""
    if registry is not None:
        try:
            comp = registry.composite(cid)
            ins = registry.by_id(comp.members[0])
            return CompositeUnits(comp.name, comp.price_decimals, comp.qty_decimals, ins.base, ins.quote)
        except (KeyError, IndexError):
            pass
    return CompositeUnits(f"#{cid}", None, None, "", "")
_DESK_EVENT = {1: "accepted", 2: "rejected", 3: "fill", 4: "cancelled"}


def decode_events(batch: np.ndarray, registry: Registry | None = None) -> list[Event]:
    """Decode one complete batch (a fresh :class:`EventDecoder`)."""
    return EventDecoder(registry).feed(batch)
